namespace EcoMonitor.Domain.Standards;

/// <summary>An edition of the ambient air quality standard (GB 3095): limits and data validity rules. Data, not code.</summary>
public sealed record AirQualityStandard(
    string Name,
    int MinMinutesPerHour,
    int MinHoursPerDay,
    int MinDaysPerMonth,
    int MinDaysPerFebruary,
    int MinDaysPerYear,
    IReadOnlyDictionary<string, AirLimits> Limits,
    int MinHoursPerEightHours = 6,
    int MinEightHourWindowsPerDay = 14)
{
    /// <summary>GB 3095-2012: a 1-hour mean needs 45 minutes of sampling; a 24-hour mean needs 20 hourly means in the
    /// natural day; an annual mean needs 324 daily means and 27 in every month (25 in February); an O3 8-hour mean
    /// needs 6 hourly means, a daily maximum 8-hour mean 14 valid 8-hour means. Limits of Table 1 (the six basic
    /// items); CO in mg/m³, the others in µg/m³.</summary>
    public static readonly AirQualityStandard Gb3095_2012 = new(
        "GB 3095-2012", 45, 20, 27, 25, 324,
        new Dictionary<string, AirLimits>
        {
            [Parameters.Pm25] = new(AnnualGradeI: 15, AnnualGradeII: 35, DailyGradeI: 35, DailyGradeII: 75),
            [Parameters.Pm10] = new(AnnualGradeI: 40, AnnualGradeII: 70, DailyGradeI: 50, DailyGradeII: 150),
            [Parameters.So2] = new(AnnualGradeI: 20, AnnualGradeII: 60, DailyGradeI: 50, DailyGradeII: 150, HourlyGradeI: 150, HourlyGradeII: 500),
            [Parameters.No2] = new(AnnualGradeI: 40, AnnualGradeII: 40, DailyGradeI: 80, DailyGradeII: 80, HourlyGradeI: 200, HourlyGradeII: 200),
            [Parameters.Co] = new(AnnualGradeI: null, AnnualGradeII: null, DailyGradeI: 4, DailyGradeII: 4, HourlyGradeI: 10, HourlyGradeII: 10),
            [Parameters.O3] = new(AnnualGradeI: null, AnnualGradeII: null, DailyGradeI: null, DailyGradeII: null, HourlyGradeI: 160, HourlyGradeII: 200,
                EightHourGradeI: 100, EightHourGradeII: 160),
        });

    public int MinDaysIn(int month) => month == 2 ? MinDaysPerFebruary : MinDaysPerMonth;

    /// <summary>A mean of valid hourly means for one natural day, or invalid when fewer than MinHoursPerDay.</summary>
    public ValidatedMean DailyMean(IReadOnlyCollection<double> validHourlyMeans) =>
        new(validHourlyMeans.Count >= MinHoursPerDay && validHourlyMeans.Count > 0 ? validHourlyMeans.Average() : null,
            validHourlyMeans.Count, MinHoursPerDay);

    /// <summary>A monthly mean of valid daily means: MinDaysPerMonth (February: MinDaysPerFebruary) required.</summary>
    public ValidatedMean MonthlyMean(int month, IReadOnlyCollection<double> validDailyMeans) =>
        new(validDailyMeans.Count >= MinDaysIn(month) && validDailyMeans.Count > 0 ? validDailyMeans.Average() : null,
            validDailyMeans.Count, MinDaysIn(month));

    /// <summary>The 24-hour moving mean ending with the hour starting at <paramref name="lastHour"/> (hours
    /// lastHour - 23 h ... lastHour), valid with MinHoursPerDay valid hours among them, as a day is.</summary>
    public ValidatedMean MovingDayMean(IReadOnlyDictionary<DateTimeOffset, double> validHours, DateTimeOffset lastHour)
    {
        var values = new List<double>(24);
        for (var i = 23; i >= 0; i--)
            if (validHours.TryGetValue(lastHour.AddHours(-i), out var v)) values.Add(v);
        return DailyMean(values);
    }

    /// <summary>An annual mean of valid daily means: MinDaysPerYear in the year and the monthly minimum in every month.</summary>
    public AnnualMean AnnualMean(IReadOnlyDictionary<DateOnly, double> validDailyMeans)
    {
        var perMonth = Enumerable.Range(1, 12).ToDictionary(m => m, m => validDailyMeans.Keys.Count(d => d.Month == m));
        var shortMonths = perMonth.Where(kv => kv.Value < MinDaysIn(kv.Key)).Select(kv => kv.Key).ToList();
        var valid = validDailyMeans.Count >= MinDaysPerYear && shortMonths.Count == 0;
        return new AnnualMean(valid ? validDailyMeans.Values.Average() : null, validDailyMeans.Count, MinDaysPerYear, shortMonths);
    }
}

/// <summary>Limits of one pollutant by averaging period; null where the standard sets none (no annual limit for CO
/// and O3, no 24-hour limit for O3, whose daily figure is the maximum 8-hour mean).</summary>
public sealed record AirLimits(double? AnnualGradeI, double? AnnualGradeII, double? DailyGradeI, double? DailyGradeII,
    double? HourlyGradeI = null, double? HourlyGradeII = null, double? EightHourGradeI = null, double? EightHourGradeII = null);

/// <summary>A mean with the count behind it; <see cref="Value"/> is null when the count misses the rule.</summary>
public sealed record ValidatedMean(double? Value, int Count, int Required)
{
    public bool IsValid => Value is not null;
}

public sealed record AnnualMean(double? Value, int ValidDays, int RequiredDays, IReadOnlyList<int> MonthsBelowMinimum)
{
    public bool IsValid => Value is not null;
}
