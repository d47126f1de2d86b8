namespace EcoMonitor.Domain;

/// <summary>What a station measures: its kind decides which parameters it may report. <see cref="Met"/> is the kind
/// of the meteorological parameters only (temperature, humidity, pressure, wind), which air and VOCs stations send
/// beside their pollutants; no station is of kind Met.</summary>
public enum StationKind { Air, Voc, Water, Met }

/// <summary>One canonical parameter: its code, the station kind it belongs to, its canonical unit and the
/// default plausible range (instrument ranges of the HJ continuous-monitoring specifications, generous on purpose;
/// every range can be overridden in settings).</summary>
public sealed record ParameterInfo(
    string Code,
    StationKind Kind,
    string CanonicalUnit,
    double DefaultMin,
    double DefaultMax,
    string Description,
    double? MolarMass = null)
{
    /// <summary>A gas whose analysers may report a volume mixing ratio (ppb/ppm); converted to a mass concentration
    /// at the reference state of GB 3095-2012 (298.15 K, 1013.25 hPa).</summary>
    public bool IsGas => MolarMass is not null;
}

public static class Parameters
{
    public const string Pm25 = "pm25";
    public const string Pm10 = "pm10";
    public const string Nmhc = "nmhc";
    public const string Tvoc = "tvoc";
    public const string Ph = "ph";
    public const string Do = "do";
    public const string CodMn = "codmn";
    public const string Cod = "cod";
    public const string Bod5 = "bod5";
    public const string Nh3N = "nh3n";
    public const string Tp = "tp";
    public const string Tn = "tn";
    public const string WaterTemperature = "wtemp";
    public const string Conductivity = "cond";
    public const string Turbidity = "turb";
    public const string So2 = "so2";
    public const string No2 = "no2";
    public const string Co = "co";
    public const string O3 = "o3";
    public const string Temperature = "temp";
    public const string Humidity = "rh";
    public const string Pressure = "pressure";
    public const string WindSpeed = "wspd";
    public const string WindDirection = "wdir";

    /// <summary>The six basic items of GB 3095-2012 (Table 1) that every ambient air station measures.</summary>
    public static readonly IReadOnlyList<string> CriteriaPollutants = [So2, No2, Co, O3, Pm10, Pm25];

    public static readonly IReadOnlyList<ParameterInfo> All =
    [
        new(Pm25, StationKind.Air, Units.MicrogramPerCubicMetre, 0, 1000, "PM2.5"),
        new(Pm10, StationKind.Air, Units.MicrogramPerCubicMetre, 0, 2000, "PM10"),
        // Molar masses (g/mol) for ppb/ppm conversion: shared/STANDARDS.md, GB 3095-2012 section.
        new(So2, StationKind.Air, Units.MicrogramPerCubicMetre, 0, 10000, "sulphur dioxide", 64.066),
        new(No2, StationKind.Air, Units.MicrogramPerCubicMetre, 0, 5000, "nitrogen dioxide", 46.006),
        new(Co, StationKind.Air, Units.MilligramPerCubicMetre, 0, 200, "carbon monoxide", 28.010),
        new(O3, StationKind.Air, Units.MicrogramPerCubicMetre, 0, 2000, "ozone", 47.998),
        new(Nmhc, StationKind.Voc, Units.MilligramPerCubicMetre, 0, 500, "non-methane hydrocarbons"),
        new(Tvoc, StationKind.Voc, Units.MilligramPerCubicMetre, 0, 500, "total volatile organic compounds"),
        new(Ph, StationKind.Water, Units.Dimensionless, 0, 14, "pH"),
        new(Do, StationKind.Water, Units.MilligramPerLitre, 0, 25, "dissolved oxygen"),
        new(CodMn, StationKind.Water, Units.MilligramPerLitre, 0, 100, "permanganate index"),
        new(Cod, StationKind.Water, Units.MilligramPerLitre, 0, 1000, "chemical oxygen demand"),
        new(Bod5, StationKind.Water, Units.MilligramPerLitre, 0, 500, "five-day biochemical oxygen demand"),
        new(Nh3N, StationKind.Water, Units.MilligramPerLitre, 0, 100, "ammonia nitrogen"),
        new(Tp, StationKind.Water, Units.MilligramPerLitre, 0, 50, "total phosphorus"),
        new(Tn, StationKind.Water, Units.MilligramPerLitre, 0, 100, "total nitrogen"),
        new(WaterTemperature, StationKind.Water, Units.DegreeCelsius, -5, 45, "water temperature"),
        new(Conductivity, StationKind.Water, Units.MicrosiemensPerCentimetre, 0, 100000, "conductivity"),
        new(Turbidity, StationKind.Water, Units.Ntu, 0, 4000, "turbidity"),
        new(Temperature, StationKind.Met, Units.DegreeCelsius, -60, 60, "air temperature"),
        new(Humidity, StationKind.Met, Units.Percent, 0, 100, "relative humidity"),
        new(Pressure, StationKind.Met, Units.Kilopascal, 50, 110, "air pressure"),
        new(WindSpeed, StationKind.Met, Units.MetrePerSecond, 0, 75, "wind speed"),
        new(WindDirection, StationKind.Met, Units.Degree, 0, 360, "wind direction (degrees from north; averaged as a vector)"),
    ];

    static readonly Dictionary<string, ParameterInfo> ByCode =
        All.ToDictionary(p => p.Code, StringComparer.OrdinalIgnoreCase);

    /// <summary>Spellings gateways commonly use for a canonical code (matched case-insensitively).</summary>
    static readonly Dictionary<string, string> Aliases = new(StringComparer.OrdinalIgnoreCase)
    {
        ["pm2.5"] = Pm25, ["pm2_5"] = Pm25, ["nh3-n"] = Nh3N, ["nh3_n"] = Nh3N, ["cod_mn"] = CodMn,
        ["o3_1h"] = O3, ["humidity"] = Humidity, ["ws"] = WindSpeed, ["wd"] = WindDirection,
    };

    /// <summary>Finds a parameter by its canonical code or a documented alias, ignoring case.</summary>
    public static bool TryFind(string name, out ParameterInfo parameter)
    {
        if (ByCode.TryGetValue(name, out parameter!)) return true;
        return Aliases.TryGetValue(name, out var code) && ByCode.TryGetValue(code, out parameter!);
    }

    public static ParameterInfo Get(string code) =>
        ByCode.TryGetValue(code, out var p) ? p : throw new KeyNotFoundException($"unknown parameter '{code}'");
}
