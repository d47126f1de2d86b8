using EcoMonitor.Domain;
using EcoMonitor.Service.Storage;

namespace EcoMonitor.Service.Query;

/// <summary>One station's hour from the hourly rollup: the minutes with valid data and the statistics of their minute
/// means, or, for an hour the station reported itself (HJ 212 CN=2061), Minutes = 60 and the station's figures
/// (valid by definition; see <see cref="HourlyRollup"/>). For wind direction Mean is the vector mean and Min/Max are
/// that mean too (a range of directions has no meaning).</summary>
public readonly record struct HourStat(DateTimeOffset Start, int Minutes, double Mean, double Min, double Max);

/// <summary>A station's latest value: a raw reading (<see cref="Period"/> empty) or the station's own mean of the
/// minute or hour starting at the reading's time ("minute", "hour").</summary>
public readonly record struct LatestValue(Reading Reading, string Period);

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

    /// <summary>The period mean of each parameter of one station over [from, to), from every value the station
    /// reported: its valid raw readings, each counting once as before, and its own hourly means (HJ 212 CN=2061, JSON
    /// "period": "hour"; stored in <c>stat</c>, not in <c>reading</c>), each counting once as one value for its hour.
    /// GB 3838 classes a section by the mean of its monitoring values over the period, and a water station's
    /// datalogger reports one value per analysis cycle (hourly, or every 4 hours for CODMn, NH3-N, TP, TN), most often
    /// as hourly data only: the station's hourly value is that hour's monitoring value. When an hour has both, the
    /// hourly rollup has already chosen by Ingestion:HourlyPrecedence: an hour the rollup took from the station
    /// (<c>reading_1h</c> source = station) counts once with the station's value and the raw readings of that hour are
    /// left out (a station hour flagged invalid leaves the whole hour out, as it does for the hourly figures); every
    /// other hour counts its valid raw readings. A station that sends raw readings only keeps exactly the mean of
    /// its readings. Station hours count once the rollup stage has stored them (seconds after acknowledgement).
    /// Station minute means (CN=2051) alone are not counted here.</summary>
    public async Task<Dictionary<string, double>> PeriodMeansAsync(string station, DateTimeOffset from, DateTimeOffset to, CancellationToken ct)
    {
        var parameters = new Dictionary<string, object>
        {
            ["s"] = station, ["from"] = ChinaTime.Utc(from), ["to"] = ChinaTime.Utc(to), ["source"] = HourlyRollup.SourceStation,
        };
        var totals = new Dictionary<string, (double Sum, long Count)>();
        void Add(string parameter, double sum, long count)
        {
            var (s, c) = totals.GetValueOrDefault(parameter);
            totals[parameter] = (s + sum, c + count);
        }
        // The hours the rollup took from the station (valid or not), per parameter.
        var stationHours = new HashSet<(string Parameter, long Hour)>();
        var qh = $"SELECT \"minutes\", \"mean\" FROM \"{HourlyRollup.Measurement}\" WHERE \"station\" = $s AND \"source\" = $source " +
                 "AND time >= $from AND time < $to GROUP BY \"parameter\"";
        foreach (var series in await influx.QueryAsync(qh, parameters, ct))
        {
            if (!series.Tags.TryGetValue("parameter", out var parameter)) continue;
            foreach (var row in series.Rows())
            {
                stationHours.Add((parameter, row["time"].GetInt64()));
                if (row["minutes"].ValueKind == System.Text.Json.JsonValueKind.Number && row["minutes"].GetInt32() > 0
                    && row["mean"].ValueKind == System.Text.Json.JsonValueKind.Number)
                    Add(parameter, row["mean"].GetDouble(), 1);
            }
        }
        if (stationHours.Count == 0)
        {
            // Raw readings only: the mean of the valid readings, as the database computes it.
            var q = $"SELECT mean(\"value\") AS \"mean\" FROM \"{ReadingSchema.Measurement}\" WHERE \"station\" = $s AND {InfluxQl.ValidFlags} " +
                    "AND time >= $from AND time < $to GROUP BY \"parameter\"";
            var means = new Dictionary<string, double>();
            foreach (var series in await influx.QueryAsync(q, parameters, ct))
                if (series.Tags.TryGetValue("parameter", out var parameter) && series.Values.FirstOrDefault() is { } row
                    && row[1].ValueKind == System.Text.Json.JsonValueKind.Number)
                    means[parameter] = row[1].GetDouble();
            return means;
        }
        // Raw readings per hour (UTC hours are China hours: the offset is whole hours), those of station hours left out.
        var qr = $"SELECT sum(\"value\") AS \"sum\", count(\"value\") AS \"count\" FROM \"{ReadingSchema.Measurement}\" WHERE \"station\" = $s " +
                 $"AND {InfluxQl.ValidFlags} AND time >= $from AND time < $to GROUP BY \"parameter\", time(1h) fill(none)";
        foreach (var series in await influx.QueryAsync(qr, parameters, ct))
        {
            if (!series.Tags.TryGetValue("parameter", out var parameter)) continue;
            foreach (var row in series.Rows())
                if (row["count"].ValueKind == System.Text.Json.JsonValueKind.Number && row["count"].GetInt64() > 0
                    && !stationHours.Contains((parameter, row["time"].GetInt64())))
                    Add(parameter, row["sum"].GetDouble(), row["count"].GetInt64());
        }
        return totals.Where(kv => kv.Value.Count > 0).ToDictionary(kv => kv.Key, kv => kv.Value.Sum / kv.Value.Count);
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

    /// <summary>The last value of each parameter of each station since <paramref name="since"/> (any flag), from
    /// every kind of data the station reports: raw readings and its own minute and hourly means (HJ 212 CN=2051/2061,
    /// JSON "period"; stored in <c>stat</c>), so a station that sends only hourly means has latest values too. A
    /// station mean is reported at the start of its period (as the station labels it and as the API labels hourly
    /// buckets) with <see cref="LatestValue.Period"/> "minute" or "hour"; between a raw reading and a mean, the newer
    /// data wins, a mean counting as of the end of its period (an hour's mean is newer than the readings within it).
    /// A mean counts when its period ends after <paramref name="since"/>.</summary>
    public async Task<List<LatestValue>> LatestReportedAsync(IReadOnlyList<string> stations, DateTimeOffset since, CancellationToken ct)
    {
        var best = new Dictionary<(string Station, string Parameter), (LatestValue Value, DateTimeOffset End)>();
        void Take(LatestValue v, DateTimeOffset end)
        {
            var key = (v.Reading.StationId, v.Reading.Parameter);
            if (!best.TryGetValue(key, out var known) || end > known.End) best[key] = (v, end);
        }
        foreach (var r in await LatestAsync(stations, since, ct))
            Take(new LatestValue(r, ""), r.Timestamp);
        var (clause, parameters) = StationClause(stations);
        // A period starts before its data ends: an hour that began up to an hour before `since` still has data since.
        parameters["since"] = ChinaTime.Utc(since.AddHours(-1));
        var hour = StatisticSchema.PeriodName(StatisticPeriod.Hour);
        parameters["hour"] = hour;
        parameters["minute"] = StatisticSchema.PeriodName(StatisticPeriod.Minute);
        var period = StatisticSchema.PeriodTag;
        var q = $"SELECT last(\"avg\") AS \"value\", \"flag\" FROM \"{StatisticSchema.Measurement}\" WHERE {clause} " +
                $"AND (\"{period}\" = $hour OR \"{period}\" = $minute) AND time >= $since GROUP BY \"station\", \"parameter\", \"{period}\"";
        foreach (var series in await influx.QueryAsync(q, parameters, ct))
        {
            var name = series.Tags.GetValueOrDefault(period) ?? "";
            var length = name == hour ? TimeSpan.FromHours(1) : TimeSpan.FromMinutes(1);
            foreach (var row in series.Rows())
            {
                if (row["value"].ValueKind != System.Text.Json.JsonValueKind.Number) continue;
                var reading = ToReading(series.Tags["station"], series.Tags["parameter"], row);
                if (reading.Timestamp + length > since) Take(new LatestValue(reading, name), reading.Timestamp + length);
            }
        }
        return [.. best.Values.Select(b => b.Value)
            .OrderBy(v => v.Reading.StationId, StringComparer.Ordinal).ThenBy(v => v.Reading.Parameter, StringComparer.Ordinal)];
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
