using System.Threading.Channels;
using EcoMonitor.Service.Hosting;
using EcoMonitor.Service.Storage;
using Microsoft.Extensions.Options;
using MQTTnet;
using MQTTnet.Protocol;

namespace EcoMonitor.Service.Ingestion;

/// <summary>A received message waiting for storage: what validation made of it and how to acknowledge it.</summary>
public sealed record InboundMessage(IAcknowledgement Ack, byte[] Payload, ProcessedMessage Result, DateTimeOffset ReceivedAt);

/// <summary>How the sender learns that a message is safe: an MQTT PUBACK, or an HJ 212 data response on TCP.</summary>
public interface IAcknowledgement
{
    /// <summary>True when acknowledging is pointless because the message will be delivered again (the MQTT
    /// connection that carried it is gone): then it is neither dead-lettered nor acknowledged now.</summary>
    bool IsStale { get; }

    Task<bool> AcknowledgeAsync(CancellationToken ct);
}

/// <summary>Stores received messages in batches and only then acknowledges them: accepted readings are written to
/// InfluxDB (retried until they are in), rejections are published to the dead-letter topic, and each message is
/// acknowledged, in arrival order, once all of its readings are stored or dead-lettered. The hourly rollups follow
/// in their own stage (<see cref="RollupStage"/>): the batch's dirty marks go into the same write as its readings,
/// and its hours are handed to the stage after the write, never awaited. A message whose connection
/// dropped meanwhile is not acknowledged: the broker redelivers it and the rewrite overwrites the same points.</summary>
public sealed class IngestionPipeline
{
    readonly Channel<InboundMessage> _queue;
    readonly InfluxWriter _writer;
    readonly MqttConnection _mqtt;
    readonly MessageProcessor _processor;
    readonly IngestionMetrics _metrics;
    readonly InfluxSettings _influx;
    readonly TimeProvider _time;
    readonly ILogger<IngestionPipeline> _log;
    readonly Query.ReadingBroadcast _broadcast;
    readonly RollupStage _rollups;

    public IngestionPipeline(InfluxWriter writer, MqttConnection mqtt, MessageProcessor processor, IngestionMetrics metrics,
        IOptions<InfluxSettings> influx, IOptions<MqttSettings> mqttSettings, TimeProvider time, ILogger<IngestionPipeline> log,
        Query.ReadingBroadcast broadcast, RollupStage rollups)
    {
        _broadcast = broadcast;
        _rollups = rollups;
        _writer = writer;
        _mqtt = mqtt;
        _processor = processor;
        _metrics = metrics;
        _influx = influx.Value;
        _time = time;
        _log = log;
        // The broker never has more than ReceiveMaximum unacknowledged messages out to us, so this never fills
        // while the connection follows the protocol; the bound is a guard, not a flow control.
        _queue = Channel.CreateBounded<InboundMessage>(new BoundedChannelOptions(mqttSettings.Value.ReceiveMaximum + 64)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
    }

    public ValueTask EnqueueAsync(InboundMessage message, CancellationToken ct) => _queue.Writer.WriteAsync(message, ct);

    int _inFlight;
    long _progressTicks = -1;

    /// <summary>Messages received and not yet through: queued, plus the batch being stored.</summary>
    public int Pending => _queue.Reader.Count + Volatile.Read(ref _inFlight);

    /// <summary>When a batch last started or completed (readiness: work waiting without progress is a stall);
    /// null before the first batch.</summary>
    public DateTimeOffset? LastProgress => Interlocked.Read(ref _progressTicks) is var t and >= 0 ? new DateTimeOffset(t, TimeSpan.Zero) : null;

    void Progressed(int inFlight)
    {
        Volatile.Write(ref _inFlight, inFlight);
        Interlocked.Exchange(ref _progressTicks, _time.GetUtcNow().UtcTicks);
    }

    /// <summary>No more messages: <see cref="RunAsync"/> finishes what is queued and returns.</summary>
    public void Complete() => _queue.Writer.TryComplete();

    public async Task RunAsync(CancellationToken ct)
    {
        var reader = _queue.Reader;
        var batch = new List<InboundMessage>();
        while (await reader.WaitToReadAsync(ct))
        {
            batch.Clear();
            var points = 0;
            var deadline = _time.GetUtcNow() + _influx.FlushInterval;
            while (true)
            {
                while (points < _influx.BatchSize && reader.TryRead(out var m))
                {
                    batch.Add(m);
                    points += m.Result.Accepted.Count + m.Result.Statistics.Count;
                }
                var remaining = deadline - _time.GetUtcNow();
                if (points >= _influx.BatchSize || remaining <= TimeSpan.Zero) break;
                using var wait = CancellationTokenSource.CreateLinkedTokenSource(ct);
                wait.CancelAfter(remaining);
                try
                {
                    if (!await reader.WaitToReadAsync(wait.Token)) break;
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    break;
                }
            }
            if (batch.Count == 0) continue;
            Progressed(batch.Count);
            await StoreAsync(batch, ct);
            Progressed(0);
        }
    }

    async Task StoreAsync(List<InboundMessage> batch, CancellationToken ct)
    {
        var lines = new List<string>();
        var owners = new List<(InboundMessage Message, int Index, string Parameter)>();
        var readingLines = new List<(int Line, Domain.Reading Reading)>();
        var statisticLines = new List<(int Line, Domain.Statistic Statistic)>();
        foreach (var m in batch)
        {
            foreach (var a in m.Result.Accepted)
            {
                readingLines.Add((lines.Count, a.Reading));
                lines.Add(ReadingSchema.ToLineProtocol(a.Reading));
                owners.Add((m, a.Index, a.Reading.Parameter));
            }
            foreach (var a in m.Result.Statistics)
            {
                statisticLines.Add((lines.Count, a.Statistic));
                lines.Add(StatisticSchema.ToLineProtocol(a.Statistic));
                owners.Add((m, a.Index, a.Statistic.Parameter));
            }
            foreach (var note in m.Result.Notes) _log.LogDebug("{Source}: {Note}", m.Result.Topic, note);
        }
        // The rollup's durable dirty marks, after the readings in the same request: stored together (RollupStage).
        var owned = lines.Count;
        var touched = HourlyRollup.HoursOf(readingLines.Select(r => r.Reading), statisticLines.Select(s => s.Statistic));
        var span = touched.Count > 0 ? RollupMarkSchema.Span(touched) : 0;
        var sequence = touched.Count > 0 ? _rollups.NextSequence(span) : 0;
        if (touched.Count > 0) lines.AddRange(RollupMarkSchema.ToLineProtocol(_rollups.WriterId, sequence, touched));
        var refused = await _writer.WriteAsync(lines, ct);
        foreach (var (index, error) in refused)
        {
            if (index >= owned)
            {
                // Cannot happen with valid tags; the stage still has the hours in memory.
                _log.LogError("InfluxDB refused a rollup dirty mark: {Error}", error);
                continue;
            }
            var (m, readingIndex, parameter) = owners[index];
            m.Result.Rejections.Add(new Rejection(RejectReason.RejectedByDatabase, error, readingIndex, parameter));
        }
        var refusedLines = refused.Select(r => r.Index).ToHashSet();
        var stored = readingLines.Where(r => !refusedLines.Contains(r.Line)).Select(r => r.Reading).ToList();
        var storedStatistics = statisticLines.Where(r => !refusedLines.Contains(r.Line)).Select(r => r.Statistic).ToList();
        _metrics.Stored(stored, storedStatistics, _time.GetUtcNow());
        // Handed over, not awaited: the rollups are brought up to date by their own stage.
        if (touched.Count > 0) _rollups.Stored(sequence + span - 1, HourlyRollup.HoursOf(stored, storedStatistics));
        if (_broadcast.Watchers > 0) _broadcast.Publish(stored);

        // Dead letters of the whole batch go out together; a message is acknowledged only once its dead letter is out.
        var deadLetters = batch.Select(m => m.Result.HasRejections ? PublishDeadLetterAsync(m, ct) : Task.FromResult(true)).ToArray();
        await Task.WhenAll(deadLetters);
        for (var i = 0; i < batch.Count; i++)
        {
            if (!deadLetters[i].Result) continue;
            if (await batch[i].Ack.AcknowledgeAsync(ct)) _metrics.Acknowledged();
        }
    }

    async Task<bool> PublishDeadLetterAsync(InboundMessage m, CancellationToken ct)
    {
        if (m.Ack.IsStale) return false; // delivered again on the new connection; dead-lettered then
        var r = m.Result;
        var rejections = r.Fatal is { } f ? [f] : r.Rejections;
        foreach (var x in rejections) _metrics.Rejected(x.Reason);
        _log.LogWarning("Rejected {Count} item(s) of {Topic} (station {Station}, {Stored} value(s) stored): {Reason} {Detail}{More}",
            rejections.Count, r.Topic, r.StationId, r.StoredCount,
            rejections[0].Reason, rejections[0].Detail, rejections.Count > 1 ? $" (+{rejections.Count - 1} more)" : "");
        var deadLetter = DeadLetter.Build(r, m.Payload, m.ReceivedAt, _processor.MaxPayloadBytes);
        var message = new MqttApplicationMessageBuilder()
            .WithTopic(_processor.DeadLetterTopic(r.StationId))
            .WithPayload(deadLetter)
            .WithContentType("application/json")
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .Build();
        switch (await _mqtt.PublishAsync(message, ct))
        {
            case PublishOutcome.Published:
                _metrics.DeadLetterPublished();
                return true;
            case PublishOutcome.Refused:
                // The broker will not take dead letters (an ACL, most likely). Retrying would hold the message
                // forever; the dead letter goes to the log in full instead and the message is acknowledged.
                _log.LogError("Dead letter not accepted by the broker; logged here instead: {DeadLetter}", System.Text.Encoding.UTF8.GetString(deadLetter));
                return true;
            default:
                return false; // connection lost: the message is redelivered and dead-lettered again
        }
    }
}
