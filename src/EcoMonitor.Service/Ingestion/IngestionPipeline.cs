using System.Threading.Channels;
using EcoMonitor.Domain;
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
/// dropped meanwhile is not acknowledged: the broker redelivers it and the rewrite overwrites the same points.
///
/// Up to Influx:MaxConcurrentWrites batches are written at the same time: the next batch is built and sent while
/// earlier ones are still on their way, so InfluxDB, the broker and this process work side by side instead of in
/// turn. What stays in order: a batch is completed (its hours handed to the rollup stage, its dead letters published,
/// its messages acknowledged) only after every earlier batch is; and a batch that holds a point (same measurement,
/// station, parameter, period and time) of a batch still being written waits for that write, so a later value of a
/// point is never overtaken by an earlier one.
///
/// When a batch is cut: when it holds Influx:BatchSize points; when nothing more is queued and either no write is
/// on its way (InfluxDB would otherwise sit idle: a lone message is written at once) or the broker cannot send more
/// (the messages held reach Mqtt:ReceiveMaximum, so waiting could not fill the batch); at the latest
/// Influx:FlushInterval after it started. Under load batches grow by themselves: messages queue up while the writes
/// are on their way.</summary>
public sealed class IngestionPipeline
{
    readonly Channel<InboundMessage> _queue;
    readonly InfluxWriter _writer;
    readonly MqttConnection _mqtt;
    readonly MessageProcessor _processor;
    readonly IngestionMetrics _metrics;
    readonly InfluxSettings _influx;
    readonly int _receiveMaximum;
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
        _receiveMaximum = mqttSettings.Value.ReceiveMaximum;
        _time = time;
        _log = log;
        // A broker keeping to the protocol never has more than ReceiveMaximum unacknowledged messages out to us, so
        // this rarely fills; mosquitto may send more, and then the MQTT handler waits here while the connection stops
        // reading once the pipeline and MQTTnet's queue hold twice ReceiveMaximum (ReceiveGate): memory stays bounded.
        mqtt.Gate.Held = () => Pending;
        _queue = Channel.CreateBounded<InboundMessage>(new BoundedChannelOptions(mqttSettings.Value.ReceiveMaximum + 64)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
    }

    public ValueTask EnqueueAsync(InboundMessage message, CancellationToken ct) => _queue.Writer.WriteAsync(message, ct);

    int _held;
    int _writing;
    long _progressTicks = -1;
    readonly Lock _flushLock = new();
    CancellationTokenSource? _cut;

    /// <summary>Messages received and not yet through: queued, plus those in batches being stored.</summary>
    public int Pending => _queue.Reader.Count + Volatile.Read(ref _held);

    /// <summary>When a batch last started or completed (readiness: work waiting without progress is a stall);
    /// null before the first batch.</summary>
    public DateTimeOffset? LastProgress => Interlocked.Read(ref _progressTicks) is var t and >= 0 ? new DateTimeOffset(t, TimeSpan.Zero) : null;

    void Progressed() => Interlocked.Exchange(ref _progressTicks, _time.GetUtcNow().UtcTicks);

    /// <summary>No more messages: <see cref="RunAsync"/> finishes what is queued and returns.</summary>
    public void Complete() => _queue.Writer.TryComplete();

    /// <summary>A point's identity in InfluxDB (measurement, tags, time): two batches holding the same one are written
    /// one after the other.</summary>
    readonly record struct PointKey(string StationId, string Parameter, StatisticPeriod? Period, long Ticks);

    /// <summary>A batch on its way: its points, and when its write is done.</summary>
    sealed record Writing(HashSet<PointKey> Points, Task Written);

    public async Task RunAsync(CancellationToken ct)
    {
        var reader = _queue.Reader;
        var slots = new SemaphoreSlim(_influx.MaxConcurrentWrites); // not disposed: batches still on their way release it
        var writing = new List<Writing>();
        Task completed = Task.CompletedTask; // the completion of the last batch started: batches complete in order
        while (await reader.WaitToReadAsync(ct))
        {
            await slots.WaitAsync(ct);
            if (completed.IsFaulted || completed.IsCanceled) await completed; // a failed batch stops the pipeline
            var batch = await CollectAsync(reader, ct);
            if (batch.Count == 0)
            {
                slots.Release();
                continue;
            }
            writing.RemoveAll(w => w.Written.IsCompleted);
            var prepared = Prepare(batch);
            var overlapping = writing.Where(w => w.Points.Overlaps(prepared.Points)).Select(w => w.Written).ToArray();
            var written = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            writing.Add(new Writing(prepared.Points, written.Task));
            Interlocked.Increment(ref _writing);
            Progressed();
            completed = StoreAsync(prepared, overlapping, written, slots, completed, ct);
        }
        await completed;
    }

    /// <summary>Takes the next batch off the queue (see the class summary for when it is cut).</summary>
    async Task<List<InboundMessage>> CollectAsync(ChannelReader<InboundMessage> reader, CancellationToken ct)
    {
        var batch = new List<InboundMessage>();
        var points = 0;
        using var cut = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cut.CancelAfter(_influx.FlushInterval);
        lock (_flushLock) _cut = cut;
        try
        {
            while (true)
            {
                while (points < _influx.BatchSize && reader.TryRead(out var m))
                {
                    batch.Add(m);
                    Interlocked.Increment(ref _held);
                    points += m.Result.Accepted.Count + m.Result.Statistics.Count;
                }
                if (points >= _influx.BatchSize || cut.IsCancellationRequested) break;
                if (batch.Count > 0 && reader.Count == 0
                    && (Volatile.Read(ref _writing) == 0 || Volatile.Read(ref _held) >= _receiveMaximum)) break;
                try
                {
                    if (!await reader.WaitToReadAsync(cut.Token)) break;
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    break;
                }
            }
        }
        finally
        {
            lock (_flushLock) _cut = null;
        }
        return batch;
    }

    /// <summary>A write is done: when it was the last one on its way, a batch being collected is cut now (InfluxDB
    /// would otherwise sit idle until the batch fills or Influx:FlushInterval passes).</summary>
    void WriteDone()
    {
        if (Interlocked.Decrement(ref _writing) > 0) return;
        lock (_flushLock)
        {
            if (_cut is { } cut && _queue.Reader.Count == 0) cut.Cancel();
        }
    }

    sealed record Prepared(List<InboundMessage> Batch, BatchLines Lines, int TouchedCount, long LastMark, HashSet<PointKey> Points);

    /// <summary>The batch's line protocol, its dirty marks and its rollup sequence: done in arrival order, before
    /// any later batch is prepared (the marks' sequences grow with the batches).</summary>
    Prepared Prepare(List<InboundMessage> batch)
    {
        var lines = new BatchLines();
        var points = new HashSet<PointKey>();
        foreach (var m in batch)
        {
            lines.Add(m.Result);
            foreach (var a in m.Result.Accepted)
                points.Add(new PointKey(a.Reading.StationId, a.Reading.Parameter, null, a.Reading.Timestamp.UtcTicks));
            foreach (var a in m.Result.Statistics)
                points.Add(new PointKey(a.Statistic.StationId, a.Statistic.Parameter, a.Statistic.Period, a.Statistic.Start.UtcTicks));
            foreach (var note in m.Result.Notes) _log.LogDebug("{Source}: {Note}", m.Result.Topic, note);
        }
        // The rollup's durable dirty marks, after the readings in the same request: stored together (RollupStage).
        var touched = HourlyRollup.HoursOf(lines.Readings, lines.Statistics);
        var lastMark = _rollups.AddMarks(touched, lines.Lines);
        return new Prepared(batch, lines, touched.Count, lastMark, points);
    }

    /// <summary>Writes a prepared batch, then (after every earlier batch) hands its hours to the rollup stage,
    /// publishes its dead letters and acknowledges its messages. Its write slot is free again once it is complete, so
    /// at most Influx:MaxConcurrentWrites batches are held in memory at any time.</summary>
    async Task StoreAsync(Prepared p, Task[] overlapping, TaskCompletionSource written, SemaphoreSlim slots, Task previous, CancellationToken ct)
    {
        try
        {
            IReadOnlyList<(int Index, string Error)> refused;
            try
            {
                // A point also in a batch still on its way is written after it: the later value stays.
                if (overlapping.Length > 0) await Task.WhenAll(overlapping);
                refused = await _writer.WriteAsync(p.Lines.Lines, ct);
            }
            finally
            {
                written.TrySetResult();
                WriteDone();
            }
            // What InfluxDB refused becomes a rejection of its item (dead-lettered below). A refused dirty mark cannot
            // happen with valid tags, and the stage still has the hours in memory.
            var (stored, storedStatistics, _) = p.Lines.Apply(refused, error => _log.LogError("InfluxDB refused a rollup dirty mark: {Error}", error));
            _metrics.Stored(stored, storedStatistics, _time.GetUtcNow());

            // In order: every earlier batch is handed to the rollup stage and acknowledged first.
            await previous;
            // Handed over, not awaited: the rollups are brought up to date by their own stage. (In sequence order:
            // the stage deletes this writer's marks up to the last batch it took.)
            if (p.TouchedCount > 0) _rollups.Stored(p.LastMark, stored, storedStatistics);
            if (_broadcast.Watchers > 0) _broadcast.Publish(stored);

            // Dead letters of the whole batch go out together; a message is acknowledged only once its dead letter is out.
            var batch = p.Batch;
            var deadLetters = batch.Select(m => m.Result.HasRejections ? PublishDeadLetterAsync(m, ct) : Task.FromResult(true)).ToArray();
            await Task.WhenAll(deadLetters);
            for (var i = 0; i < batch.Count; i++)
            {
                if (!deadLetters[i].Result) continue;
                if (await batch[i].Ack.AcknowledgeAsync(ct)) _metrics.Acknowledged();
            }
            Interlocked.Add(ref _held, -batch.Count);
            Progressed();
        }
        finally
        {
            slots.Release();
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
        var delay = TimeSpan.FromMilliseconds(500);
        while (true)
        {
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
            }
            // The broker could not be reached on the publishing connection. A message whose own connection is gone
            // is redelivered (and dead-lettered again) on the new one; otherwise the dead letter is retried, as a
            // write to InfluxDB is: the message is acknowledged only once its dead letter is out.
            if (m.Ack.IsStale) return false;
            await Task.Delay(delay, _time, ct);
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(10).Ticks));
        }
    }
}
