using System.Text;
using EcoMonitor.Service.Ingestion;
using EcoMonitor.Service.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Serilog.Core;

namespace EcoMonitor.Service.Tests;

/// <summary>A payload that is not UTF-8 anywhere (a property name, a member the decoder never reads, a string value)
/// is refused whole as invalid_utf8: never stored silently, never a processing failure with a stack trace, and the
/// messages around it are stored.</summary>
[Trait("Category", "Integration")]
public sealed class Utf8PayloadTests
{
    static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    /// <summary>JSON text with <paramref name="bad"/> bytes put where "@" stands.</summary>
    static byte[] With(string json, params byte[] bad)
    {
        var at = json.IndexOf('@');
        return [.. Encoding.UTF8.GetBytes(json[..at]), .. bad, .. Encoding.UTF8.GetBytes(json[(at + 1)..])];
    }

    const long Ts = 1772323200000; // 2026-03-01T00:00:00Z

    public static TheoryData<string, byte[], int> BadPayloads => new()
    {
        // 0xFF never occurs in UTF-8. Offset: {"ts": 1772323200000, "values": {"pm is 36 bytes.
        { "in a property name", With($$$"""{"ts": {{{Ts}}}, "values": {"pm@25": 1}}""", 0xFF), 36 },
        // C3 starts a two-byte sequence; 28 '(' is no continuation byte. {"ts": 1772323200000, "values": {"pm25": 1}, "note": " is 54 bytes.
        { "in an unknown member's value", With($$$"""{"ts": {{{Ts}}}, "values": {"pm25": 1}, "note": "@"}""", 0xC3, 0x28), 54 },
        // ED A0 80 would encode the surrogate U+D800, which UTF-8 forbids. {"ts": 1772323200000, "values": {"pm25": 1}, "units": {"pm25": " is 64 bytes.
        { "in a unit string", With($$$"""{"ts": {{{Ts}}}, "values": {"pm25": 1}, "units": {"pm25": "@"}}""", 0xED, 0xA0, 0x80), 64 },
        // E2 82 then the closing quote: a three-byte sequence cut short. {"ts": 1772323200000, "values": {"pm25": 1}, "flags": {"pm25": " is 64 bytes.
        { "in a flag string", With($$$"""{"ts": {{{Ts}}}, "values": {"pm25": 1}, "flags": {"pm25": "@"}}""", 0xE2, 0x82), 64 },
    };

    [Theory]
    [MemberData(nameof(BadPayloads))]
    public void Decoder_refuses_the_whole_payload_naming_the_first_bad_byte(string where, byte[] payload, int offset)
    {
        var decoded = JsonReadingDecoder.Decode(payload, 1000);
        Assert.Empty(decoded.Readings);
        Assert.NotNull(decoded.Fatal);
        Assert.Equal(RejectReason.InvalidUtf8, decoded.Fatal.Reason);
        Assert.Equal($"the payload is not valid UTF-8 (first invalid byte at offset {offset})", decoded.Fatal.Detail);
        Assert.False(string.IsNullOrEmpty(where));
    }

    [Fact]
    public void Valid_multibyte_text_is_not_refused()
    {
        var decoded = JsonReadingDecoder.Decode(Encoding.UTF8.GetBytes($$$"""{"ts": {{{Ts}}}, "values": {"wtemp": 4}, "units": {"wtemp": "℃"}, "note": "滏阳河 😀"}"""), 1000);
        Assert.Null(decoded.Fatal);
        Assert.Single(decoded.Readings);
    }

    [Fact]
    public async Task Each_bad_payload_is_dead_lettered_as_invalid_utf8_and_its_neighbours_are_stored()
    {
        var sink = new CapturingSink();
        await using var service = new ServiceUnderTest(services: s => s.AddSingleton<ILogEventSink>(sink));
        await service.StartAsync();
        await using var gateway = await TestMqttClient.ConnectAsync();
        await using var deadLetters = await TestMqttClient.ConnectAsync($"{service.Prefix}/deadletter/#");
        var t = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.AddHours(-1).ToUnixTimeMilliseconds() / 60_000 * 60_000);
        var bad = BadPayloads.Select(row => (byte[])row[1]).ToList();
        for (var i = 0; i < bad.Count; i++)
        {
            await gateway.PublishAsync(service.ReadingsTopic("air-1"), $$$"""{"ts": {{{t.AddMinutes(i).ToUnixTimeMilliseconds()}}}, "values": {"pm25": {{{10 + i}}}}}""");
            await gateway.PublishAsync(service.ReadingsTopic("air-1"), bad[i]);
        }
        await gateway.PublishAsync(service.ReadingsTopic("air-1"), $$$"""{"ts": {{{t.AddMinutes(bad.Count).ToUnixTimeMilliseconds()}}}, "values": {"pm25": 99}}""");

        await TestInfrastructure.EventuallyAsync(() => deadLetters.Received.Count == bad.Count, Wait, "a dead letter for each bad payload");
        await TestInfrastructure.EventuallyAsync(() => service.Metrics.Acknowledgements == 2 * bad.Count + 1, Wait, "every message acknowledged");
        using var influx = TestInfrastructure.Influx(service.Database);
        var points = await TestInfrastructure.PointsAsync(influx, "air-1");
        Assert.Equal([(t, 10.0), (t.AddMinutes(1), 11.0), (t.AddMinutes(2), 12.0), (t.AddMinutes(3), 13.0), (t.AddMinutes(4), 99.0)],
            points.Select(p => (p.Time, p.Value)));

        // Dead letters of one batch go out together, in any order: matched by the original bytes they carry.
        var letters = deadLetters.Received.Select(m => m.Payload.Json()).ToList();
        Assert.All(letters, l => Assert.Equal(RejectReason.InvalidUtf8, l.GetProperty("reason").GetString()));
        Assert.All(letters, l => Assert.Equal(0, l.GetProperty("storedReadings").GetInt32()));
        Assert.Equal(bad.Select(Convert.ToBase64String).Order(), letters.Select(l => l.GetProperty("payloadBase64").GetString()!).Order());
        Assert.Equal(bad.Count, service.Metrics.RejectionsFor(RejectReason.InvalidUtf8));
        Assert.Equal(0, service.Metrics.RejectionsFor(RejectReason.ProcessingFailed));
        // No "Processing ... failed" error with a stack trace for these topics (the sink may also see other tests' hosts).
        Assert.DoesNotContain(sink.Lines, l => l.StartsWith("Error", StringComparison.Ordinal) && l.Contains(service.Prefix, StringComparison.Ordinal));
        Assert.Equal(bad.Count, sink.Lines.Count(l => l.StartsWith("Warning Rejected 1 item(s)", StringComparison.Ordinal) && l.Contains(RejectReason.InvalidUtf8, StringComparison.Ordinal) && l.Contains(service.Prefix, StringComparison.Ordinal)));
    }
}
