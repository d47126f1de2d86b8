using System.Text.Json;
using EcoMonitor.Domain;
using EcoMonitor.Service.Hosting;
using Microsoft.Extensions.Options;

namespace EcoMonitor.Service.Storage;

/// <summary>Brings the hourly and daily rollups (<see cref="HourlyRollup"/>) up to date after readings are stored,
/// off the acknowledgement path: a batch is acknowledged once its readings (and its dirty marks) are in InfluxDB;
/// the hours it touched are recomputed here, later, from what is stored.
///
/// Two sources of work:
/// - in memory: the pipeline hands over each stored batch's hours (<see cref="Stored"/>); they are coalesced (an hour
///   touched by many batches is recomputed once per round) and bounded by Rollup:MaxPendingHours;
/// - durable: every batch writes, in the same /write request as its readings and after them, one
///   <c>rollup_dirty</c> mark per station (<see cref="RollupMarkSchema"/>), timed by the batch's sequence, which is
///   strictly increasing per writer (a new writer id at every start). After a round, this writer's marks up to the
///   round's last sequence are deleted: every hour they name has been recomputed after they were stored. At start,
///   every Rollup:RepairInterval, and whenever the in-memory bound overflowed, marks are read back oldest first and
///   recomputed: at start all marks of other writers (a crashed predecessor's), periodically those of other writers
///   older than Rollup:OrphanAfter (an instance that is gone), after an overflow all of them. Such a mark is deleted
///   only up to the newest time read from its writer: a writer's later marks are always later, so nothing written
///   meanwhile is deleted unread (no clock comparison between instances is involved).
///
/// A recompute reads the stored data and writes the hour's figures (idempotent): a repeated recompute, by this
/// instance or another, writes the same figures. With one instance, the minutes of the hours it computed are kept
/// (Rollup:RecentHours) and the next recompute of such an hour reads only the minutes whose readings changed: the
/// stage notes every stored batch's minutes (<see cref="HourlyRollup.Touched"/>) before it queues the batch's hours;
/// hours taken from the durable marks are read whole. Work per round is grouped into runs of consecutive dirty local days
/// (at most Rollup:MaxDaysPerQuery days and Rollup:MaxHoursPerQuery hours) and chunked by Rollup:StationsPerQuery
/// stations, so no query spans more than that, however many stations a batch touched and however much history is
/// stored, and none spans days on which its stations have nothing dirty. A failed recompute is retried with the writer's
/// backoff and recovery probe; acknowledgements never wait for it.
///
/// Freshness: the query API and the alert evaluator read the rollups, so they see a batch's hours once the round that
/// took them ends (ecomonitor_rollup_lag_seconds; at steady load well under a second, see the README). The
/// <c>silent</c> rule and raw-reading queries read readings and see a batch at its acknowledgement.</summary>
public sealed class RollupStage(HourlyRollup rollup, InfluxConnection influx, InfluxWriter writer, IOptions<RollupSettings> options,
    TimeProvider time, ILogger<RollupStage> log, IOptions<MqttSettings> mqtt,
    System.Diagnostics.Metrics.IMeterFactory meters) : BackgroundService
{
    readonly RollupSettings _settings = options.Value;

    /// <summary>With Mqtt:SharedGroup several instances roll up the same database at the same time: hour and day
    /// lines are verified after they are written (<see cref="HourlyRollup.UpdateHoursAsync"/>). One instance runs one round at
    /// a time and needs no such check.</summary>
    readonly bool _verify = !string.IsNullOrEmpty(mqtt.Value.SharedGroup);
    readonly InfluxSettings _influx = influx.Settings;
    readonly Lock _lock = new();
    HashSet<(string StationId, string Parameter, DateTimeOffset Hour)> _pending = [];
    List<(long Sequence, long StoredTicks)> _batches = [];
    bool _overflow, _busy, _repairing;
    long _lastSequence;
    readonly SemaphoreSlim _signal = new(0, 1);

    // Lag samples: the last LagWindow batches, seconds from their storage to the end of the round that took them; and
    // every sample in a histogram (/metrics; the window's quantiles are there too, see ServiceInstruments).
    public const int LagWindow = 1024;
    readonly System.Diagnostics.Metrics.Histogram<double> _lagHistogram = meters.Create(new System.Diagnostics.Metrics.MeterOptions(Telemetry.StorageMeter)).CreateHistogram<double>("ecomonitor.rollup.lag",
        unit: "s", description: "time from a batch's storage (just before its acknowledgement) to the end of the rollup round that took its hours",
        advice: new() { HistogramBucketBoundaries = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300] });
    readonly double[] _lags = new double[LagWindow];
    long _lagCount;
    long _recomputed, _failures, _repaired, _recomputes;

    /// <summary>This instance's writer id in the dirty marks: new at every start, so a restarted instance treats
    /// its predecessor's marks as another writer's.</summary>
    public string WriterId { get; } = Guid.NewGuid().ToString("N")[..16];

    /// <summary>Adds to <paramref name="lines"/> (a batch about to be written) the durable dirty marks of the hours it
    /// touches, under a reserved sequence: the marks' times, in epoch milliseconds, strictly increasing (at least the
    /// clock's milliseconds), one per mark. Returns the last mark's sequence, for <see cref="Stored"/> once the batch
    /// is written (0 when it touches no hour).</summary>
    public long AddMarks(IReadOnlyCollection<(string StationId, string Parameter, DateTimeOffset Hour)> touched, List<string> lines)
    {
        if (touched.Count == 0) return 0;
        var span = RollupMarkSchema.Span(touched);
        long sequence;
        lock (_lock)
        {
            sequence = Math.Max(time.GetUtcNow().ToUnixTimeMilliseconds(), _lastSequence + 1);
            _lastSequence = sequence + span - 1;
        }
        lines.AddRange(RollupMarkSchema.ToLineProtocol(WriterId, sequence, touched));
        return sequence + span - 1;
    }

    /// <summary>A batch whose marks end at <paramref name="sequence"/> is stored (these readings and statistics, and
    /// the marks): its hours are queued for the next round, its readings' minutes noted for the recompute
    /// (<see cref="HourlyRollup.Touched"/>). Never blocks; beyond Rollup:MaxPendingHours the hours are left to the
    /// durable marks.</summary>
    public void Stored(long sequence, IReadOnlyList<Reading> readings, IReadOnlyList<Statistic> statistics)
    {
        if (!_settings.Enabled) return;
        var hours = HourlyRollup.HoursOf(readings, statistics);
        if (hours.Count == 0) return;
        rollup.Touched(readings);
        lock (_lock)
        {
            if (_overflow || _pending.Count + hours.Count > _settings.MaxPendingHours)
            {
                if (!_overflow) log.LogWarning("More than {Max} dirty hours wait for the rollup (Rollup:MaxPendingHours); further hours are taken from the durable marks", _settings.MaxPendingHours);
                _overflow = true;
            }
            else
            {
                _pending.UnionWith(hours);
                _batches.Add((sequence, time.GetUtcNow().UtcTicks));
            }
        }
        if (_signal.CurrentCount == 0)
        {
            try { _signal.Release(); }
            catch (SemaphoreFullException) { }
        }
    }

    /// <summary>Dirty hours waiting (in memory; hours only in durable marks are not counted).</summary>
    public int PendingHours
    {
        get { lock (_lock) return _pending.Count; }
    }

    /// <summary>True when nothing waits and no round or repair runs.</summary>
    public bool IsIdle
    {
        get { lock (_lock) return _pending.Count == 0 && !_busy && !_repairing && !_overflow; }
    }

    /// <summary>Completes once the stage is idle: every batch stored so far is rolled up (tests and tools that
    /// read aggregates right after an acknowledgement).</summary>
    public async Task WhenIdleAsync(TimeSpan timeout)
    {
        var until = time.GetUtcNow() + timeout;
        while (!IsIdle)
        {
            if (time.GetUtcNow() > until) throw new TimeoutException($"the rollup stage still had {PendingHours} dirty hours after {timeout}");
            await Task.Delay(TimeSpan.FromMilliseconds(10), time);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken ct)
    {
        if (!_settings.Enabled)
        {
            log.LogWarning("Rollup:Enabled is false: readings are stored with dirty marks but not rolled up by this instance");
            return;
        }
        lock (_lock) _repairing = true;
        await RepairAsync(othersOnly: true, olderThan: null, ct); // a crashed predecessor's marks
        var nextRepair = time.GetUtcNow() + _settings.RepairInterval;
        while (!ct.IsCancellationRequested)
        {
            var wait = nextRepair - time.GetUtcNow();
            if (wait > TimeSpan.Zero)
            {
                try
                {
                    await _signal.WaitAsync(wait, ct);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
            if (time.GetUtcNow() >= nextRepair)
            {
                lock (_lock) _repairing = true;
                await RepairAsync(othersOnly: true, olderThan: _settings.OrphanAfter, ct);
                nextRepair = time.GetUtcNow() + _settings.RepairInterval;
            }
            await RoundAsync(ct);
        }
        // Stopping (after the ingestion worker drained: the stage is registered before it, so it stops after it):
        // one last round for what the last batches touched, bounded; whatever is left stays in the marks.
        using var drain = new CancellationTokenSource(DrainTimeout);
        await RoundAsync(drain.Token);
    }

    /// <summary>How long a stopping service gives the last round.</summary>
    static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(5);

    /// <summary>One round: takes every pending hour, recomputes them, records the lag, deletes this writer's marks
    /// up to the round's last sequence.</summary>
    async Task RoundAsync(CancellationToken ct)
    {
        HashSet<(string StationId, string Parameter, DateTimeOffset Hour)> hours;
        List<(long Sequence, long StoredTicks)> batches;
        bool overflow;
        lock (_lock)
        {
            if (_pending.Count == 0 && !_overflow) return;
            (hours, _pending) = (_pending, []);
            (batches, _batches) = (_batches, []);
            overflow = _overflow;
            _overflow = false;
            _busy = true;
        }
        try
        {
            // Hours dropped from memory are only in the marks: read them all before this writer's marks are deleted.
            // A repair that could not read and delete them all leaves this writer's marks in place for the next round.
            var keepOwnMarks = false;
            if (overflow) rollup.ForgetAll(); // the hours come back from the marks, read whole
            if (overflow && !await RepairAsync(othersOnly: false, olderThan: null, ct))
            {
                lock (_lock) _overflow = true;
                keepOwnMarks = true;
            }
            await RecomputeAsync(hours, ct);
            var now = time.GetUtcNow().UtcTicks;
            lock (_lock)
                foreach (var (_, stored) in batches)
                {
                    var lag = TimeSpan.FromTicks(now - stored).TotalSeconds;
                    _lags[_lagCount++ % LagWindow] = lag;
                    _lagHistogram.Record(lag);
                }
            if (batches.Count > 0 && !keepOwnMarks) await DeleteMarksAsync(WriterId, DateTimeOffset.FromUnixTimeMilliseconds(batches[^1].Sequence), inclusive: true, ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Stopping: the marks stay and the next start recomputes these hours.
        }
        finally
        {
            lock (_lock) _busy = false;
        }
    }

    /// <summary>Recomputes the hours in recomputes of consecutive dirty local days (<see cref="Plan"/>) and station
    /// chunks, each retried until it is done.</summary>
    async Task RecomputeAsync(IReadOnlyCollection<(string StationId, string Parameter, DateTimeOffset Hour)> hours, CancellationToken ct)
    {
        var work = new Stack<List<(string StationId, string Parameter, DateTimeOffset Hour)>>(
            Plan(hours, _settings.StationsPerQuery, _settings.MaxDaysPerQuery, _settings.MaxHoursPerQuery).Reverse());
        while (work.TryPop(out var keys))
        {
            var stationCount = keys.Select(k => k.StationId).Distinct(StringComparer.Ordinal).Count();
            var delay = _influx.RetryInitialDelay;
            while (true)
            {
                try
                {
                    Interlocked.Increment(ref _recomputes);
                    await rollup.UpdateHoursAsync(keys, ct, _verify);
                    Interlocked.Add(ref _recomputed, keys.Count);
                    break;
                }
                catch (InfluxException e) when (e.Status == 400 && !ct.IsCancellationRequested)
                {
                    // Refused for good (e.g. a day line beyond the retention policy): retrying would hold every
                    // later rollup. InfluxDB 1.x keeps the points of a partial write that it could take.
                    Interlocked.Increment(ref _failures);
                    log.LogError("Rollup of {Count} hours of {Stations} station(s) refused by InfluxDB ({Reason}); skipped", keys.Count, stationCount, e.Message);
                    break;
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested && Split(keys) is { } halves)
                {
                    // Queries taking longer than Influx:Timeout (a loaded InfluxDB, days with much data) would time
                    // out again at every retry: the recompute is split in two, its days first, then its stations,
                    // down to one day of one station.
                    Interlocked.Increment(ref _failures);
                    log.LogWarning("Rollup of {Count} hours of {Stations} station(s) got no answer within {Timeout} (Influx:Timeout); split in two", keys.Count, stationCount, _influx.Timeout);
                    work.Push(halves.Second);
                    work.Push(halves.First);
                    break;
                }
                catch (Exception e) when (!ct.IsCancellationRequested)
                {
                    Interlocked.Increment(ref _failures);
                    log.LogWarning("Rollup of {Count} hours of {Stations} station(s) failed ({Reason}); retrying in {Delay}", keys.Count, stationCount, e.Message, delay);
                    await writer.WaitBeforeRetryAsync(delay, unreachable: e is not InfluxException { Status: not (502 or 503 or 504) }, ct);
                    delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _influx.RetryMaxDelay.Ticks));
                    // The database may have been dropped meanwhile: the writer puts it back.
                    if (e is InfluxException { Message: var m } && m.Contains("database not found", StringComparison.OrdinalIgnoreCase))
                        await writer.EnsureDatabaseAsync(ct);
                }
            }
        }
    }

    /// <summary>The recomputes for these hours, oldest days first. The dirty local days are cut into runs of
    /// consecutive days (at most <paramref name="maxDays"/>); a run's stations into chunks of
    /// <paramref name="stationsPerQuery"/>; a chunk's hours again into runs of days consecutive for those stations
    /// and holding at most <paramref name="maxHours"/> hours (a single day is never cut). A recompute's queries
    /// span [its first hour, its last hour + 1): so none spans a day on which its stations have nothing dirty (live
    /// load on today and a late reading weeks ago are two recomputes), and with <paramref name="maxDays"/> = 1 the
    /// recomputes are exactly one local day of one station chunk each. Figures do not depend on the cut: every
    /// hour and day is computed from the same stored data whichever recompute takes it (<see cref="HourlyRollup.UpdateHoursAsync"/>
    /// writes only the hours and days it was given).</summary>
    internal static IEnumerable<List<(string StationId, string Parameter, DateTimeOffset Hour)>> Plan(
        IEnumerable<(string StationId, string Parameter, DateTimeOffset Hour)> hours, int stationsPerQuery, int maxDays, int maxHours)
    {
        var days = hours.GroupBy(h => ChinaTime.DayStartOf(h.Hour)).OrderBy(g => g.Key).ToList();
        foreach (var run in Runs(days, maxDays, int.MaxValue))
        {
            var stations = run.SelectMany(d => d).GroupBy(h => h.StationId, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal);
            foreach (var chunk in stations.Chunk(stationsPerQuery))
            {
                var chunkDays = chunk.SelectMany(g => g).GroupBy(h => ChinaTime.DayStartOf(h.Hour)).OrderBy(g => g.Key).ToList();
                foreach (var part in Runs(chunkDays, maxDays, maxHours))
                    yield return [.. part.SelectMany(d => d)];
            }
        }
    }

    /// <summary>Ordered days cut into runs of consecutive local days, at most <paramref name="maxDays"/> days and, for
    /// more than one day, at most <paramref name="maxHours"/> hours.</summary>
    static IEnumerable<List<IGrouping<DateTimeOffset, (string StationId, string Parameter, DateTimeOffset Hour)>>> Runs(
        List<IGrouping<DateTimeOffset, (string StationId, string Parameter, DateTimeOffset Hour)>> days, int maxDays, int maxHours)
    {
        var run = new List<IGrouping<DateTimeOffset, (string StationId, string Parameter, DateTimeOffset Hour)>>();
        var count = 0;
        foreach (var day in days)
        {
            var size = day.Count();
            if (run.Count > 0 && (run.Count >= maxDays || ChinaTime.DayStartOf(run[^1].Key.AddHours(36)) != day.Key || count + size > maxHours))
            {
                yield return run;
                (run, count) = ([], 0);
            }
            run.Add(day);
            count += size;
        }
        if (run.Count > 0) yield return run;
    }

    /// <summary>A timed-out recompute in two: its days in halves when it spans several, else its stations; null
    /// for one day of one station.</summary>
    static (List<(string StationId, string Parameter, DateTimeOffset Hour)> First, List<(string StationId, string Parameter, DateTimeOffset Hour)> Second)? Split(
        List<(string StationId, string Parameter, DateTimeOffset Hour)> keys)
    {
        var days = keys.Select(k => ChinaTime.DayStartOf(k.Hour)).Distinct().Order().ToList();
        if (days.Count > 1)
        {
            var middle = days[days.Count / 2];
            return ([.. keys.Where(k => ChinaTime.DayStartOf(k.Hour) < middle)], [.. keys.Where(k => ChinaTime.DayStartOf(k.Hour) >= middle)]);
        }
        var stations = keys.Select(k => k.StationId).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        if (stations.Count < 2) return null;
        var firstHalf = stations[..(stations.Count / 2)].ToHashSet(StringComparer.Ordinal);
        return ([.. keys.Where(k => firstHalf.Contains(k.StationId))], [.. keys.Where(k => !firstHalf.Contains(k.StationId))]);
    }

    const int MarksPerRead = 20_000;

    /// <summary>Reads marks oldest first (<paramref name="othersOnly"/>: of other writers; <paramref name="olderThan"/>:
    /// written at least that long ago), recomputes their hours and deletes them, a page at a time. Failures are logged
    /// and left for the next repair; the marks stay until their hours are done. True when every mark was read,
    /// rolled up and deleted.</summary>
    async Task<bool> RepairAsync(bool othersOnly, TimeSpan? olderThan, CancellationToken ct)
    {
        var limit = MarksPerRead;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                var cutoff = olderThan is { } age ? time.GetUtcNow() - age : time.GetUtcNow().AddYears(100);
                var bind = new Dictionary<string, object> { ["cutoff"] = ChinaTime.Utc(cutoff), ["me"] = WriterId };
                var q = $"SELECT \"{RollupMarkSchema.KeysField}\", \"{RollupMarkSchema.WriterTag}\", \"{ReadingSchema.StationTag}\" FROM \"{RollupMarkSchema.Measurement}\" " +
                        $"WHERE time <= $cutoff{(othersOnly ? $" AND \"{RollupMarkSchema.WriterTag}\" != $me" : "")} ORDER BY time ASC LIMIT {limit}";
                var hours = new HashSet<(string StationId, string Parameter, DateTimeOffset Hour)>();
                var newest = new Dictionary<string, long>(StringComparer.Ordinal);
                long first = long.MaxValue, last = long.MinValue;
                var rows = 0;
                foreach (var series in await influx.QueryAsync(q, bind, ct, post: true))
                    foreach (var row in series.Rows())
                    {
                        rows++;
                        var t = row["time"].GetInt64();
                        (first, last) = (Math.Min(first, t), Math.Max(last, t));
                        var w = Text(row, RollupMarkSchema.WriterTag);
                        newest[w] = Math.Max(newest.GetValueOrDefault(w, long.MinValue), t);
                        hours.UnionWith(RollupMarkSchema.Parse(Text(row, ReadingSchema.StationTag), Text(row, RollupMarkSchema.KeysField)));
                    }
                if (rows == 0) return true;
                var full = rows >= limit;
                if (full && first == last)
                {
                    limit *= 2; // one millisecond holds more marks than a page: read a larger page
                    continue;
                }
                rollup.Forget(hours); // changed by another writer, or by batches whose minutes were not noted here
                await RecomputeAsync(hours, ct);
                Interlocked.Add(ref _repaired, hours.Count);
                log.LogInformation("Rolled up {Hours} hour(s) from {Marks} durable mark(s) of {Writers}", hours.Count, rows, string.Join(", ", newest.Keys));
                // Every mark older than the page's last time was read; at that time itself only if the page was not full.
                var deleted = true;
                foreach (var (w, t) in newest)
                    deleted &= await DeleteMarksAsync(w, DateTimeOffset.FromUnixTimeMilliseconds(t), inclusive: !full || t < last, ct);
                if (!deleted) return false; // marks that cannot be deleted would be read again: next repair
                if (!full) return true;
            }
            return false;
        }
        catch (InfluxException e) when (e.Message.Contains("database not found", StringComparison.OrdinalIgnoreCase))
        {
            return true; // nothing stored yet: no marks either
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            Interlocked.Increment(ref _failures);
            log.LogWarning("Reading the rollup's dirty marks failed ({Reason}); trying again in {Interval} (Rollup:RepairInterval)", e.Message, _settings.RepairInterval);
            return false;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
        finally
        {
            lock (_lock) _repairing = false;
        }
    }

    static string Text(IReadOnlyDictionary<string, JsonElement> row, string column) =>
        row.TryGetValue(column, out var e) && e.ValueKind == JsonValueKind.String ? e.GetString()! : "";

    /// <summary>Deletes the writer's marks up to <paramref name="upTo"/>. A failure only leaves marks behind: their
    /// hours are recomputed once more by a later repair (harmless), so it is logged, not retried.</summary>
    async Task<bool> DeleteMarksAsync(string markWriter, DateTimeOffset upTo, bool inclusive, CancellationToken ct)
    {
        try
        {
            var bind = new Dictionary<string, object> { ["w"] = markWriter, ["t"] = ChinaTime.Utc(upTo) };
            await influx.QueryAsync($"DELETE FROM \"{RollupMarkSchema.Measurement}\" WHERE \"{RollupMarkSchema.WriterTag}\" = $w AND time {(inclusive ? "<=" : "<")} $t",
                bind, ct, post: true);
            return true;
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            Interlocked.Increment(ref _failures);
            log.LogWarning("Deleting rolled-up dirty marks failed ({Reason}); their hours are recomputed again later", e.Message);
            return false;
        }
    }

    /// <summary>The lag quantile over the last batches (seconds); NaN before the first.</summary>
    public double LagQuantile(double q)
    {
        double[] window;
        lock (_lock)
        {
            var n = (int)Math.Min(_lagCount, LagWindow);
            if (n == 0) return double.NaN;
            window = _lags[..n];
        }
        Array.Sort(window);
        return window[Math.Clamp((int)Math.Ceiling(q * window.Length) - 1, 0, window.Length - 1)];
    }

    /// <summary>Seconds since the oldest batch still waiting in memory was stored (0 when none waits).</summary>
    public double OldestPendingSeconds
    {
        get
        {
            lock (_lock)
                return _batches.Count == 0 ? 0 : TimeSpan.FromTicks(time.GetUtcNow().UtcTicks - _batches[0].StoredTicks).TotalSeconds;
        }
    }

    public long HoursRecomputed => Interlocked.Read(ref _recomputed);
    /// <summary>Recompute calls made (each a few queries and writes): how well a backlog was grouped.</summary>
    public long Recomputes => Interlocked.Read(ref _recomputes);
    public long HoursRepaired => Interlocked.Read(ref _repaired);
    /// <summary>Minute rows the recomputes read (<see cref="HourlyRollup.MinuteRowsRead"/>).</summary>
    public long MinuteRowsRead => rollup.MinuteRowsRead;
    /// <summary>Hours whose minutes are kept in memory (Rollup:RecentHours).</summary>
    public int RecentHoursKept => rollup.RecentHoursKept;
    public long Failures => Interlocked.Read(ref _failures);

    public override void Dispose()
    {
        _signal.Dispose();
        base.Dispose();
    }
}
