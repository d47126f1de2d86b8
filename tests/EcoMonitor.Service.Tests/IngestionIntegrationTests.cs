using System.Text.Json;
using EcoMonitor.Service.Ingestion;
using EcoMonitor.Service.Tests.Support;

namespace EcoMonitor.Service.Tests;

/// <summary>End to end: a real MQTTnet gateway publishes to the real mosquitto, the service stores into the real
/// InfluxDB, and the test reads back what was stored.</summary>
[Trait("Category", "Integration")]
public sealed class IngestionIntegrationTests : IAsyncLifetime
{
    readonly ServiceUnderTest _service = new();
    TestMqttClient _gateway = null!;
    TestMqttClient _deadLetters = null!;

    static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    public async Task InitializeAsync()
    {
        await _service.StartAsync();
        _gateway = await TestMqttClient.ConnectAsync();
        _deadLetters = await TestMqttClient.ConnectAsync($"{_service.Prefix}/deadletter/#");
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _deadLetters.DisposeAsync();
        await _service.DisposeAsync();
    }

    static DateTimeOffset RecentMinute(int minutesAgo) =>
        new DateTimeOffset(DateTime.UtcNow.Ticks / TimeSpan.TicksPerMinute * TimeSpan.TicksPerMinute, TimeSpan.Zero).AddMinutes(-minutesAgo);

    [Fact]
    public async Task Stores_values_times_tags_and_flags_converting_units()
    {
        var t1 = RecentMinute(10);
        var t2 = RecentMinute(9);
        // One reading as RFC 3339 in China local time, one as epoch milliseconds; PM10 sent in mg/m3.
        await _gateway.PublishAsync(_service.ReadingsTopic("air-1"), $$$"""
            [
              {"ts": "{{{t1.ToOffset(TimeSpan.FromHours(8)):yyyy-MM-ddTHH:mm:ss.fffzzz}}}", "values": {"pm25": 35.2, "pm10": 0.081}, "units": {"pm10": "mg/m3"}},
              {"ts": {{{t2.ToUnixTimeMilliseconds()}}}, "values": {"PM2.5": 41}, "flags": {"PM2.5": "m"}}
            ]
            """);
        await _gateway.PublishAsync(_service.ReadingsTopic("w-fyh-1"), $$$"""
            {"ts": "{{{t1:yyyy-MM-ddTHH:mm:ssZ}}}", "values": {"ph": 7.4, "do": 6.1, "nh3n": 480, "wtemp": -0.5}, "units": {"nh3n": "ug/L"}, "flags": {"do": "C"}}
            """);

        using var influx = TestInfrastructure.Influx(_service.Database);
        await TestInfrastructure.EventuallyAsync(async () => (await TestInfrastructure.PointsAsync(influx, "air-1")).Count == 3, Wait, "3 air points");
        await TestInfrastructure.EventuallyAsync(async () => (await TestInfrastructure.PointsAsync(influx, "w-fyh-1")).Count == 4, Wait, "4 water points");

        var air = await TestInfrastructure.PointsAsync(influx, "air-1");
        Assert.Equal(new StoredPoint(t1, "pm10", 81, "N"), air.Single(p => p.Parameter == "pm10") with { Value = Math.Round(air.Single(p => p.Parameter == "pm10").Value, 6) });
        Assert.Equal(new StoredPoint(t1, "pm25", 35.2, "N"), air.Single(p => p.Parameter == "pm25" && p.Time == t1));
        Assert.Equal(new StoredPoint(t2, "pm25", 41, "M"), air.Single(p => p.Time == t2));

        var water = (await TestInfrastructure.PointsAsync(influx, "w-fyh-1")).ToDictionary(p => p.Parameter);
        Assert.All(water.Values, p => Assert.Equal(t1, p.Time));
        Assert.Equal(7.4, water["ph"].Value);
        Assert.Equal("C", water["do"].Flag);
        Assert.Equal(0.48, water["nh3n"].Value, 9);
        Assert.Equal(-0.5, water["wtemp"].Value);

        // Tags: exactly station and parameter.
        var tagKeys = await influx.QueryAsync("SHOW TAG KEYS FROM \"reading\"");
        Assert.Equal(["parameter", "station"], tagKeys.SelectMany(s => s.Values).Select(v => v[0].GetString()!).Order().ToArray());
        Assert.Empty(_deadLetters.Received);
    }

    [Fact]
    public async Task Malformed_message_between_good_ones_is_dead_lettered_and_neighbours_are_stored()
    {
        var t = RecentMinute(5);
        await _gateway.PublishAsync(_service.ReadingsTopic("air-2"), $$$"""{"ts": {{{t.ToUnixTimeMilliseconds()}}}, "values": {"pm25": 10}}""");
        await _gateway.PublishAsync(_service.ReadingsTopic("air-2"), """{"ts": 17, "values": {"pm25": 1""");
        await _gateway.PublishAsync(_service.ReadingsTopic("air-2"), $$$"""{"ts": {{{t.AddMinutes(1).ToUnixTimeMilliseconds()}}}, "values": {"pm25": 12}}""");

        using var influx = TestInfrastructure.Influx(_service.Database);
        await TestInfrastructure.EventuallyAsync(async () => (await TestInfrastructure.PointsAsync(influx, "air-2")).Count == 2, Wait, "both good readings stored");
        await TestInfrastructure.EventuallyAsync(() => !_deadLetters.Received.IsEmpty, Wait, "a dead letter");

        var (topic, payload) = Assert.Single(_deadLetters.Received);
        Assert.Equal($"{_service.Prefix}/deadletter/air-2", topic);
        var dl = payload.Json();
        Assert.Equal(RejectReason.MalformedJson, dl.GetProperty("reason").GetString());
        Assert.Equal("message", dl.GetProperty("scope").GetString());
        Assert.Equal("""{"ts": 17, "values": {"pm25": 1""", dl.GetProperty("payload").GetString());
        Assert.Equal(_service.ReadingsTopic("air-2"), dl.GetProperty("topic").GetString());
        Assert.Equal(1, _service.Metrics.RejectionsFor(RejectReason.MalformedJson));
        Assert.Equal([10.0, 12.0], (await TestInfrastructure.PointsAsync(influx, "air-2")).Select(p => p.Value));
    }

    [Fact]
    public async Task Partly_bad_message_stores_its_valid_readings_and_dead_letters_the_rest_with_reasons()
    {
        var t = RecentMinute(3);
        await _gateway.PublishAsync(_service.ReadingsTopic("voc-1"), $$$"""
            [
              {"ts": {{{t.ToUnixTimeMilliseconds()}}}, "values": {"nmhc": 2.4, "tvoc": 3100, "pm25": 30, "xylene": 1}, "units": {"tvoc": "ug/m3"}},
              {"ts": {{{t.AddMinutes(1).ToUnixTimeMilliseconds()}}}, "values": {"nmhc": -1, "tvoc": "high"}},
              {"ts": {{{t.AddDays(2).ToUnixTimeMilliseconds()}}}, "values": {"nmhc": 1}}
            ]
            """);

        using var influx = TestInfrastructure.Influx(_service.Database);
        await TestInfrastructure.EventuallyAsync(() => !_deadLetters.Received.IsEmpty, Wait, "a dead letter");
        var points = await TestInfrastructure.PointsAsync(influx, "voc-1");
        Assert.Equal([("nmhc", 2.4), ("tvoc", 3.1)], points.Select(p => (p.Parameter, Math.Round(p.Value, 9))).Order());

        var dl = Assert.Single(_deadLetters.Received).Payload.Json();
        Assert.Equal("partial", dl.GetProperty("scope").GetString());
        Assert.Equal(2, dl.GetProperty("storedReadings").GetInt32());
        var reasons = dl.GetProperty("rejections").EnumerateArray()
            .Select(r => (r.GetProperty("reason").GetString(), r.GetProperty("index").GetInt32(), r.TryGetProperty("parameter", out var p) ? p.GetString() : null))
            .Order().ToArray();
        Assert.Equal(new (string?, int, string?)[]
        {
            (RejectReason.InvalidValue, 1, "tvoc"),
            (RejectReason.NegativeValue, 1, "nmhc"),
            (RejectReason.ParameterNotForStationKind, 0, "pm25"),
            (RejectReason.TimestampInFuture, 2, null),
            (RejectReason.UnknownParameter, 0, "xylene"),
        }, reasons);
        Assert.Equal(1, _service.Metrics.RejectionsFor(RejectReason.NegativeValue));
    }

    [Fact]
    public async Task Unknown_station_and_oversized_payload_are_rejected_whole()
    {
        await _gateway.PublishAsync(_service.ReadingsTopic("nowhere-9"), """{"ts": 1, "values": {"pm25": 1}}""");
        // One byte over Ingestion:MaxPayloadBytes; far larger never leaves the broker (MaximumPacketSizeTests). Zero bytes:
        // the dead letter with the whole payload would be 1.5 MB of "\u0000" escapes, over the broker's limit.
        var oversized = new byte[256 * 1024 + 1];
        await _gateway.PublishAsync(_service.ReadingsTopic("air-1"), oversized);
        await TestInfrastructure.EventuallyAsync(() => _deadLetters.Received.Count == 2, Wait, "two dead letters");
        var byTopic = _deadLetters.Received.ToDictionary(m => m.Topic, m => m.Payload.Json());
        Assert.Equal(RejectReason.UnknownStation, byTopic[$"{_service.Prefix}/deadletter/nowhere-9"].GetProperty("reason").GetString());
        var big = byTopic[$"{_service.Prefix}/deadletter/air-1"];
        Assert.Equal(RejectReason.PayloadTooLarge, big.GetProperty("reason").GetString());
        // A dead letter is at most Ingestion:MaxPayloadBytes: this one keeps the payload's head, its length and SHA-256.
        Assert.Equal(new string('\0', DeadLetter.TruncatedPayloadBytes), big.GetProperty("payload").GetString());
        Assert.Equal(256 * 1024 + 1, big.GetProperty("payloadBytes").GetInt32());
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(oversized)), big.GetProperty("payloadSha256").GetString());
    }

    [Fact]
    public async Task Metrics_and_health_are_served_over_http()
    {
        await _gateway.PublishAsync(_service.ReadingsTopic("air-1"), """not json""");
        await TestInfrastructure.EventuallyAsync(() => !_deadLetters.Received.IsEmpty, Wait, "a dead letter");
        using var http = new HttpClient { BaseAddress = _service.HttpAddress };
        var metrics = await http.GetStringAsync("/metrics");
        Assert.Contains("ecomonitor_rejections_total{reason=\"malformed_json\"} 1", metrics);
        Assert.Contains("ecomonitor_messages_received_total 1", metrics);
        var health = JsonDocument.Parse(await http.GetStringAsync("/healthz")).RootElement;
        Assert.Equal("subscribed", health.GetProperty("mqtt").GetString());
    }
}
