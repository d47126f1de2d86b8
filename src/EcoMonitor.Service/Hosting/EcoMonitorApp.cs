using EcoMonitor.Service.Import;
using EcoMonitor.Service.Ingestion;
using EcoMonitor.Service.Query;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using EcoMonitor.Service.Ingestion.Hj212;
using EcoMonitor.Service.Stations;
using EcoMonitor.Service.Storage;
using Microsoft.Extensions.DependencyInjection.Extensions;
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
        // Before anything binds: a value that does not fit its setting stops the start, named (see StrictSettings).
        StrictSettings.Check(builder.Configuration);
        var logging = ServiceLogging.Read(builder.Configuration, builder.Environment.ContentRootPath);
        builder.Services.AddSingleton(logging);
        builder.Host.UseSerilog((context, services, logger) => logger
            .ReadFrom.Configuration(context.Configuration)
            .ReadFrom.Services(services)
            .WriteTo(logging, context.HostingEnvironment.ContentRootPath)
            .Filter.ByExcluding(ServiceLogging.ReportedAtExit)
            // The health check service logs every failing check as an error, at every probe of /readyz's gRPC twin;
            // ReadinessMonitor logs each change of a check once instead.
            .MinimumLevel.Override("Microsoft.Extensions.Diagnostics.HealthChecks", Serilog.Events.LogEventLevel.Fatal)
            .Enrich.FromLogContext(),
            // Each host logs through its own logger, not the static Log.Logger: several hosts in one process (tests,
            // the benchmark) would otherwise write to whichever host set the static logger last.
            preserveStaticLogger: true);

        ConfigureEndpoints(builder);
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddStations();
        builder.Services.AddInfluxStorage();
        builder.Services.AddIngestion();
        builder.Services.AddQueryApi();
        builder.Services.AddAlerting();
        builder.Services.AddReadiness();
        builder.Services.AddTelemetry();
        builder.Services.AddImport();
        services?.Invoke(builder.Services);

        var app = builder.Build();
        WebConsole.ConsoleEndpoints.MapConsole(app);
        app.MapOperationsEndpoints();
        app.MapQueryApi();
        app.MapImport();
        return app;
    }

    /// <summary>Two endpoints: Http:Url (HTTP/1.1: /healthz, /readyz, /metrics, the JSON API) and Grpc:Url (HTTP/2
    /// only, as gRPC needs without TLS). An https URL is served with the certificate of Http:Tls or Grpc:Tls, and
    /// refused without one (see <see cref="Endpoints"/>).</summary>
    static void ConfigureEndpoints(WebApplicationBuilder builder)
    {
        var (http, grpc, problems) = Endpoints.Read(builder.Configuration, builder.Environment.ContentRootPath);
        if (problems.Count > 0) throw new InvalidOperationException(string.Join(" ", problems));
        builder.Services.AddSingleton(new ServiceEndpoints(http!, grpc!));
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(http!.Address, http.Port, o =>
            {
                o.Protocols = HttpProtocols.Http1;
                if (http.Certificate is { } certificate) o.UseHttps(certificate);
            });
            kestrel.Listen(grpc!.Address, grpc.Port, o =>
            {
                o.Protocols = HttpProtocols.Http2;
                if (grpc.Certificate is { } certificate) o.UseHttps(certificate);
            });
        });
    }

    static IServiceCollection AddQueryApi(this IServiceCollection services)
    {
        services.AddOptions<ApiSettings>().BindConfiguration(ApiSettings.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<VocSettings>().BindConfiguration(VocSettings.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<ReadingBroadcast>();
        services.AddSingleton<ReadingQueries>();
        services.AddSingleton<TargetCalculator>();
        services.AddSingleton<ApiKeyInterceptor>();
        services.AddSingleton<WatchLimiter>();
        services.AddSingleton<CallLogging>();
        // Registered for every service (health and reflection too), so it runs before the API key check and logs
        // refused calls as well.
        services.AddGrpc(o =>
        {
            o.EnableDetailedErrors = false;
            o.Interceptors.Add<CallLogging>();
        }).AddJsonTranscoding()
            .AddServiceOptions<QueryApi>(o => o.Interceptors.Add<ApiKeyInterceptor>())
            .AddServiceOptions<Alerting.AlertApi>(o => o.Interceptors.Add<ApiKeyInterceptor>());
        services.AddGrpcReflection();
        return services;
    }

    static IServiceCollection AddAlerting(this IServiceCollection services)
    {
        services.AddOptions<Alerting.AlertingSettings>().BindConfiguration(Alerting.AlertingSettings.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton(sp =>
        {
            var settings = sp.GetRequiredService<IOptions<Alerting.AlertingSettings>>().Value;
            return new Alerting.NotificationDispatcher(sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<Alerting.NotificationDispatcher>>(),
                settings.NotificationAttempts, settings.NotificationRetryDelay);
        });
        services.AddSingleton<AlertBroadcast>();
        services.TryAddSingleton(sp => new Alerting.AlertClock(sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<Alerting.RuleObserver>();
        // The lease is registered before the evaluator, so that it stops after it: no evaluation runs once it is released.
        services.AddSingleton<Alerting.AlertLeadership>();
        services.AddHostedService(sp => sp.GetRequiredService<Alerting.AlertLeadership>());
        services.AddSingleton<Alerting.AlertEvaluator>();
        services.AddHostedService(sp => sp.GetRequiredService<Alerting.AlertEvaluator>());
        return services;
    }

    static void MapQueryApi(this WebApplication app)
    {
        app.MapGrpcService<QueryApi>();
        app.MapGrpcService<Alerting.AlertApi>();
        app.MapGrpcReflectionService();
        app.MapGrpcHealthChecksService();
    }

    static IServiceCollection AddStations(this IServiceCollection services)
    {
        services.AddOptions<StationsSettings>().BindConfiguration(StationsSettings.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton(sp =>
        {
            var file = sp.GetRequiredService<IOptions<StationsSettings>>().Value.File;
            var path = Path.Combine(sp.GetRequiredService<IHostEnvironment>().ContentRootPath, file); // an absolute File stays as it is
            return StationRegistry.Load(path);
        });
        return services;
    }

    static IServiceCollection AddInfluxStorage(this IServiceCollection services)
    {
        services.AddOptions<InfluxSettings>().BindConfiguration(InfluxSettings.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<InfluxConnection>();
        services.AddSingleton<InfluxWriter>();
        services.AddOptions<StandardsSettings>().BindConfiguration(StandardsSettings.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<StandardsCatalog>();
        services.AddSingleton(sp => new HourlyRollup(sp.GetRequiredService<InfluxConnection>(), sp.GetRequiredService<StandardsCatalog>().Air.MinMinutesPerHour,
            sp.GetRequiredService<IOptions<IngestionSettings>>().Value.HourlyPrecedence,
            string.IsNullOrEmpty(sp.GetRequiredService<IOptions<MqttSettings>>().Value.SharedGroup) ? sp.GetRequiredService<IOptions<RollupSettings>>().Value.RecentHours : 0));
        services.AddOptions<RollupSettings>().BindConfiguration(RollupSettings.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<RollupStage>();
        // Registered before the ingestion worker: hosted services stop in reverse order, so the stage stops last.
        services.AddHostedService(sp => sp.GetRequiredService<RollupStage>());
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

    /// <summary>Readiness (see <see cref="Readiness"/>): /readyz and the gRPC health service answer from the same
    /// three checks; <see cref="ReadinessMonitor"/> keeps them current while the service is idle.</summary>
    static IServiceCollection AddReadiness(this IServiceCollection services)
    {
        services.AddOptions<HealthSettings>().BindConfiguration(HealthSettings.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<Readiness>();
        services.AddHostedService<ReadinessMonitor>();
        // Service "" (the default mapping) is SERVING when every check passes; each check also answers by its name.
        var checks = services.AddGrpcHealthChecks(o =>
        {
            foreach (var name in Readiness.CheckNames) o.Services.Map(name, c => c.Name == name);
        });
        foreach (var name in Readiness.CheckNames)
            checks.Add(new Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckRegistration(name,
                sp => new Readiness.Check(sp.GetRequiredService<Readiness>(), name), failureStatus: null, tags: null));
        return services;
    }

    static void MapOperationsEndpoints(this WebApplication app)
    {
        // Liveness only: the process runs and answers. Whether it does its job is /readyz.
        app.MapGet("/healthz", (MqttConnection mqtt) =>
            Results.Ok(new { status = "ok", mqtt = mqtt.IsSubscribed ? "subscribed" : mqtt.IsConnected ? "connected" : "disconnected" }));
        app.MapGet("/readyz", (Readiness readiness) =>
        {
            var checks = readiness.Evaluate();
            var failing = checks.Where(c => !c.Ready).Select(c => c.Name).ToArray();
            var body = new
            {
                status = failing.Length == 0 ? "ready" : "not ready",
                failing,
                checks = checks.ToDictionary(c => c.Name, c => new { ready = c.Ready, detail = c.Detail }),
            };
            return Results.Json(body, statusCode: failing.Length == 0 ? 200 : 503);
        });
        app.MapMetrics();
    }
}
