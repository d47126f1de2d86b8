using EcoMonitor.Domain;
using InfluxDB.Client.Writes;

namespace EcoMonitor.Service.Storage;

/// <summary>The hourly rollup the query API reads (README, "Schema in InfluxDB"): measurement <c>reading_1h</c>,
/// tags <c>station</c>, <c>parameter</c>; fields <c>minutes</c> (integer: minutes of the hour with at least one valid
/// reading), <c>mean</c>, <c>min</c>, <c>max</c> (of those minute means); time = the start of the hour.
/// The ingestion pipeline recomputes the hours a batch touched before it acknowledges the batch, so a crash in
/// between leads to a redelivery and a recomputation: the rollup never misses stored readings. Hours whose valid
/// data disappeared (all overwritten with invalid flags) get minutes = 0.
/// A daily rollup follows from it: measurement <c>reading_1d</c>, fields <c>hours</c> (integer: hours with at least
/// the standard's minutes), <c>mean</c>, <c>min</c>, <c>max</c> (of those hourly means); time = local
/// midnight (China time). Whether a day is valid (GB 3095: 20 hours) is decided when it is read.</summary>
public sealed class HourlyRollup(InfluxConnection influx, int minMinutesPerHour = HourlyRollup.MinMinutesPerHour)
{
    public const string Measurement = "reading_1h";
    public const string DailyMeasurement = "reading_1d";

    /// <summary>GB 3095-2012's minimum for a valid hour, the default; the service passes the edition's. Changing the
    /// edition's rule means rebuilding the daily rollup (RebuildRollups).</summary>
    public const int MinMinutesPerHour = 45;

    static DateTimeOffset HourOf(DateTimeOffset t) => new(t.UtcTicks / TimeSpan.TicksPerHour * TimeSpan.TicksPerHour, TimeSpan.Zero);

    readonly record struct HourFigures(int Minutes, double Mean, double Min, double Max);

    /// <summary>Recomputes the hours of these readings, then their local days (the day's other hours are read from
    /// the rollup; the hours just computed are taken from memory, not read back).</summary>
    public async Task UpdateAsync(IReadOnlyCollection<Reading> readings, CancellationToken ct)
    {
        if (readings.Count == 0) return;
        var dirty = readings.Select(r => (r.StationId, r.Parameter, Hour: HourOf(r.Timestamp))).ToHashSet();
        var stations = dirty.Select(d => d.StationId).Distinct().ToList();
        var parameters = dirty.Select(d => d.Parameter).Distinct().ToList();
        var computed = await ComputeAsync(stations, parameters, dirty.Min(d => d.Hour), dirty.Max(d => d.Hour).AddHours(1), ct);
        var hours = dirty.ToDictionary(d => d, d => computed.TryGetValue(d, out var f) ? f : new HourFigures(0, 0, 0, 0));
        await WriteAsync([.. hours.Select(kv => Line(kv.Key.StationId, kv.Key.Parameter, kv.Key.Hour, kv.Value))], ct);

        var days = dirty.Select(d => (d.StationId, d.Parameter, Day: ChinaTime.DayStartOf(d.Hour))).ToHashSet();
        var known = await ReadHoursAsync(stations, parameters, days.Min(d => d.Day), days.Max(d => d.Day).AddDays(1), ct);
        foreach (var (key, figures) in hours) known[key] = figures;
        await WriteAsync(DayLines(known, days), ct);
    }

    /// <summary>Rebuilds every hour and day of [from, to) for every station and parameter that has readings (an
    /// operator's backfill, or data loaded around the service), 30 local days at a time.</summary>
    public async Task RebuildAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken ct)
    {
        for (var start = ChinaTime.DayStartOf(from); start < to; start = start.AddDays(30))
        {
            var end = start.AddDays(30);
            var computed = await ComputeAsync(null, null, start, end, ct);
            await WriteAsync([.. computed.Select(kv => Line(kv.Key.Station, kv.Key.Parameter, kv.Key.Hour, kv.Value))], ct);
            await WriteAsync(DayLines(computed, null), ct);
        }
    }

    /// <summary>The hours of the rollup in [from, to).</summary>
    async Task<Dictionary<(string Station, string Parameter, DateTimeOffset Hour), HourFigures>> ReadHoursAsync(
        IReadOnlyList<string> stations, IReadOnlyList<string> parameters, DateTimeOffset from, DateTimeOffset to, CancellationToken ct)
    {
        var bind = new Dictionary<string, object> { ["from"] = ChinaTime.Utc(from), ["to"] = ChinaTime.Utc(to) };
        var filter = Filter(bind, stations, parameters);
        var q = $"SELECT \"minutes\", \"mean\", \"min\", \"max\" FROM \"{Measurement}\" WHERE time >= $from AND time < $to{filter} GROUP BY \"station\", \"parameter\"";
        var result = new Dictionary<(string, string, DateTimeOffset), HourFigures>();
        foreach (var series in await influx.QueryAsync(q, bind, ct, post: true))
            foreach (var row in series.Rows())
            {
                var minutes = row["minutes"].GetInt32();
                result[(series.Tags["station"], series.Tags["parameter"], DateTimeOffset.FromUnixTimeMilliseconds(row["time"].GetInt64()))] = minutes == 0
                    ? new HourFigures(0, 0, 0, 0)
                    : new HourFigures(minutes, row["mean"].GetDouble(), row["min"].GetDouble(), row["max"].GetDouble());
            }
        return result;
    }

    /// <summary>Daily lines from hourly figures; with <paramref name="only"/>, just those days (a day left without a
    /// valid hour gets hours = 0).</summary>
    List<string> DayLines(Dictionary<(string Station, string Parameter, DateTimeOffset Hour), HourFigures> hours,
        HashSet<(string StationId, string Parameter, DateTimeOffset Day)>? only)
    {
        var days = new Dictionary<(string, string, DateTimeOffset), List<double>>();
        foreach (var ((station, parameter, hour), f) in hours)
        {
            var key = (station, parameter, ChinaTime.DayStartOf(hour));
            if (only is not null && !only.Contains(key)) continue;
            if (!days.TryGetValue(key, out var list)) days[key] = list = [];
            if (f.Minutes >= minMinutesPerHour) list.Add(f.Mean);
        }
        foreach (var key in only ?? []) if (!days.ContainsKey(key)) days[key] = [];
        return [.. days.Select(kv => DayLine(kv.Key.Item1, kv.Key.Item2, kv.Key.Item3, kv.Value))];
    }

    static string DayLine(string station, string parameter, DateTimeOffset day, List<double> hourlyMeans)
    {
        var p = PointData.Measurement(DailyMeasurement).Tag(ReadingSchema.StationTag, station).Tag(ReadingSchema.ParameterTag, parameter)
            .Field("hours", (long)hourlyMeans.Count).Timestamp(day, ReadingSchema.Precision);
        if (hourlyMeans.Count > 0) p = p.Field("mean", hourlyMeans.Average()).Field("min", hourlyMeans.Min()).Field("max", hourlyMeans.Max());
        return p.ToLineProtocol();
    }

    static string Filter(Dictionary<string, object> bind, IReadOnlyList<string>? stations, IReadOnlyList<string>? parameters) =>
        (stations is null ? "" : " AND " + InfluxQl.AnyOf(bind, "station", "s", stations)) +
        (parameters is null ? "" : " AND " + InfluxQl.AnyOf(bind, "parameter", "p", parameters));

    async Task<Dictionary<(string Station, string Parameter, DateTimeOffset Hour), HourFigures>> ComputeAsync(IReadOnlyList<string>? stations, IReadOnlyList<string>? parameters,
        DateTimeOffset from, DateTimeOffset to, CancellationToken ct)
    {
        var bind = new Dictionary<string, object> { ["from"] = ChinaTime.Utc(from), ["to"] = ChinaTime.Utc(to) };
        var filter = Filter(bind, stations, parameters);
        // Hours start at the same instants in UTC and in China time (a whole-hour offset): no tz() needed here.
        var q = "SELECT count(\"m\") AS \"minutes\", mean(\"m\") AS \"mean\", min(\"m\") AS \"min\", max(\"m\") AS \"max\" FROM " +
                $"(SELECT mean(\"value\") AS \"m\" FROM \"{ReadingSchema.Measurement}\" WHERE {InfluxQl.ValidFlags}{filter} AND time >= $from AND time < $to " +
                "GROUP BY time(1m), \"station\", \"parameter\" fill(none)) " +
                "WHERE time >= $from AND time < $to GROUP BY time(1h), \"station\", \"parameter\" fill(none)";
        var result = new Dictionary<(string, string, DateTimeOffset), HourFigures>();
        foreach (var series in await influx.QueryAsync(q, bind, ct, post: true))
        {
            var station = series.Tags["station"];
            var parameter = series.Tags["parameter"];
            foreach (var row in series.Rows())
            {
                if (row["mean"].ValueKind != System.Text.Json.JsonValueKind.Number) continue;
                var hour = DateTimeOffset.FromUnixTimeMilliseconds(row["time"].GetInt64());
                result[(station, parameter, hour)] = new HourFigures(row["minutes"].GetInt32(), row["mean"].GetDouble(), row["min"].GetDouble(), row["max"].GetDouble());
            }
        }
        return result;
    }

    static string Line(string station, string parameter, DateTimeOffset hour, HourFigures f)
    {
        var p = PointData.Measurement(Measurement).Tag(ReadingSchema.StationTag, station).Tag(ReadingSchema.ParameterTag, parameter)
            .Field("minutes", (long)f.Minutes).Timestamp(hour, ReadingSchema.Precision);
        if (f.Minutes > 0) p = p.Field("mean", f.Mean).Field("min", f.Min).Field("max", f.Max);
        return p.ToLineProtocol();
    }

    async Task WriteAsync(IReadOnlyList<string> lines, CancellationToken ct)
    {
        foreach (var chunk in lines.Chunk(5000))
        {
            using var content = new StringContent(string.Join('\n', chunk), System.Text.Encoding.UTF8, "text/plain");
            using var response = await influx.Http.PostAsync(influx.WriteUrl, content, ct);
            if (!response.IsSuccessStatusCode)
                throw new InfluxException((int)response.StatusCode, InfluxConnection.ErrorOf(await response.Content.ReadAsStringAsync(ct)) ?? "rollup write failed");
        }
    }
}
