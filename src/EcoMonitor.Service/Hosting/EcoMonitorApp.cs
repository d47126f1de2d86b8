using EcoMonitor.Service.Ingestion;
using EcoMonitor.Service.Ingestion.Hj212;
using EcoMonitor.Service.Stations;
using EcoMonitor.Service.Storage;
using Microsoft.Extensions.Options;
using Serilog;

namespace EcoMonitor.Service.Hosting;

/// <summary>Builds the service: one place that lists every area (ingestion, storage, HTTP endpoints).</summary>
public static class EcoMonitorApp
{
    /// <param name="configure">Extra configuration sources, added last (tests use it to point at their own broker,
    /// database and stations file).</param>
    /// <param name="services">Extra services, registered last (e.g. a Serilog sink: ILogEventSink services are used).</param>
    public static WebApplication Build(string[] args, Action<IConfigurationBuilder>? configure = null, Action<IServiceCollection>? services = null)
    {
        var builder = WebApplication.CreateBuilder(args);
        configure?.Invoke(builder.Configuration);
        builder.Host.UseSerilog((context, services, logger) => logger
            .ReadFrom.Configuration(context.Configuration)
            .ReadFrom.Services(services)
            .Enrich.FromLogContext());

        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddStations();
        builder.Services.AddInfluxStorage();
        builder.Services.AddIngestion();
        services?.Invoke(builder.Services);

        var app = builder.Build();
        app.MapOperationsEndpoints();
        return app;
    }

    static IServiceCollection AddStations(this IServiceCollection services)
    {
        services.AddOptions<StationsSettings>().BindConfiguration(StationsSettings.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton(sp =>
        {
            var file = sp.GetRequiredService<IOptions<StationsSettings>>().Value.File;
            var path = Path.IsPathRooted(file) ? file : Path.Combine(sp.GetRequiredService<IHostEnvironment>().ContentRootPath, file);
            return StationRegistry.Load(path);
        });
        return services;
    }

    static IServiceCollection AddInfluxStorage(this IServiceCollection services)
    {
        services.AddOptions<InfluxSettings>().BindConfiguration(InfluxSettings.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<InfluxConnection>();
        services.AddSingleton<InfluxWriter>();
        return services;
    }

    static IServiceCollection AddIngestion(this IServiceCollection services)
    {
        services.AddOptions<MqttSettings>().BindConfiguration(MqttSettings.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<IngestionSettings>().BindConfiguration(IngestionSettings.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<Hj212Settings>().BindConfiguration(Hj212Settings.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<IngestionMetrics>();
        services.AddSingleton<MessageProcessor>();
        services.AddSingleton<MqttConnection>();
        services.AddSingleton<IngestionPipeline>();
        services.AddHostedService<StartupReport>();
        services.AddHostedService<IngestionWorker>();
        // Registered after the worker so that it stops first: no frame arrives once the pipeline drains.
        services.AddSingleton<Hj212TcpListener>();
        services.AddHostedService(sp => sp.GetRequiredService<Hj212TcpListener>());
        return services;
    }

    static void MapOperationsEndpoints(this WebApplication app)
    {
        app.MapGet("/healthz", (MqttConnection mqtt) => mqtt.IsSubscribed
            ? Results.Ok(new { status = "ok", mqtt = "subscribed" })
            : Results.Json(new { status = "degraded", mqtt = mqtt.IsConnected ? "connected" : "disconnected" }, statusCode: 503));
        app.MapGet("/metrics", (IngestionMetrics metrics) =>
            Results.Text(metrics.ToPrometheusText(), "text/plain; version=0.0.4"));
    }
}
