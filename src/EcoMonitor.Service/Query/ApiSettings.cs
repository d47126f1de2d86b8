using System.ComponentModel.DataAnnotations;
using EcoMonitor.Domain.Standards;

namespace EcoMonitor.Service.Query;

/// <summary>Roles, each including the ones before it: readers query; duty staff also acknowledge and silence
/// alerts; operators also run maintenance (rollup rebuilds, evaluation on demand).</summary>
public enum ApiRole { Reader, Duty, Operator }

/// <summary>Settings section "Api": who may call the gRPC API, and the zone's target.</summary>
public sealed class ApiSettings : IValidatableObject
{
    public const string Section = "Api";

    /// <summary>API keys, sent as "x-api-key: KEY" or "authorization: Bearer KEY". Never logged.</summary>
    public List<ApiKey> Keys { get; set; } = [];

    /// <summary>The PM2.5 year-over-year reduction target in percent (the zone's plan: -3).</summary>
    public double TargetPercent { get; set; } = -3;

    /// <summary>Whether the target verdict uses exact means or means rounded as published (HJ 663).</summary>
    public TargetVerdictPolicy TargetVerdictPolicy { get; set; } = TargetVerdictPolicy.Exact;

    /// <summary>Live streams (Watch, WatchAlerts) open at once, all keys together; one more is RESOURCE_EXHAUSTED.</summary>
    public int MaxWatchStreams { get; set; } = 64;

    /// <summary>Live streams open at once with one API key.</summary>
    public int MaxWatchStreamsPerKey { get; set; } = 8;

    /// <summary>Items one live stream may fall behind before it loses the oldest (counted in /metrics). A reading
    /// takes about 150 bytes: 1000 keep a slow watcher under about 150 kB.</summary>
    public int WatchBufferSize { get; set; } = 1000;

    public IEnumerable<ValidationResult> Validate(ValidationContext context)
    {
        if (MaxWatchStreams is < 1 or > 100_000)
            yield return new($"Api:MaxWatchStreams must be within 1..100000 (got {MaxWatchStreams}).", [nameof(MaxWatchStreams)]);
        if (MaxWatchStreamsPerKey < 1 || MaxWatchStreamsPerKey > MaxWatchStreams)
            yield return new($"Api:MaxWatchStreamsPerKey must be within 1..Api:MaxWatchStreams ({MaxWatchStreams}) (got {MaxWatchStreamsPerKey}).", [nameof(MaxWatchStreamsPerKey)]);
        if (WatchBufferSize is < 1 or > 1_000_000)
            yield return new($"Api:WatchBufferSize must be within 1..1000000 (got {WatchBufferSize}).", [nameof(WatchBufferSize)]);
        for (var i = 0; i < Keys.Count; i++)
        {
            var k = Keys[i];
            if (string.IsNullOrWhiteSpace(k.Name))
                yield return new($"Api:Keys:{i}:Name is required (it names the caller in logs).", [nameof(Keys)]);
            if (k.Key is null || k.Key.Length < 16)
                yield return new($"Api:Keys:{i}:Key must be at least 16 characters.", [nameof(Keys)]);
        }
        foreach (var name in Keys.GroupBy(k => k.Name).Where(g => g.Count() > 1).Select(g => g.Key))
            yield return new($"Api:Keys: the name '{name}' is used twice.", [nameof(Keys)]);
        if (Keys.Select(k => k.Key).Distinct().Count() != Keys.Count)
            yield return new("Api:Keys: two keys are the same.", [nameof(Keys)]);
        if (!double.IsFinite(TargetPercent) || TargetPercent is >= 0 or < -100)
            yield return new($"Api:TargetPercent must be a reduction between -100 and 0 (got {TargetPercent}).", [nameof(TargetPercent)]);
    }
}

public sealed class ApiKey
{
    public string Name { get; set; } = "";
    public string Key { get; set; } = "";
    public ApiRole Role { get; set; } = ApiRole.Reader;
}

/// <summary>Settings section "Voc": NMHC limits at VOCs monitoring points. Defaults from GB 37822-2019 (plant area):
/// 10 mg/m³ as a 1-hour average, 30 mg/m³ for any single value; per station overrides (e.g. the special limits 6 and
/// 20) under Voc:Stations:{id}.</summary>
public sealed class VocSettings : IValidatableObject
{
    public const string Section = "Voc";

    public double HourlyMeanLimit { get; set; } = 10;
    public double SingleValueLimit { get; set; } = 30;
    public Dictionary<string, VocStationLimits> Stations { get; set; } = new(StringComparer.Ordinal);

    public (double Hourly, double Single) LimitsFor(string station) =>
        Stations.TryGetValue(station, out var s) ? (s.HourlyMeanLimit ?? HourlyMeanLimit, s.SingleValueLimit ?? SingleValueLimit) : (HourlyMeanLimit, SingleValueLimit);

    public IEnumerable<ValidationResult> Validate(ValidationContext context)
    {
        if (!(HourlyMeanLimit > 0) || !(SingleValueLimit > 0))
            yield return new("Voc:HourlyMeanLimit and Voc:SingleValueLimit must be positive.", [nameof(HourlyMeanLimit)]);
        foreach (var (id, l) in Stations)
            if (l.HourlyMeanLimit is <= 0 || l.SingleValueLimit is <= 0)
                yield return new($"Voc:Stations:{id}: limits must be positive.", [nameof(Stations)]);
    }
}

public sealed class VocStationLimits
{
    public double? HourlyMeanLimit { get; set; }
    public double? SingleValueLimit { get; set; }
}
