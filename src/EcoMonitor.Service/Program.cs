using EcoMonitor.Service.Hosting;
using Microsoft.Extensions.Options;
using Serilog;

Log.Logger = new LoggerConfiguration().WriteTo.Console().CreateBootstrapLogger();
try
{
    var app = EcoMonitorApp.Build(args);
    await app.RunAsync();
    return 0;
}
catch (OptionsValidationException e)
{
    Log.Fatal("Invalid settings: {Errors}", string.Join("; ", e.Failures));
    return 2;
}
catch (Exception e) when (e is InvalidOperationException)
{
    Log.Fatal("Cannot start: {Error}", e.Message);
    return 2;
}
finally
{
    await Log.CloseAndFlushAsync();
}
