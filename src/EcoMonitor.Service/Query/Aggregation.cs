using EcoMonitor.Domain;
using EcoMonitor.Domain.Standards;

namespace EcoMonitor.Service.Query;

public enum AggregatePeriod { Hour, Day, Month, Year }

/// <summary>One bucket of an aggregate: the figures, and whether the data behind them meets the standard's rule.</summary>
public sealed record BucketValue(DateTimeOffset Start, bool Valid, double? Mean, double? Min, double? Max, double? Percentile,
    int Count, int Required, string Note = "");

/// <summary>Builds hourly, daily, monthly and yearly buckets from hourly statistics by the GB 3095 validity rules:
/// an hour needs MinMinutesPerHour minutes of data, a day MinHoursPerDay valid hours, a month its minimum of valid
/// days, a year MinDaysPerYear valid days and every month's minimum. Every bucket of the range is returned, empty
/// ones too, so that gaps show. With <paramref name="direction"/> (wind direction) every mean is the vector mean of
/// the directions below it (WindVector) and buckets carry no min, max or percentile: a range of angles means nothing.</summary>
public sealed class Aggregator(AirQualityStandard standard, bool direction = false)
{
    public AirQualityStandard Standard => standard;

    /// <summary>The aggregator for one parameter: directional for wind direction.</summary>
    public Aggregator For(string parameter) => new(standard, parameter == Parameters.WindDirection);

    /// <summary>GB 3095's rule for an hourly mean: at least MinMinutesPerHour minutes of valid data. The one place
    /// the rule is applied to stored hours (aggregates, AQI, the O3 8-hour figures, VOCs hourly means).</summary>
    public bool IsValidHour(HourStat h) => h.Minutes >= standard.MinMinutesPerHour;

    /// <summary>Hourly or daily buckets from hourly statistics (the hourly rollup).</summary>
    public IReadOnlyList<BucketValue> Build(IReadOnlyList<HourStat> hours, AggregatePeriod period, DateOnly from, DateOnly to, double percentile) => period switch
    {
        AggregatePeriod.Hour => Hours(hours, from, to),
        AggregatePeriod.Day => Days(hours, from, to, percentile),
        _ => throw new ArgumentOutOfRangeException(nameof(period), period, "months and years are built from days (FromDays)"),
    };

    /// <summary>Monthly or yearly buckets from valid daily means (the daily rollup).</summary>
    public IReadOnlyList<BucketValue> FromDays(Dictionary<DateOnly, double> daily, AggregatePeriod period, DateOnly from, DateOnly to, double percentile) => period switch
    {
        AggregatePeriod.Month => Months(daily, from, to, percentile),
        AggregatePeriod.Year => Years(daily, from, to, percentile),
        _ => throw new ArgumentOutOfRangeException(nameof(period), period, "hours and days are built from hours"),
    };

    /// <summary>The valid daily means among daily figures (valid hours, mean of their means): GB 3095's minimum of
    /// valid hours per day.</summary>
    public Dictionary<DateOnly, double> ValidDays(Dictionary<DateOnly, (int Hours, double Mean)> days) =>
        days.Where(kv => kv.Value.Hours >= standard.MinHoursPerDay).ToDictionary(kv => kv.Key, kv => kv.Value.Mean);

    IReadOnlyList<BucketValue> Hours(IReadOnlyList<HourStat> hours, DateOnly from, DateOnly to)
    {
        var byStart = hours.ToDictionary(h => h.Start);
        var buckets = new List<BucketValue>();
        for (var t = ChinaTime.StartOf(from); t < ChinaTime.StartOf(to.AddDays(1)); t = t.AddHours(1))
        {
            if (!byStart.TryGetValue(t, out var h))
            {
                buckets.Add(new BucketValue(t, false, null, null, null, null, 0, standard.MinMinutesPerHour, "no data"));
                continue;
            }
            var valid = IsValidHour(h);
            buckets.Add(valid
                ? new BucketValue(t, true, h.Mean, h.Min, h.Max, null, h.Minutes, standard.MinMinutesPerHour)
                : new BucketValue(t, false, null, null, null, null, h.Minutes, standard.MinMinutesPerHour, $"{h.Minutes} minutes of data"));
        }
        return buckets;
    }

    /// <summary>Valid hourly means grouped by local day.</summary>
    Dictionary<DateOnly, List<double>> ValidHoursByDay(IReadOnlyList<HourStat> hours) =>
        hours.Where(IsValidHour)
            .GroupBy(h => ChinaTime.DateOf(h.Start))
            .ToDictionary(g => g.Key, g => g.Select(h => h.Mean).ToList());

    IReadOnlyList<BucketValue> Days(IReadOnlyList<HourStat> hours, DateOnly from, DateOnly to, double percentile)
    {
        var byDay = ValidHoursByDay(hours);
        var buckets = new List<BucketValue>();
        for (var d = from; d <= to; d = d.AddDays(1))
        {
            var means = byDay.GetValueOrDefault(d) ?? [];
            buckets.Add(Summarise(ChinaTime.StartOf(d), means, standard.DailyMean(means), percentile, "valid hours"));
        }
        return buckets;
    }

    IReadOnlyList<BucketValue> Months(Dictionary<DateOnly, double> daily, DateOnly from, DateOnly to, double percentile)
    {
        var buckets = new List<BucketValue>();
        for (var m = new DateOnly(from.Year, from.Month, 1); m <= to; m = m.AddMonths(1))
        {
            var means = daily.Where(kv => kv.Key.Year == m.Year && kv.Key.Month == m.Month).Select(kv => kv.Value).ToList();
            buckets.Add(Summarise(ChinaTime.StartOf(m), means, standard.MonthlyMean(m.Month, means), percentile, "valid days"));
        }
        return buckets;
    }

    IReadOnlyList<BucketValue> Years(Dictionary<DateOnly, double> daily, DateOnly from, DateOnly to, double percentile)
    {
        var buckets = new List<BucketValue>();
        for (var y = from.Year; y <= to.Year; y++)
        {
            var days = daily.Where(kv => kv.Key.Year == y).ToDictionary();
            var annual = standard.AnnualMean(days);
            var note = AnnualNote(annual);
            var values = days.Values.ToList();
            buckets.Add(annual.IsValid && direction
                ? new BucketValue(ChinaTime.StartOf(new DateOnly(y, 1, 1)), true, WindVector.Mean(values), null, null, null, days.Count, annual.RequiredDays, note)
                : new BucketValue(ChinaTime.StartOf(new DateOnly(y, 1, 1)), annual.IsValid, annual.Value,
                annual.IsValid ? values.Min() : null, annual.IsValid ? values.Max() : null,
                annual.IsValid ? Hj663.Percentile(values, percentile) : null, days.Count, annual.RequiredDays, note));
        }
        return buckets;
    }

    /// <summary>Why an annual mean is not valid: too few valid days, months below their minimum, or both.</summary>
    public static string AnnualNote(AnnualMean annual) => SpanValidity.AnnualNote(annual);

    BucketValue Summarise(DateTimeOffset start, List<double> values, ValidatedMean mean, double percentile, string counted) =>
        mean.IsValid && direction ? new BucketValue(start, true, WindVector.Mean(values), null, null, null, mean.Count, mean.Required)
        : mean.IsValid
            ? new BucketValue(start, true, mean.Value, values.Min(), values.Max(), Hj663.Percentile(values, percentile), mean.Count, mean.Required)
            : new BucketValue(start, false, null, null, null, null, mean.Count, mean.Required, $"{mean.Count} {counted}, {mean.Required} required");

    /// <summary>The region's (or zone's) value of each bucket: the arithmetic mean of the stations' valid values in that
    /// bucket (the vector mean for wind direction); valid when at least one station is. Count is the number of valid
    /// stations.</summary>
    public IReadOnlyList<BucketValue> RegionOf(IReadOnlyList<IReadOnlyList<BucketValue>> stations, int stationCount) =>
        direction ? [.. Region(stations, stationCount).Select((b, i) => b.Valid
            ? b with { Mean = WindVector.Mean(stations.Select(s => s[i]).Where(x => x.Valid).Select(x => x.Mean!.Value)), Min = null, Max = null }
            : b)]
        : Region(stations, stationCount);

    /// <summary>The arithmetic region mean of <see cref="RegionOf"/>.</summary>
    public static IReadOnlyList<BucketValue> Region(IReadOnlyList<IReadOnlyList<BucketValue>> stations, int stationCount)
    {
        if (stations.Count == 0) return [];
        return stations[0].Select((bucket, i) =>
        {
            var valid = stations.Select(s => s[i]).Where(b => b.Valid).ToList();
            return valid.Count == 0
                ? new BucketValue(bucket.Start, false, null, null, null, null, 0, 1, $"no valid station of {stationCount}")
                : new BucketValue(bucket.Start, true, valid.Average(b => b.Mean!.Value), valid.Min(b => b.Mean!.Value), valid.Max(b => b.Mean!.Value),
                    null, valid.Count, 1, $"mean of {valid.Count} of {stationCount} stations");
        }).ToList();
    }
}
