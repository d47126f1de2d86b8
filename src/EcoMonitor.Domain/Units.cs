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
    public const string Percent = "%";
    public const string Kilopascal = "kPa";
    public const string MetrePerSecond = "m/s";
    public const string Degree = "°";

    /// <summary>Molar volume (L/mol) at the reference state of GB 3095-2012 as amended in 2018: 298.15 K,
    /// 1013.25 hPa. µg/m³ = ppb x M / 24.465; mg/m³ = ppm x M / 24.465.</summary>
    public const double ReferenceMolarVolume = 24.465;

    static readonly string[] Ppb = ["ppb", "ppbv", "nmol/mol"];
    static readonly string[] Ppm = ["ppm", "ppmv", "µmol/mol", "μmol/mol", "umol/mol"];

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
        [Percent] = Spellings((1, ["%", "%RH", "percent"])),
        [Kilopascal] = Spellings((1, ["kPa", "kpa"]), (0.1, ["hPa", "hpa", "mbar"]), (0.001, ["Pa"])),
        [MetrePerSecond] = Spellings((1, ["m/s", "m s-1"])),
        [Degree] = Spellings((1, ["°", "deg", "degree", "degrees"])),
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
        if (!TryFactor(parameter, unit.Trim(), out var factor)) return false;
        canonical = value * factor;
        return true;
    }

    static bool TryFactor(ParameterInfo parameter, string unit, out double factor)
    {
        if (Conversions[parameter.CanonicalUnit].TryGetValue(unit, out factor)) return true;
        if (parameter.MolarMass is not { } m) return false;
        // ppb x M / 24.465 = µg/m³; ppm = 1000 ppb. Canonical mg/m³ (CO) takes a thousandth of that.
        double perPpb = m / ReferenceMolarVolume * (parameter.CanonicalUnit == MilligramPerCubicMetre ? 0.001 : 1);
        if (Ppb.Contains(unit, StringComparer.OrdinalIgnoreCase)) factor = perPpb;
        else if (Ppm.Contains(unit, StringComparer.OrdinalIgnoreCase)) factor = perPpb * 1000;
        else return false;
        return true;
    }

    /// <summary>The spellings accepted for a parameter's canonical unit, for error messages and the README.</summary>
    public static IEnumerable<string> AcceptedSpellings(string canonicalUnit) => Conversions[canonicalUnit].Keys;

    /// <summary>The spellings accepted for a parameter: its canonical unit's, and ppb/ppm for gases.</summary>
    public static IEnumerable<string> AcceptedSpellings(ParameterInfo parameter) =>
        parameter.IsGas ? AcceptedSpellings(parameter.CanonicalUnit).Concat(Ppb).Concat(Ppm) : AcceptedSpellings(parameter.CanonicalUnit);
}
