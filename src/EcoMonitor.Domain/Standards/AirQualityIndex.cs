namespace EcoMonitor.Domain.Standards;

/// <summary>An edition of the air quality index (HJ 633): breakpoints per pollutant, categories. Data, not code: a
/// newer edition is a new instance.</summary>
public sealed record AqiEdition(
    string Name,
    IReadOnlyList<int> IndexLevels,
    IReadOnlyDictionary<string, double[]> Breakpoints,
    IReadOnlyList<AqiCategory> Categories)
{
    /// <summary>HJ 633-2012. For PM2.5 and PM10 the hourly AQI uses the 24-hour breakpoints as well.</summary>
    public static readonly AqiEdition Hj633_2012 = new(
        "HJ 633-2012",
        [0, 50, 100, 150, 200, 300, 400, 500],
        new Dictionary<string, double[]>
        {
            [Parameters.Pm25] = [0, 35, 75, 115, 150, 250, 350, 500],
            [Parameters.Pm10] = [0, 50, 150, 250, 350, 420, 500, 600],
        },
        [
            new(0, 50, "优", "Excellent", "green"),
            new(51, 100, "良", "Good", "yellow"),
            new(101, 150, "轻度污染", "Lightly polluted", "orange"),
            new(151, 200, "中度污染", "Moderately polluted", "red"),
            new(201, 300, "重度污染", "Heavily polluted", "purple"),
            new(301, int.MaxValue, "严重污染", "Severely polluted", "maroon"),
        ]);

    /// <summary>IAQI = (IAQI_Hi - IAQI_Lo) / (BP_Hi - BP_Lo) * (C - BP_Lo) + IAQI_Lo, rounded up; above the top
    /// breakpoint, 500. Computed in decimal, multiplication first, so that a concentration on a breakpoint gives
    /// exactly that breakpoint's index (35 -> 50, not 51).</summary>
    public int Iaqi(string pollutant, double concentration)
    {
        if (!Breakpoints.TryGetValue(pollutant, out var bp)) throw new ArgumentException($"{Name} has no breakpoints for {pollutant}", nameof(pollutant));
        if (!double.IsFinite(concentration) || concentration < 0) throw new ArgumentOutOfRangeException(nameof(concentration), concentration, "a concentration is finite and not negative");
        if (concentration > bp[^1]) return IndexLevels[^1];
        var c = (decimal)concentration;
        for (var i = 1; i < bp.Length; i++)
        {
            if (c > (decimal)bp[i]) continue;
            decimal lo = (decimal)bp[i - 1], hi = (decimal)bp[i];
            decimal ilo = IndexLevels[i - 1], ihi = IndexLevels[i];
            return (int)decimal.Ceiling((ihi - ilo) * (c - lo) / (hi - lo) + ilo);
        }
        return IndexLevels[^1];
    }

    public AqiCategory CategoryOf(int aqi) => Categories.First(c => aqi >= c.From && aqi <= c.To);

    /// <summary>AQI of a set of concentrations (pollutant -> mean): the largest IAQI; primary pollutants are those with
    /// that IAQI when AQI > 50; over-standard pollutants have an IAQI above 100.</summary>
    public AqiResult Evaluate(IReadOnlyDictionary<string, double> concentrations)
    {
        if (concentrations.Count == 0) throw new ArgumentException("no concentrations", nameof(concentrations));
        var iaqi = concentrations.ToDictionary(kv => kv.Key, kv => Iaqi(kv.Key, kv.Value));
        var aqi = iaqi.Values.Max();
        var primary = aqi > 50 ? iaqi.Where(kv => kv.Value == aqi).Select(kv => kv.Key).Order().ToList() : [];
        var over = iaqi.Where(kv => kv.Value > 100).Select(kv => kv.Key).Order().ToList();
        return new AqiResult(aqi, iaqi, primary, over, CategoryOf(aqi));
    }
}

public sealed record AqiCategory(int From, int To, string Chinese, string English, string Colour);

public sealed record AqiResult(int Aqi, IReadOnlyDictionary<string, int> Iaqi, IReadOnlyList<string> PrimaryPollutants,
    IReadOnlyList<string> OverStandardPollutants, AqiCategory Category);
