using EcoMonitor.Domain;
using EcoMonitor.Service.Storage;

namespace EcoMonitor.Service.Query;

/// <summary>One station's hour from the hourly rollup: the minutes with valid data and the statistics of their minute
/// means, or, for an hour the station reported itself (HJ 212 CN=2061), Minutes = 60 and the station's figures
/// (valid by definition; see <see cref="HourlyRollup"/>). For wind direction Mean is the vector mean and Min/Max are
/// that mean too (a range of directions has no meaning).</summary>
public readonly record struct HourStat(DateTimeOffset Start, int Minutes, double Mean, double Min, double Max);

/// <summary>Wind at a station: mean speed (m/s) and vector-mean direction (degrees from north, where it comes from);
/// either may be missing.</summary>
public readonly record struct Wind(double? Speed, double? Direction);

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
                var mean = row["mean"].GetDouble();
                list.Add(new HourStat(DateTimeOffset.FromUnixTimeMilliseconds(row["time"].GetInt64()), row["minutes"].GetInt32(), mean,
                    row["min"].ValueKind == System.Text.Json.JsonValueKind.Number ? row["min"].GetDouble() : mean,
                    row["max"].ValueKind == System.Text.Json.JsonValueKind.Number ? row["max"].GetDouble() : mean));
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

    /// <summary>The time of each station's last valid data since <paramref name="since"/>: a valid reading, or the
    /// end of a valid minute or hourly mean the station sent (HJ 212 CN=2051/2061: an hourly-only station is not
    /// silent; its data is as recent as the end of its last reported hour).</summary>
    public async Task<Dictionary<string, DateTimeOffset>> LastValidAsync(IReadOnlyList<string> stations, DateTimeOffset since, CancellationToken ct,
        DateTimeOffset? until = null)
    {
        var (clause, parameters) = StationClause(stations);
        parameters["since"] = ChinaTime.Utc(since);
        var until_ = Until(parameters, until);
        var result = new Dictionary<string, DateTimeOffset>();
        void Take(string station, DateTimeOffset t)
        {
            if (until is { } u && t > u) t = u;
            if (!result.TryGetValue(station, out var known) || t > known) result[station] = t;
        }
        var q = $"SELECT last(\"value\") FROM \"{ReadingSchema.Measurement}\" WHERE {InfluxQl.ValidFlags} AND {clause} AND time >= $since{until_} GROUP BY \"station\"";
        foreach (var series in await influx.QueryAsync(q, parameters, ct))
            if (series.Tags.TryGetValue("station", out var station) && series.Values.FirstOrDefault() is { } row)
                Take(station, DateTimeOffset.FromUnixTimeMilliseconds(row[0].GetInt64()));
        var qs = $"SELECT last(\"avg\") FROM \"{StatisticSchema.Measurement}\" WHERE {InfluxQl.ValidFlags} AND {clause} " +
                 $"AND (\"{StatisticSchema.PeriodTag}\" = 'hour' OR \"{StatisticSchema.PeriodTag}\" = 'minute') AND time >= $since{until_} GROUP BY \"station\", \"{StatisticSchema.PeriodTag}\"";
        foreach (var series in await influx.QueryAsync(qs, parameters, ct))
            if (series.Tags.TryGetValue("station", out var station) && series.Values.FirstOrDefault() is { } row)
                Take(station, DateTimeOffset.FromUnixTimeMilliseconds(row[0].GetInt64()) + (series.Tags.GetValueOrDefault(StatisticSchema.PeriodTag) == "hour" ? TimeSpan.FromHours(1) : TimeSpan.FromMinutes(1)));
        return result;
    }

    /// <summary>Each station's wind over [from, to): the mean of its valid wind speed readings and the vector mean of
    /// its valid wind directions (<see cref="WindVector"/>). A station without wind readings in the window gets its
    /// last valid hour of wind from the hourly rollup (an hourly-only station) starting within the hour before
    /// <paramref name="from"/> up to <paramref name="to"/>; a station with neither is left out.</summary>
    public async Task<Dictionary<string, Wind>> WindAsync(IReadOnlyList<string> stations, DateTimeOffset from, DateTimeOffset to, CancellationToken ct)
    {
        var (clause, parameters) = StationClause(stations);
        parameters["from"] = ChinaTime.Utc(from);
        parameters["to"] = ChinaTime.Utc(to);
        parameters["ws"] = Parameters.WindSpeed;
        parameters["wd"] = Parameters.WindDirection;
        var speeds = new Dictionary<string, List<double>>();
        var directions = new Dictionary<string, List<double>>();
        var q = $"SELECT \"value\" FROM \"{ReadingSchema.Measurement}\" WHERE (\"parameter\" = $ws OR \"parameter\" = $wd) AND {InfluxQl.ValidFlags} AND {clause} " +
                "AND time >= $from AND time < $to GROUP BY \"station\", \"parameter\"";
        foreach (var series in await influx.QueryAsync(q, parameters, ct))
        {
            var target = series.Tags["parameter"] == Parameters.WindSpeed ? speeds : directions;
            var list = target.TryGetValue(series.Tags["station"], out var l) ? l : target[series.Tags["station"]] = [];
            list.AddRange(series.Rows().Select(r => r["value"].GetDouble()));
        }
        var result = new Dictionary<string, Wind>();
        foreach (var station in stations)
        {
            double? speed = speeds.TryGetValue(station, out var sp) && sp.Count > 0 ? sp.Average() : null;
            var direction = directions.TryGetValue(station, out var d) ? WindVector.Mean(d) : null;
            if (speed is not null || direction is not null) result[station] = new Wind(speed, direction);
        }
        var missing = stations.Where(s => !result.ContainsKey(s)).ToList();
        if (missing.Count == 0) return result;
        var (clause2, bind) = StationClause(missing);
        bind["from"] = ChinaTime.Utc(from.AddHours(-1));
        bind["to"] = ChinaTime.Utc(to);
        bind["ws"] = Parameters.WindSpeed;
        bind["wd"] = Parameters.WindDirection;
        bind["min"] = HourlyRollup.MinMinutesPerHour;
        var qh = $"SELECT last(\"mean\") FROM \"{HourlyRollup.Measurement}\" WHERE (\"parameter\" = $ws OR \"parameter\" = $wd) AND {clause2} " +
                 "AND \"minutes\" >= $min AND time >= $from AND time < $to GROUP BY \"station\", \"parameter\"";
        var hourly = new Dictionary<(string, string), double>();
        foreach (var series in await influx.QueryAsync(qh, bind, ct))
            if (series.Values.FirstOrDefault() is { } row && row[1].ValueKind == System.Text.Json.JsonValueKind.Number)
                hourly[(series.Tags["station"], series.Tags["parameter"])] = row[1].GetDouble();
        foreach (var station in missing)
        {
            double? speed = hourly.TryGetValue((station, Parameters.WindSpeed), out var v) ? v : null;
            double? direction = hourly.TryGetValue((station, Parameters.WindDirection), out var w) ? w : null;
            if (speed is not null || direction is not null) result[station] = new Wind(speed, direction);
        }
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
