using EcoMonitor.Domain;
using EcoMonitor.Service.Storage;

namespace EcoMonitor.Service.Query;

/// <summary>One station's hour: statistics of its minute means (minutes with at least one valid reading).</summary>
public readonly record struct HourStat(DateTimeOffset Start, int Minutes, double Mean, double Min, double Max);

/// <summary>InfluxQL over the stored readings. Every value from a request travels as a bind parameter ($name); only
/// validated identifiers and fixed text make up the query. Values with invalid HJ 212 flags are left out here.</summary>
public sealed class ReadingQueries(InfluxConnection influx)
{
    /// <summary>" AND time <= $until" when an end is given (evaluations at a chosen time look at data up to it).</summary>
    static string Until(Dictionary<string, object> parameters, DateTimeOffset? until)
    {
        if (until is not { } t) return "";
        parameters["until"] = ChinaTime.Utc(t);
        return " AND time <= $until";
    }

    static (string Clause, Dictionary<string, object> Parameters) StationClause(IReadOnlyList<string> stations)
    {
        var parameters = new Dictionary<string, object>();
        return (InfluxQl.AnyOf(parameters, "station", "s", stations), parameters);
    }

    /// <summary>Hourly statistics per station, [from, to), from the hourly rollup (<see cref="HourlyRollup"/>: minute
    /// means of valid readings). GB 3095's 45-minute rule is judged on <see cref="HourStat.Minutes"/>.</summary>
    public async Task<Dictionary<string, List<HourStat>>> HourlyAsync(IReadOnlyList<string> stations, string parameter,
        DateTimeOffset from, DateTimeOffset to, CancellationToken ct)
    {
        var (clause, parameters) = StationClause(stations);
        parameters["p"] = parameter;
        parameters["from"] = ChinaTime.Utc(from);
        parameters["to"] = ChinaTime.Utc(to);
        var q = $"SELECT \"minutes\", \"mean\", \"min\", \"max\" FROM \"{HourlyRollup.Measurement}\" WHERE \"parameter\" = $p AND {clause} " +
                "AND time >= $from AND time < $to GROUP BY \"station\"";
        var result = stations.ToDictionary(s => s, _ => new List<HourStat>());
        foreach (var series in await influx.QueryAsync(q, parameters, ct))
        {
            if (!series.Tags.TryGetValue("station", out var station) || !result.TryGetValue(station, out var list)) continue;
            foreach (var row in series.Rows())
            {
                if (row["mean"].ValueKind != System.Text.Json.JsonValueKind.Number) continue;
                list.Add(new HourStat(DateTimeOffset.FromUnixTimeMilliseconds(row["time"].GetInt64()), row["minutes"].GetInt32(),
                    row["mean"].GetDouble(), row["min"].GetDouble(), row["max"].GetDouble()));
            }
        }
        return result;
    }

    /// <summary>Daily figures per station for the local days from..to, from the daily rollup: the number of valid
    /// hours and the mean of their means.</summary>
    public async Task<Dictionary<string, Dictionary<DateOnly, (int Hours, double Mean)>>> DailyAsync(IReadOnlyList<string> stations, string parameter,
        DateOnly from, DateOnly to, CancellationToken ct)
    {
        var (clause, parameters) = StationClause(stations);
        parameters["p"] = parameter;
        parameters["from"] = ChinaTime.Utc(ChinaTime.StartOf(from));
        parameters["to"] = ChinaTime.Utc(ChinaTime.StartOf(to.AddDays(1)));
        var q = $"SELECT \"hours\", \"mean\" FROM \"{HourlyRollup.DailyMeasurement}\" WHERE \"parameter\" = $p AND {clause} " +
                "AND time >= $from AND time < $to GROUP BY \"station\"";
        var result = stations.ToDictionary(s => s, _ => new Dictionary<DateOnly, (int, double)>());
        foreach (var series in await influx.QueryAsync(q, parameters, ct))
        {
            if (!series.Tags.TryGetValue("station", out var station) || !result.TryGetValue(station, out var days)) continue;
            foreach (var row in series.Rows())
                if (row["mean"].ValueKind == System.Text.Json.JsonValueKind.Number)
                    days[ChinaTime.DateOf(DateTimeOffset.FromUnixTimeMilliseconds(row["time"].GetInt64()))] = (row["hours"].GetInt32(), row["mean"].GetDouble());
        }
        return result;
    }

    /// <summary>The time of each station's last valid reading since <paramref name="since"/>.</summary>
    public async Task<Dictionary<string, DateTimeOffset>> LastValidAsync(IReadOnlyList<string> stations, DateTimeOffset since, CancellationToken ct,
        DateTimeOffset? until = null)
    {
        var (clause, parameters) = StationClause(stations);
        parameters["since"] = ChinaTime.Utc(since);
        var q = $"SELECT last(\"value\") FROM \"{ReadingSchema.Measurement}\" WHERE {InfluxQl.ValidFlags} AND {clause} AND time >= $since{Until(parameters, until)} GROUP BY \"station\"";
        var result = new Dictionary<string, DateTimeOffset>();
        foreach (var series in await influx.QueryAsync(q, parameters, ct))
            if (series.Tags.TryGetValue("station", out var station) && series.Values.FirstOrDefault() is { } row)
                result[station] = DateTimeOffset.FromUnixTimeMilliseconds(row[0].GetInt64());
        return result;
    }

    /// <summary>The valid readings of one parameter of each station in [from, to), oldest first (the newest 10,000 per
    /// station).</summary>
    public async Task<Dictionary<string, List<(DateTimeOffset Time, double Value)>>> ValidValuesAsync(IReadOnlyList<string> stations, string parameter,
        DateTimeOffset from, DateTimeOffset to, CancellationToken ct)
    {
        var (clause, parameters) = StationClause(stations);
        parameters["p"] = parameter;
        parameters["from"] = ChinaTime.Utc(from);
        parameters["to"] = ChinaTime.Utc(to);
        var q = $"SELECT \"value\" FROM \"{ReadingSchema.Measurement}\" WHERE \"parameter\" = $p AND {InfluxQl.ValidFlags} AND {clause} " +
                "AND time >= $from AND time < $to GROUP BY \"station\" ORDER BY time DESC LIMIT 10000";
        var result = stations.ToDictionary(s => s, _ => new List<(DateTimeOffset, double)>());
        foreach (var series in await influx.QueryAsync(q, parameters, ct))
            if (series.Tags.TryGetValue("station", out var station) && result.TryGetValue(station, out var list))
                foreach (var row in series.Values.Reverse())
                    list.Add((DateTimeOffset.FromUnixTimeMilliseconds(row[0].GetInt64()), row[1].GetDouble()));
        return result;
    }

    /// <summary>For each station and parameter, the time of the last reading since <paramref name="since"/> whose
    /// flag is not one of <paramref name="flags"/>.</summary>
    public async Task<Dictionary<(string Station, string Parameter), DateTimeOffset>> LastWithoutFlagsAsync(IReadOnlyList<string> stations,
        IReadOnlyList<string> flags, DateTimeOffset since, DateTimeOffset until, CancellationToken ct)
    {
        var (clause, parameters) = StationClause(stations);
        parameters["since"] = ChinaTime.Utc(since);
        for (var i = 0; i < flags.Count; i++) parameters[$"f{i}"] = flags[i];
        var without = string.Concat(flags.Select((_, i) => $" AND \"flag\" != $f{i}"));
        var q = $"SELECT last(\"value\") FROM \"{ReadingSchema.Measurement}\" WHERE {clause}{without} AND time >= $since{Until(parameters, until)} GROUP BY \"station\", \"parameter\"";
        var result = new Dictionary<(string, string), DateTimeOffset>();
        foreach (var series in await influx.QueryAsync(q, parameters, ct))
            if (series.Values.FirstOrDefault() is { } row)
                result[(series.Tags["station"], series.Tags["parameter"])] = DateTimeOffset.FromUnixTimeMilliseconds(row[0].GetInt64());
        return result;
    }

    /// <summary>Mean of the valid readings of each parameter of one station over [from, to).</summary>
    public async Task<Dictionary<string, double>> PeriodMeansAsync(string station, DateTimeOffset from, DateTimeOffset to, CancellationToken ct)
    {
        var q = $"SELECT mean(\"value\") AS \"mean\" FROM \"{ReadingSchema.Measurement}\" WHERE \"station\" = $s AND {InfluxQl.ValidFlags} " +
                "AND time >= $from AND time < $to GROUP BY \"parameter\"";
        var parameters = new Dictionary<string, object> { ["s"] = station, ["from"] = ChinaTime.Utc(from), ["to"] = ChinaTime.Utc(to) };
        var means = new Dictionary<string, double>();
        foreach (var series in await influx.QueryAsync(q, parameters, ct))
            if (series.Tags.TryGetValue("parameter", out var parameter) && series.Values.FirstOrDefault() is { } row
                && row[1].ValueKind == System.Text.Json.JsonValueKind.Number)
                means[parameter] = row[1].GetDouble();
        return means;
    }

    static Reading ToReading(string station, string parameter, IReadOnlyDictionary<string, System.Text.Json.JsonElement> row) =>
        new(station, parameter, DateTimeOffset.FromUnixTimeMilliseconds(row["time"].GetInt64()), row["value"].GetDouble(), row["flag"].GetString() ?? "");

    /// <summary>The last value of each parameter of each station since <paramref name="since"/> (any flag).</summary>
    public async Task<List<Reading>> LatestAsync(IReadOnlyList<string> stations, DateTimeOffset since, CancellationToken ct, DateTimeOffset? until = null)
    {
        var (clause, parameters) = StationClause(stations);
        parameters["since"] = ChinaTime.Utc(since);
        var q = $"SELECT last(\"value\") AS \"value\", \"flag\" FROM \"{ReadingSchema.Measurement}\" WHERE {clause} AND time >= $since{Until(parameters, until)} GROUP BY \"station\", \"parameter\"";
        var list = new List<Reading>();
        foreach (var series in await influx.QueryAsync(q, parameters, ct))
            foreach (var row in series.Rows())
                list.Add(ToReading(series.Tags["station"], series.Tags["parameter"], row));
        return [.. list.OrderBy(r => r.StationId, StringComparer.Ordinal).ThenBy(r => r.Parameter, StringComparer.Ordinal)];
    }

    /// <summary>Readings of one station in [from, to), oldest first, <paramref name="limit"/> from <paramref name="offset"/>.</summary>
    public async Task<List<Reading>> ReadingsAsync(string station, string? parameter, DateTimeOffset from, DateTimeOffset to, int limit, long offset, CancellationToken ct)
    {
        var parameters = new Dictionary<string, object> { ["s"] = station, ["from"] = ChinaTime.Utc(from), ["to"] = ChinaTime.Utc(to) };
        var filter = "";
        if (parameter is not null)
        {
            parameters["p"] = parameter;
            filter = " AND \"parameter\" = $p";
        }
        // LIMIT and OFFSET are integers the API validated, not request text.
        var q = $"SELECT \"value\", \"flag\", \"parameter\" FROM \"{ReadingSchema.Measurement}\" WHERE \"station\" = $s{filter} AND time >= $from AND time < $to " +
                $"ORDER BY time ASC LIMIT {limit} OFFSET {offset}";
        var list = new List<Reading>();
        foreach (var series in await influx.QueryAsync(q, parameters, ct))
            foreach (var row in series.Rows())
                list.Add(ToReading(station, row["parameter"].GetString()!, row));
        return list;
    }

    /// <summary>Valid single values of a parameter above <paramref name="limit"/> in [from, to), oldest first (at most 1000).</summary>
    public async Task<List<Reading>> AboveAsync(string station, string parameter, double limit, DateTimeOffset from, DateTimeOffset to, CancellationToken ct)
    {
        var parameters = new Dictionary<string, object> { ["s"] = station, ["p"] = parameter, ["limit"] = limit, ["from"] = ChinaTime.Utc(from), ["to"] = ChinaTime.Utc(to) };
        var q = $"SELECT \"value\", \"flag\" FROM \"{ReadingSchema.Measurement}\" WHERE \"station\" = $s AND \"parameter\" = $p AND {InfluxQl.ValidFlags} " +
                "AND \"value\" > $limit AND time >= $from AND time < $to ORDER BY time ASC LIMIT 1000";
        var list = new List<Reading>();
        foreach (var series in await influx.QueryAsync(q, parameters, ct))
            foreach (var row in series.Rows())
                list.Add(ToReading(station, parameter, row));
        return list;
    }
}
