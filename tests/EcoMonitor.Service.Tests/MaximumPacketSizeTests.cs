using EcoMonitor.Service.Ingestion;
using EcoMonitor.Service.Tests.Support;

namespace EcoMonitor.Service.Tests;

/// <summary>The service announces the MQTT 5 Maximum Packet Size (Ingestion:MaxPayloadBytes plus 8 KiB of headroom)
/// on CONNECT: the broker drops a larger message instead of sending it, so it never reaches the service's memory and
/// never holds up the messages behind it. A payload over Ingestion:MaxPayloadBytes that fits in a packet still
/// arrives and is dead-lettered as payload_too_large.</summary>
[Trait("Category", "Integration")]
public sealed class MaximumPacketSizeTests
{
    [Fact]
    public void The_announced_size_is_the_payload_limit_plus_the_headroom()
    {
        Assert.Equal(256u * 1024 + 8192, MqttConnection.MaximumPacketSize(256 * 1024));
        Assert.Equal(8192, MqttConnection.PacketHeadroomBytes);
    }

    [Fact]
    public async Task An_oversized_publish_never_reaches_the_service_and_its_neighbours_are_stored()
    {
        // 1 KiB payloads: packets up to 9,216 bytes are delivered, larger ones are dropped by the broker.
        await using var service = new ServiceUnderTest(new() { ["Ingestion:MaxPayloadBytes"] = "1024" });
        await service.StartAsync();
        await using var gateway = await TestMqttClient.ConnectAsync();
        await using var deadLetters = await TestMqttClient.ConnectAsync($"{service.Prefix}/deadletter/#");
        var t = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.AddHours(-1).ToUnixTimeMilliseconds() / 60_000 * 60_000);
        string Reading(int minute, double pm25) => $$$"""{"ts": {{{t.AddMinutes(minute).ToUnixTimeMilliseconds()}}}, "values": {"pm25": {{{pm25}}}}}""";

        await gateway.PublishAsync(service.ReadingsTopic("air-1"), Reading(0, 10));
        await gateway.PublishAsync(service.ReadingsTopic("air-1"), new byte[64 * 1024]);     // over the packet size: dropped by the broker
        await gateway.PublishAsync(service.ReadingsTopic("air-1"), Reading(1, 11).PadRight(2000)); // over the payload limit, within the packet size
        await gateway.PublishAsync(service.ReadingsTopic("air-1"), Reading(2, 12));

        await TestInfrastructure.EventuallyAsync(() => service.Metrics.Acknowledgements == 3, TimeSpan.FromSeconds(20), "three messages acknowledged");
        await TestInfrastructure.EventuallyAsync(() => deadLetters.Received.Count == 1, TimeSpan.FromSeconds(20), "one dead letter");
        using var influx = TestInfrastructure.Influx(service.Database);
        Assert.Equal([(t, 10.0), (t.AddMinutes(2), 12.0)], (await TestInfrastructure.PointsAsync(influx, "air-1")).Select(p => (p.Time, p.Value)));
        var letter = deadLetters.Received.Single().Payload.Json();
        Assert.Equal(RejectReason.PayloadTooLarge, letter.GetProperty("reason").GetString());
        Assert.Equal(2000, letter.GetProperty("payload").GetString()!.Length);
        // Messages arrive in order on the session: the fourth was stored, so the second would have come before it.
        Assert.Equal(3, service.Metrics.Messages);
    }
}
