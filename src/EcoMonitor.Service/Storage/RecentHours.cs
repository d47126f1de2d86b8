using EcoMonitor.Domain;

namespace EcoMonitor.Service.Storage;

/// <summary>The minute values of recently rolled-up hours (readings' minute means; for wind direction the minutes'
/// vector means), kept so that the next recompute of such an hour reads from InfluxDB only the minutes whose readings
/// changed since (<see cref="HourlyRollup"/>): a round's work then follows the new data, not what the hour already
/// holds. Only hours with readings are kept, at most Rollup:RecentHours of them (about 0.5 KB each); beyond that the
/// hours kept first are dropped and read whole when touched again.
///
/// How the kept minutes stay what is stored: every stored reading's minute is noted (<see cref="Touched"/>) before
/// its hour is handed to the rollup stage, and a recompute takes the noted minutes of its hours (<see cref="Take"/>)
/// before it queries: a minute noted later is read by the next recompute. Hours recomputed from the durable marks
/// (a crash, an overflow of the stage's memory, another writer) are forgotten first and read whole, and a rebuild
/// forgets everything. Readings written around the service (straight into InfluxDB) need RebuildRollups, as
/// before. Off with Mqtt:SharedGroup: other instances store readings of the same hours.</summary>
internal sealed class RecentHours(int capacity)
{
    public const int MinutesPerHour = 60;
    const long MinuteMs = 60_000, HourMs = 3_600_000;

    readonly Lock _lock = new();
    readonly Dictionary<(string Station, string Parameter, DateTimeOffset Hour), double[]> _hours = [];
    readonly Dictionary<(string Station, string Parameter, DateTimeOffset Hour), (long From, long To)> _touched = [];

    /// <summary>Hours a recompute is reading whole (from <see cref="Take"/> to <see cref="Put"/>): minutes stored
    /// meanwhile are noted for them too, since the read may have missed them.</summary>
    readonly HashSet<(string Station, string Parameter, DateTimeOffset Hour)> _reading = [];

    /// <summary>Kept hours in the order they were first kept: the first ones are dropped beyond the capacity. May hold
    /// hours forgotten since (skipped when dropping; compacted when it grows to twice the capacity).</summary>
    Queue<(string Station, string Parameter, DateTimeOffset Hour)> _order = new();

    /// <summary>Counts <see cref="Clear"/>s: hours read before a clear are not kept after it.</summary>
    long _generation;

    /// <summary>An hour without minute values (not kept: nothing to save reading it again).</summary>
    public static readonly double[] None = Fresh();

    /// <summary>Arrays of dropped hours, for the next hours read whole: kept hours live long enough to reach the
    /// GC's oldest generation, and dropping them at the rate of a fast feed left that generation full of garbage (RSS
    /// +100 MiB in the bench's soak). Only the stage's rounds, one at a time, take and return them: an array dropped
    /// by a round is not handed out again before the next one.</summary>
    readonly Stack<double[]> _free = new();

    public bool Enabled => capacity > 0;

    /// <summary>Hours kept now.</summary>
    public int Count
    {
        get { lock (_lock) return _hours.Count; }
    }

    static double[] Fresh()
    {
        var minutes = new double[MinutesPerHour];
        Array.Fill(minutes, double.NaN);
        return minutes;
    }

    /// <summary>An hour's minutes, all NaN (none), for an hour read whole: an array of a dropped hour when there is
    /// one.</summary>
    public double[] Empty()
    {
        double[]? minutes;
        lock (_lock) _free.TryPop(out minutes);
        if (minutes is null) return Fresh();
        Array.Fill(minutes, double.NaN);
        return minutes;
    }

    static long Floor(long ms, long unit) => ms - (((ms % unit) + unit) % unit);

    /// <summary>Notes the minutes of these stored readings (call before their hours are handed to the stage), for the
    /// hours kept or being read whole: an hour neither kept nor being read is read whole by its next recompute, after
    /// these readings were stored.</summary>
    public void Touched(IEnumerable<Reading> readings)
    {
        if (!Enabled) return;
        lock (_lock)
            foreach (var r in readings)
            {
                var minute = Floor(r.Timestamp.ToUnixTimeMilliseconds(), MinuteMs);
                var key = (r.StationId, r.Parameter, DateTimeOffset.FromUnixTimeMilliseconds(Floor(minute, HourMs)));
                if (!_hours.ContainsKey(key) && !_reading.Contains(key)) continue;
                _touched[key] = _touched.TryGetValue(key, out var span)
                    ? (Math.Min(span.From, minute), Math.Max(span.To, minute + MinuteMs))
                    : (minute, minute + MinuteMs);
            }
    }

    /// <summary>What a recompute of these hours works from, taking their noted minutes: hours not kept (to be read
    /// whole), kept hours with changed minutes (their minutes and the span [From, To) of epoch milliseconds to read
    /// again), kept hours whose readings did not change (their minutes). The arrays are the kept ones: the recompute
    /// updates them in place.</summary>
    public (HashSet<(string Station, string Parameter, DateTimeOffset Hour)> Whole,
        Dictionary<(string Station, string Parameter, DateTimeOffset Hour), (long From, long To, double[] Minutes)> Changed,
        Dictionary<(string Station, string Parameter, DateTimeOffset Hour), double[]> Unchanged, long Generation) Take(
        IEnumerable<(string Station, string Parameter, DateTimeOffset Hour)> hours)
    {
        var whole = new HashSet<(string, string, DateTimeOffset)>();
        var changed = new Dictionary<(string, string, DateTimeOffset), (long, long, double[])>();
        var unchanged = new Dictionary<(string, string, DateTimeOffset), double[]>();
        lock (_lock)
        {
            foreach (var key in hours)
            {
                var touched = _touched.Remove(key, out var span);
                if (!_hours.TryGetValue(key, out var minutes))
                {
                    whole.Add(key);
                    _reading.Add(key);
                }
                else if (touched) changed[key] = (span.From, span.To, minutes);
                else unchanged[key] = minutes;
            }
            return (whole, changed, unchanged, _generation);
        }
    }

    /// <summary>Keeps hours read whole (those of <paramref name="read"/> with readings) since <see cref="Take"/> gave
    /// <paramref name="generation"/> (none if everything was forgotten meanwhile: they may have been read before data
    /// written around the service); the hours of <paramref name="read"/> are no longer being read. Beyond the capacity
    /// the hours kept first are dropped, down to nine tenths of it.</summary>
    public void Put(IEnumerable<KeyValuePair<(string Station, string Parameter, DateTimeOffset Hour), double[]>> hours,
        IEnumerable<(string Station, string Parameter, DateTimeOffset Hour)> read, long generation)
    {
        if (!Enabled) return;
        lock (_lock)
        {
            _reading.ExceptWith(read);
            if (generation != _generation) return;
            foreach (var (key, minutes) in hours)
                if (_hours.TryAdd(key, minutes)) _order.Enqueue(key);
                else _hours[key] = minutes;
            if (_hours.Count > capacity)
                while (_hours.Count > capacity - capacity / 10 && _order.TryDequeue(out var oldest))
                    if (_hours.Remove(oldest, out var dropped) && _free.Count < capacity / 5) _free.Push(dropped);
            if (_order.Count > 2 * Math.Max(capacity, _hours.Count))
                _order = new Queue<(string, string, DateTimeOffset)>(_order.Where(_hours.ContainsKey).Distinct());
        }
    }

    /// <summary>These hours' stored readings may have changed unnoted: they are read whole next time.</summary>
    public void Forget(IEnumerable<(string Station, string Parameter, DateTimeOffset Hour)> hours)
    {
        lock (_lock)
            foreach (var key in hours)
            {
                _hours.Remove(key);
                _touched.Remove(key);
                _reading.Remove(key);
            }
    }

    /// <summary>Forgets every hour (a rebuild: data may have been written around the service).</summary>
    public void Clear()
    {
        lock (_lock)
        {
            _hours.Clear(); // not to _free: a round may still be using them
            _touched.Clear();
            _reading.Clear();
            _order.Clear();
            _generation++;
        }
    }
}
