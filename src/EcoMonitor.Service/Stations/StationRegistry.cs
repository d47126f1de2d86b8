using System.Text.Json;
using System.Text.Json.Serialization;
using EcoMonitor.Domain;

namespace EcoMonitor.Service.Stations;

/// <summary>The stations file, loaded once at start-up. Every problem in it is reported with the station's position
/// and id, and the service does not start until the file is right.</summary>
public sealed class StationRegistry
{
    readonly Dictionary<string, Station> _byId;

    public StationRegistry(IEnumerable<Station> stations)
    {
        _byId = stations.ToDictionary(s => s.Id, StringComparer.Ordinal);
        _byMn = _byId.Values.Where(s => s.Mn is not null).ToDictionary(s => s.Mn!, StringComparer.Ordinal);
    }

    readonly Dictionary<string, Station> _byMn;

    public IReadOnlyCollection<Station> All => _byId.Values;

    public bool TryGet(string id, out Station station) => _byId.TryGetValue(id, out station!);

    /// <summary>The station whose HJ 212 datalogger has this MN.</summary>
    public bool TryGetByMn(string mn, out Station station) => _byMn.TryGetValue(mn, out station!);

    public static StationRegistry Load(string path)
    {
        if (!File.Exists(path))
            throw new InvalidOperationException($"Stations:File: the stations file '{Path.GetFullPath(path)}' does not exist.");
        StationsFile? file;
        try
        {
            file = JsonSerializer.Deserialize<StationsFile>(File.ReadAllText(path), JsonOptions);
        }
        catch (JsonException e)
        {
            throw new InvalidOperationException($"Stations:File: '{path}' is not valid JSON: {e.Message}", e);
        }
        if (file?.Stations is null)
            throw new InvalidOperationException($"Stations:File: '{path}' has no \"stations\" array.");
        return new StationRegistry(Parse(file.Stations, path));
    }

    static List<Station> Parse(List<StationEntry> entries, string path)
    {
        var errors = new List<string>();
        var result = new List<Station>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var seenMn = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < entries.Count; i++)
        {
            var e = entries[i];
            var where = $"stations[{i}] ({e.Id ?? "no id"})";
            var before = errors.Count;
            if (e.Id is null || !Station.IsValidId(e.Id)) errors.Add($"{where}: id must match {Station.IdPattern}");
            else if (!seen.Add(e.Id)) errors.Add($"{where}: duplicate id");
            if (string.IsNullOrWhiteSpace(e.Name)) errors.Add($"{where}: name is required");
            if (string.IsNullOrWhiteSpace(e.Region)) errors.Add($"{where}: region is required");
            if (!Enum.TryParse<StationKind>(e.Kind, true, out var kind) || !Enum.IsDefined(kind) || kind == StationKind.Met)
                errors.Add($"{where}: kind must be air, voc or water (got '{e.Kind}')");
            if (e.Latitude is not (>= -90 and <= 90)) errors.Add($"{where}: latitude must be within -90..90");
            if (e.Longitude is not (>= -180 and <= 180)) errors.Add($"{where}: longitude must be within -180..180");
            WaterBody? body = null;
            WaterClass? target = null;
            if (kind == StationKind.Water)
            {
                if (!Enum.TryParse<WaterBody>(e.WaterBody, true, out var b) || !Enum.IsDefined(b))
                    errors.Add($"{where}: waterBody must be river or lake for a water section (got '{e.WaterBody}')");
                else body = b;
                if (!TryParseClass(e.TargetClass, out var c))
                    errors.Add($"{where}: targetClass must be I, II, III, IV or V for a water section (got '{e.TargetClass}')");
                else target = c;
            }
            else if (e.WaterBody is not null || e.TargetClass is not null)
                errors.Add($"{where}: waterBody and targetClass apply to water sections only");
            if (e.Mn is not null && !MnPattern.IsMatch(e.Mn)) errors.Add($"{where}: mn must be 1-24 letters or digits (the HJ 212 MN)");
            else if (e.Mn is not null && !seenMn.Add(e.Mn)) errors.Add($"{where}: mn {e.Mn} is used by another station");
            if (e.Password is not null && (e.Password.Length is 0 or > 64 || e.Password.Any(c => c is ';' or '=' or '&' or ',' || char.IsControl(c))))
                errors.Add($"{where}: password must be 1-64 characters without ; = & , (the HJ 212 PW)");
            if (e.Password is not null && e.Mn is null) errors.Add($"{where}: password is set but mn is not");
            if (errors.Count == before)
                result.Add(new Station(e.Id!, e.Name!, kind, e.Region!, e.Latitude!.Value, e.Longitude!.Value, body, target, e.WaterName, e.Mn, e.Password));
        }
        if (errors.Count > 0)
            throw new InvalidOperationException($"Stations:File: '{path}' has {errors.Count} problem(s):\n  " + string.Join("\n  ", errors));
        return result;
    }

    static readonly System.Text.RegularExpressions.Regex MnPattern = new("^[A-Za-z0-9]{1,24}$");

    static bool TryParseClass(string? text, out WaterClass value)
    {
        value = text?.Trim().ToUpperInvariant() switch
        {
            "I" or "1" => WaterClass.I,
            "II" or "2" => WaterClass.II,
            "III" or "3" => WaterClass.III,
            "IV" or "4" => WaterClass.IV,
            "V" or "5" => WaterClass.V,
            _ => 0,
        };
        return value != 0;
    }

    static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNameCaseInsensitive = true,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    sealed class StationsFile
    {
        public List<StationEntry>? Stations { get; set; }
    }

    sealed class StationEntry
    {
        public string? Id { get; set; }
        public string? Name { get; set; }
        public string? Kind { get; set; }
        public string? Region { get; set; }
        public double? Latitude { get; set; }
        public double? Longitude { get; set; }
        public string? WaterBody { get; set; }
        public string? TargetClass { get; set; }
        /// <summary>Name of the river or lake (e.g. 滏阳河).</summary>
        public string? WaterName { get; set; }
        /// <summary>HJ 212 device identity (MN) of the station's datalogger.</summary>
        public string? Mn { get; set; }
        /// <summary>HJ 212 access password (PW); frames with another PW are rejected.</summary>
        public string? Password { get; set; }
    }
}
