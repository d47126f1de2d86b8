using System.Globalization;
using EcoMonitor.Service.Hosting;
using EcoMonitor.Service.Storage;
using EcoMonitor.Service.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace EcoMonitor.Service.Tests;

/// <summary>Batches are written to InfluxDB several at a time (Influx:MaxConcurrentWrites): a correction of a reading
/// that arrives while the first value's batch is still being written must not be overtaken by it.</summary>
[Trait("Category", "Integration")]
public sealed class IngestionPipelineOrderTests
{
    /// <summary>Holds the first /write of readings until a second one arrives, or 1.5 s: a second batch sent while the
    /// first is still on its way overtakes it. Everything goes on to the real InfluxDB.</summary>
    sealed class HoldFirstReadingsWrite() : DelegatingHandler(new SocketsHttpHandler())
    {
        readonly TaskCompletionSource _second = new(TaskCreationOptions.RunContinuationsAsynchronously);
        int _writes;

        public bool Overtaken { get; private set; }

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
        {
            if (request.Method == HttpMethod.Post && request.RequestUri!.AbsolutePath.EndsWith("/write", StringComparison.Ordinal)
                && request.Content is { } content && (await content.ReadAsStringAsync(ct)).StartsWith(ReadingSchema.Measurement + ",", StringComparison.Ordinal))
            {
                if (Interlocked.Increment(ref _writes) == 1)
                {
                    try
                    {
                        await _second.Task.WaitAsync(TimeSpan.FromSeconds(1.5), ct);
                        Overtaken = true;
                    }
                    catch (TimeoutException)
                    {
                    }
                }
                else
                    _second.TrySetResult();
            }
            return await base.SendAsync(request, ct);
        }
    }

    [Fact]
    public async Task A_correction_sent_while_the_first_value_is_being_written_is_stored_after_it()
    {
        var hold = new HoldFirstReadingsWrite();
        await using var service = new ServiceUnderTest(new()
        {
            ["Influx:BatchSize"] = "1", // every message its own batch
            ["Influx:MaxConcurrentWrites"] = "4",
        }, services => services.AddSingleton(sp => new InfluxConnection(sp.GetRequiredService<IOptions<InfluxSettings>>(), hold)));
        await service.StartAsync();
        var ts = DateTimeOffset.UtcNow.AddMinutes(-10).ToUnixTimeMilliseconds() / 60_000 * 60_000;
        await using var gateway = await TestMqttClient.ConnectAsync();
        foreach (var value in new[] { 11.5, 22.5 })
            await gateway.PublishAsync(service.ReadingsTopic("air-1"), string.Create(CultureInfo.InvariantCulture, $$$"""{"ts": {{{ts}}}, "values": {"pm25": {{{value}}}}}"""));

        await TestInfrastructure.EventuallyAsync(() => service.Metrics.Acknowledgements == 2, TimeSpan.FromSeconds(30), "both messages acknowledged");
        Assert.False(hold.Overtaken, "the correction's write was sent while the first value's write was still on its way");
        using var influx = TestInfrastructure.Influx(service.Database);
        var points = await TestInfrastructure.PointsAsync(influx, "air-1");
        var point = Assert.Single(points);
        Assert.Equal(22.5, point.Value);
    }
}
