namespace EcoMonitor.Domain.Standards;

/// <summary>An O3 8-hour moving mean: the mean of the valid hourly means of the 8 hours [Start, Start + 8 h), valid with
/// at least <see cref="AirQualityStandard.MinHoursPerEightHours"/> of them (GB 3095-2012).</summary>
public sealed record EightHourMean(DateTimeOffset Start, double? Value, int ValidHours, int Required)
{
    public bool IsValid => Value is not null;
    /// <summary>The hour the window ends with (its last hour's start): the hourly AQI of that hour uses this mean.</summary>
    public DateTimeOffset LastHour => Start.AddHours(7);
}

/// <summary>The daily maximum 8-hour mean of O3 for one local day (HJ 663-2013): the largest of the valid 8-hour means
/// of the 17 windows lying inside the day (starting 00:00 ... 16:00 China time). Valid with at least
/// <see cref="AirQualityStandard.MinEightHourWindowsPerDay"/> valid windows, and also with fewer when the maximum
/// found already exceeds the Grade II 8-hour limit (more data could only raise it). <see cref="Maximum"/> is the
/// largest valid window whether or not the day is valid; <see cref="Value"/> is null when the day is not.</summary>
public sealed record DailyMaxEightHour(DateOnly Day, double? Value, double? Maximum, int ValidWindows, int Required, bool ValidByExceedance)
{
    public bool IsValid => Value is not null;
}

/// <summary>O3 8-hour figures from valid hourly means (keyed by the start of the hour, any offset).</summary>
public static class Ozone
{
    public const int WindowsPerDay = 17;

    /// <summary>The 8-hour mean of the window [start, start + 8 h).</summary>
    public static EightHourMean MeanOf(IReadOnlyDictionary<DateTimeOffset, double> validHours, DateTimeOffset start, AirQualityStandard standard)
    {
        double sum = 0;
        var n = 0;
        for (var i = 0; i < 8; i++)
            if (validHours.TryGetValue(start.AddHours(i), out var v))
            {
                sum += v;
                n++;
            }
        return new EightHourMean(start, n >= standard.MinHoursPerEightHours && n > 0 ? sum / n : null, n, standard.MinHoursPerEightHours);
    }

    /// <summary>The 8-hour moving mean that ends with the hour starting at <paramref name="lastHour"/> (hours
    /// lastHour - 7 h ... lastHour): the O3 8-hour value of the hourly report.</summary>
    public static EightHourMean MovingMeanEndingWith(IReadOnlyDictionary<DateTimeOffset, double> validHours, DateTimeOffset lastHour, AirQualityStandard standard) =>
        MeanOf(validHours, lastHour.AddHours(-7), standard);

    /// <summary>The daily maximum 8-hour mean of the local day <paramref name="day"/>.</summary>
    public static DailyMaxEightHour DailyMax(IReadOnlyDictionary<DateTimeOffset, double> validHours, DateOnly day, AirQualityStandard standard)
    {
        var start = ChinaTime.StartOf(day);
        var valid = Enumerable.Range(0, WindowsPerDay)
            .Select(i => MeanOf(validHours, start.AddHours(i), standard))
            .Where(w => w.IsValid).Select(w => w.Value!.Value).ToList();
        double? max = valid.Count > 0 ? valid.Max() : null;
        var limit = standard.Limits.TryGetValue(Parameters.O3, out var l) ? l.EightHourGradeII : null;
        var enough = valid.Count >= standard.MinEightHourWindowsPerDay;
        var byExceedance = !enough && max is { } m && limit is { } lim && m > lim;
        return new DailyMaxEightHour(day, enough || byExceedance ? max : null, max, valid.Count, standard.MinEightHourWindowsPerDay, byExceedance);
    }

    /// <summary>The daily maximum 8-hour mean of every local day from..to.</summary>
    public static IReadOnlyList<DailyMaxEightHour> DailyMax(IReadOnlyDictionary<DateTimeOffset, double> validHours, DateOnly from, DateOnly to, AirQualityStandard standard)
    {
        var days = new List<DailyMaxEightHour>();
        for (var d = from; d <= to; d = d.AddDays(1)) days.Add(DailyMax(validHours, d, standard));
        return days;
    }
}
