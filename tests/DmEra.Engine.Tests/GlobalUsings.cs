global using Xunit.Abstractions;
global using DmEra.Engine.Origin;
global using DmEra.Engine.Tests.Fakes;
global using DmEra.Engine;
