using System.ComponentModel.DataAnnotations;
using EcoMonitor.Domain;

namespace EcoMonitor.Service.Hosting;

/// <summary>Settings section "Mqtt": the broker connection the gateways publish to.</summary>
public sealed class MqttSettings : IValidatableObject
{
    public const string Section = "Mqtt";

    [Required] public string Host { get; set; } = "127.0.0.1";
    [Range(1, 65535)] public int Port { get; set; } = 1883;
    /// <summary>Stable client id: the broker keeps the persistent session (and queues QoS 1 messages) under it.</summary>
    [Required, RegularExpression("^[A-Za-z0-9_.-]{1,64}$")] public string ClientId { get; set; } = "ecomonitor-ingest";
    public string? Username { get; set; }
    public string? Password { get; set; }
    /// <summary>How long the broker keeps the session while the service is away.</summary>
    public TimeSpan SessionExpiry { get; set; } = TimeSpan.FromDays(7);
    public TimeSpan KeepAlive { get; set; } = TimeSpan.FromSeconds(30);
    /// <summary>Unacknowledged QoS 1 messages the broker may send at once (MQTT 5 Receive Maximum). It bounds the
    /// service's memory while the database is slow or down.</summary>
    [Range(1, 65535)] public int ReceiveMaximum { get; set; } = 2000;
    public TimeSpan ReconnectInitialDelay { get; set; } = TimeSpan.FromMilliseconds(500);
    public TimeSpan ReconnectMaxDelay { get; set; } = TimeSpan.FromSeconds(30);
    public MqttTlsSettings Tls { get; set; } = new();
    /// <summary>Set on every instance of a scaled-out deployment (the same name on each): the readings topics are
    /// subscribed as MQTT 5 shared subscriptions, $share/{SharedGroup}/{filter}, so the broker hands each message to
    /// one member of the group. Each instance still needs its own <see cref="ClientId"/> (its persistent session):
    /// two instances with the same id take the session from each other, which no instance can see locally.
    /// Empty: an ordinary subscription (a single instance).</summary>
    [RegularExpression("^[A-Za-z0-9_.-]{1,64}$", ErrorMessage = "Mqtt:SharedGroup must be 1..64 letters, digits, '_', '.' or '-' (no '/', '+', '#').")]
    public string? SharedGroup { get; set; }

    /// <summary>The filter as subscribed: shared in the group when <see cref="SharedGroup"/> is set.</summary>
    public string SubscriptionFilter(string filter) => string.IsNullOrEmpty(SharedGroup) ? filter : $"$share/{SharedGroup}/{filter}";

    public IEnumerable<ValidationResult> Validate(ValidationContext context)
    {
        if (SessionExpiry < TimeSpan.FromSeconds(1) || SessionExpiry.TotalSeconds > uint.MaxValue)
            yield return new($"Mqtt:SessionExpiry must be between 1 second and {uint.MaxValue} seconds (got {SessionExpiry}); a session that expires at once loses queued readings.", [nameof(SessionExpiry)]);
        if (KeepAlive < TimeSpan.FromSeconds(1) || KeepAlive > TimeSpan.FromSeconds(65535))
            yield return new($"Mqtt:KeepAlive must be between 1 and 65535 seconds (got {KeepAlive}).", [nameof(KeepAlive)]);
        if (ReconnectInitialDelay <= TimeSpan.Zero || ReconnectMaxDelay < ReconnectInitialDelay)
            yield return new("Mqtt:ReconnectInitialDelay must be positive and Mqtt:ReconnectMaxDelay at least as long.", [nameof(ReconnectInitialDelay), nameof(ReconnectMaxDelay)]);
        if (string.IsNullOrEmpty(Username) && !string.IsNullOrEmpty(Password))
            yield return new("Mqtt:Password is set but Mqtt:Username is empty.", [nameof(Password)]);
    }
}

public sealed class MqttTlsSettings
{
    public bool Enabled { get; set; }
    /// <summary>Accept a certificate that does not chain to a trusted root (test brokers only).</summary>
    public bool AllowUntrustedCertificates { get; set; }
    /// <summary>Host name expected in the broker's certificate; defaults to Mqtt:Host.</summary>
    public string? TargetHost { get; set; }
}

public enum UnknownStationPolicy { Reject, Accept }

/// <summary>Which figure an hour takes when a station sent its own hourly mean (HJ 212 CN=2061, or JSON with
/// "period": "hour") and minute data of the same hour also arrived: <see cref="Station"/> (default) takes the
/// station's hourly value, as the national platform does; <see cref="Minutes"/> takes the platform's mean of the
/// minutes when they make a valid hour, else the station's value.</summary>
public enum HourlyPrecedence { Station, Minutes }

/// <summary>Settings section "Ingestion": topic contract and validation limits.</summary>
public sealed class IngestionSettings : IValidatableObject
{
    public const string Section = "Ingestion";

    /// <summary>First topic level: readings arrive on {TopicPrefix}/{stationId}/readings.</summary>
    [Required, RegularExpression("^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")] public string TopicPrefix { get; set; } = "eco";
    public UnknownStationPolicy UnknownStations { get; set; } = UnknownStationPolicy.Reject;
    [Range(64, 16 * 1024 * 1024)] public int MaxPayloadBytes { get; set; } = 256 * 1024;
    [Range(1, 100_000)] public int MaxReadingsPerMessage { get; set; } = 1000;
    /// <summary>Readings stamped further ahead than this are rejected (clock error at the gateway).</summary>
    public TimeSpan MaxFutureSkew { get; set; } = TimeSpan.FromMinutes(5);
    /// <summary>Readings older than this are rejected (a gateway replaying ancient data, or a wrong clock).</summary>
    public TimeSpan MaxAge { get; set; } = TimeSpan.FromDays(30);
    /// <summary>How long a stopping service waits for readings already received to be stored and acknowledged.</summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(5);
    /// <summary>Plausible range overrides by parameter code, e.g. Ranges:pm25:Max = 800.</summary>
    public Dictionary<string, RangeSetting> Ranges { get; set; } = new(StringComparer.OrdinalIgnoreCase);
    /// <summary>Station hourly value or the mean of the minutes, when both exist for an hour (see the enum).</summary>
    public HourlyPrecedence HourlyPrecedence { get; set; } = HourlyPrecedence.Station;

    public IEnumerable<ValidationResult> Validate(ValidationContext context)
    {
        if (!Enum.IsDefined(HourlyPrecedence))
            yield return new($"Ingestion:HourlyPrecedence must be Station or Minutes (got {(int)HourlyPrecedence}).", [nameof(HourlyPrecedence)]);
        if (MaxFutureSkew < TimeSpan.Zero)
            yield return new("Ingestion:MaxFutureSkew must not be negative.", [nameof(MaxFutureSkew)]);
        if (MaxAge <= TimeSpan.Zero)
            yield return new("Ingestion:MaxAge must be positive.", [nameof(MaxAge)]);
        if (DrainTimeout < TimeSpan.Zero)
            yield return new("Ingestion:DrainTimeout must not be negative.", [nameof(DrainTimeout)]);
        foreach (var (code, range) in Ranges)
        {
            if (!Parameters.TryFind(code, out var p) || p.Code != code)
                yield return new($"Ingestion:Ranges:{code} names no parameter (use the canonical code); known: {string.Join(", ", Parameters.All.Select(x => x.Code))}.", [nameof(Ranges)]);
            else if (!(range.Min ?? p.DefaultMin).IsFiniteLess(range.Max ?? p.DefaultMax))
                yield return new($"Ingestion:Ranges:{code} needs Min < Max (got {range.Min ?? p.DefaultMin} .. {range.Max ?? p.DefaultMax}).", [nameof(Ranges)]);
        }
    }

    public (double Min, double Max) RangeOf(ParameterInfo p) =>
        Ranges.TryGetValue(p.Code, out var r) ? (r.Min ?? p.DefaultMin, r.Max ?? p.DefaultMax) : (p.DefaultMin, p.DefaultMax);
}

public sealed class RangeSetting
{
    public double? Min { get; set; }
    public double? Max { get; set; }
}

/// <summary>Settings section "Influx": where readings are stored (InfluxDB 1.x /write and /query; 2.x and 3.x
/// through their v1 compatibility API).</summary>
public sealed class InfluxSettings : IValidatableObject
{
    public const string Section = "Influx";

    [Required] public Uri Url { get; set; } = new("http://127.0.0.1:8086");
    [Required, RegularExpression("^[A-Za-z0-9_-]{1,64}$")] public string Database { get; set; } = "ecomonitor";
    /// <summary>Retention policy to write into; empty: the database's default.</summary>
    [RegularExpression("^[A-Za-z0-9_-]{0,64}$")] public string RetentionPolicy { get; set; } = "";
    /// <summary>Duration of the retention policy when the service creates it (InfluxQL duration, "INF" keeps forever).</summary>
    [RegularExpression("^(INF|[0-9]+[hdw])$")] public string RetentionDuration { get; set; } = "INF";
    /// <summary>Create the database and retention policy at start-up when missing (InfluxDB 1.x).</summary>
    public bool CreateDatabase { get; set; } = true;
    /// <summary>InfluxDB 2.x/3.x token, sent as "Authorization: Token ...". Never logged.</summary>
    public string? Token { get; set; }
    public string? Username { get; set; }
    /// <summary>Never logged.</summary>
    public string? Password { get; set; }
    [Range(1, 100_000)] public int BatchSize { get; set; } = 5000;
    public TimeSpan FlushInterval { get; set; } = TimeSpan.FromMilliseconds(500);
    /// <summary>Batches written to InfluxDB at the same time (the next batch is built and written while earlier ones
    /// are still on their way; acknowledgements stay in arrival order).</summary>
    [Range(1, 16)] public int MaxConcurrentWrites { get; set; } = 3;
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);
    public TimeSpan RetryInitialDelay { get; set; } = TimeSpan.FromMilliseconds(500);
    public TimeSpan RetryMaxDelay { get; set; } = TimeSpan.FromSeconds(30);
    /// <summary>While a write waits for its retry because InfluxDB is unreachable, InfluxDB is probed this often
    /// (an empty write: it checks the credentials and the database as a real one does), and the write is retried as
    /// soon as it answers: the backoff paces the log, not the recovery.</summary>
    public TimeSpan RecoveryProbeInterval { get; set; } = TimeSpan.FromSeconds(1);

    public IEnumerable<ValidationResult> Validate(ValidationContext context)
    {
        if (RecoveryProbeInterval < TimeSpan.FromMilliseconds(50) || RecoveryProbeInterval > TimeSpan.FromMinutes(1))
            yield return new($"Influx:RecoveryProbeInterval must be between 50 ms and 1 minute (got {RecoveryProbeInterval}).", [nameof(RecoveryProbeInterval)]);
        if (Url is { IsAbsoluteUri: true } u && u.Scheme is not ("http" or "https"))
            yield return new($"Influx:Url must be an http or https URL (got scheme '{u.Scheme}').", [nameof(Url)]);
        // http://user:password@host is not sent as credentials by HttpClient, and the URL is logged at start: refuse
        // it (without echoing it) rather than log a password and fail every write with 401.
        if (Url is { IsAbsoluteUri: true, UserInfo.Length: > 0 })
            yield return new("Influx:Url must not carry user:password@; give Influx:Username and Influx:Password (or Influx:Token).", [nameof(Url)]);
        if (!string.IsNullOrEmpty(Token) && !string.IsNullOrEmpty(Username))
            yield return new("Set either Influx:Token or Influx:Username/Password, not both.", [nameof(Token)]);
        if (string.IsNullOrEmpty(Username) && !string.IsNullOrEmpty(Password))
            yield return new("Influx:Password is set but Influx:Username is empty.", [nameof(Password)]);
        if (FlushInterval < TimeSpan.Zero || FlushInterval > TimeSpan.FromMinutes(1))
            yield return new("Influx:FlushInterval must be between 0 and 1 minute.", [nameof(FlushInterval)]);
        if (Timeout <= TimeSpan.Zero)
            yield return new("Influx:Timeout must be positive.", [nameof(Timeout)]);
        if (RetryInitialDelay <= TimeSpan.Zero || RetryMaxDelay < RetryInitialDelay)
            yield return new("Influx:RetryInitialDelay must be positive and Influx:RetryMaxDelay at least as long.", [nameof(RetryInitialDelay), nameof(RetryMaxDelay)]);
    }
}

/// <summary>Settings section "Health": when /readyz (and the gRPC health service) stop calling the service ready.</summary>
public sealed class HealthSettings : IValidatableObject
{
    public const string Section = "Health";

    /// <summary>InfluxDB counts as available while it accepted a write or answered a probe this recently.</summary>
    public TimeSpan InfluxStaleAfter { get; set; } = TimeSpan.FromSeconds(30);
    /// <summary>How often InfluxDB is probed (an empty write) when nothing was written meanwhile.</summary>
    public TimeSpan InfluxPingInterval { get; set; } = TimeSpan.FromSeconds(10);
    /// <summary>The pipeline counts as stalled when work is waiting and no batch started or completed this long.</summary>
    public TimeSpan StallAfter { get; set; } = TimeSpan.FromSeconds(60);

    public IEnumerable<ValidationResult> Validate(ValidationContext context)
    {
        if (InfluxStaleAfter < TimeSpan.FromSeconds(1))
            yield return new($"Health:InfluxStaleAfter must be at least 1 second (got {InfluxStaleAfter}).", [nameof(InfluxStaleAfter)]);
        if (InfluxPingInterval < TimeSpan.FromMilliseconds(100) || InfluxPingInterval >= InfluxStaleAfter)
            yield return new($"Health:InfluxPingInterval must be at least 100 ms and shorter than Health:InfluxStaleAfter ({InfluxStaleAfter}), or an idle service would flap (got {InfluxPingInterval}).", [nameof(InfluxPingInterval)]);
        if (StallAfter < TimeSpan.FromSeconds(1))
            yield return new($"Health:StallAfter must be at least 1 second (got {StallAfter}).", [nameof(StallAfter)]);
    }
}

/// <summary>Settings section "Rollup": the stage that brings the hourly and daily rollups up to date after
/// readings are stored and acknowledged (see <see cref="Storage.RollupStage"/>).</summary>
public sealed class RollupSettings : IValidatableObject
{
    public const string Section = "Rollup";

    /// <summary>False: this instance stores readings and their dirty marks but rolls nothing up (an ingest-only
    /// instance, or a bulk load); an instance with the stage on (or this one's next start) takes the marks over.</summary>
    public bool Enabled { get; set; } = true;
    /// <summary>Stations per recompute (its queries span these stations over at most Rollup:MaxDaysPerQuery local
    /// days): keeps every query small, whatever the number of stations a batch touched.</summary>
    [Range(1, 10_000)] public int StationsPerQuery { get; set; } = 200;
    /// <summary>Consecutive dirty local days one recompute may span (1: one day per recompute). A backlog of many
    /// days (a bulk import, a backfill) is then done in a few round trips instead of several per day; days with
    /// nothing dirty between two dirty ones are never spanned.</summary>
    [Range(1, 366)] public int MaxDaysPerQuery { get; set; } = 31;
    /// <summary>Dirty hours (station, parameter, hour) one recompute may take when it spans several days; a day is
    /// added to a span only while the span stays within it (a single day is never cut, whatever its size). An hour
    /// of minute data is 60 points to read: the default keeps a span of minute data no larger than one local day of
    /// 100 stations' minute data was before (larger spans of minute data exceeded Influx:Timeout on a loaded
    /// machine), while a backfill of hourly values (one point an hour) still takes many days per recompute.</summary>
    [Range(24, 1_000_000)] public int MaxHoursPerQuery { get; set; } = 2_000;
    /// <summary>Dirty hours held in memory; beyond that the stage takes further work from the durable marks
    /// (slower, never lost).</summary>
    [Range(1_000, 10_000_000)] public int MaxPendingHours { get; set; } = 500_000;
    /// <summary>Station-parameter-hours whose minute values are kept in memory after a recompute (about 0.5 KB each),
    /// so that the next recompute of such an hour reads only the minutes whose readings changed since, not the whole
    /// hour (0: off, every recompute reads its hours whole). Not used with Mqtt:SharedGroup: other instances store
    /// readings of the same hours. The default holds the current hour of 2,000 stations with 11 parameters and
    /// some; the hours kept first are dropped first.</summary>
    [Range(0, 10_000_000)] public int RecentHours { get; set; } = 30_000;
    /// <summary>How often marks left by other instances (or a crashed one) are looked for; at start always.</summary>
    public TimeSpan RepairInterval { get; set; } = TimeSpan.FromSeconds(30);
    /// <summary>Another instance's mark this old is taken over: that instance is gone or far behind (a live
    /// instance rolls its own marks up within seconds).</summary>
    public TimeSpan OrphanAfter { get; set; } = TimeSpan.FromMinutes(1);

    public IEnumerable<ValidationResult> Validate(ValidationContext context)
    {
        if (RepairInterval < TimeSpan.FromSeconds(1) || RepairInterval > TimeSpan.FromHours(1))
            yield return new($"Rollup:RepairInterval must be between 1 second and 1 hour (got {RepairInterval}).", [nameof(RepairInterval)]);
        if (OrphanAfter < TimeSpan.FromSeconds(5))
            yield return new($"Rollup:OrphanAfter must be at least 5 seconds (got {OrphanAfter}); a live instance's fresh marks are its own work.", [nameof(OrphanAfter)]);
    }
}

/// <summary>Settings section "Stations".</summary>
public sealed class StationsSettings
{
    public const string Section = "Stations";

    /// <summary>Path of the stations file (JSON), relative to the working directory or absolute.</summary>
    [Required] public string File { get; set; } = "stations.json";
}

static class DoubleExtensions
{
    public static bool IsFiniteLess(this double a, double b) => double.IsFinite(a) && double.IsFinite(b) && a < b;
}
