using EcoMonitor.Service.Hosting;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Options;
using Serilog;

// Exit codes: 0 stopped normally (or --check-config found nothing), 1 stopped by an unexpected error, 2 refused to
// start: a setting, a file or a port is wrong, each problem in one line that names it (no stack trace).
var checkOnly = args.Contains(ConfigCheck.Flag);
args = [.. args.Where(a => a != ConfigCheck.Flag)];

// Until the host's logger exists (and for the lines that say why it never will): plain lines on standard error.
Log.Logger = new LoggerConfiguration()
    .WriteTo.Console(outputTemplate: "{Timestamp:HH:mm:ss.fff} {Level:u3} {Message:lj}{NewLine}{Exception}",
        standardErrorFromLevel: Serilog.Events.LogEventLevel.Verbose, formatProvider: System.Globalization.CultureInfo.InvariantCulture)
    .CreateBootstrapLogger();
WebApplication? app = null;
try
{
    var report = ConfigCheck.Run(args);
    if (checkOnly)
    {
        report.Print(Console.Out);
        return report.AllProblems.Count == 0 ? 0 : 2;
    }
    if (report.Problems.Count > 0)
    {
        foreach (var problem in report.Problems) Log.Fatal("{Problem}", problem);
        return 2;
    }
    // Before anything connects or listens: a port that another process holds stops the start, named.
    if (Endpoints.InUse(report.Endpoints) is { } busy)
    {
        Log.Fatal("{Problem}", busy);
        return 2;
    }
    app = EcoMonitorApp.Build(args);
    // A background service that fails stops the host (BackgroundServiceExceptionBehavior.StopHost; the host logs
    // "BackgroundService failed" with the exception), and RunAsync returns as after a normal stop: not a 0 then.
    // The services are taken before the run, as RunAsync disposes the container.
    var background = app.Services.GetServices<IHostedService>().OfType<BackgroundService>().ToList();
    await app.RunAsync();
    var failed = background.Select(s => s.ExecuteTask?.Exception?.InnerException).FirstOrDefault(e => e is not null);
    if (failed is null) return 0;
    Log.Fatal("{Problem}", failed.Message);
    return failed is InvalidOperationException or OptionsValidationException ? 2 : 1;
}
catch (OptionsValidationException e)
{
    foreach (var failure in e.Failures) Log.Fatal("{Problem}", failure);
    return 2;
}
catch (IOException e) when (e.InnerException is AddressInUseException)
{
    // Taken between the check above and Kestrel's bind.
    Log.Fatal("{Problem}", e.Message);
    return 2;
}
catch (InvalidOperationException e)
{
    Log.Fatal("{Problem}", e.Message);
    return 2;
}
catch (OperationCanceledException) when (app?.Lifetime.ApplicationStopping.IsCancellationRequested == true)
{
    // Stopped (SIGTERM, Ctrl+C) while still starting, e.g. while InfluxDB did not answer yet: a normal stop.
    Log.Information("Stopped before the start completed");
    return 0;
}
catch (Exception e)
{
    Log.Fatal(e, "Stopped by an unexpected error");
    return 1;
}
finally
{
    await Log.CloseAndFlushAsync();
}
