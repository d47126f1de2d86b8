using EcoMonitor.Domain;
using EcoMonitor.Domain.Standards;

namespace EcoMonitor.Service.Query;

/// <summary>The official air figures of one station built from its hourly statistics (the hourly rollup): valid
/// hours by GB 3095's minute rule, then the concentrations the HJ 633 reports and the HJ 663 evaluation index.</summary>
public sealed class AirFigures(AirQualityStandard standard)
{
    readonly Aggregator _aggregator = new(standard);

    /// <summary>The valid hourly means (<see cref="Aggregator.IsValidHour"/>), keyed by the hour's start.</summary>
    public Dictionary<DateTimeOffset, double> ValidHours(IReadOnlyList<HourStat> hours) =>
        hours.Where(_aggregator.IsValidHour).ToDictionary(h => h.Start, h => h.Mean);

    /// <summary>The daily report's concentrations of one local day (AqiReport keys): the 24-hour means of SO2, NO2, CO,
    /// PM10, PM2.5 when valid (MinHoursPerDay valid hours), the day's largest valid O3 1-hour mean, the O3 daily
    /// maximum 8-hour mean when valid. Input: pollutant -> valid hours.</summary>
    public Dictionary<string, double> Day(IReadOnlyDictionary<string, Dictionary<DateTimeOffset, double>> valid, DateOnly day)
    {
        var c = new Dictionary<string, double>();
        var start = ChinaTime.StartOf(day);
        foreach (var p in new[] { Parameters.So2, Parameters.No2, Parameters.Co, Parameters.Pm10, Parameters.Pm25 })
            if (valid.TryGetValue(p, out var hours) && standard.DailyMean(InDay(hours, start)).Value is { } mean) c[p] = mean;
        if (valid.TryGetValue(Parameters.O3, out var o3))
        {
            var inDay = InDay(o3, start);
            if (inDay.Count > 0) c[AqiReport.O3OneHour] = inDay.Max();
            if (Ozone.DailyMax(o3, day, standard).Value is { } max8) c[AqiReport.O3EightHours] = max8;
        }
        return c;
    }

    /// <summary>The valid hourly means of the 24 hours from <paramref name="start"/>.</summary>
    static List<double> InDay(Dictionary<DateTimeOffset, double> hours, DateTimeOffset start)
    {
        var values = new List<double>(24);
        for (var h = 0; h < 24; h++)
            if (hours.TryGetValue(start.AddHours(h), out var v)) values.Add(v);
        return values;
    }

    /// <summary>The hourly report's concentrations of the hour starting at <paramref name="hour"/> (AqiReport keys):
    /// 1-hour means of SO2, NO2, CO, O3; the SO2 24-hour moving mean (for an SO2 hour above 800); the O3 8-hour
    /// moving mean ending with the hour; PM10 and PM2.5 by <paramref name="particulates"/>.</summary>
    public Dictionary<string, double> Hour(IReadOnlyDictionary<string, Dictionary<DateTimeOffset, double>> valid, DateTimeOffset hour, HourlyParticulates particulates)
    {
        var c = new Dictionary<string, double>();
        void One(string pollutant, string key)
        {
            if (valid.TryGetValue(pollutant, out var hours) && hours.TryGetValue(hour, out var v)) c[key] = v;
        }
        One(Parameters.So2, AqiReport.So2);
        One(Parameters.No2, AqiReport.No2);
        One(Parameters.Co, AqiReport.Co);
        One(Parameters.O3, AqiReport.O3OneHour);
        if (valid.TryGetValue(Parameters.So2, out var so2) && standard.MovingDayMean(so2, hour).Value is { } so2Day) c[AqiReport.So2Moving24h] = so2Day;
        if (valid.TryGetValue(Parameters.O3, out var o3) && Ozone.MovingMeanEndingWith(o3, hour, standard).Value is { } o3Eight) c[AqiReport.O3EightHours] = o3Eight;
        foreach (var pm in new[] { Parameters.Pm10, Parameters.Pm25 })
        {
            if (particulates == HourlyParticulates.HourMean) One(pm, pm);
            else if (valid.TryGetValue(pm, out var hours) && standard.MovingDayMean(hours, hour).Value is { } moving) c[pm] = moving;
        }
        return c;
    }

    /// <summary>A region's (or the zone's) concentrations: for each key the mean of the stations that have a valid
    /// value (the convention of every region figure).</summary>
    public static Dictionary<string, double> Region(IEnumerable<Dictionary<string, double>> stations) =>
        stations.SelectMany(s => s).GroupBy(kv => kv.Key).ToDictionary(g => g.Key, g => g.Average(kv => kv.Value));

    /// <summary>O3 8-hour moving means as hourly buckets: each hour's value is the mean of hours h-7 .. h.</summary>
    public IReadOnlyList<BucketValue> EightHourMoving(Dictionary<DateTimeOffset, double> validO3, DateOnly from, DateOnly to)
    {
        var buckets = new List<BucketValue>();
        for (var t = ChinaTime.StartOf(from); t < ChinaTime.StartOf(to.AddDays(1)); t = t.AddHours(1))
        {
            var m = Ozone.MovingMeanEndingWith(validO3, t, standard);
            buckets.Add(m.IsValid
                ? new BucketValue(t, true, m.Value, null, null, null, m.ValidHours, m.Required)
                : new BucketValue(t, false, null, null, null, null, m.ValidHours, m.Required, $"{m.ValidHours} valid hours of 8, {m.Required} required"));
        }
        return buckets;
    }

    /// <summary>O3 daily maximum 8-hour means as daily buckets (count = valid windows).</summary>
    public IReadOnlyList<BucketValue> DailyMaxEightHours(Dictionary<DateTimeOffset, double> validO3, DateOnly from, DateOnly to) =>
        [.. Ozone.DailyMax(validO3, from, to, standard).Select(d => d.IsValid
            ? new BucketValue(ChinaTime.StartOf(d.Day), true, d.Value, null, null, null, d.ValidWindows, d.Required,
                d.ValidByExceedance ? $"{d.ValidWindows} valid windows: valid because the maximum exceeds the 8-hour limit" : "")
            : new BucketValue(ChinaTime.StartOf(d.Day), false, null, null, null, null, d.ValidWindows, d.Required,
                $"{d.ValidWindows} valid 8-hour windows, {d.Required} required"))];

    /// <summary>The valid O3 daily maximum 8-hour means of the days from..to.</summary>
    public Dictionary<DateOnly, double> ValidDailyMaxEightHours(Dictionary<DateTimeOffset, double> validO3, DateOnly from, DateOnly to) =>
        Ozone.DailyMax(validO3, from, to, standard).Where(d => d.IsValid).ToDictionary(d => d.Day, d => d.Value!.Value);

    /// <summary>The largest valid O3 1-hour mean of each local day (for the daily AQI's o3_1h item).</summary>
    public static Dictionary<DateOnly, double> DailyMaxOneHour(Dictionary<DateTimeOffset, double> validO3) =>
        validO3.GroupBy(kv => ChinaTime.DateOf(kv.Key)).ToDictionary(g => g.Key, g => g.Max(kv => kv.Value));
}
