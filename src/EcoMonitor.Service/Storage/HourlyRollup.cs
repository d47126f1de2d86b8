using System.Text.Json;
using EcoMonitor.Domain;
using EcoMonitor.Service.Hosting;
using InfluxDB.Client.Writes;

namespace EcoMonitor.Service.Storage;

/// <summary>The hourly rollup the query API reads (README, "Schema in InfluxDB"): measurement <c>reading_1h</c>,
/// tags <c>station</c>, <c>parameter</c>; fields <c>minutes</c> (integer), <c>mean</c>, <c>min</c>, <c>max</c>,
/// <c>source</c> (<c>minutes</c> | <c>station</c>); time = the start of the hour.
///
/// An hour is made of two kinds of data, both kept raw where they arrived:
/// - minutes: one value per minute with valid data: the mean of the minute's valid readings (<c>reading</c>), or the
///   station's own minute mean (<c>stat</c> period=minute avg with a valid flag: HJ 212 CN=2051, JSON "period":
///   "minute"), which wins over real-time readings of the same minute. <c>minutes</c> = how many, <c>mean</c>,
///   <c>min</c>, <c>max</c> of those minute values; valid with the standard's 45;
/// - the station's hourly mean (<c>stat</c> period=hour avg: HJ 212 CN=2061, JSON "period": "hour"). Such an hour is
///   written with <c>minutes</c> = 60 (valid by definition: the station vouches for the whole hour, as the national
///   platform takes it), <c>source</c> = station, <c>mean</c> = its avg, <c>min</c>/<c>max</c> as it sent them (its avg
///   when it sent none).
/// Which one an hour takes when both exist: Ingestion:HourlyPrecedence. Station (default): the station's value; a
/// station hourly value with an invalid flag (D, M, C, F, T, B) makes the hour invalid (minutes = 0), whatever minute
/// data exists: the station itself declared the hour unusable, and its minutes are from the same instrument.
/// Minutes: the minutes when they make a valid hour, else the station's valid value, else the minutes as they are.
/// Daily statistics (CN=2031) are informational: days are built from hours.
///
/// Wind direction (<c>wdir</c>) is an angle: its minute and hourly means are vector means of unit vectors
/// (<see cref="WindVector"/>: 350° and 10° give 0°), its hours and days have no <c>min</c>/<c>max</c> (a range of
/// directions has no meaning), and the day's direction is the vector mean of its valid hours' directions (each hour
/// counts once, as for every other parameter). Directions that cancel out exactly have no mean: such an hour is
/// written without one and does not count.
///
/// The rollup stage (<see cref="RollupStage"/>) recomputes the hours a batch touched (its readings and its minute and
/// hourly statistics) after the batch is stored and acknowledged; the batch's durable dirty marks (written with its
/// readings) repair a crash in between. A late or repeated statistic overwrites its own point in <c>stat</c> and the
/// hour is computed again from what is stored: nothing counts twice. Hours whose valid data disappeared get minutes = 0.
/// A daily rollup follows from it: measurement <c>reading_1d</c>, fields <c>hours</c> (integer: hours with at least
/// the standard's minutes), <c>mean</c>, <c>min</c>, <c>max</c> (of those hourly means; wdir: the vector mean only);
/// time = local midnight (China time). Whether a day is valid (GB 3095: 20 hours) is decided when it is read.</summary>
public sealed class HourlyRollup(InfluxConnection influx, int minMinutesPerHour = HourlyRollup.MinMinutesPerHour,
    HourlyPrecedence precedence = HourlyPrecedence.Station, int recentHours = 0)
{
    /// <summary>Minute values of recently computed hours (Rollup:RecentHours; 0, the default here, and always with
    /// Mqtt:SharedGroup: off): a recompute of such an hour reads only the minutes changed since.</summary>
    readonly RecentHours _recent = new(recentHours);

    /// <summary>Hours whose minutes are kept (<see cref="RecentHours"/>).</summary>
    public int RecentHoursKept => _recent.Count;

    long _rowsRead;

    /// <summary>Rows of readings' minute means and raw wind directions read by recomputes so far: what a recompute
    /// costs InfluxDB grows with them.</summary>
    public long MinuteRowsRead => Interlocked.Read(ref _rowsRead);

    /// <summary>Notes the minutes of stored readings: the rollup stage calls it before it queues their hours.</summary>
    public void Touched(IEnumerable<Reading> readings) => _recent.Touched(readings);

    /// <summary>These hours may have changed in ways not noted (hours from the durable marks): read them whole.</summary>
    public void Forget(IEnumerable<(string StationId, string Parameter, DateTimeOffset Hour)> hours) => _recent.Forget(hours);

    /// <summary>Forgets every kept hour.</summary>
    public void ForgetAll() => _recent.Clear();

    public const string Measurement = "reading_1h";
    public const string DailyMeasurement = "reading_1d";
    public const string SourceMinutes = "minutes";
    public const string SourceStation = "station";

    /// <summary>The minutes a valid station hourly value stands for.</summary>
    public const int StationHourMinutes = 60;

    /// <summary>GB 3095-2012's minimum for a valid hour, the default; the service passes the edition's. Changing the
    /// edition's rule means rebuilding the daily rollup (RebuildRollups).</summary>
    public const int MinMinutesPerHour = 45;

    static DateTimeOffset HourOf(DateTimeOffset t) => new(t.UtcTicks / TimeSpan.TicksPerHour * TimeSpan.TicksPerHour, TimeSpan.Zero);

    static DateTimeOffset MinuteOf(DateTimeOffset t) => new(t.UtcTicks / TimeSpan.TicksPerMinute * TimeSpan.TicksPerMinute, TimeSpan.Zero);

    static bool IsDirection(string parameter) => parameter == Parameters.WindDirection;

    /// <summary>One hour's figures. Mean is NaN when there is none (no data, an invalid station hour, or wind
    /// directions that cancel out); Min/Max are NaN for wind direction.</summary>
    readonly record struct HourFigures(int Minutes, double Mean, double Min, double Max, string Source)
    {
        public static readonly HourFigures None = new(0, double.NaN, double.NaN, double.NaN, SourceMinutes);
        public bool HasMean => !double.IsNaN(Mean);
    }

    bool IsValid(HourFigures f) => f.Minutes >= minMinutesPerHour && f.HasMean;

    /// <summary>The hours (station, parameter, hour start) these readings and minute and hourly statistics touch
    /// (daily statistics touch no hour): what <see cref="UpdateHoursAsync"/> recomputes for them.</summary>
    public static HashSet<(string StationId, string Parameter, DateTimeOffset Hour)> HoursOf(IEnumerable<Reading> readings, IEnumerable<Statistic> statistics) =>
        readings.Select(r => (r.StationId, r.Parameter, Hour: HourOf(r.Timestamp)))
            .Concat(statistics.Where(s => s.Period != StatisticPeriod.Day).Select(s => (s.StationId, s.Parameter, Hour: HourOf(s.Start))))
            .ToHashSet();

    /// <summary>Recomputes these hours from what is stored (idempotent: a repeated or concurrent recompute writes
    /// the same figures), then their local days (the day's other hours are read from the rollup; the hours just
    /// computed are taken from memory, not read back). The queries span the given stations and parameters over
    /// [earliest hour, latest hour + 1): callers keep a call to a bounded set (see <see cref="RollupStage"/>).
    ///
    /// <paramref name="verify"/> (several instances writing rollups to one database): the same holds one level down.
    /// Two instances may store readings of one hour at the same time, each recompute the hour before the other's
    /// readings are visible, and the one computed from less data may land last. So after writing the hour lines they
    /// are computed again; hours that changed are written again, until a computation agrees with what was written (at
    /// most <see cref="MaxDayPasses"/> passes; the argument below, with readings in place of hours). And the day
    /// lines are written
    /// from a read of the day's hours, and another instance may write an hour of the same day between that read and
    /// this write; its own day line may then land before this one, which would leave the day without its hour. So
    /// after writing the day lines their hours are read again; if any hour that counts for a day changed, the day
    /// lines are computed again from what was read and written again, until a read agrees with what was written (at
    /// most <see cref="MaxDayPasses"/> passes). Why this is enough: take the last day line written for a day. Its
    /// writer read the day's hours after writing it and found them as it had computed it. An hour written before that
    /// read is in the line; an hour written after it is followed by its writer's own day line, later than the last
    /// one: there is none. So the last line always holds every hour.</summary>
    public async Task UpdateHoursAsync(IReadOnlyCollection<(string StationId, string Parameter, DateTimeOffset Hour)> dirty, CancellationToken ct,
        bool verify = false)
    {
        if (dirty.Count == 0) return;
        var stations = dirty.Select(d => d.StationId).Distinct().ToList();
        var parameters = dirty.Select(d => d.Parameter).Distinct().ToList();
        var (first, end) = (dirty.Min(d => d.Hour), dirty.Max(d => d.Hour).AddHours(1));
        var computed = verify || !_recent.Enabled
            ? await ComputeAsync(stations, parameters, first, end, ct)
            : await ComputeRecentAsync(dirty, stations, parameters, first, end, ct);
        var hours = dirty.ToDictionary(d => d, d => computed.TryGetValue(d, out var f) ? f : HourFigures.None);
        await WriteAsync([.. hours.Select(kv => Line(kv.Key.StationId, kv.Key.Parameter, kv.Key.Hour, kv.Value))], ct);
        for (var pass = 1; verify && pass < MaxDayPasses; pass++)
        {
            var again = await ComputeAsync(stations, parameters, first, end, ct);
            var changed = hours.Keys.Where(k => (again.TryGetValue(k, out var f) ? f : HourFigures.None) != hours[k]).ToList();
            if (changed.Count == 0) break;
            foreach (var k in changed) hours[k] = again.TryGetValue(k, out var f) ? f : HourFigures.None;
            await WriteAsync([.. changed.Select(k => Line(k.StationId, k.Parameter, k.Hour, hours[k]))], ct);
        }

        var days = dirty.Select(d => (d.StationId, d.Parameter, Day: ChinaTime.DayStartOf(d.Hour))).ToHashSet();
        var (from, to) = (days.Min(d => d.Day), days.Max(d => d.Day).AddDays(1));
        var known = await ReadHoursAsync(stations, parameters, from, to, ct);
        foreach (var (key, figures) in hours) known[key] = figures;
        await WriteAsync(DayLines(known, days), ct);
        for (var pass = 1; verify && pass < MaxDayPasses; pass++)
        {
            var again = await ReadHoursAsync(stations, parameters, from, to, ct);
            if (!TakeChanges(known, again, days)) return;
            await WriteAsync(DayLines(known, days), ct);
        }
    }

    /// <summary>Day-line passes of a verified update (<see cref="UpdateHoursAsync"/>): a day whose hours other
    /// instances keep changing is left to their own verification after that many.</summary>
    public const int MaxDayPasses = 5;

    /// <summary>Takes into <paramref name="known"/> the hours of <paramref name="days"/> that <paramref name="again"/>
    /// (a later read) has differently, as far as a day line uses them (whether the hour is valid, and its mean);
    /// true when there was any. Hours that agree keep the figures already known (read back, a mean may differ in its
    /// last digit from the one computed).</summary>
    bool TakeChanges(Dictionary<(string Station, string Parameter, DateTimeOffset Hour), HourFigures> known,
        Dictionary<(string Station, string Parameter, DateTimeOffset Hour), HourFigures> again,
        HashSet<(string StationId, string Parameter, DateTimeOffset Day)> days)
    {
        bool Counts((string Station, string Parameter, DateTimeOffset Hour) k) => days.Contains((k.Station, k.Parameter, ChinaTime.DayStartOf(k.Hour)));
        bool Agree(HourFigures a, HourFigures b) => IsValid(a) == IsValid(b)
            && (!IsValid(a) || Math.Abs(a.Mean - b.Mean) <= 1e-9 * Math.Max(1, Math.Abs(a.Mean)));
        var changed = false;
        foreach (var key in known.Keys.Where(Counts).ToList())
            if (!again.TryGetValue(key, out var now))
            {
                known.Remove(key);
                changed = true;
            }
            else if (!Agree(known[key], now))
            {
                known[key] = now;
                changed = true;
            }
        foreach (var (key, now) in again)
            if (Counts(key) && !known.ContainsKey(key))
            {
                known[key] = now;
                changed |= IsValid(now);
            }
        return changed;
    }

    /// <summary>Rebuilds every hour and day of [from, to) for every station and parameter that has readings or
    /// minute/hourly statistics (an operator's backfill, or data loaded around the service), 30 local days at a time.</summary>
    public async Task RebuildAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken ct)
    {
        _recent.Clear(); // the data may have been written around the service
        for (var start = ChinaTime.DayStartOf(from); start < to; start = start.AddDays(30))
        {
            var end = start.AddDays(30);
            var computed = await ComputeAsync(null, null, start, end, ct);
            await WriteAsync([.. computed.Select(kv => Line(kv.Key.Station, kv.Key.Parameter, kv.Key.Hour, kv.Value))], ct);
            await WriteAsync(DayLines(computed, null), ct);
        }
    }

    static double Number(IReadOnlyDictionary<string, JsonElement> row, string column) =>
        row.TryGetValue(column, out var e) && e.ValueKind == JsonValueKind.Number ? e.GetDouble() : double.NaN;

    static DateTimeOffset TimeOf(IReadOnlyDictionary<string, JsonElement> row) => DateTimeOffset.FromUnixTimeMilliseconds(row["time"].GetInt64());

    /// <summary>The hours of the rollup in [from, to). Read chunk by chunk (<see cref="InfluxConnection.QuerySeriesAsync"/>):
    /// every recompute reads the whole local days of its hours, which grow through the day, and whole answers of
    /// that size made the large-object heap grow with the hour of the day (10-minute soak, 2,000 stations).</summary>
    async Task<Dictionary<(string Station, string Parameter, DateTimeOffset Hour), HourFigures>> ReadHoursAsync(
        IReadOnlyList<string> stations, IReadOnlyList<string> parameters, DateTimeOffset from, DateTimeOffset to, CancellationToken ct)
    {
        var bind = new Dictionary<string, object> { ["from"] = ChinaTime.Utc(from), ["to"] = ChinaTime.Utc(to) };
        var filter = Filter(bind, stations, parameters);
        var q = $"SELECT \"minutes\", \"mean\", \"min\", \"max\", \"source\" FROM \"{Measurement}\" WHERE time >= $from AND time < $to{filter} GROUP BY \"station\", \"parameter\"";
        var result = new Dictionary<(string, string, DateTimeOffset), HourFigures>();
        await foreach (var series in influx.QuerySeriesAsync(q, bind, ct))
        {
            var (time, minutesAt, meanAt, minAt, maxAt, sourceAt) = (series.IndexOf("time"), series.IndexOf("minutes"), series.IndexOf("mean"),
                series.IndexOf("min"), series.IndexOf("max"), series.IndexOf("source"));
            double NumberAt(JsonElement[] row, int i) => i >= 0 && row[i].ValueKind == JsonValueKind.Number ? row[i].GetDouble() : double.NaN;
            var (station, parameter) = (series.Tags["station"], series.Tags["parameter"]);
            foreach (var row in series.Values)
            {
                var minutes = row[minutesAt].GetInt32();
                var source = sourceAt >= 0 && row[sourceAt].ValueKind == JsonValueKind.String ? row[sourceAt].GetString()! : SourceMinutes;
                result[(station, parameter, DateTimeOffset.FromUnixTimeMilliseconds(row[time].GetInt64()))] = minutes == 0
                    ? HourFigures.None with { Source = source }
                    : new HourFigures(minutes, NumberAt(row, meanAt), NumberAt(row, minAt), NumberAt(row, maxAt), source);
            }
        }
        return result;
    }

    /// <summary>Daily lines from hourly figures; with <paramref name="only"/>, just those days (a day left without a
    /// valid hour gets hours = 0).</summary>
    List<string> DayLines(Dictionary<(string Station, string Parameter, DateTimeOffset Hour), HourFigures> hours,
        HashSet<(string StationId, string Parameter, DateTimeOffset Day)>? only)
    {
        var days = new Dictionary<(string, string, DateTimeOffset), List<HourFigures>>();
        foreach (var ((station, parameter, hour), f) in hours)
        {
            var key = (station, parameter, ChinaTime.DayStartOf(hour));
            if (only is not null && !only.Contains(key)) continue;
            if (!days.TryGetValue(key, out var list)) days[key] = list = [];
            if (IsValid(f)) list.Add(f);
        }
        foreach (var key in only ?? []) if (!days.ContainsKey(key)) days[key] = [];
        return [.. days.Select(kv => DayLine(kv.Key.Item1, kv.Key.Item2, kv.Key.Item3, kv.Value))];
    }

    static string DayLine(string station, string parameter, DateTimeOffset day, List<HourFigures> validHours)
    {
        var p = PointData.Measurement(DailyMeasurement).Tag(ReadingSchema.StationTag, station).Tag(ReadingSchema.ParameterTag, parameter)
            .Field("hours", (long)validHours.Count).Timestamp(day, ReadingSchema.Precision);
        if (validHours.Count > 0)
        {
            if (IsDirection(parameter))
            {
                if (WindVector.Mean(validHours.Select(h => h.Mean)) is { } mean) p = p.Field("mean", mean);
            }
            else
                p = p.Field("mean", validHours.Average(h => h.Mean)).Field("min", validHours.Min(h => h.Mean)).Field("max", validHours.Max(h => h.Mean));
        }
        return p.ToLineProtocol();
    }

    static string Filter(Dictionary<string, object> bind, IReadOnlyList<string>? stations, IReadOnlyList<string>? parameters) =>
        (stations is null ? "" : " AND " + InfluxQl.AnyOf(bind, "station", "s", stations)) +
        (parameters is null ? "" : " AND " + InfluxQl.AnyOf(bind, "parameter", "p", parameters));

    /// <summary>The station's hourly value of one hour, as stored in <c>stat</c>.</summary>
    readonly record struct StationHour(double Avg, double Min, double Max, string Flag);

    async Task<Dictionary<(string Station, string Parameter, DateTimeOffset Hour), HourFigures>> ComputeAsync(IReadOnlyList<string>? stations, IReadOnlyList<string>? parameters,
        DateTimeOffset from, DateTimeOffset to, CancellationToken ct)
    {
        var (stationHours, stationMinutes) = await StatisticsAsync(stations, parameters, from, to, ct);
        var fromMinutes = await MinuteHoursAsync(stations, parameters, from, to, stationMinutes, ct);

        var result = new Dictionary<(string, string, DateTimeOffset), HourFigures>();
        foreach (var key in fromMinutes.Keys.Union(stationHours.Keys))
        {
            var minutes = fromMinutes.TryGetValue(key, out var m) ? m : HourFigures.None;
            result[key] = stationHours.TryGetValue(key, out var station) ? Choose(key.Parameter, minutes, station) : minutes;
        }
        return result;
    }

    /// <summary><see cref="ComputeAsync"/> for the dirty hours only, with the minutes of recently computed hours
    /// taken from memory (<see cref="RecentHours"/>): InfluxDB is asked for the minutes of hours not kept (whole) and
    /// for the changed minutes of kept ones, over one span [earliest, latest) for the stations and parameters that
    /// need it. The figures are taken from the minutes in time order, as by <see cref="MinuteHoursAsync"/>: the same
    /// figures (RecentHoursTests compares both after every batch). A failure forgets the hours (their kept minutes may
    /// be half updated): the retry reads them whole.</summary>
    async Task<Dictionary<(string Station, string Parameter, DateTimeOffset Hour), HourFigures>> ComputeRecentAsync(
        IReadOnlyCollection<(string StationId, string Parameter, DateTimeOffset Hour)> dirty, IReadOnlyList<string> stations,
        IReadOnlyList<string> parameters, DateTimeOffset from, DateTimeOffset to, CancellationToken ct)
    {
        var (whole, changed, unchanged, generation) = _recent.Take(dirty);
        try
        {
            var (stationHours, stationMinutes) = await StatisticsAsync(stations, parameters, from, to, ct);
            var fresh = new Dictionary<(string Station, string Parameter, DateTimeOffset Hour), double[]>(); // hours read whole that have readings
            long spanFrom = long.MaxValue, spanTo = long.MinValue;
            foreach (var k in whole)
                (spanFrom, spanTo) = (Math.Min(spanFrom, k.Hour.ToUnixTimeMilliseconds()), Math.Max(spanTo, k.Hour.AddHours(1).ToUnixTimeMilliseconds()));
            foreach (var (_, (f, t, _)) in changed) (spanFrom, spanTo) = (Math.Min(spanFrom, f), Math.Max(spanTo, t));
            if (spanFrom < spanTo)
            {
                // The span is read again in full: the changed hours' minutes in it are cleared first (a minute whose
                // readings all became invalid has no value any more).
                foreach (var (key, (_, _, minutes)) in changed)
                    for (var i = 0; i < RecentHours.MinutesPerHour; i++)
                        if (key.Hour.AddMinutes(i).ToUnixTimeMilliseconds() is var t && t >= spanFrom && t < spanTo) minutes[i] = double.NaN;
                void Set(string station, string parameter, long minute, double value)
                {
                    var key = (station, parameter, HourOf(DateTimeOffset.FromUnixTimeMilliseconds(minute)));
                    double[]? minutes;
                    if (whole.Contains(key))
                    {
                        if (!fresh.TryGetValue(key, out minutes)) fresh[key] = minutes = _recent.Empty();
                    }
                    else minutes = changed.TryGetValue(key, out var c) ? c.Minutes : null;
                    if (minutes is not null) minutes[(int)((minute - key.Item3.ToUnixTimeMilliseconds()) / 60_000)] = value;
                }
                var read = whole.Concat(changed.Keys).ToList();
                var (bindFrom, bindTo) = (DateTimeOffset.FromUnixTimeMilliseconds(spanFrom), DateTimeOffset.FromUnixTimeMilliseconds(spanTo));
                var values = read.Where(k => !IsDirection(k.Parameter)).ToList();
                if (values.Count > 0)
                    await MinuteMeansAsync([.. values.Select(k => k.Station).Distinct()], [.. values.Select(k => k.Parameter).Distinct()], bindFrom, bindTo, Set, ct);
                var directions = read.Where(k => IsDirection(k.Parameter)).ToList();
                if (directions.Count > 0)
                    await MinuteDirectionsAsync([.. directions.Select(k => k.Station).Distinct()], bindFrom, bindTo, Set, ct);
            }
            _recent.Put(fresh, whole, generation);

            var result = new Dictionary<(string, string, DateTimeOffset), HourFigures>();
            foreach (var key in dirty)
            {
                var kept = fresh.TryGetValue(key, out var f) ? f : changed.TryGetValue(key, out var c) ? c.Minutes
                    : unchanged.TryGetValue(key, out var u) ? u : RecentHours.None;
                var hour = new HourAccumulator(IsDirection(key.Parameter));
                for (var i = 0; i < RecentHours.MinutesPerHour; i++)
                {
                    // The station's own minute mean wins over the readings' mean of the same minute.
                    var value = stationMinutes.TryGetValue((key.StationId, key.Parameter, key.Hour.AddMinutes(i)), out var avg) ? avg : kept[i];
                    if (!double.IsNaN(value)) hour.Add(value);
                }
                var minutes = hour.Count > 0 ? hour.Figures() : HourFigures.None;
                if (stationHours.TryGetValue(key, out var station)) result[key] = Choose(key.Parameter, minutes, station);
                else if (hour.Count > 0) result[key] = minutes;
            }
            return result;
        }
        catch
        {
            _recent.Forget(dirty);
            throw;
        }
    }

    /// <summary>Ingestion:HourlyPrecedence between the minutes and the station's own hourly value.</summary>
    HourFigures Choose(string parameter, HourFigures minutes, StationHour station)
    {
        var stationValid = DataFlags.IsValid(station.Flag);
        var fromStation = !stationValid
            ? HourFigures.None with { Source = SourceStation }
            : IsDirection(parameter)
                ? new HourFigures(StationHourMinutes, station.Avg, double.NaN, double.NaN, SourceStation)
                : new HourFigures(StationHourMinutes, station.Avg, double.IsNaN(station.Min) ? station.Avg : station.Min,
                    double.IsNaN(station.Max) ? station.Avg : station.Max, SourceStation);
        if (precedence == HourlyPrecedence.Station) return fromStation;
        if (IsValid(minutes) || !stationValid) return minutes;
        return fromStation;
    }

    /// <summary>The station's statistics in [from, to), one query: hourly values (period=hour with an avg, any flag)
    /// and valid minute means (period=minute, avg, flag N or S).</summary>
    async Task<(Dictionary<(string Station, string Parameter, DateTimeOffset Hour), StationHour> Hours,
        Dictionary<(string Station, string Parameter, DateTimeOffset Minute), double> Minutes)> StatisticsAsync(IReadOnlyList<string>? stations,
        IReadOnlyList<string>? parameters, DateTimeOffset from, DateTimeOffset to, CancellationToken ct)
    {
        var bind = new Dictionary<string, object> { ["from"] = ChinaTime.Utc(from), ["to"] = ChinaTime.Utc(to), ["hour"] = "hour", ["minute"] = "minute" };
        var period = StatisticSchema.PeriodTag;
        var q = $"SELECT \"avg\", \"min\", \"max\", \"flag\" FROM \"{StatisticSchema.Measurement}\" WHERE (\"{period}\" = $hour OR \"{period}\" = $minute)" +
                $"{Filter(bind, stations, parameters)} AND time >= $from AND time < $to GROUP BY \"station\", \"parameter\", \"{period}\"";
        var hours = new Dictionary<(string, string, DateTimeOffset), StationHour>();
        var minutes = new Dictionary<(string, string, DateTimeOffset), double>();
        foreach (var series in await influx.QueryAsync(q, bind, ct, post: true))
        {
            var isHour = series.Tags[period] == "hour";
            foreach (var row in series.Rows())
            {
                var avg = Number(row, "avg");
                if (double.IsNaN(avg)) continue; // only -Min/-Max/-Cou: no mean
                var flag = row.TryGetValue("flag", out var f) && f.ValueKind == JsonValueKind.String ? f.GetString()! : DataFlags.Normal;
                var (station, parameter, time) = (series.Tags["station"], series.Tags["parameter"], TimeOf(row));
                if (isHour) hours[(station, parameter, HourOf(time))] = new StationHour(avg, Number(row, "min"), Number(row, "max"), flag);
                else if (DataFlags.IsValid(flag)) minutes[(station, parameter, MinuteOf(time))] = avg;
            }
        }
        return (hours, minutes);
    }

    /// <summary>Hours from minute data: minute means of valid readings, merged with the station's valid minute
    /// means (which win for their minute), then the hour's count, mean, min and max of its minute values.
    ///
    /// InfluxDB gives the minute means (<c>mean("value") ... GROUP BY time(1m)</c>); the hour is taken here from
    /// them, in time order: a sequential sum divided by the count, the smallest and the largest. That is what
    /// InfluxDB's own outer query over the minute means gives (<c>mean("m") FROM (subquery) GROUP BY time(1h)</c>:
    /// compared bit for bit on InfluxDB 1.6, several readings a minute and one, valid and invalid flags;
    /// HourlyRollupTests checks it on every run). The nested query cost InfluxDB about four times the minute query
    /// alone (2.0-2.4 s against 0.5 s for 200 stations' hour of minute data), and the rollup's queries share the
    /// database's CPU with the writes of the readings.</summary>
    async Task<Dictionary<(string Station, string Parameter, DateTimeOffset Hour), HourFigures>> MinuteHoursAsync(IReadOnlyList<string>? stations,
        IReadOnlyList<string>? parameters, DateTimeOffset from, DateTimeOffset to,
        Dictionary<(string Station, string Parameter, DateTimeOffset Minute), double> statMinutes, CancellationToken ct)
    {
        // The answers are streamed in chunks and each minute is taken as it comes (InfluxDB answers each series in
        // time order), so memory holds one figure per hour, not the minutes: a recompute may span many days of many
        // stations. Only hours that also have the station's minute means keep their minutes, to merge them.
        var merged = new Dictionary<(string Station, string Parameter, DateTimeOffset Hour), SortedDictionary<long, double>>();
        foreach (var ((station, parameter, minute), avg) in statMinutes)
        {
            var key = (station, parameter, HourOf(minute));
            if (!merged.TryGetValue(key, out var minutes)) merged[key] = minutes = [];
            minutes[minute.ToUnixTimeMilliseconds()] = avg; // the station's own minute mean wins: readings fill the rest
        }
        var hours = new Dictionary<(string Station, string Parameter, DateTimeOffset Hour), HourAccumulator>();
        void Add(string station, string parameter, long minute, double value)
        {
            var key = (station, parameter, HourOf(DateTimeOffset.FromUnixTimeMilliseconds(minute)));
            if (merged.TryGetValue(key, out var minutes)) minutes.TryAdd(minute, value);
            else
            {
                if (!hours.TryGetValue(key, out var hour)) hours[key] = hour = new HourAccumulator(IsDirection(parameter));
                hour.Add(value);
            }
        }

        if (parameters is null || parameters.Any(p => !IsDirection(p)))
            await MinuteMeansAsync(stations, parameters, from, to, Add, ct);
        if (parameters is null || parameters.Any(IsDirection))
            await MinuteDirectionsAsync(stations, from, to, Add, ct);

        var result = new Dictionary<(string, string, DateTimeOffset), HourFigures>();
        foreach (var (key, hour) in hours) result[key] = hour.Figures();
        foreach (var (key, minutes) in merged)
        {
            var hour = new HourAccumulator(IsDirection(key.Parameter));
            foreach (var value in minutes.Values) hour.Add(value);
            result[key] = hour.Figures();
        }
        return result;
    }

    /// <summary>The minute means of valid readings (not wind direction) in [from, to), handed on minute by minute in
    /// time order per series.</summary>
    async Task MinuteMeansAsync(IReadOnlyList<string>? stations, IReadOnlyList<string>? parameters, DateTimeOffset from, DateTimeOffset to,
        Action<string, string, long, double> minute, CancellationToken ct)
    {
        // Hours start at the same instants in UTC and in China time (a whole-hour offset): no tz() needed here.
        var bind = new Dictionary<string, object> { ["from"] = ChinaTime.Utc(from), ["to"] = ChinaTime.Utc(to), ["wd"] = Parameters.WindDirection };
        var filter = Filter(bind, stations, parameters);
        var q = $"SELECT mean(\"value\") AS \"m\" FROM \"{ReadingSchema.Measurement}\" WHERE {InfluxQl.ValidFlags}{filter} AND \"parameter\" != $wd " +
                "AND time >= $from AND time < $to GROUP BY time(1m), \"station\", \"parameter\" fill(none)";
        var rows = 0L;
        try
        {
            await influx.QueryNumbersAsync(q, bind, "m", (tags, time, mean) =>
            {
                rows++;
                minute(tags["station"], tags["parameter"], time, mean);
            }, ct);
        }
        finally
        {
            Interlocked.Add(ref _rowsRead, rows);
        }
    }

    /// <summary>The minutes' vector mean wind directions of valid readings in [from, to), handed on minute by minute
    /// in time order per station. The directions are read raw; a minute's mean is taken once its last reading has come
    /// (a minute may straddle two chunks of the answer). A minute whose directions cancel out has none.</summary>
    async Task MinuteDirectionsAsync(IReadOnlyList<string>? stations, DateTimeOffset from, DateTimeOffset to,
        Action<string, string, long, double> minute, CancellationToken ct)
    {
        var bind = new Dictionary<string, object> { ["from"] = ChinaTime.Utc(from), ["to"] = ChinaTime.Utc(to), ["wd"] = Parameters.WindDirection };
        var filter = Filter(bind, stations, null);
        var q = $"SELECT \"value\" FROM \"{ReadingSchema.Measurement}\" WHERE \"parameter\" = $wd AND {InfluxQl.ValidFlags}{filter} " +
                "AND time >= $from AND time < $to GROUP BY \"station\"";
        var open = new Dictionary<string, (long Minute, WindVector.Sum Directions)>();
        void Close(string station)
        {
            if (open.Remove(station, out var m) && m.Directions.Mean is { } direction) minute(station, Parameters.WindDirection, m.Minute, direction);
        }
        var rows = 0L;
        try
        {
            await influx.QueryNumbersAsync(q, bind, "value", (tags, time, degrees) =>
            {
                rows++;
                Direction(tags["station"], time, degrees);
            }, ct);
        }
        finally
        {
            Interlocked.Add(ref _rowsRead, rows);
        }
        foreach (var station in open.Keys.ToList()) Close(station);

        void Direction(string station, long time, double degrees)
        {
            var at = MinuteOf(DateTimeOffset.FromUnixTimeMilliseconds(time)).ToUnixTimeMilliseconds();
            if (open.TryGetValue(station, out var current) && current.Minute != at) Close(station);
            if (!open.TryGetValue(station, out current)) current = (at, default);
            current.Directions.Add(degrees);
            open[station] = current;
        }
    }

    /// <summary>An hour's minute values, taken one by one in time order: count, sum, min and max (the same sum, and
    /// so the same mean, as InfluxDB's mean() of them), or for wind direction the vector sum
    /// (<see cref="WindVector.Sum"/>, the same as <see cref="WindVector.Mean"/> of them in that order).</summary>
    sealed class HourAccumulator(bool direction)
    {
        int _count;
        double _sum, _min, _max;
        WindVector.Sum _directions;

        public int Count => _count;

        public void Add(double value)
        {
            if (direction) _directions.Add(value);
            else
            {
                _sum += value;
                if (_count == 0 || value < _min) _min = value;
                if (_count == 0 || value > _max) _max = value;
            }
            _count++;
        }

        public HourFigures Figures() => direction
            ? new HourFigures(_count, _directions.Mean ?? double.NaN, double.NaN, double.NaN, SourceMinutes)
            : new HourFigures(_count, _sum / _count, _min, _max, SourceMinutes);
    }

    static string Line(string station, string parameter, DateTimeOffset hour, HourFigures f)
    {
        var p = PointData.Measurement(Measurement).Tag(ReadingSchema.StationTag, station).Tag(ReadingSchema.ParameterTag, parameter)
            .Field("minutes", (long)f.Minutes).Field("source", f.Source).Timestamp(hour, ReadingSchema.Precision);
        if (f.Minutes > 0 && f.HasMean) p = p.Field("mean", f.Mean);
        if (f.Minutes > 0 && !double.IsNaN(f.Min)) p = p.Field("min", f.Min).Field("max", f.Max);
        return p.ToLineProtocol();
    }

    async Task WriteAsync(IReadOnlyList<string> lines, CancellationToken ct)
    {
        foreach (var chunk in lines.Chunk(5000))
        {
            using var content = new LineProtocolContent(chunk);
            using var response = await influx.Http.PostAsync(influx.WriteUrl, content, ct);
            if (!response.IsSuccessStatusCode)
                throw new InfluxException((int)response.StatusCode, InfluxConnection.ErrorOf(await response.Content.ReadAsStringAsync(ct)) ?? "rollup write failed");
        }
    }
}
