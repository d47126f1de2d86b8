using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using EcoMonitor.Service.Ingestion;
using EcoMonitor.Service.Tests.Support;

namespace EcoMonitor.Service.Tests;

/// <summary>HJ 212 frames over the real mosquitto and over TCP, stored in the real InfluxDB.</summary>
[Trait("Category", "Integration")]
public sealed class Hj212IntegrationTests : IAsyncLifetime
{
    static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);
    static readonly TimeSpan China = TimeSpan.FromHours(8);
    readonly ServiceUnderTest _service = new();
    TestMqttClient _deadLetters = null!;

    public async Task InitializeAsync()
    {
        await _service.StartAsync();
        _deadLetters = await TestMqttClient.ConnectAsync($"{_service.Prefix}/deadletter/#");
    }

    public async Task DisposeAsync()
    {
        await _deadLetters.DisposeAsync();
        await _service.DisposeAsync();
    }

    static string Frame(string segment) => Hj212TestFrames.Frame(segment);

    static string Local(DateTimeOffset t) => t.ToOffset(China).ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture);

    static DateTimeOffset RecentMinute(int minutesAgo) =>
        new DateTimeOffset(DateTime.UtcNow.Ticks / TimeSpan.TicksPerMinute * TimeSpan.TicksPerMinute, TimeSpan.Zero).AddMinutes(-minutesAgo);

    static string RealTime(string mn, string pw, DateTimeOffset t, string cp, int flag = 4, string qn = "20260301000000000") =>
        $"QN={qn};ST=22;CN=2011;PW={pw};MN={mn};Flag={flag};CP=&&DataTime={Local(t)};{cp}&&";

    async Task<List<StoredPoint>> PointsAsync(string station)
    {
        using var influx = TestInfrastructure.Influx(_service.Database);
        return await TestInfrastructure.PointsAsync(influx, station);
    }

    [Fact]
    public async Task Mqtt_frames_of_air_vocs_and_water_stations_are_stored_with_values_times_and_flags()
    {
        var t = RecentMinute(5);
        var hour = new DateTimeOffset(t.Ticks / TimeSpan.TicksPerHour * TimeSpan.TicksPerHour, TimeSpan.Zero).AddHours(-1);
        await using var gateway = await TestMqttClient.ConnectAsync();
        await gateway.PublishAsync($"{_service.Prefix}/air-1/hj212",
            Frame(RealTime("AIR0001", "123456", t, "a34004-Rtd=35.2,a34004-Flag=N;a34002-Rtd=81.0,a34002-Flag=D")) +
            Frame(RealTime("AIR0001", "123456", t.AddMinutes(1), "a34004-Rtd=36.0")) +
            Frame($"QN=1;ST=22;CN=2061;PW=123456;MN=AIR0001;Flag=4;CP=&&DataTime={Local(hour)};a34004-Avg=38.5,a34004-Min=30,a34004-Max=47,a34004-Flag=N&&"));
        await gateway.PublishAsync($"{_service.Prefix}/voc-1/hj212",
            Frame($"QN=1;ST=27;CN=2061;PW=x;MN=VOC0001;Flag=4;CP=&&DataTime={Local(hour)};a24088-Avg=1.8,a24088-Max=6.2,a24088-Flag=N&&"));
        await gateway.PublishAsync($"{_service.Prefix}/w-fyh-1/hj212", Frame(RealTime("WAT0001", "x", t, "w01009-Rtd=5.6,w01009-Flag=N;w01019-Rtd=6.1")));
        await gateway.PublishAsync($"{_service.Prefix}/voc-1/hj212", Frame(RealTime("VOC0001", "x", t, "a24088-Rtd=2.45,a24088-Flag=T")));
        await gateway.PublishAsync($"{_service.Prefix}/w-fyh-1/hj212",
            Frame($"QN=1;ST=21;CN=2061;PW=x;MN=WAT0001;Flag=4;CP=&&DataTime={Local(hour)};w01001-Avg=7.6,w01001-Min=7.4,w01001-Max=7.9,w01001-Flag=N;w21003-Avg=0.82,w21003-Flag=C&&"));

        await TestInfrastructure.EventuallyAsync(async () => (await PointsAsync("air-1")).Count == 3, Wait, "3 air points");
        Assert.Equal([new StoredPoint(t, "pm10", 81, "D"), new StoredPoint(t, "pm25", 35.2, "N"), new StoredPoint(t.AddMinutes(1), "pm25", 36, "N")],
            (await PointsAsync("air-1")).OrderBy(p => p.Time).ThenBy(p => p.Parameter));
        await TestInfrastructure.EventuallyAsync(async () => (await PointsAsync("voc-1")).Count == 1, Wait, "1 VOCs point");
        Assert.Equal(new StoredPoint(t, "nmhc", 2.45, "T"), (await PointsAsync("voc-1")).Single());

        using var influx = TestInfrastructure.Influx(_service.Database);
        await TestInfrastructure.EventuallyAsync(async () => (await influx.QueryAsync("SELECT * FROM \"stat\" WHERE \"station\" = 'w-fyh-1'")).Count > 0, Wait, "water statistics stored");
        var stats = (await influx.QueryAsync("SELECT * FROM \"stat\" WHERE \"station\" = $s", new Dictionary<string, object> { ["s"] = "w-fyh-1" }))
            .SelectMany(s => s.Rows()).ToDictionary(r => r["parameter"].GetString()!);
        Assert.Equal(2, stats.Count);
        Assert.All(stats.Values, r => Assert.Equal(hour.ToUnixTimeMilliseconds(), r["time"].GetInt64()));
        Assert.All(stats.Values, r => Assert.Equal("hour", r["period"].GetString()));
        Assert.Equal((7.6, 7.4, 7.9, "N"), (stats["ph"]["avg"].GetDouble(), stats["ph"]["min"].GetDouble(), stats["ph"]["max"].GetDouble(), stats["ph"]["flag"].GetString()));
        Assert.Equal((0.82, "C"), (stats["nh3n"]["avg"].GetDouble(), stats["nh3n"]["flag"].GetString()));
        Assert.Equal([new StoredPoint(t, "codmn", 6.1, "N"), new StoredPoint(t, "do", 5.6, "N")], (await PointsAsync("w-fyh-1")).OrderBy(p => p.Parameter));
        await TestInfrastructure.EventuallyAsync(async () => (await influx.QueryAsync("SELECT * FROM \"stat\"")).SelectMany(x => x.Values).Count() == 4, Wait, "4 statistics");
        var others = (await influx.QueryAsync("SELECT * FROM \"stat\" WHERE \"station\" != 'w-fyh-1'")).SelectMany(x => x.Rows()).ToDictionary(r => r["station"].GetString()!);
        Assert.Equal((38.5, 30.0, 47.0, hour.ToUnixTimeMilliseconds()), (others["air-1"]["avg"].GetDouble(), others["air-1"]["min"].GetDouble(), others["air-1"]["max"].GetDouble(), others["air-1"]["time"].GetInt64()));
        Assert.Equal((1.8, 6.2, "nmhc"), (others["voc-1"]["avg"].GetDouble(), others["voc-1"]["max"].GetDouble(), others["voc-1"]["parameter"].GetString()));
        Assert.Equal(JsonValueKind.Null, others["voc-1"]["min"].ValueKind); // only what the datalogger sent
        Assert.Empty(_deadLetters.Received);
    }

    sealed class Datalogger : IAsyncDisposable
    {
        readonly TcpClient _tcp = new();
        readonly List<byte> _received = [];
        NetworkStream Stream => _tcp.GetStream();

        public static async Task<Datalogger> ConnectAsync(System.Net.IPEndPoint endpoint)
        {
            var d = new Datalogger();
            await d._tcp.ConnectAsync(endpoint);
            return d;
        }

        public Task SendAsync(string text) => Stream.WriteAsync(Encoding.ASCII.GetBytes(text)).AsTask();

        /// <summary>Reads until <paramref name="count"/> complete response frames have arrived.</summary>
        public async Task<List<string>> ReadFramesAsync(int count, TimeSpan timeout)
        {
            using var cts = new CancellationTokenSource(timeout);
            var buffer = new byte[4096];
            while (Frames().Count < count)
            {
                var n = await Stream.ReadAsync(buffer, cts.Token);
                if (n == 0) break;
                _received.AddRange(buffer.AsSpan(0, n).ToArray());
            }
            return Frames();
        }

        List<string> Frames() => Encoding.ASCII.GetString(_received.ToArray()).Split("\r\n", StringSplitOptions.RemoveEmptyEntries).Select(f => f + "\r\n").ToList();

        public async Task<bool> ClosedByServerAsync(TimeSpan timeout)
        {
            using var cts = new CancellationTokenSource(timeout);
            try
            {
                return await Stream.ReadAsync(new byte[16], cts.Token) == 0;
            }
            catch (IOException)
            {
                return true;
            }
        }

        public ValueTask DisposeAsync()
        {
            _tcp.Dispose();
            return ValueTask.CompletedTask;
        }
    }

    [Fact]
    public async Task Tcp_frames_are_stored_and_answered_byte_for_byte_only_when_asked_and_once_stored()
    {
        var endpoint = await _service.Hj212EndpointAsync();
        await using var logger = await Datalogger.ConnectAsync(endpoint);
        var t = RecentMinute(3);
        await logger.SendAsync(Frame(RealTime("AIR0001", "123456", t, "a34004-Rtd=40", flag: 4, qn: "20260301120000001"))); // no answer wanted
        await logger.SendAsync(Frame("QN=20260301120000002;ST=22;CN=9015;PW=123456;MN=AIR0001;Flag=5;CP=&&&&")); // heartbeat, answer wanted
        await logger.SendAsync(Frame(RealTime("AIR0001", "123456", t.AddMinutes(1), "a34004-Rtd=41,a34004-Flag=N;a34002-Rtd=90", flag: 5, qn: "20260301120000003")));

        var answers = await logger.ReadFramesAsync(2, Wait);
        Assert.Equal(
        [
            Frame("QN=20260301120000002;ST=91;CN=9014;PW=123456;MN=AIR0001;Flag=4;CP=&&&&"),
            Frame("QN=20260301120000003;ST=91;CN=9014;PW=123456;MN=AIR0001;Flag=4;CP=&&&&"),
        ], answers);
        // The answer came after the data was stored.
        Assert.Equal(3, (await PointsAsync("air-1")).Count);
    }

    [Fact]
    public async Task Bad_frames_on_tcp_are_dead_lettered_and_the_connection_survives()
    {
        var endpoint = await _service.Hj212EndpointAsync();
        await using var logger = await Datalogger.ConnectAsync(endpoint);
        var t = RecentMinute(2);
        var good = Frame(RealTime("AIR0001", "123456", t, "a34004-Rtd=20", flag: 5, qn: "20260301120000009"));
        var length = int.Parse(good[2..6], CultureInfo.InvariantCulture);
        // Bytes after a bad frame, up to the next "##", count as part of it: the garbage goes first.
        await logger.SendAsync("\u0000\u0013garbage bytes");                          // garbage
        await logger.SendAsync(good.Replace("Rtd=20", "Rtd=21"));                      // CRC mismatch
        await logger.SendAsync($"##{length - 3:D4}{good[6..]}");                       // wrong length
        await logger.SendAsync($"##2000{new string('x', 2000)}0000\r\n");              // oversized
        await logger.SendAsync(Frame(RealTime("NOBODY", "1", t, "a34004-Rtd=20", flag: 5))); // unknown device: not answered
        await logger.SendAsync(good);

        var answer = Assert.Single(await logger.ReadFramesAsync(1, Wait));
        Assert.Equal(Frame("QN=20260301120000009;ST=91;CN=9014;PW=123456;MN=AIR0001;Flag=4;CP=&&&&"), answer);
        Assert.Equal(new StoredPoint(t, "pm25", 20, "N"), Assert.Single(await PointsAsync("air-1")));

        // The four bad frames come one after the other: one dead letter for the run (garbage 15 bytes, the CRC
        // mismatch and the wrong length a good frame's length each, the oversized one 6 + 2000 + 6), then the
        // unknown device's frame, which is a whole frame and dead-lettered on its own.
        await TestInfrastructure.EventuallyAsync(() => _deadLetters.Received.Count == 2, Wait, "two dead letters");
        await Task.Delay(300);
        var letters = _deadLetters.Received.Select(m => m.Payload.Json()).ToList();
        Assert.Equal(2, letters.Count);
        var run = Assert.Single(letters, l => l.GetProperty("reason").GetString() == RejectReason.BadFrame);
        Assert.StartsWith($"4 bad frames in a row ({15 + 2 * good.Length + 2012} bytes); first: bytes outside any frame; last: frame too large",
            run.GetProperty("rejections")[0].GetProperty("detail").GetString());
        Assert.Single(letters, l => l.GetProperty("reason").GetString() == RejectReason.UnknownDevice);
        Assert.All(letters, l => Assert.StartsWith("tcp/127.0.0.1:", l.GetProperty("topic").GetString()));

        // A frame cut off by the datalogger closing the connection is reported as truncated.
        await using (var cut = await Datalogger.ConnectAsync(endpoint))
            await cut.SendAsync(good[..40]);
        await TestInfrastructure.EventuallyAsync(() => _deadLetters.Received.Count == 3, Wait, "a third dead letter");
        Assert.Contains(_deadLetters.Received, m => m.Payload.Json().GetProperty("rejections")[0].GetProperty("detail").GetString()!.Contains("truncated"));
    }

    [Fact]
    public async Task Fifty_concurrent_dataloggers_sending_random_fragments_lose_nothing()
    {
        var endpoint = await _service.Hj212EndpointAsync();
        const int clients = 50, framesEach = 20;
        var start = RecentMinute(120);
        var stations = new[] { ("AIR0001", "123456", "air-1", "a34004"), ("VOC0001", "p", "voc-1", "a24088"), ("WAT0001", "p", "w-fyh-1", "w01001") };
        var answered = new int[clients];
        await Task.WhenAll(Enumerable.Range(0, clients).Select(async c =>
        {
            var random = new Random(c);
            var (mn, pw, _, code) = stations[c % 3];
            var text = string.Concat(Enumerable.Range(0, framesEach).Select(f =>
                Frame(RealTime(mn, pw, start.AddSeconds(c * framesEach + f), $"{code}-Rtd={(code == "w01001" ? 7 : 10 + f)}", flag: 5, qn: $"2026030112{c:D2}{f:D2}000"))));
            await using var logger = await Datalogger.ConnectAsync(endpoint);
            for (var at = 0; at < text.Length;)
            {
                var size = Math.Min(random.Next(1, 120), text.Length - at);
                await logger.SendAsync(text.Substring(at, size));
                at += size;
                if (random.Next(4) == 0) await Task.Delay(random.Next(1, 5));
            }
            answered[c] = (await logger.ReadFramesAsync(framesEach, Wait)).Count;
        }));
        Assert.All(answered, n => Assert.Equal(framesEach, n));
        var stored = 0;
        foreach (var (_, _, station, _) in stations) stored += (await PointsAsync(station)).Count;
        Assert.Equal(clients * framesEach, stored);
    }

    [Fact]
    public async Task An_idle_connection_is_closed()
    {
        await using var service = new ServiceUnderTest(new() { ["Hj212:Tcp:IdleTimeout"] = "00:00:01" });
        await service.StartAsync();
        await using var logger = await Datalogger.ConnectAsync(await service.Hj212EndpointAsync());
        Assert.True(await logger.ClosedByServerAsync(TimeSpan.FromSeconds(10)));
    }
}
