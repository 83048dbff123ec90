global using Xunit.Abstractions;
global using DmEra.Storage.Devices;
global using DmEra.Engine.Tests.Fakes;
global using DmEra.Engine;
