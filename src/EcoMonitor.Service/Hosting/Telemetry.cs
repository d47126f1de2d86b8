using System.Diagnostics.Metrics;
using EcoMonitor.Service.Alerting;
using EcoMonitor.Service.Query;
using EcoMonitor.Service.Stations;
using EcoMonitor.Service.Storage;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

namespace EcoMonitor.Service.Hosting;

/// <summary>Metrics: the service's meters (System.Diagnostics.Metrics), the .NET runtime's and the process's, and
/// ASP.NET Core's request durations (HTTP and gRPC), exported by OpenTelemetry's Prometheus exporter on GET /metrics
/// of Http:Url only (never on Grpc:Url, which may face the network where the HTTP endpoint does not).
///
/// Names: OpenTelemetry instrument names (<c>ecomonitor.messages.received</c>) become Prometheus names by the
/// exporter's rules: dots to underscores, the unit as a suffix (<c>s</c>: <c>_seconds</c>; <c>{point}</c>: none),
/// <c>_total</c> on counters. The instruments are named so that every metric of the hand-written text it replaces
/// keeps its name and labels; the one change is the rollup lag, a histogram now (see the README's metrics table).
///
/// Meters come from the host's IMeterFactory, and each host's MeterProvider drops instruments of meters another
/// host's factory made: several hosts in one process (the tests, the benchmark) each export their own figures, not
/// the sum of all. Process and runtime meters are process-wide and shared by all.
///
/// The scrape response is never cached (each scrape collects anew: the observable instruments read the service's
/// state then), and carries no scope labels (<c>otel_scope_name</c>): the series are the ones the README lists.</summary>
public static partial class Telemetry
{
    public const string IngestionMeter = "EcoMonitor.Ingestion";
    public const string ReadinessMeter = "EcoMonitor.Readiness";
    public const string StorageMeter = "EcoMonitor.Storage";
    public const string ApiMeter = "EcoMonitor.Api";
    public const string AlertingMeter = "EcoMonitor.Alerting";

    /// <summary>ASP.NET Core's own meter: http.server.request.duration per route, method and status (gRPC calls are
    /// requests whose route is /package.Service/Method).</summary>
    const string AspNetCoreHostingMeter = "Microsoft.AspNetCore.Hosting";

    /// <summary>OpenTelemetry keeps at most 2000 series per metric by default; the last-reading gauge has one per
    /// station.</summary>
    const int DefaultCardinalityLimit = 2000;

    public static IServiceCollection AddTelemetry(this IServiceCollection services)
    {
        services.AddSingleton<ServiceInstruments>();
        services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService("ecomonitor", serviceVersion: typeof(Telemetry).Assembly.GetName().Version?.ToString()))
            .WithMetrics(metrics =>
            {
                metrics
                    .AddMeter("EcoMonitor.*", AspNetCoreHostingMeter)
                    .AddRuntimeInstrumentation()
                    .AddProcessInstrumentation()
                    .AddInstrumentation(sp => sp.GetRequiredService<ServiceInstruments>())
                    .AddPrometheusExporter(o =>
                    {
                        o.ScrapeResponseCacheDurationMilliseconds = 0;
                        o.ScopeInfoEnabled = false;
                    });
                // Views need the host's services (its IMeterFactory): configured once the service provider exists.
                ((IDeferredMeterProviderBuilder)metrics).Configure((sp, builder) =>
                {
                    var own = sp.GetRequiredService<IMeterFactory>();
                    var stations = sp.GetRequiredService<StationRegistry>().All.Count;
                    builder.AddView(instrument =>
                        instrument.Meter.Scope is IMeterFactory factory && !ReferenceEquals(factory, own) ? MetricStreamConfiguration.Drop
                        : instrument.Name == "ecomonitor.station.last_reading_timestamp" && stations >= DefaultCardinalityLimit
                            ? new MetricStreamConfiguration { CardinalityLimit = stations + 1 }
                        : null);
                });
            });
        return services;
    }

    /// <summary>GET /metrics on the Http:Url endpoint; on Grpc:Url it is not found. The endpoint is told by the
    /// connection's local port, which a client cannot fake as it can a Host header.</summary>
    public static void MapMetrics(this WebApplication app)
    {
        var httpPort = new Lazy<int>(() => HttpPort(app), LazyThreadSafetyMode.PublicationOnly);
        app.UseWhen(context => context.Request.Path == "/metrics" && context.Connection.LocalPort == httpPort.Value, branch =>
        {
            branch.Use(WithoutEmptyLabelSets);
            branch.UseOpenTelemetryPrometheusScrapingEndpoint();
        });
    }

    /// <summary>Without scope labels the exporter writes a series without labels as <c>name{} 1</c>; valid, but every
    /// earlier scrape, script and grep saw <c>name 1</c>. The response (tens of KB; about 1 MB with 10,000 stations) is
    /// buffered and such lines rewritten.</summary>
    static async Task WithoutEmptyLabelSets(HttpContext context, RequestDelegate next)
    {
        var original = context.Response.Body;
        using var buffer = new MemoryStream();
        context.Response.Body = buffer;
        try
        {
            await next(context);
        }
        finally
        {
            context.Response.Body = original;
        }
        var text = System.Text.Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
        var body = System.Text.Encoding.UTF8.GetBytes(EmptyLabelSet().Replace(text, "$1 "));
        context.Response.ContentLength = body.Length;
        await original.WriteAsync(body, context.RequestAborted);
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"(?m)^([a-zA-Z_:][a-zA-Z0-9_:]*)\{\} ")]
    private static partial System.Text.RegularExpressions.Regex EmptyLabelSet();

    /// <summary>The port Http:Url is bound to: the configured one, or with port 0 the one Kestrel chose (the first
    /// endpoint, as <see cref="EcoMonitorApp"/> listens on Http:Url first).</summary>
    static int HttpPort(WebApplication app)
    {
        var configured = Port(app.Configuration["Http:Url"] ?? "http://127.0.0.1:8480");
        if (configured != 0) return configured;
        var first = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault();
        return first is null ? -1 : Port(first);
    }

    /// <summary>The port of http(s)://host:port[/] (host may be *, +, an IPv6 address in brackets); -1 if none.</summary>
    static int Port(string url)
    {
        var trimmed = url.TrimEnd('/');
        return int.TryParse(trimmed.AsSpan(trimmed.LastIndexOf(':') + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var port) ? port : -1;
    }
}

/// <summary>Observable instruments over the state of the rollup stage, the live streams and alerting (their
/// counters stay plain fields there and are read when scraped). Created with the MeterProvider.</summary>
public sealed class ServiceInstruments
{
    public ServiceInstruments(IMeterFactory meters, RollupStage rollups, WatchLimiter watches, ReadingBroadcast readings,
        AlertBroadcast alertEvents, AlertEvaluator alerts, AlertLeadership leadership)
    {
        var storage = meters.Create(Telemetry.StorageMeter);
        storage.CreateObservableGauge("ecomonitor.rollup.lag.recent", () => ((double[])[0.5, 0.99]).Select(q =>
                new Measurement<double>(rollups.LagQuantile(q), new KeyValuePair<string, object?>("quantile", q.ToString(System.Globalization.CultureInfo.InvariantCulture)))),
            unit: "s", description: $"quantiles of the rollup lag over the last {RollupStage.LagWindow} batches (NaN before the first)");
        storage.CreateObservableGauge("ecomonitor.rollup.pending_hours", () => rollups.PendingHours, description: "dirty hours waiting in memory for the rollup");
        storage.CreateObservableGauge("ecomonitor.rollup.oldest_pending", () => rollups.OldestPendingSeconds, unit: "s",
            description: "age of the oldest stored batch not yet rolled up");
        storage.CreateObservableCounter("ecomonitor.rollup.hours_recomputed", () => rollups.HoursRecomputed, description: "hours recomputed by the rollup stage");
        storage.CreateObservableCounter("ecomonitor.rollup.hours_repaired", () => rollups.HoursRepaired,
            description: "hours recomputed from durable dirty marks (other or crashed instances, overflow)");
        storage.CreateObservableCounter("ecomonitor.rollup.minute_rows_read", () => rollups.MinuteRowsRead,
            description: "rows of minute means and raw wind directions the rollup's recomputes read from InfluxDB");
        storage.CreateObservableGauge("ecomonitor.rollup.recent_hours", () => rollups.RecentHoursKept,
            description: "hours whose minute values the rollup keeps in memory (Rollup:RecentHours)");
        storage.CreateObservableCounter("ecomonitor.rollup.failures", () => rollups.Failures, description: "failed rollup recomputes, mark reads and mark deletions (retried)");

        var api = meters.Create(Telemetry.ApiMeter);
        api.CreateObservableGauge("ecomonitor.watch.streams", () => watches.Open, description: "live Watch and WatchAlerts streams open");
        api.CreateObservableCounter("ecomonitor.watch.refused", () => watches.Refused,
            description: "live streams refused by Api:MaxWatchStreams or Api:MaxWatchStreamsPerKey");
        api.CreateObservableCounter("ecomonitor.watch.dropped", () => (Measurement<long>[])
            [
                new(readings.DroppedTotal, new KeyValuePair<string, object?>("stream", "readings")),
                new(alertEvents.DroppedTotal, new KeyValuePair<string, object?>("stream", "alerts")),
            ], description: "items dropped for watchers more than Api:WatchBufferSize behind");

        if (!alerts.Enabled) return;
        var alerting = meters.Create(Telemetry.AlertingMeter);
        alerting.CreateObservableGauge("ecomonitor.alerts", () =>
        {
            var active = alerts.Active;
            return (Measurement<int>[])
            [
                new(active.Count(a => a.State == Domain.Alerting.AlertState.Pending), new KeyValuePair<string, object?>("state", "pending")),
                new(active.Count(a => a.State == Domain.Alerting.AlertState.Firing), new KeyValuePair<string, object?>("state", "firing")),
            ];
        }, description: "active alerts by state");
        alerting.CreateObservableCounter("ecomonitor.alert.evaluations", () => alerts.Evaluations, description: "alert evaluations completed");
        alerting.CreateObservableCounter("ecomonitor.alert.rule_errors", () => alerts.RuleErrors, description: "rule evaluations that failed (database unreachable, ...)");
        alerting.CreateObservableCounter("ecomonitor.alert.rules_reload_failures", () => alerts.ReloadFailures, description: "edits of the rules file that were refused");
        alerting.CreateObservableCounter("ecomonitor.alert.notification_failures", () => alerts.NotificationFailures, description: "notifications that failed after every retry");
        if (!leadership.Enabled) return;
        alerting.CreateObservableGauge("ecomonitor.alerting.leader", () => leadership.IsLeader ? 1 : 0, description: "1 while this instance leads alerting (evaluates and notifies)");
        alerting.CreateObservableCounter("ecomonitor.alerting.takeovers", () => leadership.Takeovers, description: "times this instance took the alerting lease");
        alerting.CreateObservableCounter("ecomonitor.alerting.stand_downs", () => leadership.StandDowns,
            description: "times this instance stopped leading (lost connection, unconfirmed renewals, a preceding claim)");
    }
}
