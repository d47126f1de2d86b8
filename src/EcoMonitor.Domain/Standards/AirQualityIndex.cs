namespace EcoMonitor.Domain.Standards;

/// <summary>An edition of the air quality index (HJ 633): breakpoint tables per pollutant and averaging period,
/// categories with their levels, and where a table hands over to another. Data, not code: a newer edition is a new
/// instance (or an entry of the Standards:File JSON).</summary>
/// <param name="Breakpoints">Table name -> concentrations at <paramref name="IndexLevels"/>. Names are
/// "&lt;pollutant&gt;_&lt;period&gt;" (<see cref="AqiTables"/>): pm25_24h, so2_1h, o3_8h, ... A name without a period
/// ("pm25", as editions files written before gases were indexed have it) means the 24-hour table. A table may stop
/// before the top index level (SO2 1-hour stops at 800 = IAQI 200): above its last breakpoint it does not index.</param>
/// <param name="BeyondTable">For a table that stops early: the table whose IAQI is used instead above its last
/// breakpoint (HJ 633: SO2 1-hour above 800 takes the SO2 24-hour IAQI; O3 8-hour above 800 takes the O3 1-hour
/// IAQI).</param>
public sealed record AqiEdition(
    string Name,
    IReadOnlyList<int> IndexLevels,
    IReadOnlyDictionary<string, double[]> Breakpoints,
    IReadOnlyList<AqiCategory> Categories,
    IReadOnlyDictionary<string, string>? BeyondTable = null)
{
    /// <summary>HJ 633-2012, Table 1 (shared/STANDARDS.md). PM2.5 and PM10 have 24-hour breakpoints only; the hourly
    /// AQI indexes them on those (which concentration: <see cref="HourlyParticulates"/>).</summary>
    public static readonly AqiEdition Hj633_2012 = new(
        "HJ 633-2012",
        [0, 50, 100, 150, 200, 300, 400, 500],
        new Dictionary<string, double[]>
        {
            [AqiTables.Pm25Day] = [0, 35, 75, 115, 150, 250, 350, 500],
            [AqiTables.Pm10Day] = [0, 50, 150, 250, 350, 420, 500, 600],
            [AqiTables.So2Day] = [0, 50, 150, 475, 800, 1600, 2100, 2620],
            [AqiTables.So2Hour] = [0, 150, 500, 650, 800],
            [AqiTables.No2Day] = [0, 40, 80, 180, 280, 565, 750, 940],
            [AqiTables.No2Hour] = [0, 100, 200, 700, 1200, 2340, 3090, 3840],
            [AqiTables.CoDay] = [0, 2, 4, 14, 24, 36, 48, 60],
            [AqiTables.CoHour] = [0, 5, 10, 35, 60, 90, 120, 150],
            [AqiTables.O3Hour] = [0, 160, 200, 300, 400, 800, 1000, 1200],
            [AqiTables.O3EightHours] = [0, 100, 160, 215, 265, 800],
        },
        [
            new(0, 50, "优", "Excellent", "green", "一级"),
            new(51, 100, "良", "Good", "yellow", "二级"),
            new(101, 150, "轻度污染", "Lightly polluted", "orange", "三级"),
            new(151, 200, "中度污染", "Moderately polluted", "red", "四级"),
            new(201, 300, "重度污染", "Heavily polluted", "purple", "五级"),
            new(301, int.MaxValue, "严重污染", "Severely polluted", "maroon", "六级"),
        ],
        new Dictionary<string, string> { [AqiTables.So2Hour] = AqiTables.So2Day, [AqiTables.O3EightHours] = AqiTables.O3Hour });

    /// <summary>The breakpoints of a table; a name without a period and the name of the 24-hour table find each
    /// other ("pm25" and "pm25_24h").</summary>
    public bool TryTable(string table, out double[] breakpoints)
    {
        if (Breakpoints.TryGetValue(table, out breakpoints!)) return true;
        var daySuffix = "_" + AqiTables.Day;
        if (!table.Contains('_')) return Breakpoints.TryGetValue(table + daySuffix, out breakpoints!);
        return table.EndsWith(daySuffix, StringComparison.Ordinal) && Breakpoints.TryGetValue(table[..^daySuffix.Length], out breakpoints!);
    }

    /// <summary>The table used above <paramref name="table"/>'s last breakpoint when it stops before the top level.</summary>
    public string? Beyond(string table) => BeyondTable is not null && BeyondTable.TryGetValue(table, out var other) ? other : null;

    /// <summary>IAQI = (IAQI_Hi - IAQI_Lo) / (BP_Hi - BP_Lo) * (C - BP_Lo) + IAQI_Lo, rounded up; above the top
    /// breakpoint of a complete table, 500. Computed in decimal, multiplication first, so that a concentration on a
    /// breakpoint gives exactly that breakpoint's index (35 -> 50, not 51). Null when the table stops early and the
    /// concentration is above its last breakpoint (the table does not index it: see <see cref="BeyondTable"/>).</summary>
    public int? TryIaqi(string table, double concentration)
    {
        if (!TryTable(table, out var bp)) throw new ArgumentException($"{Name} has no breakpoints for {table}", nameof(table));
        if (!double.IsFinite(concentration) || concentration < 0) throw new ArgumentOutOfRangeException(nameof(concentration), concentration, "a concentration is finite and not negative");
        if (concentration > bp[^1]) return bp.Length == IndexLevels.Count ? IndexLevels[^1] : null;
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

    /// <summary>The IAQI of a concentration on a table that indexes it (throws when the table stops below it).</summary>
    public int Iaqi(string table, double concentration) =>
        TryIaqi(table, concentration) ?? throw new ArgumentOutOfRangeException(nameof(concentration), concentration, $"{table} does not index it; {Beyond(table) ?? "no other table"} does");

    public AqiCategory CategoryOf(int aqi) => Categories.First(c => aqi >= c.From && aqi <= c.To);

    /// <summary>AQI of a set of 24-hour concentrations (table or pollutant -> mean); see <see cref="Evaluate(IReadOnlyList{AqiInput}, IReadOnlyList{string})"/>.</summary>
    public AqiResult Evaluate(IReadOnlyDictionary<string, double> concentrations) =>
        Evaluate([.. concentrations.Select(kv => new AqiInput(kv.Key, kv.Key, kv.Value, "24-hour mean"))], [.. concentrations.Keys])
        ?? throw new ArgumentException("no concentrations", nameof(concentrations));

    /// <summary>AQI of the items given: each item's IAQI (through its fallback when its table does not index the
    /// concentration); AQI = the largest; primary items are those with that IAQI when AQI > 50; over-standard items
    /// have an IAQI above 100. <paramref name="expected"/> are the items a complete report has: those without an
    /// IAQI are <see cref="AqiResult.Missing"/> and the result is <see cref="AqiResult.Partial"/>. Null when no item
    /// has an IAQI.</summary>
    public AqiResult? Evaluate(IReadOnlyList<AqiInput> inputs, IReadOnlyList<string> expected)
    {
        var items = new List<AqiItem>();
        var notes = new List<string>();
        foreach (var input in inputs)
        {
            if (TryIaqi(input.Table, input.Concentration) is { } iaqi)
            {
                items.Add(new AqiItem(input.Item, input.Table, input.Concentration, input.Basis, iaqi));
                continue;
            }
            var beyond = Beyond(input.Table);
            if (input.Fallback is { } f && beyond is not null && AqiTables.Same(f.Table, beyond) && TryIaqi(f.Table, f.Concentration) is { } other)
                items.Add(new AqiItem(input.Item, f.Table, f.Concentration, f.Basis, other,
                    $"{input.Basis} {input.Concentration:0.###} is above the {input.Table} table; the {f.Table} IAQI is used"));
            else
                notes.Add($"{input.Item}: {input.Basis} {input.Concentration:0.###} is above the {input.Table} table and there is no valid {beyond ?? "other"} value");
        }
        if (items.Count == 0) return null;
        var aqi = items.Max(i => i.Iaqi);
        var primary = aqi > 50 ? items.Where(i => i.Iaqi == aqi).Select(i => i.Item).Order(StringComparer.Ordinal).ToList() : [];
        var over = items.Where(i => i.Iaqi > 100).Select(i => i.Item).Order(StringComparer.Ordinal).ToList();
        var missing = expected.Where(e => items.All(i => i.Item != e)).Order(StringComparer.Ordinal).ToList();
        return new AqiResult(aqi, items.ToDictionary(i => i.Item, i => i.Iaqi), primary, over, CategoryOf(aqi), items, missing, notes);
    }
}

/// <summary>Names of the HJ 633 breakpoint tables: pollutant code and averaging period.</summary>
public static class AqiTables
{
    public const string Hour = "1h";
    public const string EightHours = "8h";
    public const string Day = "24h";

    public static string Of(string pollutant, string period) => $"{pollutant}_{period}";

    /// <summary>Whether two names are the same table ("pm25" is "pm25_24h").</summary>
    public static bool Same(string a, string b) => Canonical(a) == Canonical(b);

    static string Canonical(string table) => table.Contains('_') ? table : Of(table, Day);

    public static readonly string Pm25Day = Of(Parameters.Pm25, Day);
    public static readonly string Pm10Day = Of(Parameters.Pm10, Day);
    public static readonly string So2Day = Of(Parameters.So2, Day);
    public static readonly string So2Hour = Of(Parameters.So2, Hour);
    public static readonly string No2Day = Of(Parameters.No2, Day);
    public static readonly string No2Hour = Of(Parameters.No2, Hour);
    public static readonly string CoDay = Of(Parameters.Co, Day);
    public static readonly string CoHour = Of(Parameters.Co, Hour);
    public static readonly string O3Hour = Of(Parameters.O3, Hour);
    public static readonly string O3EightHours = Of(Parameters.O3, EightHours);
}

/// <param name="Level">一级 .. 六级 (HJ 633's AQI level beside the category).</param>
public sealed record AqiCategory(int From, int To, string Chinese, string English, string Colour, string Level = "");

/// <summary>One value to index: the item it reports as (so2, o3_8h, ...), the breakpoint table, the concentration
/// and what it is (e.g. "1-hour mean"); <paramref name="Fallback"/> is indexed instead when the table stops below the
/// concentration (SO2 1-hour above 800: the SO2 24-hour mean).</param>
public sealed record AqiInput(string Item, string Table, double Concentration, string Basis, AqiInput? Fallback = null);

/// <summary>An item's IAQI with the concentration and table it came from; <see cref="Note"/> says when a fallback
/// table was used.</summary>
public sealed record AqiItem(string Item, string Table, double Concentration, string Basis, int Iaqi, string Note = "");

public sealed record AqiResult(int Aqi, IReadOnlyDictionary<string, int> Iaqi, IReadOnlyList<string> PrimaryPollutants,
    IReadOnlyList<string> OverStandardPollutants, AqiCategory Category, IReadOnlyList<AqiItem> Items, IReadOnlyList<string> Missing,
    IReadOnlyList<string> Notes)
{
    /// <summary>Not every item of a complete report had a valid value (a station without gas analysers, say).</summary>
    public bool Partial => Missing.Count > 0;
}

/// <summary>Which concentration the hourly AQI indexes for PM2.5 and PM10, which have 24-hour breakpoints only.</summary>
public enum HourlyParticulates
{
    /// <summary>The hour's 1-hour mean on the 24-hour breakpoints.</summary>
    HourMean,
    /// <summary>The 24-hour moving mean ending with the hour (valid with the daily minimum of valid hours).</summary>
    Moving24Hours,
}

/// <summary>The daily (日报) and hourly (实时报) AQI of HJ 633 from the concentrations of one station (or region)
/// and one day or hour. Keys of the concentration maps are the <c>*Key</c> constants; an absent key is a pollutant
/// without a valid value.</summary>
public static class AqiReport
{
    public const string So2 = Parameters.So2;
    public const string No2 = Parameters.No2;
    public const string Co = Parameters.Co;
    public const string Pm10 = Parameters.Pm10;
    public const string Pm25 = Parameters.Pm25;
    /// <summary>Item (and key) of O3's 1-hour figure: the hour's mean (hourly), the day's largest (daily).</summary>
    public const string O3OneHour = "o3_1h";
    /// <summary>Item (and key) of O3's 8-hour figure: the moving mean ending with the hour (hourly), the daily maximum (daily).</summary>
    public const string O3EightHours = "o3_8h";
    /// <summary>Key (not an item) of the SO2 24-hour mean an hourly SO2 above 800 is indexed with.</summary>
    public const string So2Moving24h = "so2_24h";

    /// <summary>The seven items of a complete report (the six basic pollutants, O3 twice).</summary>
    public static readonly IReadOnlyList<string> Items = [Co, No2, O3OneHour, O3EightHours, Pm10, Pm25, So2];

    /// <summary>Daily AQI: 24-hour means of SO2, NO2, CO, PM10, PM2.5; the day's largest O3 1-hour mean; the daily
    /// maximum O3 8-hour mean (above 800: the O3 1-hour IAQI).</summary>
    public static AqiResult? Daily(AqiEdition edition, IReadOnlyDictionary<string, double> c)
    {
        var inputs = new List<AqiInput>();
        void Add(string item, string table, string basis, AqiInput? fallback = null)
        {
            if (c.TryGetValue(item, out var v)) inputs.Add(new AqiInput(item, table, v, basis, fallback));
        }
        Add(So2, AqiTables.So2Day, "24-hour mean");
        Add(No2, AqiTables.No2Day, "24-hour mean");
        Add(Co, AqiTables.CoDay, "24-hour mean");
        Add(Pm10, AqiTables.Pm10Day, "24-hour mean");
        Add(Pm25, AqiTables.Pm25Day, "24-hour mean");
        AqiInput? o3Hour = c.TryGetValue(O3OneHour, out var h) ? new AqiInput(O3OneHour, AqiTables.O3Hour, h, "daily maximum 1-hour mean") : null;
        if (o3Hour is not null) inputs.Add(o3Hour);
        Add(O3EightHours, AqiTables.O3EightHours, "daily maximum 8-hour mean", o3Hour);
        return edition.Evaluate(inputs, Items);
    }

    /// <summary>Hourly AQI: 1-hour means of SO2 (above 800: the SO2 24-hour IAQI, from <see cref="So2Moving24h"/>),
    /// NO2, CO, O3; the O3 8-hour moving mean ending with the hour (above 800: the O3 1-hour IAQI); PM10 and PM2.5
    /// on the 24-hour breakpoints, the concentration being what <paramref name="particulates"/> says.</summary>
    public static AqiResult? Hourly(AqiEdition edition, IReadOnlyDictionary<string, double> c, HourlyParticulates particulates)
    {
        var inputs = new List<AqiInput>();
        void Add(string item, string table, string basis, AqiInput? fallback = null)
        {
            if (c.TryGetValue(item, out var v)) inputs.Add(new AqiInput(item, table, v, basis, fallback));
        }
        var so2Day = c.TryGetValue(So2Moving24h, out var s) ? new AqiInput(So2, AqiTables.So2Day, s, "24-hour moving mean") : null;
        Add(So2, AqiTables.So2Hour, "1-hour mean", so2Day);
        Add(No2, AqiTables.No2Hour, "1-hour mean");
        Add(Co, AqiTables.CoHour, "1-hour mean");
        var pmBasis = particulates == HourlyParticulates.HourMean ? "1-hour mean" : "24-hour moving mean";
        Add(Pm10, AqiTables.Pm10Day, pmBasis);
        Add(Pm25, AqiTables.Pm25Day, pmBasis);
        AqiInput? o3Hour = c.TryGetValue(O3OneHour, out var h) ? new AqiInput(O3OneHour, AqiTables.O3Hour, h, "1-hour mean") : null;
        if (o3Hour is not null) inputs.Add(o3Hour);
        Add(O3EightHours, AqiTables.O3EightHours, "8-hour moving mean", o3Hour);
        return edition.Evaluate(inputs, Items);
    }
}
