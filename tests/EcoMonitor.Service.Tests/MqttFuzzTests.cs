using System.Globalization;
using System.Text;
using System.Text.Json;
using EcoMonitor.Service.Hosting;
using EcoMonitor.Service.Ingestion;
using EcoMonitor.Service.Storage;
using EcoMonitor.Service.Tests.Support;
using Microsoft.Extensions.Options;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;
using Xunit.Abstractions;

namespace EcoMonitor.Service.Tests;

/// <summary>10,000 malformed payloads on the readings topics, interleaved with 500 good readings, published
/// to the service running as its own process behind the shipped mosquitto config: the service stays up and healthy
/// throughout, every good reading is stored exactly once, every bad payload comes back exactly once on the dead-letter
/// topic (byte for byte), nothing is left unacknowledged, and the process's peak resident set is reported.</summary>
[Trait("Category", "Integration")]
[Collection(ProcessFaultTests.Collection)]
public sealed class MqttFuzzTests(ITestOutputHelper output)
{
    const int Seed = 20261201;
    const int BadOnReadingsTopics = 10_000;
    const int GoodMessages = 500;
    const int MaxPayloadBytes = 262_144; // the default of Ingestion:MaxPayloadBytes
    static readonly TimeSpan Wait = TimeSpan.FromSeconds(45);

    /// <summary>A payload the service must refuse, the kind of damage, and the reasons it may give for it.</summary>
    sealed record Bad(string Topic, byte[] Payload, string Kind, string[] Reasons);

    sealed class Corpus(Random random, string prefix, DateTimeOffset now)
    {
        public readonly List<Bad> Bad = [];
        public readonly List<(string Topic, byte[] Payload)> Good = [];
        public readonly List<(string Topic, byte[] Payload)> WrongTopics = [];
        public readonly HashSet<(string Station, string Parameter, DateTimeOffset Time, double Value)> Expected = [];
        int _goodSerial;

        string Topic(string station) => $"{prefix}/{station}/readings";

        static string Ms(DateTimeOffset t) => t.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture);

        DateTimeOffset RecentTime() => now.AddMinutes(-random.Next(10, 20_000)).AddMilliseconds(random.Next(0, 60_000));

        /// <summary>A valid reading JSON (not stored: used as the raw material of bad ones).</summary>
        string Valid(DateTimeOffset t, double pm25) => $$$"""{"ts": {{{Ms(t)}}}, "values": {"pm25": {{{pm25.ToString(CultureInfo.InvariantCulture)}}}, "pm10": 80}}""";

        void Add(string kind, byte[] payload, params string[] reasons) => Add(Topic(Pick("air-1", "air-2", "air-3")), kind, payload, reasons);

        void Add(string topic, string kind, byte[] payload, params string[] reasons) => Bad.Add(new(topic, payload, kind, reasons));

        void Add(string kind, string payload, params string[] reasons) => Add(kind, Encoding.UTF8.GetBytes(payload), reasons);

        T Pick<T>(params T[] items) => items[random.Next(items.Length)];

        public void AddGood()
        {
            var station = Pick("air-1", "air-2", "air-3");
            // Distinct times: a serial number of seconds in the last day, so no two good readings share an identity.
            var t = DateTimeOffset.FromUnixTimeSeconds(now.AddDays(-1).ToUnixTimeSeconds()).AddSeconds(_goodSerial * 7);
            var pm25 = Math.Round(random.NextDouble() * 500, 1);
            var pm10 = _goodSerial % 1000 + 0.5;
            _goodSerial++;
            Good.Add((Topic(station), Encoding.UTF8.GetBytes($$$"""[{"ts": {{{Ms(t)}}}, "values": {"pm25": {{{pm25.ToString(CultureInfo.InvariantCulture)}}}, "pm10": {{{pm10.ToString(CultureInfo.InvariantCulture)}}}}}]""")));
            Expected.Add((station, "pm25", t, pm25));
            Expected.Add((station, "pm10", t, pm10));
        }

        public void AddBad()
        {
            var t = RecentTime();
            var valid = Valid(t, 35);
            switch (random.Next(14))
            {
                case 0: // random bytes
                {
                    var bytes = new byte[random.Next(1, 600)];
                    random.NextBytes(bytes);
                    bytes[0] = (byte)Pick('x', 0xFF, 0x00, '}', ']', 'n', '-'); // never the start of a reading ("-5" is JSON, but not an object)
                    Add("random bytes", bytes, RejectReason.MalformedJson, RejectReason.InvalidStructure, RejectReason.InvalidUtf8);
                    break;
                }
                case 1: // truncated JSON: every proper prefix of an object is malformed
                    Add("truncated JSON", valid[..random.Next(0, valid.Length - 1)], RejectReason.MalformedJson);
                    break;
                case 2: // wrong types
                    Add("wrong type", Pick(
                        $$$"""{"ts": {{{Ms(t)}}}, "values": {"pm25": "35"}}""",
                        $$$"""{"ts": {{{Ms(t)}}}, "values": {"pm25": null}}""",
                        $$$"""{"ts": {{{Ms(t)}}}, "values": {"pm25": true}}""",
                        $$$"""{"ts": {{{Ms(t)}}}, "values": {"pm25": [35]}}""",
                        $$$"""{"ts": {{{Ms(t)}}}, "values": {"pm25": {"v": 35""" + "}}}"),
                        RejectReason.InvalidValue);
                    Add("wrong type", Pick(
                        $$$"""{"ts": {{{Ms(t)}}}, "values": [35]}""",
                        $$$"""{"ts": {{{Ms(t)}}}, "values": "pm25=35"}""",
                        $$$"""{"ts": {{{Ms(t)}}}}"""),
                        RejectReason.InvalidStructure);
                    Add("wrong type", Pick("\"reading\"", "42", "null", "true", "[]", "[1, 2]", "[\"a\"]"), RejectReason.InvalidStructure);
                    Add("wrong type", Pick(
                        """{"ts": true, "values": {"pm25": 35}}""",
                        """{"ts": {"ms": 1}, "values": {"pm25": 35}}""",
                        """{"ts": "yesterday", "values": {"pm25": 35}}""",
                        """{"ts": 1.5e12, "values": {"pm25": 35}}""",
                        """{"values": {"pm25": 35}}"""),
                        RejectReason.InvalidTimestamp);
                    break;
                case 3: // huge numbers
                    Add("huge number", Pick(
                        $$$"""{"ts": {{{Ms(t)}}}, "values": {"pm25": 1e308}}""",
                        $$$"""{"ts": {{{Ms(t)}}}, "values": {"pm25": 123456789012345678901234567890}}"""),
                        RejectReason.OutOfRange);
                    Add("huge number", $$$"""{"ts": {{{Ms(t)}}}, "values": {"pm25": -1e308}}""", RejectReason.NegativeValue);
                    Add("huge number", $$$"""{"ts": {{{Ms(t)}}}, "values": {"pm25": 1e400}}""", RejectReason.NonFiniteValue, RejectReason.InvalidValue, RejectReason.OutOfRange);
                    Add("huge number", Pick(
                        """{"ts": 99999999999999999999999, "values": {"pm25": 35}}""",
                        """{"ts": -99999999999999, "values": {"pm25": 35}}""",
                        """{"ts": 1e30, "values": {"pm25": 35}}"""),
                        RejectReason.InvalidTimestamp);
                    break;
                case 4: // NaN and infinities as text
                    Add("NaN text", Pick(
                        $$$"""{"ts": {{{Ms(t)}}}, "values": {"pm25": "NaN"}}""",
                        $$$"""{"ts": {{{Ms(t)}}}, "values": {"pm25": "Infinity"}}""",
                        $$$"""{"ts": {{{Ms(t)}}}, "values": {"pm25": "-Infinity"}}"""),
                        RejectReason.NonFiniteValue);
                    Add("NaN text", Pick(
                        $$$"""{"ts": {{{Ms(t)}}}, "values": {"pm25": NaN}}""",
                        $$$"""{"ts": {{{Ms(t)}}}, "values": {"pm25": Infinity}}"""),
                        RejectReason.MalformedJson);
                    break;
                case 5: // deep nesting
                {
                    var depth = random.Next(9, 3000);
                    Add("deep nesting", Pick(new string('[', depth) + new string(']', depth),
                        string.Concat(Enumerable.Repeat("{\"a\":", depth)) + "1" + new string('}', depth)), RejectReason.MalformedJson);
                    Add("deep nesting", $$$"""{"ts": {{{Ms(t)}}}, "values": {"pm25": {"a": {"b": {"c": {"d": {"e": {"f": 1""" + new string('}', 8), RejectReason.MalformedJson, RejectReason.InvalidValue);
                    break;
                }
                case 6: // invalid UTF-8 where it matters: in a parameter name, in the time, in the structure
                {
                    var text = Pick("{\"ts\": " + Ms(t) + ", \"values\": {\"pm\u00FF25\": 35}}", "{\"ts\": \"" + t.ToString("yyyy-MM-ddTHH:mm:ss", CultureInfo.InvariantCulture) + "\u00FF+00:00\", \"values\": {\"pm25\": 35}}", valid + "\u00FF");
                    var bytes = Encoding.UTF8.GetBytes(text);
                    var at = Array.IndexOf(bytes, (byte)0xC3); // U+00FF is C3 BF: make it a lone continuation or an overlong form
                    bytes[at] = Pick((byte)0xFF, (byte)0xC0, (byte)0x80, (byte)0xED);
                    Add("invalid UTF-8", bytes, RejectReason.InvalidUtf8);
                    break;
                }
                case 7: // empty
                    Add("empty", [], RejectReason.MalformedJson);
                    break;
                case 8: // timestamps
                    Add("timestamp", Valid(now.AddDays(2), 35), RejectReason.TimestampInFuture);
                    Add("timestamp", Valid(now.AddDays(-40), 35), RejectReason.TimestampTooOld);
                    Add("timestamp", $$$"""{"ts": "{{{t:yyyy-MM-ddTHH:mm:ss}}}", "values": {"pm25": 35}}""", RejectReason.InvalidTimestamp);
                    break;
                case 9: // names, units, flags, ranges
                    Add("semantics", $$$"""{"ts": {{{Ms(t)}}}, "values": {"pm26": 35}}""", RejectReason.UnknownParameter);
                    Add("semantics", $$$"""{"ts": {{{Ms(t)}}}, "values": {"pm25": -3}}""", RejectReason.NegativeValue);
                    Add("semantics", $$$"""{"ts": {{{Ms(t)}}}, "values": {"pm25": 35}, "units": {"pm25": "furlongs"}}""", RejectReason.UnknownUnit);
                    Add("semantics", $$$"""{"ts": {{{Ms(t)}}}, "values": {"pm25": 35}, "flags": {"pm25": "Q"}}""", RejectReason.InvalidFlag);
                    Add("semantics", $$$"""{"ts": {{{Ms(t)}}}, "values": {}}""", RejectReason.InvalidStructure);
                    break;
                case 10: // topics that name no known station, or the wrong kind
                    Add($"{prefix}/nosuch-station/readings", "unknown station", Encoding.UTF8.GetBytes(valid), RejectReason.UnknownStation);
                    Add($"{prefix}/bad station!/readings", "invalid station id", Encoding.UTF8.GetBytes(valid), RejectReason.InvalidStationId);
                    Add($"{prefix}//readings", "invalid station id", Encoding.UTF8.GetBytes(valid), RejectReason.InvalidStationId);
                    Add(Topic("w-fyh-1"), "wrong kind", Encoding.UTF8.GetBytes(valid), RejectReason.ParameterNotForStationKind);
                    break;
                case 11: // too many readings
                    Add("too many readings", "[" + string.Join(",", Enumerable.Repeat(valid, 1001)) + "]", RejectReason.TooManyReadings);
                    break;
                case 12: // random printable text and JSON-looking noise
                {
                    var chars = new char[random.Next(1, 300)];
                    const string alphabet = "{}[]\":,0123456789.eE+-tsvaluesnrfpm25 \t\n\\";
                    for (var i = 0; i < chars.Length; i++) chars[i] = alphabet[random.Next(alphabet.Length)];
                    chars[0] = Pick('}', ']', ':', ',', '"');
                    Add("noise", new string(chars), RejectReason.MalformedJson);
                    break;
                }
                default: // binary that is valid UTF-8 but control characters
                {
                    var chars = new char[random.Next(1, 200)];
                    for (var i = 0; i < chars.Length; i++) chars[i] = (char)random.Next(0, 32);
                    Add("control characters", new string(chars), RejectReason.MalformedJson);
                    break;
                }
            }
        }

        /// <summary>Payloads just above Ingestion:MaxPayloadBytes: valid JSON padded with spaces, so only the size
        /// can refuse them.</summary>
        public void AddOversized(int count)
        {
            for (var i = 0; i < count; i++)
            {
                var json = Valid(RecentTime(), 35);
                // Up to 2 KiB over: the dead letter (payload, escapes, reasons) stays within the broker's message_size_limit.
                var size = MaxPayloadBytes + 1 + random.Next(0, 2048);
                Add("oversized", json + new string(' ', size - json.Length), RejectReason.PayloadTooLarge);
            }
        }

        /// <summary>Good readings on topics the service does not subscribe to: never stored, never dead-lettered.</summary>
        public void AddWrongTopics(int count)
        {
            for (var i = 0; i < count; i++)
            {
                var t = now.AddDays(-2).AddSeconds(-i);
                WrongTopics.Add((Pick($"{prefix}/air-1/readings/extra", $"{prefix}/air-1/reading", $"{prefix}/air-1", $"{prefix}",
                    $"other/air-1/readings", $"{prefix}/air-1/Readings", $"{prefix}/air-1/readings/"), Encoding.UTF8.GetBytes(Valid(t, 999.5))));
            }
        }
    }

    [Fact]
    public async Task Ten_thousand_malformed_payloads_never_stop_the_service_and_each_good_reading_is_stored_once()
    {
        await using var broker = new PrivateBroker();
        await broker.StartAsync();
        await using var service = new ServiceProcess(broker.Port, TestInfrastructure.InfluxUrl);
        try
        {
            await RunAsync(broker, service);
        }
        catch
        {
            output.WriteLine(service.Output);
            throw;
        }
    }

    async Task RunAsync(PrivateBroker broker, ServiceProcess service)
    {
        await service.StartAsync();
        var pid = service.Pid;
        var (rssAtStart, _) = service.Memory();
        var random = new Random(Seed);
        var corpus = new Corpus(random, service.Prefix, DateTimeOffset.UtcNow);
        corpus.AddOversized(20);
        while (corpus.Bad.Count < BadOnReadingsTopics) corpus.AddBad();
        for (var i = 0; i < GoodMessages; i++) corpus.AddGood();
        corpus.AddWrongTopics(100);
        var all = corpus.Bad.Select(b => (b.Topic, b.Payload)).Concat(corpus.Good).Concat(corpus.WrongTopics).OrderBy(_ => random.Next()).ToList();
        output.WriteLine($"seed {Seed}: {corpus.Bad.Count} bad on readings topics ({string.Join(", ", corpus.Bad.GroupBy(b => b.Kind).Select(g => $"{g.Key} {g.Count()}"))}), {corpus.Good.Count} good, {corpus.WrongTopics.Count} on wrong topics");

        await using var deadLetters = await MosquittoSub.StartAsync(broker.Port, $"{service.Prefix}/deadletter/#");
        using var gateway = new MqttClientFactory().CreateMqttClient();
        await gateway.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", broker.Port)
            .WithProtocolVersion(MqttProtocolVersion.V500).WithClientId(TestInfrastructure.UniqueName("gw")).Build());

        // The service must stay ready (/readyz 200: subscribed, InfluxDB answering, pipeline moving) all along.
        using var watching = new CancellationTokenSource();
        var unhealthy = new List<string>();
        var watch = Task.Run(async () =>
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
            while (!watching.IsCancellationRequested)
            {
                try
                {
                    var r = await http.GetAsync($"http://127.0.0.1:{service.HttpPort}/readyz", watching.Token);
                    if (!r.IsSuccessStatusCode) unhealthy.Add($"{DateTime.UtcNow:HH:mm:ss.fff} {(int)r.StatusCode}");
                    await Task.Delay(200, watching.Token);
                }
                catch (OperationCanceledException) when (watching.IsCancellationRequested)
                {
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                    unhealthy.Add($"{DateTime.UtcNow:HH:mm:ss.fff} {e.Message}");
                }
            }
        });

        var started = DateTime.UtcNow;
        using var window = new SemaphoreSlim(100);
        var publishes = all.Select(async m =>
        {
            await window.WaitAsync();
            try
            {
                var result = await gateway.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(m.Topic).WithPayload(m.Payload)
                    .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
                return result.ReasonCode;
            }
            finally
            {
                window.Release();
            }
        }).ToList();
        var codes = await Task.WhenAll(publishes);
        Assert.All(codes, c => Assert.True(c is MqttClientPublishReasonCode.Success or MqttClientPublishReasonCode.NoMatchingSubscribers, c.ToString()));
        output.WriteLine($"published {all.Count} messages in {(DateTime.UtcNow - started).TotalSeconds:F1} s");

        // Every bad payload comes back once, byte for byte, on the dead-letter topic.
        var expectedDeadLetters = corpus.Bad.Count;
        try
        {
            await TestInfrastructure.EventuallyAsync(() => deadLetters.Received.Count >= expectedDeadLetters, Wait, $"{expectedDeadLetters} dead letters");
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"{e.Message} (have {deadLetters.Received.Count})", e);
        }
        var received = await service.MetricAsync("ecomonitor_messages_received_total");
        await TestInfrastructure.EventuallyAsync(async () => await service.MetricAsync("ecomonitor_messages_acknowledged_total") == received, Wait,
            "every message received acknowledged");
        watching.Cancel();
        await watch;
        output.WriteLine($"all stored, dead-lettered and acknowledged {(DateTime.UtcNow - started).TotalSeconds:F1} s after the first publish");

        Assert.True(service.IsRunning && service.Pid == pid, "the service process ran throughout");
        Assert.True(unhealthy.Count == 0, $"/readyz not 200 at: {string.Join("; ", unhealthy.Take(10))}");
        Assert.Equal(corpus.Bad.Count + corpus.Good.Count, received);
        Assert.Equal(expectedDeadLetters, await service.MetricAsync("ecomonitor_deadletters_published_total"));

        // A dead letter carries the whole payload, or (over Ingestion:MaxPayloadBytes) its head and SHA-256: key both by the hash.
        static string Sha(byte[] bytes) => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes));
        var byPayload = corpus.Bad.GroupBy(b => Sha(b.Payload)).ToDictionary(g => g.Key, g => g.ToList());
        var wrongReasons = new List<string>();
        var reasonCounts = new Dictionary<string, int>();
        foreach (var (topic, payload) in deadLetters.Received)
        {
            var dl = JsonDocument.Parse(payload).RootElement;
            var original = dl.TryGetProperty("payloadBase64", out var b64) ? Convert.FromBase64String(b64.GetString()!)
                : dl.TryGetProperty("payload", out var text) ? Encoding.UTF8.GetBytes(text.GetString()!) : [];
            var key = dl.TryGetProperty("payloadSha256", out var sha) ? sha.GetString()! : Sha(original);
            Assert.True(byPayload.TryGetValue(key, out var candidates) && candidates.Count > 0,
                $"dead letter on {topic} for a payload that was not sent as bad (or twice): {Encoding.UTF8.GetString(original[..Math.Min(200, original.Length)])}");
            var reason = dl.GetProperty("reason").GetString()!;
            reasonCounts[reason] = reasonCounts.GetValueOrDefault(reason) + 1;
            var bad = candidates!.FirstOrDefault(c => c.Topic == dl.GetProperty("topic").GetString()) ?? candidates![0];
            candidates!.Remove(bad);
            if (dl.GetProperty("scope").GetString() != "message" || dl.GetProperty("storedReadings").GetInt32() != 0)
                wrongReasons.Add($"{bad.Kind}: partly stored ({dl.GetProperty("storedReadings").GetInt32()} values) {Encoding.UTF8.GetString(bad.Payload[..Math.Min(120, bad.Payload.Length)])}");
            else if (!bad.Reasons.Contains(reason))
                wrongReasons.Add($"{bad.Kind}: {reason} (expected {string.Join("|", bad.Reasons)}) for {Encoding.UTF8.GetString(bad.Payload[..Math.Min(120, bad.Payload.Length)])}");
        }
        output.WriteLine("dead letters by reason: " + string.Join(", ", reasonCounts.OrderByDescending(r => r.Value).Select(r => $"{r.Key} {r.Value}")));
        Assert.True(wrongReasons.Count == 0, $"{wrongReasons.Count} unexpected dead letters, e.g.\n{string.Join("\n", wrongReasons.Take(10))}");
        Assert.Empty(byPayload.Values.SelectMany(v => v));

        // Every good reading stored once, nothing else stored.
        using var influx = new InfluxConnection(Options.Create(new InfluxSettings { Url = service.InfluxUrl, Database = service.Database }));
        var stored = new List<(string, string, DateTimeOffset, double)>();
        foreach (var station in new[] { "air-1", "air-2", "air-3", "w-fyh-1" })
            stored.AddRange((await TestInfrastructure.PointsAsync(influx, station)).Select(p => (station, p.Parameter, p.Time, p.Value)));
        var missing = corpus.Expected.Except(stored).ToList();
        Assert.True(missing.Count == 0, $"{missing.Count} good readings missing, e.g. {string.Join(", ", missing.Take(5))}");
        Assert.Equal(corpus.Expected.Count, stored.Count);
        Assert.Equal(corpus.Expected.Order(), stored.Order());

        var (rss, peak) = service.Memory();
        output.WriteLine($"service process RSS: {rssAtStart / 1048576.0:F0} MiB after start, {rss / 1048576.0:F0} MiB at the end, peak {peak / 1048576.0:F0} MiB");
    }

    /// <summary>The shipped message_size_limit and the Maximum Packet Size the service announces fit together: what
    /// the broker accepts from a gateway, it delivers to the service (a payload over the packet size would be
    /// acknowledged to the gateway and then dropped silently on its way to the service); what is larger is refused at
    /// the gateway's PUBLISH.</summary>
    [Fact]
    public async Task Every_payload_the_broker_accepts_reaches_the_service_and_a_larger_one_is_refused_at_publish()
    {
        var template = File.ReadAllText(Path.Combine(ChildProcesses.RepoRoot(), "deploy", "mosquitto", "mosquitto.conf.template"));
        var limit = int.Parse(template.Split('\n').Single(l => l.StartsWith("message_size_limit ", StringComparison.Ordinal)).Split(' ')[1], CultureInfo.InvariantCulture);
        // At least 1 KiB of the service's packet size left for the topic and the properties.
        Assert.InRange(limit, MaxPayloadBytes + 1, (int)MqttConnection.MaximumPacketSize(MaxPayloadBytes) - 1024);

        await using var broker = new PrivateBroker();
        await broker.StartAsync();
        await using var service = new ServiceProcess(broker.Port, TestInfrastructure.InfluxUrl);
        await service.StartAsync();
        await using var deadLetters = await MosquittoSub.StartAsync(broker.Port, $"{service.Prefix}/deadletter/#");
        using var gateway = new MqttClientFactory().CreateMqttClient();
        await gateway.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", broker.Port)
            .WithProtocolVersion(MqttProtocolVersion.V500).WithClientId(TestInfrastructure.UniqueName("gw")).Build());
        Task<MqttClientPublishResult> PublishAsync(int size) => gateway.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(service.ReadingsTopic("air-1"))
            .WithPayload(new string('x', size)).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());

        var above = await PublishAsync(limit + 1);
        var atTheLimit = await PublishAsync(limit);
        var justTooLarge = await PublishAsync(MaxPayloadBytes + 1);
        output.WriteLine($"limit {limit}: {limit + 1} bytes {above.ReasonCode}, {limit} bytes {atTheLimit.ReasonCode}, {MaxPayloadBytes + 1} bytes {justTooLarge.ReasonCode}");
        Assert.Equal(0x95, (int)above.ReasonCode); // mosquitto's "packet too large" (MQTTnet has no name for it in a PUBACK)
        Assert.True(atTheLimit.IsSuccess);
        Assert.True(justTooLarge.IsSuccess);

        // Both accepted payloads reach the service and are rejected as too large; both dead letters are on the topic,
        // each with the payload's head, length and hash (a dead letter with the whole payload would itself be over the
        // broker's limit).
        await TestInfrastructure.EventuallyAsync(async () => await service.MetricAsync("ecomonitor_messages_acknowledged_total") == 2, Wait, "two messages acknowledged");
        Assert.Equal(2, await service.MetricAsync("ecomonitor_messages_received_total"));
        Assert.Equal(2, await service.MetricAsync($"ecomonitor_rejections_total{{reason=\"{RejectReason.PayloadTooLarge}\"}}"));
        await TestInfrastructure.EventuallyAsync(() => deadLetters.Received.Count >= 2, Wait, "two dead letters");
        var letters = deadLetters.Received.Select(d => JsonDocument.Parse(d.Payload).RootElement).ToList();
        Assert.Equal(2, letters.Count);
        Assert.All(letters, l => Assert.Equal(RejectReason.PayloadTooLarge, l.GetProperty("reason").GetString()));
        Assert.All(letters, l => Assert.Equal(DeadLetter.TruncatedPayloadBytes, l.GetProperty("payload").GetString()!.Length));
        Assert.Equal([MaxPayloadBytes + 1, limit], letters.Select(l => l.GetProperty("payloadBytes").GetInt32()).Order());
    }
}
