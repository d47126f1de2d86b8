using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using EcoMonitor.Service.Hosting;
using EcoMonitor.Service.Ingestion;
using EcoMonitor.Service.Ingestion.Hj212;
using EcoMonitor.Service.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Serilog.Core;
using Xunit.Abstractions;

namespace EcoMonitor.Service.Tests;

/// <summary>Runs alone, after the parallel test classes: the fault tests time answers (p99 under 1 s), which other
/// classes loading the same InfluxDB would blur.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class Hj212FaultCollection
{
    public const string Name = "HJ 212 faults";

    /// <summary>The test process hosts the service and every client of these tests on what may be 2 cores. With the
    /// thread pool's default minimum (one thread per core), answers stalled for 0.6-1.0 s in the first seconds of 6
    /// runs out of 8 of the never-reading test, with or without the never-reading client (the pool adds threads only
    /// every half second or so once they are all taken); with a minimum of 32, in none of 8 (p99 at most 0.3 s). The
    /// timing asserts are about what a bad datalogger costs the others, so the pool is given its threads up front;
    /// the collection runs last and alone.</summary>
    public static void GiveThePoolItsThreads()
    {
        ThreadPool.GetMinThreads(out var workers, out var io);
        if (workers < 32) ThreadPool.SetMinThreads(32, Math.Max(io, 32));
    }
}

/// <summary>One bad datalogger never stalls the rest: real sockets on loopback against the real service, broker and
/// database. Each test bounds its own time; the limits are set small so the faults show within seconds.</summary>
[Trait("Category", "Integration")]
[Collection(Hj212FaultCollection.Name)]
public sealed class Hj212FaultTests
{
    readonly ITestOutputHelper output;

    public Hj212FaultTests(ITestOutputHelper output)
    {
        this.output = output;
        Hj212FaultCollection.GiveThePoolItsThreads();
    }

    static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);
    static readonly TimeSpan China = TimeSpan.FromHours(8);

    static string Frame(string segment) => Hj212TestFrames.Frame(segment);

    static string Local(DateTimeOffset t) => t.ToOffset(China).ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture);

    static DateTimeOffset RecentMinute(int minutesAgo) =>
        new DateTimeOffset(DateTime.UtcNow.Ticks / TimeSpan.TicksPerMinute * TimeSpan.TicksPerMinute, TimeSpan.Zero).AddMinutes(-minutesAgo);

    static string RealTime(string mn, string pw, DateTimeOffset t, string cp, int flag, string qn) =>
        $"QN={qn};ST=22;CN=2011;PW={pw};MN={mn};Flag={flag};CP=&&DataTime={Local(t)};{cp}&&";

    /// <summary>The data response HJ 212-2017 prescribes for a packet: its QN echoed, ST=91, CN=9014, Flag=4, empty CP.</summary>
    static string Answer(string qn, string mn, string pw) => Frame($"QN={qn};ST=91;CN=9014;PW={pw};MN={mn};Flag=4;CP=&&&&");

    static async Task<ServiceUnderTest> StartAsync(Dictionary<string, string?> settings, CapturingSink sink)
    {
        var service = new ServiceUnderTest(settings, s => s.AddSingleton<ILogEventSink>(sink));
        try
        {
            await service.StartAsync();
        }
        catch
        {
            await service.DisposeAsync();
            throw;
        }
        return service;
    }

    /// <summary>A running service: its database, measurements and rollups exist (the first batch of a fresh database
    /// takes InfluxDB a second or more on a loaded machine), through stations the tests do not count (air-3, voc-1).</summary>
    static async Task WarmUpAsync(ServiceUnderTest service, IPEndPoint endpoint)
    {
        var t = RecentMinute(300);
        await using var gateway = await TestMqttClient.ConnectAsync();
        await gateway.PublishAsync(service.ReadingsTopic("air-3"), $$$"""{"ts": {{{t.ToUnixTimeMilliseconds()}}}, "values": {"pm25": 1}}""");
        await using var logger = await TestDatalogger.ConnectAsync(endpoint);
        await logger.SendAsync(Frame(RealTime("VOC0001", "x", t, "a24088-Rtd=0.5", 5, "W")));
        Assert.Single(await logger.ReadFramesAsync(1, Wait));
        await TestInfrastructure.EventuallyAsync(async () => (await PointsAsync(service, "air-3")).Count == 1, Wait, "warm-up reading stored");
    }

    /// <summary>Connections whose reader and writer have not ended yet (the listener's own count).</summary>
    static int Serving(ServiceUnderTest service) => service.Services.GetRequiredService<Hj212TcpListener>().OpenConnections;

    static async Task<List<StoredPoint>> PointsAsync(ServiceUnderTest service, string station)
    {
        using var influx = TestInfrastructure.Influx(service.Database);
        return await TestInfrastructure.PointsAsync(influx, station);
    }

    /// <summary>What a well-behaved datalogger (air-1) sent and got back.</summary>
    sealed record GoodRun(List<StoredPoint> Sent, List<string> ExpectedAnswers, List<string> Answers, double[] LatenciesMs)
    {
        public double P99 => LatenciesMs.Order().ElementAt((int)Math.Ceiling(LatenciesMs.Length * 0.99) - 1);
    }

    /// <summary>air-1 sends <paramref name="count"/> real-time frames asking for an answer, one every
    /// <paramref name="interval"/>, and times each answer.</summary>
    static async Task<GoodRun> RunGoodDataloggerAsync(IPEndPoint endpoint, int count, TimeSpan interval, DateTimeOffset start, string tag)
    {
        await using var logger = await TestDatalogger.ConnectAsync(endpoint);
        var collecting = logger.StartCollectingAnswers();
        var sent = new List<StoredPoint>();
        var expected = new List<string>();
        var sentAt = new Dictionary<string, long>();
        for (var i = 0; i < count; i++)
        {
            var qn = $"{tag}{i:D4}";
            var t = start.AddSeconds(i);
            var value = 20 + i * 0.5;
            sentAt[qn] = Stopwatch.GetTimestamp();
            await logger.SendAsync(Frame(RealTime("AIR0001", "123456", t, $"a34004-Rtd={value.ToString(CultureInfo.InvariantCulture)},a34004-Flag=N", 5, qn)));
            sent.Add(new StoredPoint(t, "pm25", value, "N"));
            expected.Add(Answer(qn, "AIR0001", "123456"));
            await Task.Delay(interval);
        }
        await TestInfrastructure.EventuallyAsync(() => logger.Answers.Count >= count, Wait, $"{count} answers to the good datalogger");
        var answers = logger.Answers.ToList();
        var latencies = answers.Where(a => sentAt.ContainsKey(a.Qn)).Select(a => Stopwatch.GetElapsedTime(sentAt[a.Qn], a.At).TotalMilliseconds).ToArray();
        return new GoodRun(sent, expected, [.. answers.Select(a => a.Frame)], latencies);
    }

    async Task AssertGoodRunAsync(ServiceUnderTest service, GoodRun good)
    {
        output.WriteLine($"good datalogger: {good.LatenciesMs.Length} answers, p50 {good.LatenciesMs.Order().ElementAt(good.LatenciesMs.Length / 2):F0} ms, p99 {good.P99:F0} ms ({string.Join(" ", good.LatenciesMs.Select(l => l.ToString("F0", CultureInfo.InvariantCulture)))})");
        Assert.Equal(good.ExpectedAnswers, good.Answers); // every frame answered, once, in order
        Assert.True(good.P99 < 1000, $"the good datalogger's p99 answer time was {good.P99:F0} ms");
        await TestInfrastructure.EventuallyAsync(async () => (await PointsAsync(service, "air-1")).Count >= good.Sent.Count, Wait, "the good datalogger's readings stored");
        Assert.Equal(good.Sent, await PointsAsync(service, "air-1"));
    }

    [Fact]
    public async Task A_datalogger_that_never_reads_its_answers_is_closed_and_stalls_nobody()
    {
        var sink = new CapturingSink();
        await using var service = await StartAsync(new() { ["Hj212:Tcp:OutboxCapacity"] = "100", ["Hj212:Tcp:WriteTimeout"] = "00:00:02" }, sink);
        var endpoint = await service.Hj212EndpointAsync();
        await WarmUpAsync(service, endpoint);
        var start = RecentMinute(240);

        // voc-1 sends frame after frame asking for answers, with a tiny receive window it never empties (its readings
        // fall in one minute, so that storing them costs the others little).
        await using var stuck = await TestDatalogger.ConnectAsync(endpoint, receiveBufferSize: 1024);
        var flooding = Task.Run(async () =>
        {
            var frames = 0;
            for (var chunk = 0; chunk < 100; chunk++)
            {
                var text = string.Concat(Enumerable.Range(0, 100).Select(i =>
                    Frame(RealTime("VOC0001", "x", start.AddSeconds(i % 60), $"a24088-Rtd=1.{i:D2}", 5, $"S{chunk:D3}{i:D3}"))));
                if (!await stuck.TrySendAsync(Encoding.ASCII.GetBytes(text))) break;
                frames += 100;
            }
            return frames;
        });
        await Task.Delay(200);

        // Meanwhile 200 MQTT readings (air-2) and a good datalogger (air-1).
        var mqttStart = RecentMinute(60);
        var publishing = Task.Run(async () =>
        {
            await using var gateway = await TestMqttClient.ConnectAsync();
            for (var i = 0; i < 200; i++)
                await gateway.PublishAsync(service.ReadingsTopic("air-2"), $$$"""{"ts": {{{mqttStart.AddSeconds(i).ToUnixTimeMilliseconds()}}}, "values": {"pm25": {{{i}}}}}""");
        });
        var good = await RunGoodDataloggerAsync(endpoint, 40, TimeSpan.FromMilliseconds(50), RecentMinute(30), "G");
        await publishing;

        await TestInfrastructure.EventuallyAsync(() => service.Metrics.TcpClosed("slow_reader") == 1, Wait, "the stuck datalogger closed as a slow reader");
        Assert.True(await stuck.ClosedByServerAsync(TimeSpan.FromSeconds(10)));
        output.WriteLine($"stuck datalogger: {await flooding} frames sent before the close, {service.Metrics.Messages} messages received by the service");
        Assert.Contains(sink.Lines, l => l.StartsWith("Warning HJ 212: closing", StringComparison.Ordinal) && l.Contains("slow_reader")
            && (l.Contains("Hj212:Tcp:OutboxCapacity") || l.Contains("Hj212:Tcp:WriteTimeout")));

        await AssertGoodRunAsync(service, good);
        await TestInfrastructure.EventuallyAsync(async () => (await PointsAsync(service, "air-2")).Count >= 200, Wait, "200 MQTT readings stored");
        Assert.Equal(Enumerable.Range(0, 200).Select(i => new StoredPoint(mqttStart.AddSeconds(i), "pm25", i, "N")), await PointsAsync(service, "air-2"));
        Assert.Equal(1, service.Metrics.TcpClosed("slow_reader"));
        // Closing ended the stuck connection's reader and writer too (every other connection is gone by now).
        await TestInfrastructure.EventuallyAsync(() => Serving(service) == 0, Wait, "no connection left being served");
    }

    [Fact]
    public async Task A_fast_datalogger_that_reads_its_answers_is_slowed_down_not_closed()
    {
        // 2000 frames in one go, each asking for an answer, and at most 50 answers owed: the pipeline answers them
        // in batches far larger than 50, yet the connection is only read as fast as its answers go out.
        var sink = new CapturingSink();
        await using var service = await StartAsync(new() { ["Hj212:Tcp:OutboxCapacity"] = "50" }, sink);
        var endpoint = await service.Hj212EndpointAsync();
        await using var logger = await TestDatalogger.ConnectAsync(endpoint);
        _ = logger.StartCollectingAnswers();
        var start = RecentMinute(120);
        var frames = Enumerable.Range(0, 2000).Select(i => (Qn: $"B{i:D4}", T: start.AddSeconds(i))).ToList();
        await logger.SendAsync(string.Concat(frames.Select(f => Frame(RealTime("AIR0001", "123456", f.T, "a34004-Rtd=7", 5, f.Qn)))));

        await TestInfrastructure.EventuallyAsync(() => logger.Answers.Count >= frames.Count, Wait, "2000 answers");
        Assert.Equal(frames.Select(f => Answer(f.Qn, "AIR0001", "123456")), logger.Answers.Select(a => a.Frame));
        Assert.Equal(frames.Select(f => new StoredPoint(f.T, "pm25", 7, "N")), await PointsAsync(service, "air-1"));
        Assert.Equal(1, service.Metrics.TcpOpen);
        Assert.All(IngestionMetrics.TcpCloseReasons, r => Assert.Equal(0, service.Metrics.TcpClosed(r)));
    }

    [Fact]
    public async Task A_connection_owing_its_answers_while_nothing_can_be_stored_is_closed_as_stalled_and_what_it_sent_is_stored_later()
    {
        await using var proxy = new TcpProxy(TestInfrastructure.InfluxUrl);
        var sink = new CapturingSink();
        await using var service = await StartAsync(new()
        {
            ["Influx:Url"] = proxy.Url.ToString(), ["Influx:Timeout"] = "00:00:00.500",
            ["Hj212:Tcp:OutboxCapacity"] = "3", ["Hj212:Tcp:IdleTimeout"] = "00:00:02",
        }, sink);
        var endpoint = await service.Hj212EndpointAsync();
        proxy.Mode = ProxyMode.Refuse;
        proxy.DropConnections();

        // 10 frames asking for answers; the 3 first are handed over, the 4th waits for an answer to go out, which
        // cannot happen while InfluxDB is away: 2 s later (IdleTimeout) the connection is closed.
        await using var logger = await TestDatalogger.ConnectAsync(endpoint);
        var start = RecentMinute(30);
        var clock = Stopwatch.StartNew();
        await logger.SendAsync(string.Concat(Enumerable.Range(0, 10).Select(i => Frame(RealTime("AIR0001", "123456", start.AddSeconds(i), $"a34004-Rtd={i}", 5, $"Q{i}")))));
        Assert.True(await logger.ClosedByServerAsync(Wait));
        Assert.InRange(clock.Elapsed.TotalSeconds, 1.9, 6);
        Assert.Equal(1, service.Metrics.TcpClosed("stalled"));
        Assert.Contains(sink.Lines, l => l.StartsWith("Warning HJ 212: closing", StringComparison.Ordinal) && l.Contains("stalled") && l.Contains("Hj212:Tcp:OutboxCapacity"));

        // InfluxDB back: what the service had read is stored, unanswered (the datalogger sends it again): at least the
        // 3 frames taken and the 4th that waited (the 10 when they came in one read), in order, nothing else.
        proxy.Mode = ProxyMode.Forward;
        await TestInfrastructure.EventuallyAsync(async () => (await PointsAsync(service, "air-1")).Count >= 4, Wait, "the frames read stored");
        await Task.Delay(1000);
        var stored = await PointsAsync(service, "air-1");
        Assert.InRange(stored.Count, 4, 10);
        Assert.Equal(Enumerable.Range(0, stored.Count).Select(i => new StoredPoint(start.AddSeconds(i), "pm25", i, "N")), stored);
    }

    [Fact]
    public async Task A_flood_of_hashes_is_one_dead_letter_and_closed_at_the_bad_input_limit()
    {
        var sink = new CapturingSink();
        await using var service = await StartAsync(new() { ["Hj212:Tcp:MaxBadBytesPerMinute"] = "4096" }, sink);
        await using var deadLetters = await TestMqttClient.ConnectAsync($"{service.Prefix}/deadletter/#");
        var endpoint = await service.Hj212EndpointAsync();
        await WarmUpAsync(service, endpoint);

        var goodRunning = RunGoodDataloggerAsync(endpoint, 30, TimeSpan.FromMilliseconds(50), RecentMinute(20), "H");
        await Task.Delay(300);
        await using var flood = await TestDatalogger.ConnectAsync(endpoint);
        var floodSource = $"tcp/{flood.LocalEndPoint}";
        // 9 bytes of garbage, then '#' after '#': every '#' starts a candidate whose length field "####" is not digits,
        // a bad frame of 1 byte. The limit of 4096 bad bytes is passed by the bad frame that brings the count to
        // 4097: the garbage and 4088 '#'. 64 KiB are sent in 8 KiB writes (as many as the service takes).
        var garbage = "\0\u0001garbage";
        var sent = 0;
        for (var i = 0; i < 8; i++)
        {
            var chunk = Encoding.ASCII.GetBytes((i == 0 ? garbage : "") + new string('#', 8192 - (i == 0 ? garbage.Length : 0)));
            if (!await flood.TrySendAsync(chunk)) break;
            sent += chunk.Length;
        }
        Assert.True(await flood.ClosedByServerAsync(TimeSpan.FromSeconds(10)));
        var good = await goodRunning;
        await AssertGoodRunAsync(service, good);

        await TestInfrastructure.EventuallyAsync(() => !deadLetters.Received.IsEmpty, Wait, "the flood's dead letter");
        await Task.Delay(500); // nothing else may follow
        var letter = Assert.Single(deadLetters.Received).Payload.Json();
        Assert.Equal(RejectReason.BadFrame, letter.GetProperty("reason").GetString());
        Assert.Equal(floodSource, letter.GetProperty("topic").GetString());
        Assert.Equal("4089 bad frames in a row (4097 bytes); first: bytes outside any frame; last: length field '####' is not 4 decimal digits; " +
            "begins \"\\x00\\x01garbage" + new string('#', 55) + "...\"",
            letter.GetProperty("rejections")[0].GetProperty("detail").GetString());
        Assert.Equal(garbage + new string('#', 1024 + 12 - garbage.Length), letter.GetProperty("payload").GetString());

        Assert.Equal(1, service.Metrics.TcpClosed("bad_input"));
        Assert.Equal(1, service.Metrics.TcpBadRuns);
        Assert.Equal(4089, service.Metrics.TcpBadFrames);
        Assert.Equal(4097, service.Metrics.TcpBadBytes);
        Assert.Equal(1, service.Metrics.RejectionsFor(RejectReason.BadFrame));
        Assert.Single(sink.Lines, l => l.StartsWith("Warning HJ 212: closing", StringComparison.Ordinal) && l.Contains("bad_input") && l.Contains("Hj212:Tcp:MaxBadBytesPerMinute"));
        output.WriteLine($"flood: {sent} bytes sent before the close");
        await TestInfrastructure.EventuallyAsync(() => Serving(service) == 0, Wait, "no connection left being served");
    }

    [Fact]
    public async Task Trickles_are_closed_at_the_frame_timeout_or_for_want_of_a_complete_frame_and_a_live_datalogger_is_kept()
    {
        var sink = new CapturingSink();
        await using var service = await StartAsync(new() { ["Hj212:Tcp:FrameTimeout"] = "00:00:02", ["Hj212:Tcp:IdleTimeout"] = "00:00:04" }, sink);
        await using var deadLetters = await TestMqttClient.ConnectAsync($"{service.Prefix}/deadletter/#");
        var endpoint = await service.Hj212EndpointAsync();
        var frame = Frame(RealTime("AIR0001", "123456", RecentMinute(5), "a34004-Rtd=12", 5, "T1"));

        // One byte a second: of a frame (closed 2 s after its first byte), and of garbage (no complete frame: closed
        // 4 s after connecting); a datalogger sending a heartbeat each second stays.
        async Task<(double Seconds, int Sent, string Source)> TrickleAsync(string text)
        {
            await using var d = await TestDatalogger.ConnectAsync(endpoint);
            var source = $"tcp/{d.LocalEndPoint}";
            var clock = Stopwatch.StartNew();
            var closed = d.ClosedByServerAsync(TimeSpan.FromSeconds(12));
            var sent = 0;
            while (!closed.IsCompleted && sent < text.Length)
            {
                if (!await d.TrySendAsync([(byte)text[sent]])) break;
                sent++;
                await Task.WhenAny(closed, Task.Delay(1000));
            }
            Assert.True(await closed);
            return (clock.Elapsed.TotalSeconds, sent, source);
        }
        var slowFrame = TrickleAsync(frame);
        var slowGarbage = TrickleAsync(new string('x', 20));
        var heartbeats = Task.Run(async () =>
        {
            await using var d = await TestDatalogger.ConnectAsync(endpoint);
            for (var i = 0; i < 7; i++)
            {
                await d.SendAsync(Frame($"QN=HB{i};ST=22;CN=9015;PW=123456;MN=AIR0001;Flag=4;CP=&&&&"));
                await Task.Delay(1000);
            }
            await d.SendAsync(frame);
            return await d.ReadFramesAsync(1, Wait);
        });

        var (frameSeconds, frameBytes, frameSource) = await slowFrame;
        var (garbageSeconds, garbageBytes, garbageSource) = await slowGarbage;
        output.WriteLine($"frame trickle closed after {frameSeconds:F1} s ({frameBytes} bytes), garbage trickle after {garbageSeconds:F1} s ({garbageBytes} bytes)");
        Assert.InRange(frameSeconds, 1.9, 4.0);
        Assert.InRange(garbageSeconds, 3.9, 6.0);
        Assert.Equal([Answer("T1", "AIR0001", "123456")], await heartbeats); // 7 s connected, answered
        Assert.Equal(1, service.Metrics.TcpClosed("frame_timeout"));
        Assert.Equal(1, service.Metrics.TcpClosed("idle"));
        Assert.Contains(sink.Lines, l => l.StartsWith("Warning HJ 212: closing", StringComparison.Ordinal) && l.Contains("frame_timeout") && l.Contains("Hj212:Tcp:FrameTimeout"));

        // Each trickle leaves one dead letter: the truncated frame, and the run of garbage bytes.
        await TestInfrastructure.EventuallyAsync(() => deadLetters.Received.Count == 2, Wait, "two dead letters");
        var letters = deadLetters.Received.Select(m => m.Payload.Json()).ToDictionary(l => l.GetProperty("topic").GetString()!);
        var truncated = letters[frameSource];
        Assert.StartsWith("1 bad frame (", truncated.GetProperty("rejections")[0].GetProperty("detail").GetString());
        Assert.Contains("truncated frame", truncated.GetProperty("rejections")[0].GetProperty("detail").GetString());
        var kept = truncated.GetProperty("payload").GetString()!;
        Assert.True(kept.Length >= 2 && frame.StartsWith(kept, StringComparison.Ordinal), $"payload '{kept}' is the start of the frame");
        var run = letters[garbageSource];
        var match = Regex.Match(run.GetProperty("rejections")[0].GetProperty("detail").GetString()!, @"^(\d+) bad frames in a row \((\d+) bytes\); first: bytes outside any frame; begins ""(x+)""$");
        Assert.True(match.Success, run.GetProperty("rejections")[0].GetProperty("detail").GetString());
        var count = int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.InRange(count, 3, garbageBytes);
        Assert.Equal(count, int.Parse(match.Groups[2].Value, CultureInfo.InvariantCulture)); // one byte each
        Assert.Equal(new string('x', count), run.GetProperty("payload").GetString());
    }

    /// <summary>Line ends between frames are not bad input, but a peer that sends nothing else, without pause, must
    /// still meet the idle deadline: reads that complete at once are checked against the deadlines too.</summary>
    [Fact]
    public async Task A_nonstop_stream_of_line_ends_is_closed_at_the_idle_timeout()
    {
        var sink = new CapturingSink();
        await using var service = await StartAsync(new() { ["Hj212:Tcp:IdleTimeout"] = "00:00:02" }, sink);
        var endpoint = await service.Hj212EndpointAsync();
        await using var d = await TestDatalogger.ConnectAsync(endpoint);
        var clock = Stopwatch.StartNew();
        var closed = d.ClosedByServerAsync(TimeSpan.FromSeconds(15));
        var chunk = System.Text.Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("\r\n", 2048)));
        while (!closed.IsCompleted && clock.Elapsed < TimeSpan.FromSeconds(15))
            if (!await d.TrySendAsync(chunk)) break;
        Assert.True(await closed);
        output.WriteLine($"line-end flood closed after {clock.Elapsed.TotalSeconds:F1} s");
        Assert.InRange(clock.Elapsed.TotalSeconds, 1.9, 6.0);
        Assert.Equal(1, service.Metrics.TcpClosed("idle"));
    }

    [Fact]
    public async Task Connections_over_the_per_address_and_global_caps_are_refused_logged_once_and_the_others_keep_working()
    {
        var sink = new CapturingSink();
        await using var service = await StartAsync(new() { ["Hj212:Tcp:MaxConnections"] = "5", ["Hj212:Tcp:MaxConnectionsPerAddress"] = "3" }, sink);
        var endpoint = await service.Hj212EndpointAsync();
        var metrics = service.Metrics;
        var open = new List<TestDatalogger>();
        try
        {
            // A refused connection is reset at once, sometimes before the client has seen its connect complete.
            async Task<bool> RefusedAsync(string from)
            {
                try
                {
                    await using var d = await TestDatalogger.ConnectAsync(endpoint, from);
                    return await d.ClosedByServerAsync(TimeSpan.FromSeconds(5));
                }
                catch (System.Net.Sockets.SocketException e) when (e.SocketErrorCode == System.Net.Sockets.SocketError.ConnectionReset)
                {
                    return true;
                }
            }
            for (var i = 0; i < 3; i++) open.Add(await TestDatalogger.ConnectAsync(endpoint, from: "127.0.0.1"));
            await TestInfrastructure.EventuallyAsync(() => metrics.TcpOpen == 3, Wait, "3 connections open");

            // The 4th from 127.0.0.1 is over Hj212:Tcp:MaxConnectionsPerAddress; 127.0.0.2 may still connect.
            Assert.True(await RefusedAsync("127.0.0.1"));
            for (var i = 0; i < 2; i++) open.Add(await TestDatalogger.ConnectAsync(endpoint, from: "127.0.0.2"));
            await TestInfrastructure.EventuallyAsync(() => metrics.TcpOpen == 5, Wait, "5 connections open");

            // Now Hj212:Tcp:MaxConnections (5) is reached: a storm of 21 more is refused, and logged once.
            for (var i = 0; i < 21; i++) Assert.True(await RefusedAsync("127.0.0.3"));
            await TestInfrastructure.EventuallyAsync(() => metrics.TcpClosed("max_connections") == 21, Wait, "21 refused");
            Assert.Equal(1, metrics.TcpClosed("per_address_limit"));
            Assert.Equal(21, metrics.TcpClosed("max_connections"));
            Assert.Equal(5, metrics.TcpOpen);
            Assert.Single(sink.Lines, l => l.StartsWith("Warning HJ 212: refused", StringComparison.Ordinal) && l.Contains("Hj212:Tcp:MaxConnectionsPerAddress (3)"));
            Assert.Single(sink.Lines, l => l.StartsWith("Warning HJ 212: refused", StringComparison.Ordinal) && l.Contains("Hj212:Tcp:MaxConnections (5)"));

            // The five that were let in still work.
            var t = RecentMinute(10);
            for (var i = 0; i < open.Count; i++)
            {
                await open[i].SendAsync(Frame(RealTime("AIR0001", "123456", t.AddSeconds(i), "a34004-Rtd=30", 5, $"L{i}")));
                Assert.Equal([Answer($"L{i}", "AIR0001", "123456")], await open[i].ReadFramesAsync(1, Wait));
            }
            // One of 127.0.0.1 leaves: 127.0.0.1 may connect again.
            await open[0].DisposeAsync();
            open.RemoveAt(0);
            await TestInfrastructure.EventuallyAsync(() => metrics.TcpOpen == 4, Wait, "4 connections open");
            open.Add(await TestDatalogger.ConnectAsync(endpoint, from: "127.0.0.1"));
            await open[^1].SendAsync(Frame(RealTime("AIR0001", "123456", t.AddSeconds(9), "a34004-Rtd=31", 5, "L9")));
            Assert.Equal([Answer("L9", "AIR0001", "123456")], await open[^1].ReadFramesAsync(1, Wait));
            Assert.Equal(6, (await PointsAsync(service, "air-1")).Count);
        }
        finally
        {
            foreach (var d in open) await d.DisposeAsync();
        }
    }

    /// <summary>The kinds of malformed input the fuzz sends.</summary>
    enum Fault { RandomBytes, Truncated, BadCrc, BadLength, HugeLength, UnknownDevice, LengthNotDigits, MalformedPacket, HashesAndDigits, NoCrLf }

    [Fact]
    public async Task A_fuzz_of_1040_malformed_inputs_over_8_connections_stores_every_good_reading_exactly_once()
    {
        var sink = new CapturingSink();
        // The bad-input limit is lifted: this is about what the reader makes of the bytes, not about the limit.
        await using var service = await StartAsync(new() { ["Hj212:Tcp:MaxBadBytesPerMinute"] = "100000000" }, sink);
        var endpoint = await service.Hj212EndpointAsync();
        const int connections = 8, faultsEach = 130;
        var stations = new[] { ("AIR0001", "123456", "air-1", "a34004", "pm25"), ("VOC0001", "x", "voc-1", "a24088", "nmhc"), ("WAT0001", "x", "w-fyh-1", "w01009", "do") };
        var start = RecentMinute(600);
        var expected = stations.ToDictionary(s => s.Item3, _ => new List<StoredPoint>());
        var counts = new Dictionary<Fault, int>();
        var plans = new List<(byte[] Bytes, List<string> Answers)>();
        for (var c = 0; c < connections; c++)
        {
            var random = new Random(4711 + c);
            var (mn, pw, station, code, parameter) = stations[c % stations.Length];
            var bytes = new List<byte>();
            var answers = new List<string>();
            var n = 0;
            string Segment(string qn, string who, int flag) =>
                RealTime(who, pw, start.AddSeconds(c * 1000 + n), $"{code}-Rtd={(n % 20) + 0.5:F1},{code}-Flag=N", flag, qn);
            void Text(string s) => bytes.AddRange(Encoding.ASCII.GetBytes(s));
            void Random(int min, int max) { var b = new byte[random.Next(min, max)]; random.NextBytes(b); bytes.AddRange(b); }
            for (var f = 0; f < faultsEach; f++)
            {
                var fault = (Fault)random.Next(10);
                counts[fault] = counts.GetValueOrDefault(fault) + 1;
                var bad = Frame(Segment($"B{c}{f}", mn, 5));
                switch (fault)
                {
                    case Fault.RandomBytes: Random(1, 300); break;
                    case Fault.Truncated: Text(bad[..random.Next(1, bad.Length - 1)]); break;
                    case Fault.BadCrc: Text(bad[..^6] + (Convert.ToInt32(bad[^6..^2], 16) ^ 0x1111).ToString("X4") + "\r\n"); break;
                    case Fault.BadLength: Text($"##{int.Parse(bad[2..6], CultureInfo.InvariantCulture) + (random.Next(2) == 0 ? -1 : 1) * random.Next(1, 20):D4}{bad[6..]}"); break;
                    case Fault.HugeLength: Text($"##{random.Next(1025, 10000):D4}QN=1;ST=22;CN=2011;" + new string('z', random.Next(0, 400)) + "\r\n"); break;
                    case Fault.UnknownDevice: Text(Frame(Segment($"U{c}{f}", $"NOBODY{c}", 5))); break;
                    case Fault.LengthNotDigits: Text("##0x" + bad[4..]); break;
                    case Fault.MalformedPacket: Text(Frame($"QN=M{c}{f};ST=22;CN=2011;PW={pw};MN={mn};Flag=5;no CP here")); break;
                    case Fault.HashesAndDigits: Text($"##{random.Next(0, 10000):D4}"); Random(0, 100); break;
                    case Fault.NoCrLf: Text(bad[..^2] + "ab"); break;
                }
                if (random.Next(2) == 0)
                {
                    var qn = $"F{c}{f}";
                    var value = (n % 20) + 0.5;
                    expected[station].Add(new StoredPoint(start.AddSeconds(c * 1000 + n), parameter, value, "N"));
                    Text(Frame(Segment(qn, mn, 5)));
                    answers.Add(Answer(qn, mn, pw));
                }
                n++;
            }
            // Blank lines between frames are allowed; a frame of the largest size of them makes the reader decide on
            // a candidate whose declared length would otherwise wait for the next frame.
            Text(string.Concat(Enumerable.Repeat("\r\n", 520)));
            plans.Add((bytes.ToArray(), answers));
        }
        Assert.Equal(connections * faultsEach, counts.Values.Sum());

        var received = await Task.WhenAll(plans.Select(async (plan, c) =>
        {
            var random = new Random(c);
            await using var d = await TestDatalogger.ConnectAsync(endpoint);
            for (var at = 0; at < plan.Bytes.Length;)
            {
                var size = Math.Min(random.Next(1, 1500), plan.Bytes.Length - at);
                await d.SendAsync(plan.Bytes[at..(at + size)]);
                at += size;
            }
            return await d.ReadFramesAsync(plan.Answers.Count, Wait);
        }));
        for (var c = 0; c < connections; c++) Assert.Equal(plans[c].Answers, received[c]); // each good frame answered once, in order

        foreach (var (station, points) in expected)
        {
            await TestInfrastructure.EventuallyAsync(async () => (await PointsAsync(service, station)).Count >= points.Count, Wait, $"{points.Count} readings of {station}");
            Assert.Equal(points.OrderBy(p => p.Time), await PointsAsync(service, station));
        }
        var metrics = service.Metrics;
        await TestInfrastructure.EventuallyAsync(() => metrics.TcpOpen == 0, Wait, "all connections closed");
        Assert.Equal(counts[Fault.UnknownDevice], metrics.RejectionsFor(RejectReason.UnknownDevice));
        Assert.Equal(counts[Fault.MalformedPacket], metrics.RejectionsFor(RejectReason.MalformedPacket));
        await TestInfrastructure.EventuallyAsync(() => metrics.RejectionsFor(RejectReason.BadFrame) == metrics.TcpBadRuns, Wait, "one dead letter per run of bad frames");
        Assert.Equal(connections, metrics.TcpClosed("peer"));
        Assert.DoesNotContain(sink.Lines, l => l.StartsWith("Error", StringComparison.Ordinal) || l.StartsWith("Fatal", StringComparison.Ordinal));
        using var http = new HttpClient { BaseAddress = service.HttpAddress };
        Assert.True((await http.GetAsync("/healthz")).IsSuccessStatusCode);

        var status = File.ReadAllLines("/proc/self/status").Where(l => l.StartsWith("VmHWM", StringComparison.Ordinal) || l.StartsWith("VmRSS", StringComparison.Ordinal));
        output.WriteLine($"fuzz: {counts.Values.Sum()} malformed inputs ({string.Join(", ", counts.OrderBy(k => k.Key).Select(k => $"{k.Key} {k.Value}"))}), " +
            $"{expected.Values.Sum(p => p.Count)} good frames, {metrics.TcpBadRuns} bad runs of {metrics.TcpBadFrames} bad frames, {metrics.TcpBadBytes} bad bytes; " +
            $"test process {string.Join(", ", status.Select(s => Regex.Replace(s, @"\s+", " ")))}, managed heap {GC.GetTotalMemory(false) / 1024 / 1024} MiB");
    }

    [Theory]
    [InlineData("Hj212:Tcp:WriteTimeout", "00:00:00", "Hj212:Tcp:WriteTimeout must be positive")]
    [InlineData("Hj212:Tcp:FrameTimeout", "-00:00:01", "Hj212:Tcp:FrameTimeout must be positive")]
    [InlineData("Hj212:Tcp:OutboxCapacity", "0", "Hj212:Tcp:OutboxCapacity must be 1-1000000")]
    [InlineData("Hj212:Tcp:MaxConnectionsPerAddress", "0", "Hj212:Tcp:MaxConnectionsPerAddress must be at least 1")]
    [InlineData("Hj212:Tcp:MaxBadBytesPerMinute", "1035", "Hj212:Tcp:MaxBadBytesPerMinute must be at least one frame of the largest size")]
    public async Task A_wrong_tcp_limit_stops_start_up_naming_it(string key, string value, string message)
    {
        await using var service = new ServiceUnderTest(new() { [key] = value });
        var e = await Assert.ThrowsAsync<OptionsValidationException>(service.StartAsync);
        Assert.Contains(message, string.Join(" ", e.Failures));
    }

    [Fact]
    public void The_bad_input_limit_takes_exactly_one_frame_of_the_largest_size()
    {
        // Hj212:MaxSegmentLength 1024 + "##", 4 length digits, 4 CRC digits, CR LF = 1036.
        Assert.Empty(new Hj212TcpSettings { MaxBadBytesPerMinute = 1036 }.Validate(1024));
        Assert.Single(new Hj212TcpSettings { MaxBadBytesPerMinute = 1035 }.Validate(1024));
        Assert.Empty(new Hj212TcpSettings().Validate(1024)); // the defaults
    }
}

/// <summary>What the frame reader makes of the faults the TCP listener relies on it for (no service needed).</summary>
public sealed class Hj212FrameReaderFaultTests
{
    const string Segment = "QN=20260301080000000;ST=22;CN=2011;PW=123456;MN=AIR0001;Flag=5;CP=&&DataTime=20260301080000;a34004-Rtd=35.2&&";

    static (List<FrameResult> Results, Hj212FrameReader Reader) Read(bool finish, params string[] chunks)
    {
        var reader = new Hj212FrameReader(1024);
        var results = new List<FrameResult>();
        foreach (var chunk in chunks)
        {
            reader.Append(Encoding.ASCII.GetBytes(chunk));
            reader.Read(results);
        }
        if (finish) reader.Finish(results);
        return (results, reader);
    }

    [Fact]
    public void A_stray_hash_right_before_a_frame_costs_only_itself()
    {
        var good = Hj212TestFrames.Frame(Segment);
        var (results, _) = Read(false, "garbage#" + good);
        Assert.Equal(["garbage", "#"], results.Where(r => !r.IsFrame).Select(r => Encoding.ASCII.GetString(r.Raw)));
        Assert.Equal(Segment, Assert.Single(results, r => r.IsFrame).Segment);
    }

    [Fact]
    public void A_truncated_frame_whose_length_ends_on_the_next_frames_CR_LF_does_not_take_that_frame()
    {
        // The truncated frame declares L bytes; its first k bytes are followed by the good frame, and k + the good
        // frame's length = L + 12: the CR LF and 4 hex digits are where the declared length says, only the CRC fails.
        var good = Hj212TestFrames.Frame(Segment);
        const int k = 40;
        var declared = good.Length + k - Hj212Frame.Overhead;
        var truncated = $"##{declared:D4}" + Segment[..(k - 6)];
        var (results, _) = Read(false, truncated + good);
        var bad = Assert.Single(results, r => !r.IsFrame);
        Assert.StartsWith("CRC mismatch", bad.Error);
        Assert.Equal(truncated, Encoding.ASCII.GetString(bad.Raw));
        Assert.Equal(Segment, Assert.Single(results, r => r.IsFrame).Segment);
    }

    [Fact]
    public void At_the_end_of_input_whole_frames_behind_a_truncated_one_are_kept()
    {
        var good = Hj212TestFrames.Frame(Segment);
        var truncated = "##0500QN=20260301080000000;ST=22"; // waits for 512 bytes that never come
        var (waiting, reader) = Read(false, truncated + good);
        Assert.Empty(waiting);
        Assert.Equal(truncated.Length + good.Length, reader.Pending);
        reader.Finish(waiting);
        Assert.Equal([false, true], waiting.Select(r => r.IsFrame));
        Assert.StartsWith("truncated frame", waiting[0].Error);
        Assert.Equal(truncated, Encoding.ASCII.GetString(waiting[0].Raw));
        Assert.Equal(Segment, waiting[1].Segment);
        Assert.Equal(truncated.Length + good.Length, reader.Consumed);
    }

    [Fact]
    public void The_rest_of_an_oversized_frame_arriving_later_is_counted_but_not_reported_again()
    {
        var big = $"##2000{new string('x', 2000)}0000\r\n"; // 2012 bytes
        var (results, reader) = Read(false, big[..100], big[100..], Hj212TestFrames.Frame(Segment));
        Assert.Equal(100, Assert.Single(results, r => !r.IsFrame).Raw.Length);
        Assert.Equal(2012 - 100, reader.RestOfBadFrameBytes);
        Assert.Single(results, r => r.IsFrame);
    }
}
