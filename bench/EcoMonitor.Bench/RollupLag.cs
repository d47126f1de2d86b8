using System.Diagnostics;
using System.Text;
using System.Text.Json;
using EcoMonitor.Service.Hosting;
using EcoMonitor.Service.Ingestion;
using EcoMonitor.Service.Storage;
using Microsoft.Extensions.DependencyInjection;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

/// <summary>6. The rollup stage under load: many air stations, each message one minute of one station (the six
/// criteria pollutants). (a) steady load at a fixed rate: the rollup lag (storage to rolled up) p50/p99 from the
/// stage's own metric, and the most dirty hours ever waiting; (b) a burst of every station's next minutes as fast as
/// the publisher goes: acknowledged messages/s and how long after the last acknowledgement the rollups are current.</summary>
static class RollupLag
{
    public static async Task RunAsync(string influxUrl, int stations = 2000, int rate = 1000, int seconds = 20, int burstMinutes = 5)
    {
        await using var broker = await Broker.StartAsync(tcpNoDelay: true);
        var prefix = $"roll{Guid.NewGuid():N}"[..14];
        var database = $"bench_{Guid.NewGuid():N}"[..20];
        var ids = Enumerable.Range(0, stations).Select(i => $"a{i:D4}").ToList();
        var stationsFile = Path.GetTempFileName();
        await File.WriteAllTextAsync(stationsFile, JsonSerializer.Serialize(new
        {
            stations = ids.Select(id => new { id, name = id, kind = "air", region = "zone", latitude = 37.7, longitude = 115.7 }),
        }));
        var app = InProcessService.Build(broker.Port, prefix, influxUrl, database, stationsFile);
        await app.StartAsync();
        try
        {
            var mqtt = app.Services.GetRequiredService<MqttConnection>();
            await WaitAsync(() => mqtt.IsSubscribed, "the service subscribed to the bench broker");
            var metrics = app.Services.GetRequiredService<IngestionMetrics>();
            var stage = app.Services.GetRequiredService<RollupStage>();
            var hour = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.AddHours(-3).ToUnixTimeMilliseconds() / 3_600_000 * 3_600_000);
            byte[] Message(int n) // message n: station n % stations, minute n / stations of the hour (and on)
            {
                var t = hour.AddMinutes(n / stations).ToUnixTimeMilliseconds();
                var v = 20 + n % 50;
                return Encoding.UTF8.GetBytes($"{{\"ts\": {t}, \"values\": {{\"so2\": {v}, \"no2\": {v + 10}, \"co\": 0.{v % 9 + 1}, \"o3\": {v + 40}, \"pm10\": {v + 30}, \"pm25\": {v}}}}}");
            }

            using var client = new MqttClientFactory().CreateMqttClient();
            await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", broker.Port).WithProtocolVersion(MqttProtocolVersion.V500)
                .WithClientId($"{prefix}-pub").Build());
            using var window = new SemaphoreSlim(200);
            var inFlight = new List<Task>();
            async Task Publish(int n)
            {
                await window.WaitAsync();
                inFlight.Add(Task.Run(async () =>
                {
                    try
                    {
                        await client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic($"{prefix}/{ids[n % stations]}/readings").WithPayload(Message(n))
                            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
                    }
                    finally
                    {
                        window.Release();
                    }
                }));
            }

            // (a) steady load: rate/10 messages every 100 ms.
            var steady = rate * seconds;
            var maxPending = 0;
            var clock = Stopwatch.StartNew();
            for (var n = 0; n < steady; n++)
            {
                var due = TimeSpan.FromSeconds((double)n / rate);
                if (due > clock.Elapsed) await Task.Delay(due - clock.Elapsed);
                await Publish(n);
                if (n % 100 == 0) maxPending = Math.Max(maxPending, stage.PendingHours);
            }
            await Task.WhenAll(inFlight);
            await WaitAsync(() => metrics.Acknowledgements >= steady, "steady messages acknowledged");
            await stage.WhenIdleAsync(TimeSpan.FromMinutes(5));
            var (p50, p99) = (stage.LagQuantile(0.5), stage.LagQuantile(0.99));
            Console.WriteLine();
            Console.WriteLine($"6. rollup stage, {stations} air stations, one minute of six pollutants per message");
            Console.WriteLine($"   a) steady {rate} msg/s for {seconds} s: {steady:N0} acknowledged in {clock.Elapsed.TotalSeconds:0.0} s; rollup lag p50 {p50:0.000} s, p99 {p99:0.000} s; at most {maxPending:N0} dirty hours waiting; {stage.Failures} failed recomputes");

            // (b) a burst: every station's next burstMinutes minutes, as fast as the publisher goes.
            inFlight.Clear();
            var before = metrics.Acknowledgements;
            var burst = stations * burstMinutes;
            clock.Restart();
            for (var n = steady; n < steady + burst; n++) await Publish(n);
            await Task.WhenAll(inFlight);
            await WaitAsync(() => metrics.Acknowledgements >= before + burst, "burst acknowledged");
            var acked = clock.Elapsed.TotalSeconds;
            await stage.WhenIdleAsync(TimeSpan.FromMinutes(5));
            var current = clock.Elapsed.TotalSeconds;
            Console.WriteLine($"   b) burst of {burst:N0} messages: {burst / acked:N0} msg/s acknowledged; rollups current {current - acked:0.00} s after the last acknowledgement; lag p50 {stage.LagQuantile(0.5):0.000} s, p99 {stage.LagQuantile(0.99):0.000} s; {stage.Failures} failed recomputes");
            await client.DisconnectAsync();
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
            File.Delete(stationsFile);
            using var influx = new InfluxConnection(Microsoft.Extensions.Options.Options.Create(new InfluxSettings { Url = new Uri(influxUrl), Database = database }));
            await influx.QueryAsync($"DROP DATABASE \"{database}\"", post: true);
        }
    }

    static async Task WaitAsync(Func<bool> done, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!done())
        {
            if (clock.Elapsed > TimeSpan.FromMinutes(5)) throw new TimeoutException(what);
            await Task.Delay(5);
        }
    }
}
