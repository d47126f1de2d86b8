using System.ComponentModel.DataAnnotations;
using System.Text.Json;
using System.Text.Json.Serialization;
using EcoMonitor.Domain.Standards;
using Microsoft.Extensions.Options;

namespace EcoMonitor.Service.Query;

/// <summary>Settings section "Standards": which edition of each standard is in effect, and a file of further
/// editions. A new edition (GB 3095-2026, say) is a new entry in that file and a setting, not new code.</summary>
public sealed class StandardsSettings
{
    public const string Section = "Standards";

    [Required] public string Air { get; set; } = AirQualityStandard.Gb3095_2012.Name;
    [Required] public string Aqi { get; set; } = AqiEdition.Hj633_2012.Name;
    [Required] public string Water { get; set; } = WaterQualityStandard.Gb3838_2002.Name;

    /// <summary>What the hourly AQI indexes for PM2.5 and PM10, which HJ 633-2012 gives 24-hour breakpoints only:
    /// HourMean (default: the hour's 1-hour mean, as the real-time report indexes every pollutant's 1-hour value) or
    /// Moving24Hours (the 24-hour moving mean ending with the hour, valid with MinHoursPerDay valid hours).</summary>
    public HourlyParticulates HourlyAqiParticulates { get; set; } = HourlyParticulates.HourMean;

    /// <summary>JSON file with more editions: {"air": [...], "aqi": [...], "water": [...]} in the shape of the
    /// domain records (README, "Standards as data"). Relative paths are from the content root.</summary>
    public string? File { get; set; }
}

/// <summary>The editions in effect, chosen at start-up from the built-in ones and those of Standards:File.</summary>
public sealed class StandardsCatalog
{
    public StandardsCatalog(IOptions<StandardsSettings> options, IHostEnvironment environment)
    {
        var settings = options.Value;
        var air = new List<AirQualityStandard> { AirQualityStandard.Gb3095_2012 };
        var aqi = new List<AqiEdition> { AqiEdition.Hj633_2012 };
        var water = new List<WaterQualityStandard> { WaterQualityStandard.Gb3838_2002 };
        if (!string.IsNullOrEmpty(settings.File))
        {
            var path = Path.Combine(environment.ContentRootPath, settings.File);
            if (!System.IO.File.Exists(path)) throw new InvalidOperationException($"Standards:File: '{path}' does not exist.");
            EditionsFile? file;
            try
            {
                file = JsonSerializer.Deserialize<EditionsFile>(System.IO.File.ReadAllText(path), Json);
            }
            catch (JsonException e)
            {
                throw new InvalidOperationException($"Standards:File: '{path}' is not a valid editions file: {e.Message}", e);
            }
            air.AddRange(file?.Air ?? []);
            aqi.AddRange(file?.Aqi ?? []);
            water.AddRange(file?.Water ?? []);
        }
        Air = Pick(air, a => a.Name, settings.Air, "Standards:Air");
        Aqi = Pick(aqi, a => a.Name, settings.Aqi, "Standards:Aqi");
        Water = Pick(water, w => w.Name, settings.Water, "Standards:Water");
        if (!Enum.IsDefined(settings.HourlyAqiParticulates))
            throw new InvalidOperationException("Standards:HourlyAqiParticulates: must be HourMean or Moving24Hours.");
        HourlyParticulates = settings.HourlyAqiParticulates;
        Check();
    }

    public AirQualityStandard Air { get; }
    public AqiEdition Aqi { get; }
    public WaterQualityStandard Water { get; }
    public HourlyParticulates HourlyParticulates { get; }

    /// <summary>The breakpoint tables the daily and hourly reports index.</summary>
    static readonly string[] RequiredTables =
    [
        AqiTables.So2Day, AqiTables.So2Hour, AqiTables.No2Day, AqiTables.No2Hour, AqiTables.CoDay, AqiTables.CoHour,
        AqiTables.O3Hour, AqiTables.O3EightHours, AqiTables.Pm10Day, AqiTables.Pm25Day,
    ];

    static T Pick<T>(List<T> editions, Func<T, string> name, string wanted, string setting) =>
        editions.FirstOrDefault(e => name(e) == wanted)
        ?? throw new InvalidOperationException($"{setting}: no edition '{wanted}'; known: {string.Join(", ", editions.Select(name))}.");

    void Check()
    {
        if (Air.MinMinutesPerHour is < 1 or > 60 || Air.MinHoursPerDay is < 1 or > 24 || Air.MinDaysPerYear is < 1 or > 366)
            throw new InvalidOperationException($"Standards:Air: edition '{Air.Name}' has validity rules out of range.");
        if (Aqi.IndexLevels.Count < 2 || Aqi.IndexLevels.Zip(Aqi.IndexLevels.Skip(1)).Any(p => p.First >= p.Second))
            throw new InvalidOperationException($"Standards:Aqi: edition '{Aqi.Name}' has index levels that do not rise.");
        foreach (var (table, bp) in Aqi.Breakpoints)
        {
            if (bp.Length < 2 || bp.Length > Aqi.IndexLevels.Count || bp.Zip(bp.Skip(1)).Any(p => p.First >= p.Second))
                throw new InvalidOperationException($"Standards:Aqi: edition '{Aqi.Name}' has {table} breakpoints that do not match its index levels or do not rise.");
            // A table that stops before the top level hands over to a complete one above its last breakpoint.
            if (bp.Length < Aqi.IndexLevels.Count && !(Aqi.Beyond(table) is { } other && Aqi.TryTable(other, out var o) && o.Length == Aqi.IndexLevels.Count))
                throw new InvalidOperationException($"Standards:Aqi: edition '{Aqi.Name}': {table} stops before the top index level and names no complete table in beyondTable.");
        }
        var missing = RequiredTables.Where(t => !Aqi.TryTable(t, out _)).ToList();
        if (missing.Count > 0)
            throw new InvalidOperationException($"Standards:Aqi: edition '{Aqi.Name}' has no breakpoints for {string.Join(", ", missing)}.");
        foreach (var limit in Water.Limits)
            if (limit.Values.Length != 5 || (limit.Kind == WaterLimitKind.Range && limit.Upper?.Length != 5))
                throw new InvalidOperationException($"Standards:Water: edition '{Water.Name}' needs five class limits for {limit.Parameter}.");
    }

    static readonly JsonSerializerOptions Json = new()
    {
        PropertyNameCaseInsensitive = true,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };

    sealed class EditionsFile
    {
        public List<AirQualityStandard>? Air { get; set; }
        public List<AqiEdition>? Aqi { get; set; }
        public List<WaterQualityStandard>? Water { get; set; }
    }
}
