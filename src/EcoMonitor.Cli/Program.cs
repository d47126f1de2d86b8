using EcoMonitor.Cli;

return await Ecomon.RunAsync(args, Console.Out, Console.Error);
