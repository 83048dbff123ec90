// The runtime's floor: no Akka, no hosting, no sockets. Waits until killed.
Console.WriteLine("ready");
Thread.Sleep(Timeout.Infinite);
