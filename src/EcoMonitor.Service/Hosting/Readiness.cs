using System.Diagnostics.Metrics;
using System.Globalization;
using EcoMonitor.Service.Ingestion;
using EcoMonitor.Service.Storage;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace EcoMonitor.Service.Hosting;

/// <summary>One readiness check: its name (mqtt, influx, pipeline), whether it passes, and why.</summary>
public sealed record ReadinessCheck(string Name, bool Ready, string Detail);

/// <summary>Whether the service does its job now, not merely runs (that is /healthz): (1) mqtt: connected and
/// subscribed to the broker; (2) influx: InfluxDB accepted a write or answered a probe within
/// Health:InfluxStaleAfter, and did not refuse the credentials since; (3) pipeline: no messages waiting while no batch
/// started or completed for Health:StallAfter. /readyz and the gRPC health service answer from these checks, and
/// /metrics exports them as gauges (meter "EcoMonitor.Readiness", see <see cref="Telemetry"/>).</summary>
public sealed class Readiness
{
    public const string MeterName = Telemetry.ReadinessMeter;
    public static readonly string[] CheckNames = ["mqtt", "influx", "pipeline"];

    readonly MqttConnection _mqtt;
    readonly InfluxWriter _influx;
    readonly IngestionPipeline _pipeline;
    readonly HealthSettings _settings;
    readonly TimeProvider _time;
    readonly DateTimeOffset _started;

    public Readiness(MqttConnection mqtt, InfluxWriter influx, IngestionPipeline pipeline, IOptions<HealthSettings> settings, TimeProvider time,
        IMeterFactory meters)
    {
        _mqtt = mqtt;
        _influx = influx;
        _pipeline = pipeline;
        _settings = settings.Value;
        _time = time;
        _started = time.GetUtcNow();
        var meter = meters.Create(MeterName);
        meter.CreateObservableGauge("ecomonitor.ready", () => Evaluate().Select(c =>
            new Measurement<int>(c.Ready ? 1 : 0, new KeyValuePair<string, object?>("check", c.Name))), description: "1 when the check passes");
        meter.CreateObservableGauge("ecomonitor.influx.last_success_age", () => InfluxAge.TotalSeconds, unit: "s",
            description: "seconds since InfluxDB last accepted a write or answered a probe (since start when never)");
        meter.CreateObservableGauge("ecomonitor.pipeline.queue_depth", () => _pipeline.Pending, description: "messages received and not yet stored and acknowledged");
        meter.CreateObservableCounter("ecomonitor.mqtt.receive_pauses", () => _mqtt.Gate.Pauses,
            description: "times reading from the broker paused because the service held twice Mqtt:ReceiveMaximum messages (the broker sent beyond the Receive Maximum)");
        meter.CreateObservableGauge("ecomonitor.pipeline.progress_age", () => ProgressAge.TotalSeconds, unit: "s",
            description: "seconds since a batch last started or completed (since start when never)");
    }

    TimeSpan InfluxAge => _time.GetUtcNow() - (_influx.LastSuccess ?? _started);

    TimeSpan ProgressAge => _time.GetUtcNow() - (_pipeline.LastProgress ?? _started);

    public IReadOnlyList<ReadinessCheck> Evaluate() => [Mqtt(), Influx(), Pipeline()];

    ReadinessCheck Mqtt() => _mqtt.IsSubscribed
        ? new("mqtt", true, "subscribed")
        : new("mqtt", false, _mqtt.IsConnected ? "connected but not subscribed" : "not connected to the broker");

    ReadinessCheck Influx() => InfluxCheck(_time.GetUtcNow(), _influx.LastSuccess, _influx.LastFailure, _settings.InfluxStaleAfter);

    ReadinessCheck Pipeline() => PipelineCheck(_time.GetUtcNow(), _pipeline.Pending, _pipeline.LastProgress ?? _started, _settings.StallAfter);

    /// <summary>Ready when InfluxDB answered at most <paramref name="staleAfter"/> ago and did not refuse the
    /// credentials since (a refusal counts at once).</summary>
    internal static ReadinessCheck InfluxCheck(DateTimeOffset now, DateTimeOffset? success,
        (DateTimeOffset At, string Reason, bool CredentialsRefused)? failure, TimeSpan staleAfter)
    {
        if (failure is { CredentialsRefused: true } f && (success is null || f.At >= success))
            return new("influx", false, $"InfluxDB refuses the credentials: {f.Reason}");
        if (success is null)
            return new("influx", false, "InfluxDB has not answered yet" + (failure is { } x ? $": {x.Reason}" : ""));
        var age = now - success.Value;
        if (age > staleAfter)
            return new("influx", false, $"no write accepted or probe answered for {Seconds(age)} s (Health:InfluxStaleAfter {Seconds(staleAfter)} s)"
                + (failure is { } y && y.At > success ? $"; last failure: {y.Reason}" : ""));
        return new("influx", true, $"answered {Seconds(age)} s ago");
    }

    /// <summary>Stalled when messages wait and the last progress is more than <paramref name="stallAfter"/> ago.</summary>
    internal static ReadinessCheck PipelineCheck(DateTimeOffset now, int pending, DateTimeOffset lastProgress, TimeSpan stallAfter)
    {
        var age = now - lastProgress;
        if (pending > 0 && age > stallAfter)
            return new("pipeline", false, $"{pending} message(s) waiting and no batch stored for {Seconds(age)} s (Health:StallAfter {Seconds(stallAfter)} s)");
        return new("pipeline", true, pending == 0 ? "idle" : $"{pending} message(s) waiting, last progress {Seconds(age)} s ago");
    }

    static string Seconds(TimeSpan t) => t.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture);

    /// <summary>One check as a health check of Microsoft.Extensions.Diagnostics.HealthChecks (the gRPC health
    /// service reports "" as serving only when all three pass).</summary>
    internal sealed class Check(Readiness readiness, string name) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct)
        {
            var c = readiness.Evaluate().Single(x => x.Name == name);
            return Task.FromResult(c.Ready ? HealthCheckResult.Healthy(c.Detail) : HealthCheckResult.Unhealthy(c.Detail));
        }
    }
}

/// <summary>Keeps the readiness checks current while nothing happens: probes InfluxDB when no write or probe
/// answered for Health:InfluxPingInterval (unless a failing write is probing it already), and logs every change of a
/// check (a warning naming the check when it fails, information when it passes again).</summary>
public sealed class ReadinessMonitor(Readiness readiness, InfluxWriter influx, IOptions<HealthSettings> settings, TimeProvider time,
    ILogger<ReadinessMonitor> log) : BackgroundService
{
    static readonly TimeSpan StartGrace = TimeSpan.FromSeconds(5);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = settings.Value.InfluxPingInterval;
        var tick = interval < TimeSpan.FromSeconds(1) ? interval : TimeSpan.FromSeconds(1);
        // Assumed ready at start; changes are logged after a grace period, so the first seconds of a normal start
        // (not yet subscribed) say nothing, while a start that stays not ready is logged.
        var previous = Readiness.CheckNames.ToDictionary(n => n, _ => true);
        var quietUntil = time.GetUtcNow() + StartGrace;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var last = influx.LastSuccess;
                if (!influx.IsRetrying && (last is null || time.GetUtcNow() - last.Value >= interval))
                    await influx.ProbeAsync(stoppingToken);
                foreach (var c in time.GetUtcNow() < quietUntil ? [] : readiness.Evaluate())
                {
                    if (previous[c.Name] == c.Ready) continue;
                    if (c.Ready) log.LogInformation("Ready again: {Check}: {Detail}", c.Name, c.Detail);
                    else log.LogWarning("Not ready: {Check}: {Detail}", c.Name, c.Detail);
                    previous[c.Name] = c.Ready;
                }
                await Task.Delay(tick, time, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
