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
        return sb.ToString();
    }

    public void Dispose() => _meter.Dispose();
}
