using System.Globalization;
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

    static readonly TimeSpan China = TimeSpan.FromHours(8);

    static DateTimeOffset LocalDayStart(DateTimeOffset t)
    {
        var local = t.ToOffset(China);
        return new DateTimeOffset(local.Year, local.Month, local.Day, 0, 0, 0, China);
    }
    const string ValidFlags = "(\"flag\" = 'N' OR \"flag\" = 'S')";

    static string Rfc3339(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture);

    static DateTimeOffset HourOf(DateTimeOffset t) => new(t.UtcTicks / TimeSpan.TicksPerHour * TimeSpan.TicksPerHour, TimeSpan.Zero);

    /// <summary>Recomputes the hours of these readings (one query, one write).</summary>
    public async Task UpdateAsync(IReadOnlyCollection<Reading> readings, CancellationToken ct)
    {
        if (readings.Count == 0) return;
        var dirty = readings.Select(r => (r.StationId, r.Parameter, Hour: HourOf(r.Timestamp))).ToHashSet();
        var from = dirty.Min(d => d.Hour);
        var to = dirty.Max(d => d.Hour).AddHours(1);
        var computed = await ComputeAsync(dirty.Select(d => d.StationId).Distinct().ToList(), dirty.Select(d => d.Parameter).Distinct().ToList(), from, to, ct);
        var lines = new List<string>();
        foreach (var (key, line) in computed)
            if (dirty.Contains(key)) lines.Add(line);
        foreach (var d in dirty.Where(d => !computed.ContainsKey(d)))
            lines.Add(Line(d.StationId, d.Parameter, d.Hour, 0, null, null, null));
        await WriteAsync(lines, ct);
        var days = dirty.Select(d => (d.StationId, d.Parameter, Day: LocalDayStart(d.Hour))).ToHashSet();
        await UpdateDaysAsync(days.Select(d => d.StationId).Distinct().ToList(), days.Select(d => d.Parameter).Distinct().ToList(),
            days.Min(d => d.Day), days.Max(d => d.Day).AddDays(1), days, ct);
    }

    /// <summary>Recomputes daily figures from the hourly rollup; with <paramref name="only"/>, just those days (and
    /// days left without valid hours get hours = 0).</summary>
    async Task UpdateDaysAsync(IReadOnlyList<string>? stations, IReadOnlyList<string>? parameters, DateTimeOffset from, DateTimeOffset to,
        HashSet<(string, string, DateTimeOffset)>? only, CancellationToken ct)
    {
        var bind = new Dictionary<string, object> { ["from"] = Rfc3339(from), ["to"] = Rfc3339(to), ["min"] = minMinutesPerHour };
        var filter = Filter(bind, stations, parameters);
        var q = $"SELECT \"mean\" FROM \"{Measurement}\" WHERE \"minutes\" >= $min{filter} AND time >= $from AND time < $to GROUP BY \"station\", \"parameter\"";
        var days = new Dictionary<(string, string, DateTimeOffset), List<double>>();
        foreach (var series in await influx.QueryAsync(q, bind, ct, post: true))
            foreach (var row in series.Rows())
            {
                var key = (series.Tags["station"], series.Tags["parameter"], LocalDayStart(DateTimeOffset.FromUnixTimeMilliseconds(row["time"].GetInt64())));
                if (!days.TryGetValue(key, out var list)) days[key] = list = [];
                list.Add(row["mean"].GetDouble());
            }
        var lines = new List<string>();
        foreach (var ((station, parameter, day), means) in days)
            if (only is null || only.Contains((station, parameter, day)))
                lines.Add(DayLine(station, parameter, day, means));
        if (only is not null)
            foreach (var (station, parameter, day) in only.Where(d => !days.ContainsKey(d)))
                lines.Add(DayLine(station, parameter, day, []));
        await WriteAsync(lines, ct);
    }

    static string DayLine(string station, string parameter, DateTimeOffset day, List<double> hourlyMeans)
    {
        var p = PointData.Measurement(DailyMeasurement).Tag(ReadingSchema.StationTag, station).Tag(ReadingSchema.ParameterTag, parameter)
            .Field("hours", (long)hourlyMeans.Count).Timestamp(day, ReadingSchema.Precision);
        if (hourlyMeans.Count > 0) p = p.Field("mean", hourlyMeans.Average()).Field("min", hourlyMeans.Min()).Field("max", hourlyMeans.Max());
        return p.ToLineProtocol();
    }

    static string Filter(Dictionary<string, object> bind, IReadOnlyList<string>? stations, IReadOnlyList<string>? parameters)
    {
        string Any(string tag, string prefix, IReadOnlyList<string>? values)
        {
            if (values is null) return "";
            for (var i = 0; i < values.Count; i++) bind[$"{prefix}{i}"] = values[i];
            return " AND (" + string.Join(" OR ", values.Select((_, i) => $"\"{tag}\" = ${prefix}{i}")) + ")";
        }
        return Any("station", "s", stations) + Any("parameter", "p", parameters);
    }

    /// <summary>Rebuilds every hour of [from, to) for every station and parameter that has readings (an operator's
    /// backfill, or data loaded around the service).</summary>
    public async Task RebuildAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken ct)
    {
        for (var start = HourOf(from); start < to; start = start.AddDays(30))
        {
            var end = start.AddDays(30) < to ? start.AddDays(30) : to;
            var computed = await ComputeAsync(null, null, start, end, ct);
            await WriteAsync([.. computed.Values], ct);
        }
        for (var day = LocalDayStart(from); day < to; day = day.AddDays(30))
            await UpdateDaysAsync(null, null, day, day.AddDays(30), null, ct);
    }

    async Task<Dictionary<(string, string, DateTimeOffset), string>> ComputeAsync(IReadOnlyList<string>? stations, IReadOnlyList<string>? parameters,
        DateTimeOffset from, DateTimeOffset to, CancellationToken ct)
    {
        var bind = new Dictionary<string, object> { ["from"] = Rfc3339(from), ["to"] = Rfc3339(to) };
        var filter = Filter(bind, stations, parameters);
        // Hours start at the same instants in UTC and in China time (a whole-hour offset): no tz() needed here.
        var q = "SELECT count(\"m\") AS \"minutes\", mean(\"m\") AS \"mean\", min(\"m\") AS \"min\", max(\"m\") AS \"max\" FROM " +
                $"(SELECT mean(\"value\") AS \"m\" FROM \"{ReadingSchema.Measurement}\" WHERE {ValidFlags}{filter} AND time >= $from AND time < $to " +
                "GROUP BY time(1m), \"station\", \"parameter\" fill(none)) " +
                "WHERE time >= $from AND time < $to GROUP BY time(1h), \"station\", \"parameter\" fill(none)";
        var result = new Dictionary<(string, string, DateTimeOffset), string>();
        foreach (var series in await influx.QueryAsync(q, bind, ct, post: true))
        {
            var station = series.Tags["station"];
            var parameter = series.Tags["parameter"];
            foreach (var row in series.Rows())
            {
                if (row["mean"].ValueKind != System.Text.Json.JsonValueKind.Number) continue;
                var hour = DateTimeOffset.FromUnixTimeMilliseconds(row["time"].GetInt64());
                result[(station, parameter, hour)] = Line(station, parameter, hour, row["minutes"].GetInt32(),
                    row["mean"].GetDouble(), row["min"].GetDouble(), row["max"].GetDouble());
            }
        }
        return result;
    }

    static string Line(string station, string parameter, DateTimeOffset hour, int minutes, double? mean, double? min, double? max)
    {
        var p = PointData.Measurement(Measurement).Tag(ReadingSchema.StationTag, station).Tag(ReadingSchema.ParameterTag, parameter)
            .Field("minutes", (long)minutes).Timestamp(hour, ReadingSchema.Precision);
        if (mean is { } m) p = p.Field("mean", m).Field("min", min!.Value).Field("max", max!.Value);
        return p.ToLineProtocol();
    }

    async Task WriteAsync(IReadOnlyList<string> lines, CancellationToken ct)
    {
        var s = influx.Settings;
        var url = $"write?db={Uri.EscapeDataString(s.Database)}&precision=ms";
        if (!string.IsNullOrEmpty(s.RetentionPolicy)) url += $"&rp={Uri.EscapeDataString(s.RetentionPolicy)}";
        foreach (var chunk in lines.Chunk(5000))
        {
            using var content = new StringContent(string.Join('\n', chunk), System.Text.Encoding.UTF8, "text/plain");
            using var response = await influx.Http.PostAsync(url, content, ct);
            if (!response.IsSuccessStatusCode)
                throw new InfluxException((int)response.StatusCode, InfluxConnection.ErrorOf(await response.Content.ReadAsStringAsync(ct)) ?? "rollup write failed");
        }
    }
}
