using EcoMonitor.Service.Stations;
using EcoMonitor.Service.Storage;
using Microsoft.Extensions.Options;

namespace EcoMonitor.Service.Hosting;

/// <summary>Logs the effective settings once at start-up (secrets only as "set"/"not set": API keys by name and
/// role, passwords, tokens and webhook URLs never), loads the stations file so a broken one stops start-up, warns of
/// alert rules that reach no channel, and creates the database when it is reachable.</summary>
public sealed class StartupReport(
    IOptions<MqttSettings> mqtt,
    IOptions<InfluxSettings> influx,
    IOptions<IngestionSettings> ingestion,
    IOptions<StationsSettings> stationsSettings,
    IOptions<HealthSettings> health,
    StationRegistry stations,
    InfluxWriter writer,
    Query.StandardsCatalog standards,
    ServiceEndpoints endpoints,
    LoggingSettings logging,
    IOptions<Query.ApiSettings> api,
    IHostEnvironment environment,
    Alerting.AlertEvaluator alerts,
    IOptions<Alerting.AlertingSettings> alerting,
    ILogger<StartupReport> log) : IHostedService
{
    public async Task StartAsync(CancellationToken ct)
    {
        var m = mqtt.Value;
        var i = influx.Value;
        var g = ingestion.Value;
        log.LogInformation("MQTT: {Host}:{Port}, client id {ClientId}, session expiry {SessionExpiry}, keep-alive {KeepAlive}, receive maximum {ReceiveMaximum}, maximum packet size {MaxPacket} B, TLS {Tls}, user {User}, password {Password}",
            m.Host, m.Port, m.ClientId, m.SessionExpiry, m.KeepAlive, m.ReceiveMaximum, Ingestion.MqttConnection.MaximumPacketSize(ingestion.Value.MaxPayloadBytes), m.Tls.Enabled, m.Username ?? "(none)", Secret(m.Password));
        log.LogInformation("InfluxDB: {Url}, database {Database}, retention policy {RetentionPolicy}, batch {BatchSize} / {FlushInterval}, timeout {Timeout}, token {Token}, user {User}, password {Password}",
            i.Url, i.Database, i.RetentionPolicy.Length == 0 ? "(default)" : i.RetentionPolicy, i.BatchSize, i.FlushInterval, i.Timeout, Secret(i.Token), i.Username ?? "(none)", Secret(i.Password));
        log.LogInformation("Ingestion: topics {Prefix}/+/readings, dead letters {Prefix}/deadletter/+, unknown stations {Policy}, max payload {MaxPayload} B, max {MaxReadings} readings/message, future skew {Skew}, max age {MaxAge}",
            g.TopicPrefix, g.TopicPrefix, g.UnknownStations, g.MaxPayloadBytes, g.MaxReadingsPerMessage, g.MaxFutureSkew, g.MaxAge);
        log.LogInformation("Stations: {Count} from {File} ({Air} air, {Voc} VOCs, {Water} water)",
            stations.All.Count, stationsSettings.Value.File,
            stations.All.Count(s => s.Kind == Domain.StationKind.Air),
            stations.All.Count(s => s.Kind == Domain.StationKind.Voc),
            stations.All.Count(s => s.Kind == Domain.StationKind.Water));
        var h = health.Value;
        log.LogInformation("Readiness (/readyz): InfluxDB answered within {InfluxStaleAfter} (probed every {Ping} when idle, every {Recovery} while unreachable), pipeline stalled after {StallAfter}",
            h.InfluxStaleAfter, h.InfluxPingInterval, i.RecoveryProbeInterval, h.StallAfter);
        log.LogInformation("Standards in effect: {Air}, {Aqi}, {Water}", standards.Air.Name, standards.Aqi.Name, standards.Water.Name);
        log.LogInformation("Endpoints: HTTP {Http}, gRPC {Grpc}; API keys {Keys}",
            Endpoint(endpoints.Http), Endpoint(endpoints.Grpc),
            api.Value.Keys.Count == 0 ? "none (every API call is refused)" : string.Join(", ", api.Value.Keys.Select(k => $"{k.Name} ({k.Role.ToString().ToLowerInvariant()})")));
        log.LogInformation("Logs: {Logs}", ServiceLogging.Describe(logging, environment.ContentRootPath));
        if (alerts.Enabled)
            foreach (var problem in Alerting.RuleRouting.Describe(alerts.Rules,
                alerting.Value.RulesFile is { Length: > 0 } file ? $"Alerting:RulesFile ({Path.GetFileName(file)}) " : "Alerting:"))
                log.LogWarning("{Problem}", problem);
        await writer.EnsureDatabaseAsync(ct);
    }

    static string Endpoint(ListenEndpoint e) =>
        $"{e.Scheme}://{e}" + (e.Certificate is { } c ? $" (TLS certificate {c.Subject}, valid until {c.NotAfter:yyyy-MM-dd})" : "");

    static string Secret(string? value) => string.IsNullOrEmpty(value) ? "not set" : "set";

    public Task StopAsync(CancellationToken ct) => Task.CompletedTask;
}
