namespace EcoMonitor.Domain;

/// <summary>Canonical units and the spellings that convert to them. A unit that is not listed for a parameter's
/// canonical unit is rejected: guessing a unit would store a wrong number that looks right.</summary>
public static class Units
{
    public const string MicrogramPerCubicMetre = "µg/m³";
    public const string MilligramPerCubicMetre = "mg/m³";
    public const string MilligramPerLitre = "mg/L";
    public const string Dimensionless = "1";
    public const string DegreeCelsius = "°C";
    public const string MicrosiemensPerCentimetre = "µS/cm";
    public const string Ntu = "NTU";

    // canonical unit -> (accepted spelling -> factor that turns a value in that spelling into the canonical unit)
    static readonly Dictionary<string, Dictionary<string, double>> Conversions = new()
    {
        [MicrogramPerCubicMetre] = Spellings(
            (1, ["µg/m³", "µg/m3", "μg/m³", "μg/m3", "ug/m3", "ug/m³", "ug m-3"]),
            (1000, ["mg/m³", "mg/m3", "mg m-3"])),
        [MilligramPerCubicMetre] = Spellings(
            (1, ["mg/m³", "mg/m3", "mg m-3"]),
            (0.001, ["µg/m³", "µg/m3", "μg/m³", "μg/m3", "ug/m3", "ug/m³", "ug m-3"])),
        [MilligramPerLitre] = Spellings(
            (1, ["mg/L", "mg/l"]),
            (0.001, ["µg/L", "µg/l", "μg/L", "μg/l", "ug/L", "ug/l"])),
        [Dimensionless] = Spellings((1, ["1", "", "pH", "dimensionless"])),
        [DegreeCelsius] = Spellings((1, ["°C", "℃", "C", "degC"])),
        [MicrosiemensPerCentimetre] = Spellings(
            (1, ["µS/cm", "μS/cm", "uS/cm"]),
            (1000, ["mS/cm"])),
        [Ntu] = Spellings((1, ["NTU", "ntu"])),
    };

    static Dictionary<string, double> Spellings(params (double Factor, string[] Names)[] groups)
    {
        var map = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var (factor, names) in groups)
            foreach (var n in names) map[n] = factor;
        return map;
    }

    /// <summary>Converts <paramref name="value"/> given in <paramref name="unit"/> (null: already canonical) into the
    /// parameter's canonical unit. Returns false when the unit is unknown or not convertible to it.</summary>
    public static bool TryToCanonical(ParameterInfo parameter, string? unit, double value, out double canonical)
    {
        canonical = value;
        if (unit is null) return true;
        if (!Conversions[parameter.CanonicalUnit].TryGetValue(unit.Trim(), out var factor)) return false;
        canonical = value * factor;
        return true;
    }

    /// <summary>The spellings accepted for a canonical unit, for error messages and the README.</summary>
    public static IEnumerable<string> AcceptedSpellings(string canonicalUnit) => Conversions[canonicalUnit].Keys;
}
