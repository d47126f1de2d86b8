using System.Collections.Concurrent;
using System.Collections.Frozen;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using EcoMonitor.Domain;
using EcoMonitor.Service.Stations;

namespace EcoMonitor.Service.Hosting;

/// <summary>Ingestion metrics on the meter "EcoMonitor.Ingestion" (System.Diagnostics.Metrics, created by the host's
/// IMeterFactory), exported on GET /metrics by OpenTelemetry's Prometheus exporter (see <see cref="Telemetry"/>).
///
/// The per-message counters stay plain Interlocked fields read by observable counters at scrape time: counting a
/// message costs what it cost before OpenTelemetry (no instrument call, no tag array). The histograms are recorded
/// once per InfluxDB write (latency, points) and once per stored value (its age), without tags. The last-reading time
/// of each station of the stations file is a slot in an array indexed through a frozen dictionary, updated once per
/// run of values of one station in a batch; the gauge walks the array only when scraped, so 10,000 stations cost
/// nothing per message.</summary>
public sealed class IngestionMetrics
{
    public const string MeterName = Telemetry.IngestionMeter;

    /// <summary>InfluxDB write latency buckets (seconds): a healthy local write takes milliseconds, a loaded or remote
    /// one tens to hundreds; Influx:Timeout is 10 s by default.</summary>
    static readonly double[] WriteSeconds = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

    /// <summary>Points per write: one message of one station is a few points, Influx:BatchSize (5000) the most.</summary>
    static readonly int[] BatchPoints = [1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

    /// <summary>Reading age at storage (seconds): live minute data arrives within seconds; gateways that buffer send
    /// minutes to hours late; backfills and hourly means of earlier hours land in the top buckets.</summary>
    static readonly double[] AgeSeconds = [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400, 604800];

    long _messages, _redelivered, _accepted, _written, _retries, _deadLetters, _acknowledged;
    readonly ConcurrentDictionary<string, long> _rejections = new(StringComparer.Ordinal);
    readonly Histogram<double> _writeDuration;
    readonly Histogram<int> _writePoints;
    readonly Histogram<double> _readingAge;
    readonly FrozenDictionary<string, int> _stationIndex;
    readonly string[] _stationIds;
    readonly long[] _lastReadingMs;

    public IngestionMetrics(IMeterFactory meters, StationRegistry stations)
    {
        var meter = meters.Create(MeterName);
        meter.CreateObservableCounter("ecomonitor.messages.received", () => Read(ref _messages), description: "MQTT messages (and HJ 212 TCP frames) received");
        meter.CreateObservableCounter("ecomonitor.messages.redelivered", () => Read(ref _redelivered), description: "MQTT messages received with the DUP flag");
        meter.CreateObservableCounter("ecomonitor.messages.acknowledged", () => Read(ref _acknowledged), description: "MQTT messages acknowledged");
        meter.CreateObservableCounter("ecomonitor.readings.accepted", () => Read(ref _accepted), description: "values that passed validation");
        meter.CreateObservableCounter("ecomonitor.points.written", () => Read(ref _written), description: "points InfluxDB accepted (values and rollup marks)");
        meter.CreateObservableCounter("ecomonitor.writes.retried", () => Read(ref _retries), description: "InfluxDB writes retried");
        meter.CreateObservableCounter("ecomonitor.deadletters.published", () => Read(ref _deadLetters), description: "dead-letter messages published");
        meter.CreateObservableCounter("ecomonitor.rejections", () =>
            _rejections.Select(r => new Measurement<long>(r.Value, new KeyValuePair<string, object?>("reason", r.Key))),
            description: "rejected messages, readings and values by reason");
        _writeDuration = meter.CreateHistogram("ecomonitor.influx.write.duration", unit: "s",
            description: "duration of the InfluxDB /write requests that InfluxDB accepted",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = WriteSeconds });
        _writePoints = meter.CreateHistogram("ecomonitor.influx.write.batch_size", unit: "{point}",
            description: "points per accepted InfluxDB write (values and rollup marks)",
            advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = BatchPoints });
        _readingAge = meter.CreateHistogram("ecomonitor.reading.age", unit: "s",
            description: "age of each stored value when InfluxDB accepted it: the write's time minus the reading's time (for a minute or hourly mean, minus the end of its period)",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = AgeSeconds });

        _stationIds = [.. stations.All.Select(s => s.Id).Order(StringComparer.Ordinal)];
        _stationIndex = _stationIds.Select((id, i) => KeyValuePair.Create(id, i)).ToFrozenDictionary(StringComparer.Ordinal);
        _lastReadingMs = new long[_stationIds.Length];
        Array.Fill(_lastReadingMs, long.MinValue);
        meter.CreateObservableGauge("ecomonitor.stations", () => _stationIds.Length, description: "stations in the stations file");
        meter.CreateObservableGauge("ecomonitor.station.last_reading_timestamp", LastReadings, unit: "s",
            description: "unix time of the newest reading (or end of the newest mean) stored for the station since the service started; stations of the stations file only, absent until their first");
        CreateTcpInstruments(meter);
    }

    static long Read(ref long field) => Interlocked.Read(ref field);

    public void MessageReceived(bool redelivered)
    {
        Interlocked.Increment(ref _messages);
        if (redelivered) Interlocked.Increment(ref _redelivered);
    }

    public void Acknowledged() => Interlocked.Increment(ref _acknowledged);
    public void ReadingsAccepted(int count) => Interlocked.Add(ref _accepted, count);
    public void PointsWritten(int count) => Interlocked.Add(ref _written, count);
    public void WriteRetried() => Interlocked.Increment(ref _retries);
    public void DeadLetterPublished() => Interlocked.Increment(ref _deadLetters);
    public void Rejected(string reason) => _rejections.AddOrUpdate(reason, 1, (_, n) => n + 1);

    /// <summary>InfluxDB accepted a /write request of <paramref name="points"/> points that took
    /// <paramref name="duration"/> (the request alone, not the retries before it).</summary>
    public void WriteAccepted(int points, TimeSpan duration)
    {
        _writeDuration.Record(duration.TotalSeconds);
        _writePoints.Record(points);
    }

    /// <summary>A batch is stored at <paramref name="at"/>: the age of each value, and the newest time per station.</summary>
    public void Stored(IReadOnlyList<Reading> readings, IReadOnlyList<Statistic> statistics, DateTimeOffset at)
    {
        var nowMs = at.ToUnixTimeMilliseconds();
        var (station, newest) = ((string?)null, long.MinValue);
        for (var i = 0; i < readings.Count; i++)
        {
            var r = readings[i];
            var ms = r.Timestamp.ToUnixTimeMilliseconds();
            _readingAge.Record((nowMs - ms) / 1000.0);
            if (station != r.StationId)
            {
                Seen(station, newest);
                (station, newest) = (r.StationId, ms);
            }
            else if (ms > newest) newest = ms;
        }
        for (var i = 0; i < statistics.Count; i++)
        {
            var s = statistics[i];
            var ms = s.Start.ToUnixTimeMilliseconds() + s.Period switch { StatisticPeriod.Minute => 60_000, StatisticPeriod.Hour => 3_600_000, _ => 86_400_000 };
            _readingAge.Record((nowMs - ms) / 1000.0);
            if (station != s.StationId)
            {
                Seen(station, newest);
                (station, newest) = (s.StationId, ms);
            }
            else if (ms > newest) newest = ms;
        }
        Seen(station, newest);
    }

    void Seen(string? station, long ms)
    {
        if (station is null || !_stationIndex.TryGetValue(station, out var i)) return;
        ref var slot = ref _lastReadingMs[i];
        for (var current = Volatile.Read(ref slot); ms > current; current = Volatile.Read(ref slot))
            if (Interlocked.CompareExchange(ref slot, ms, current) == current) return;
    }

    IEnumerable<Measurement<double>> LastReadings()
    {
        for (var i = 0; i < _stationIds.Length; i++)
            if (Volatile.Read(ref _lastReadingMs[i]) is var ms and not long.MinValue)
                yield return new(ms / 1000.0, new KeyValuePair<string, object?>("station", _stationIds[i]));
    }

    /// <summary>The newest reading time stored for a station of the stations file since start; null when none.</summary>
    public DateTimeOffset? LastReading(string station) =>
        _stationIndex.TryGetValue(station, out var i) && Volatile.Read(ref _lastReadingMs[i]) is var ms and not long.MinValue
            ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : null;

    public long Messages => Read(ref _messages);
    public long Redelivered => Read(ref _redelivered);
    public long Acknowledgements => Read(ref _acknowledged);
    public long Written => Read(ref _written);
    public long Retries => Read(ref _retries);
    public long DeadLetters => Read(ref _deadLetters);
    public long RejectionsFor(string reason) => _rejections.GetValueOrDefault(reason);

    // HJ 212 over TCP (Hj212TcpListener): connections and what closed them, coalesced runs of bad frames.

    /// <summary>Why the listener closed (or refused) a connection; "peer" is the datalogger closing it or the
    /// connection failing, "stalled" no answer going out for the idle timeout while the most are owed, "shutdown" the
    /// service stopping.</summary>
    public static readonly IReadOnlyList<string> TcpCloseReasons =
        ["peer", "idle", "frame_timeout", "slow_reader", "bad_input", "stalled", "per_address_limit", "max_connections", "shutdown"];

    long _tcpOpen, _tcpAccepted, _tcpBadRuns, _tcpBadFrames, _tcpBadBytes;
    readonly ConcurrentDictionary<string, long> _tcpClosed = new(TcpCloseReasons.Select(r => KeyValuePair.Create(r, 0L)), StringComparer.Ordinal);

    void CreateTcpInstruments(Meter meter)
    {
        meter.CreateObservableGauge("ecomonitor.tcp.connections.open", () => Read(ref _tcpOpen), description: "HJ 212 TCP connections open");
        meter.CreateObservableCounter("ecomonitor.tcp.connections.accepted", () => Read(ref _tcpAccepted), description: "HJ 212 TCP connections accepted (within the limits)");
        meter.CreateObservableCounter("ecomonitor.tcp.connections.closed", () =>
            _tcpClosed.Select(r => new Measurement<long>(r.Value, new KeyValuePair<string, object?>("reason", r.Key))),
            description: "HJ 212 TCP connections closed or refused, by reason");
        meter.CreateObservableCounter("ecomonitor.tcp.bad_runs", () => Read(ref _tcpBadRuns), description: "runs of consecutive bad HJ 212 frames on a connection, one dead letter each");
        meter.CreateObservableCounter("ecomonitor.tcp.bad_frames", () => Read(ref _tcpBadFrames), description: "bad HJ 212 frames received over TCP");
        meter.CreateObservableCounter("ecomonitor.tcp.bad_bytes", () => Read(ref _tcpBadBytes), description: "bytes of bad HJ 212 frames received over TCP");
    }

    public void TcpConnectionOpened()
    {
        Interlocked.Increment(ref _tcpAccepted);
        Interlocked.Increment(ref _tcpOpen);
    }

    /// <summary>An accepted connection ended (<paramref name="reason"/>: one of <see cref="TcpCloseReasons"/>).</summary>
    public void TcpConnectionClosed(string reason)
    {
        Interlocked.Decrement(ref _tcpOpen);
        _tcpClosed.AddOrUpdate(reason, 1, (_, n) => n + 1);
    }

    /// <summary>A connection refused at accept time (per_address_limit, max_connections): never open.</summary>
    public void TcpConnectionRefused(string reason) => _tcpClosed.AddOrUpdate(reason, 1, (_, n) => n + 1);

    public void TcpBadInput(int frames, long bytes)
    {
        Interlocked.Add(ref _tcpBadFrames, frames);
        Interlocked.Add(ref _tcpBadBytes, bytes);
    }

    public void TcpBadRun() => Interlocked.Increment(ref _tcpBadRuns);

    public long TcpOpen => Read(ref _tcpOpen);
    public long TcpAccepted => Read(ref _tcpAccepted);
    public long TcpClosed(string reason) => _tcpClosed.GetValueOrDefault(reason);
    public long TcpBadRuns => Read(ref _tcpBadRuns);
    public long TcpBadFrames => Read(ref _tcpBadFrames);
    public long TcpBadBytes => Read(ref _tcpBadBytes);
}
