namespace EcoMonitor.Domain;

/// <summary>HJ 212-2017 data flags. N (normal) and S (manually set) are valid; the others are stored with the value
/// but kept out of means and indices.</summary>
public static class DataFlags
{
    public const string Normal = "N";

    static readonly Dictionary<string, (bool Valid, string Meaning)> Known = new(StringComparer.Ordinal)
    {
        ["N"] = (true, "normal"),
        ["S"] = (true, "manually set value"),
        ["F"] = (false, "instrument stopped"),
        ["M"] = (false, "maintenance"),
        ["D"] = (false, "fault"),
        ["C"] = (false, "calibration"),
        ["T"] = (false, "over measurement limit"),
        ["B"] = (false, "communication fault"),
    };

    public static IEnumerable<string> All => Known.Keys;

    /// <summary>Normalises a flag (case-insensitive) to its upper-case letter; false when it is not an HJ 212 flag.</summary>
    public static bool TryNormalize(string flag, out string normalized)
    {
        normalized = flag.Trim().ToUpperInvariant();
        return Known.ContainsKey(normalized);
    }

    public static bool IsValid(string flag) => Known.TryGetValue(flag, out var f) && f.Valid;
}
