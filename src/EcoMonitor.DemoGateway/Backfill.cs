using System.Diagnostics;
using System.Text;
using MQTTnet;
using MQTTnet.Protocol;

namespace EcoMonitor.DemoGateway;

/// <summary>One demo station: its id and kind (air, voc, water) from the stations file.</summary>
public sealed record DemoStation(string Id, string Kind);

/// <summary>One backfill message: a station's hourly means of consecutive hours.</summary>
public sealed record BackfillMessage(string Station, string Topic, string Payload, int Hours, int Values);

/// <summary>The demo's history: every station's hourly means (JSON <c>"period": "hour"</c>, the station's own
/// means as HJ 212 CN=2061 sends them) of the hours [<c>from</c>, <c>to</c>), <see cref="HoursPerMessage"/> hours a
/// message (an array of reading objects, well under Ingestion:MaxReadingsPerMessage, 1000, and Ingestion:MaxPayloadBytes:
/// about 16 KB for an air station), published with QoS 1 and many messages in flight (as many as the broker's Receive
/// Maximum allows, at most <c>maxInFlight</c>): a PUBACK per message, not per reading. The stations' messages of the
/// same three days follow each other and share the service's batches: after the demo's backfill of 1,176,210 station
/// hours the service had recomputed 1,176,950 hours (ecomonitor_rollup_hours_recomputed_total, live hours included),
/// each hour once.</summary>
public static class Backfill
{
    public const int HoursPerMessage = 72;

    /// <summary>The hours to backfill at <paramref name="now"/>: the <paramref name="days"/> × 24 whole hours
    /// that ended before the current one; with <paramref name="wholePreviousYear"/>, from 1 January of the previous
    /// (China local) year if that is earlier, so year-over-year figures (the PM2.5 target, the annual evaluation's
    /// comparison) have their whole baseline.</summary>
    public static (DateTimeOffset From, DateTimeOffset To) Span(DateTimeOffset now, int days, bool wholePreviousYear)
    {
        var to = new DateTimeOffset(now.UtcTicks / TimeSpan.TicksPerHour * TimeSpan.TicksPerHour, TimeSpan.Zero);
        var from = to.AddHours(-24.0 * days);
        if (wholePreviousYear)
        {
            var localYear = now.ToOffset(TimeSpan.FromHours(8)).Year;
            var january = new DateTimeOffset(localYear - 1, 1, 1, 0, 0, 0, TimeSpan.FromHours(8));
            if (january < from) from = january.ToUniversalTime();
        }
        return (from, to);
    }

    /// <summary>The messages for the span, oldest hours first, the stations interleaved.</summary>
    public static IEnumerable<BackfillMessage> Messages(IReadOnlyList<DemoStation> stations, string prefix, DateTimeOffset from, DateTimeOffset to)
    {
        for (var start = from; start < to; start = start.AddHours(HoursPerMessage))
        {
            var end = start.AddHours(HoursPerMessage) < to ? start.AddHours(HoursPerMessage) : to;
            foreach (var station in stations)
            {
                var json = new StringBuilder(128 * 1024).Append('[');
                var hours = 0;
                for (var hour = start; hour < end; hour = hour.AddHours(1))
                {
                    if (hours++ > 0) json.Append(',');
                    DemoModel.AppendHour(json, station.Id, station.Kind, hour);
                }
                json.Append(']');
                yield return new BackfillMessage(station.Id, $"{prefix}/{station.Id}/readings", json.ToString(), hours,
                    hours * DemoModel.ParametersOf(station.Kind).Count);
            }
        }
    }

    /// <summary>Publishes the span's messages on a connected client; <paramref name="progress"/> gets
    /// (messages done, messages in all, values done) about every tenth of the way. Returns the values published.</summary>
    public static async Task<long> PublishAsync(IMqttClient client, int maxInFlight, IReadOnlyList<DemoStation> stations, string prefix,
        DateTimeOffset from, DateTimeOffset to, Action<int, int, long>? progress, CancellationToken ct)
    {
        var total = (int)Math.Ceiling((to - from).TotalHours / HoursPerMessage) * stations.Count;
        using var window = new SemaphoreSlim(Math.Max(1, maxInFlight));
        var pending = new List<Task>();
        int done = 0, reported = 0;
        long values = 0;
        Exception? failure = null;
        foreach (var message in Messages(stations, prefix, from, to))
        {
            await window.WaitAsync(ct);
            if (failure is not null) break;
            pending.Add(Send(message));
            pending.RemoveAll(t => t.IsCompleted);
        }
        await Task.WhenAll(pending);
        if (failure is not null) throw new InvalidOperationException($"backfill stopped: {failure.Message}", failure);
        return values;

        async Task Send(BackfillMessage message)
        {
            try
            {
                var result = await client.PublishAsync(new MqttApplicationMessageBuilder()
                    .WithTopic(message.Topic)
                    .WithPayload(message.Payload)
                    .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
                    .Build(), ct);
                if (!result.IsSuccess) throw new InvalidOperationException($"the broker refused a message for {message.Station}: {result.ReasonCode} {result.ReasonString}");
                var n = Interlocked.Increment(ref done);
                var v = Interlocked.Add(ref values, message.Values);
                var tenth = n * 10 / total;
                if (tenth > Volatile.Read(ref reported) && Interlocked.Exchange(ref reported, tenth) < tenth) progress?.Invoke(n, total, v);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                failure ??= e;
            }
            finally
            {
                window.Release();
            }
        }
    }

    /// <summary>Prints progress lines "backfill: 40 % (56/140 messages, 251,520 hourly values, 3.2 s)".</summary>
    public static Action<int, int, long> ConsoleProgress()
    {
        var clock = Stopwatch.StartNew();
        return (done, total, values) => Console.WriteLine(
            $"backfill: {done * 100 / total,3} % ({done}/{total} messages, {values:N0} hourly values, {clock.Elapsed.TotalSeconds:0.0} s)");
    }
}
