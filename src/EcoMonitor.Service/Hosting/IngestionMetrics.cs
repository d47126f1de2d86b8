using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Text;

namespace EcoMonitor.Service.Hosting;

/// <summary>Ingestion counters, exported through System.Diagnostics.Metrics (meter "EcoMonitor.Ingestion") and as
/// Prometheus text on GET /metrics.</summary>
public sealed class IngestionMetrics : IDisposable
{
    public const string MeterName = "EcoMonitor.Ingestion";

    long _messages, _redelivered, _accepted, _written, _retries, _deadLetters, _acknowledged;
    readonly ConcurrentDictionary<string, long> _rejections = new(StringComparer.Ordinal);
    readonly Meter _meter = new(MeterName);

    public IngestionMetrics()
    {
        _meter.CreateObservableCounter("ecomonitor.messages.received", () => Read(ref _messages), description: "MQTT messages received");
        _meter.CreateObservableCounter("ecomonitor.messages.redelivered", () => Read(ref _redelivered), description: "MQTT messages received with the DUP flag");
        _meter.CreateObservableCounter("ecomonitor.messages.acknowledged", () => Read(ref _acknowledged), description: "MQTT messages acknowledged");
        _meter.CreateObservableCounter("ecomonitor.readings.accepted", () => Read(ref _accepted), description: "values that passed validation");
        _meter.CreateObservableCounter("ecomonitor.points.written", () => Read(ref _written), description: "points InfluxDB accepted");
        _meter.CreateObservableCounter("ecomonitor.writes.retried", () => Read(ref _retries), description: "InfluxDB writes retried");
        _meter.CreateObservableCounter("ecomonitor.deadletters.published", () => Read(ref _deadLetters), description: "dead-letter messages published");
        _meter.CreateObservableCounter("ecomonitor.rejections", () =>
            _rejections.Select(r => new Measurement<long>(r.Value, new KeyValuePair<string, object?>("reason", r.Key))),
            description: "rejected messages, readings and values by reason");
        CreateTcpInstruments();
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

    public long Messages => Read(ref _messages);
    public long Redelivered => Read(ref _redelivered);
    public long Acknowledgements => Read(ref _acknowledged);
    public long Written => Read(ref _written);
    public long Retries => Read(ref _retries);
    public long DeadLetters => Read(ref _deadLetters);
    public long RejectionsFor(string reason) => _rejections.GetValueOrDefault(reason);

    public string ToPrometheusText()
    {
        var sb = new StringBuilder();
        void Counter(string name, string help, long value)
        {
            sb.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n');
            sb.Append("# TYPE ").Append(name).Append(" counter\n");
            sb.Append(name).Append(' ').Append(value).Append('\n');
        }
        Counter("ecomonitor_messages_received_total", "MQTT messages received", Messages);
        Counter("ecomonitor_messages_redelivered_total", "MQTT messages received with the DUP flag", Redelivered);
        Counter("ecomonitor_messages_acknowledged_total", "MQTT messages acknowledged", Acknowledgements);
        Counter("ecomonitor_readings_accepted_total", "values that passed validation", Read(ref _accepted));
        Counter("ecomonitor_points_written_total", "points InfluxDB accepted", Written);
        Counter("ecomonitor_writes_retried_total", "InfluxDB writes retried", Retries);
        Counter("ecomonitor_deadletters_published_total", "dead-letter messages published", DeadLetters);
        sb.Append("# HELP ecomonitor_rejections_total rejected messages, readings and values by reason\n");
        sb.Append("# TYPE ecomonitor_rejections_total counter\n");
        foreach (var (reason, n) in _rejections.OrderBy(r => r.Key, StringComparer.Ordinal))
            sb.Append("ecomonitor_rejections_total{reason=\"").Append(reason).Append("\"} ").Append(n).Append('\n');
        AppendTcp(sb);
        return sb.ToString();
    }

    public void Dispose() => _meter.Dispose();

    // HJ 212 over TCP (Hj212TcpListener): connections and what closed them, coalesced runs of bad frames.

    /// <summary>Why the listener closed (or refused) a connection; "peer" is the datalogger closing it or the
    /// connection failing, "stalled" no answer going out for the idle timeout while the most are owed, "shutdown" the
    /// service stopping.</summary>
    public static readonly IReadOnlyList<string> TcpCloseReasons =
        ["peer", "idle", "frame_timeout", "slow_reader", "bad_input", "stalled", "per_address_limit", "max_connections", "shutdown"];

    long _tcpOpen, _tcpAccepted, _tcpBadRuns, _tcpBadFrames, _tcpBadBytes;
    readonly ConcurrentDictionary<string, long> _tcpClosed = new(TcpCloseReasons.Select(r => KeyValuePair.Create(r, 0L)), StringComparer.Ordinal);

    void CreateTcpInstruments()
    {
        _meter.CreateObservableGauge("ecomonitor.tcp.connections.open", () => Read(ref _tcpOpen), description: "HJ 212 TCP connections open");
        _meter.CreateObservableCounter("ecomonitor.tcp.connections.accepted", () => Read(ref _tcpAccepted), description: "HJ 212 TCP connections accepted (within the limits)");
        _meter.CreateObservableCounter("ecomonitor.tcp.connections.closed", () =>
            _tcpClosed.Select(r => new Measurement<long>(r.Value, new KeyValuePair<string, object?>("reason", r.Key))),
            description: "HJ 212 TCP connections closed or refused, by reason");
        _meter.CreateObservableCounter("ecomonitor.tcp.bad_runs", () => Read(ref _tcpBadRuns), description: "runs of consecutive bad HJ 212 frames on a connection, one dead letter each");
        _meter.CreateObservableCounter("ecomonitor.tcp.bad_frames", () => Read(ref _tcpBadFrames), description: "bad HJ 212 frames received over TCP");
        _meter.CreateObservableCounter("ecomonitor.tcp.bad_bytes", () => Read(ref _tcpBadBytes), description: "bytes of bad HJ 212 frames received over TCP");
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

    void AppendTcp(StringBuilder sb)
    {
        sb.Append("# HELP ecomonitor_tcp_connections_open HJ 212 TCP connections open\n");
        sb.Append("# TYPE ecomonitor_tcp_connections_open gauge\n");
        sb.Append("ecomonitor_tcp_connections_open ").Append(TcpOpen).Append('\n');
        void Counter(string name, string help, long value) => sb
            .Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n')
            .Append("# TYPE ").Append(name).Append(" counter\n")
            .Append(name).Append(' ').Append(value).Append('\n');
        Counter("ecomonitor_tcp_connections_accepted_total", "HJ 212 TCP connections accepted (within the limits)", TcpAccepted);
        sb.Append("# HELP ecomonitor_tcp_connections_closed_total HJ 212 TCP connections closed or refused, by reason\n");
        sb.Append("# TYPE ecomonitor_tcp_connections_closed_total counter\n");
        foreach (var (reason, n) in _tcpClosed.OrderBy(r => r.Key, StringComparer.Ordinal))
            sb.Append("ecomonitor_tcp_connections_closed_total{reason=\"").Append(reason).Append("\"} ").Append(n).Append('\n');
        Counter("ecomonitor_tcp_bad_runs_total", "runs of consecutive bad HJ 212 frames on a connection, one dead letter each", TcpBadRuns);
        Counter("ecomonitor_tcp_bad_frames_total", "bad HJ 212 frames received over TCP", TcpBadFrames);
        Counter("ecomonitor_tcp_bad_bytes_total", "bytes of bad HJ 212 frames received over TCP", TcpBadBytes);
    }
}
