using EcoMonitor.Api.V1;
using EcoMonitor.Service.Query;
using EcoMonitor.Service.Tests.Support;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace EcoMonitor.Service.Tests;

/// <summary>Live streams are bounded: in number (Api:MaxWatchStreams in total, Api:MaxWatchStreamsPerKey per key,
/// one more is RESOURCE_EXHAUSTED naming the limit, a closed one frees its place) and in what each may hold
/// (Api:WatchBufferSize items, the oldest dropped and counted).</summary>
[Trait("Category", "Integration")]
public sealed class WatchLimitTests
{
    static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    static async Task<Reading> NextAsync(AsyncServerStreamingCall<Reading> call)
    {
        using var cts = new CancellationTokenSource(Wait);
        Assert.True(await call.ResponseStream.MoveNext(cts.Token));
        return call.ResponseStream.Current;
    }

    [Fact]
    public async Task The_stream_past_a_limit_is_resource_exhausted_and_a_closed_one_frees_its_place()
    {
        await using var service = new ServiceUnderTest(new() { ["Api:MaxWatchStreams"] = "3", ["Api:MaxWatchStreamsPerKey"] = "2" });
        await service.StartAsync();
        using var channel = Seed.Channel(service);
        var client = new QueryService.QueryServiceClient(channel);
        var alerts = new AlertService.AlertServiceClient(channel);
        var broadcast = service.Services.GetRequiredService<ReadingBroadcast>();
        var reader = Seed.Key(ServiceUnderTest.ReaderKey);

        var r1 = client.Watch(new WatchRequest(), reader);
        var r2 = client.Watch(new WatchRequest(), reader);
        await TestInfrastructure.EventuallyAsync(() => broadcast.Watchers == 2, Wait, "two watchers of the reader key");

        // The reader's third: over the per-key limit.
        using (var r3 = client.Watch(new WatchRequest(), reader))
        {
            var e = await Assert.ThrowsAsync<RpcException>(() => r3.ResponseStream.MoveNext());
            Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
            Assert.Equal("officer has 2 live streams open, at most 2 per API key (Api:MaxWatchStreamsPerKey); close one first", e.Status.Detail);
        }

        var o1 = client.Watch(new WatchRequest(), Seed.Key(ServiceUnderTest.OperatorKey));
        await TestInfrastructure.EventuallyAsync(() => broadcast.Watchers == 3, Wait, "three watchers");

        // A fourth stream of another key, and an alert stream: over the total.
        using (var d1 = client.Watch(new WatchRequest(), Seed.Key(ServiceUnderTest.DutyKey)))
        {
            var e = await Assert.ThrowsAsync<RpcException>(() => d1.ResponseStream.MoveNext());
            Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
            Assert.Equal("3 live streams are open, at most 3 (Api:MaxWatchStreams); close one or try later", e.Status.Detail);
        }
        using (var a1 = alerts.WatchAlerts(new WatchAlertsRequest(), Seed.Key(ServiceUnderTest.DutyKey)))
            Assert.Equal(StatusCode.ResourceExhausted, (await Assert.ThrowsAsync<RpcException>(() => a1.ResponseStream.MoveNext())).StatusCode);

        // The three admitted streams are live.
        await using var gateway = await TestMqttClient.ConnectAsync();
        var t = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.AddMinutes(-5).ToUnixTimeMilliseconds() / 1000 * 1000);
        await gateway.PublishAsync(service.ReadingsTopic("air-1"), $$$"""{"ts": {{{t.ToUnixTimeMilliseconds()}}}, "values": {"pm25": 17}}""");
        foreach (var call in new[] { r1, r2, o1 }) Assert.Equal(17, (await NextAsync(call)).Value);

        // The reader closes one: its place is free again, for a stream of the same key.
        r1.Dispose();
        await TestInfrastructure.EventuallyAsync(() => broadcast.Watchers == 2, Wait, "the closed stream gone");
        using var r4 = client.Watch(new WatchRequest(), reader);
        await TestInfrastructure.EventuallyAsync(() => broadcast.Watchers == 3, Wait, "the new stream admitted");
        await gateway.PublishAsync(service.ReadingsTopic("air-1"), $$$"""{"ts": {{{t.AddSeconds(1).ToUnixTimeMilliseconds()}}}, "values": {"pm25": 18}}""");
        Assert.Equal(18, (await NextAsync(r4)).Value);

        using var http = new HttpClient { BaseAddress = service.HttpAddress };
        var metrics = await http.GetStringAsync("/metrics");
        Assert.Contains("ecomonitor_watch_streams 3\n", metrics);
        Assert.Contains("ecomonitor_watch_refused_total 3\n", metrics);
        r2.Dispose();
        o1.Dispose();
    }

    [Fact]
    public void A_watcher_that_falls_behind_keeps_the_newest_items_and_counts_the_dropped_ones()
    {
        var broadcast = new ReadingBroadcast(Options.Create(new ApiSettings { WatchBufferSize = 3 }));
        using var slow = broadcast.Subscribe(_ => true);
        using var other = broadcast.Subscribe(r => r.Parameter == "pm10");
        var t = new DateTimeOffset(2026, 3, 1, 0, 0, 0, TimeSpan.Zero);
        broadcast.Publish(Enumerable.Range(1, 5).Select(i => new Domain.Reading("air-1", "pm25", t.AddMinutes(i), i, "N")));

        var kept = new List<double>();
        while (slow.Reader.TryRead(out var r)) kept.Add(r.Value);
        Assert.Equal([3.0, 4.0, 5.0], kept);
        Assert.Equal(2, slow.DroppedCount);
        Assert.Equal(0, other.DroppedCount);
        Assert.Equal(2, broadcast.DroppedTotal);
    }
}
