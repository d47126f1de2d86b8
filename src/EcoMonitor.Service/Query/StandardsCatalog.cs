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
        Check();
    }

    public AirQualityStandard Air { get; }
    public AqiEdition Aqi { get; }
    public WaterQualityStandard Water { get; }

    static T Pick<T>(List<T> editions, Func<T, string> name, string wanted, string setting) =>
        editions.FirstOrDefault(e => name(e) == wanted)
        ?? throw new InvalidOperationException($"{setting}: no edition '{wanted}'; known: {string.Join(", ", editions.Select(name))}.");

    void Check()
    {
        if (Air.MinMinutesPerHour is < 1 or > 60 || Air.MinHoursPerDay is < 1 or > 24 || Air.MinDaysPerYear is < 1 or > 366)
            throw new InvalidOperationException($"Standards:Air: edition '{Air.Name}' has validity rules out of range.");
        foreach (var (pollutant, bp) in Aqi.Breakpoints)
            if (bp.Length != Aqi.IndexLevels.Count || bp.Zip(bp.Skip(1)).Any(p => p.First >= p.Second))
                throw new InvalidOperationException($"Standards:Aqi: edition '{Aqi.Name}' has {pollutant} breakpoints that do not match its index levels or do not rise.");
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
