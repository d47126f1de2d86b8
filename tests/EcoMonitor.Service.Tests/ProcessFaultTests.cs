using EcoMonitor.Service.Hosting;
using EcoMonitor.Service.Storage;
using EcoMonitor.Service.Tests.Support;
using Microsoft.Extensions.Options;
using Xunit.Abstractions;

namespace EcoMonitor.Service.Tests;

/// <summary>Faults of real processes during a run: the service as its own OS process (killed with SIGKILL), its own
/// mosquitto (restarted) and its own influxd (stopped and started). A gateway publishes N distinct readings at a steady
/// rate with QoS 1 while the fault happens; at the end InfluxDB must hold exactly those N points: nothing missing,
/// nothing twice (a point's identity is station, parameter and time, so "twice" shows as more than N points or a
/// second series).</summary>
[Trait("Category", "Integration")]
[Collection(ProcessFaultTests.Collection)]
public sealed class ProcessFaultTests(ITestOutputHelper output)
{
    /// <summary>The process fault and fuzz tests run one after another: each loads the machine on its own.</summary>
    public const string Collection = "service processes";
    const int N = 3000;
    const string Station = "air-1";
    static readonly TimeSpan Wait = TimeSpan.FromSeconds(40);

    /// <summary>The readings of a run: one pm25 value a second of simulated time, within the last day.</summary>
    static (List<(string Topic, string Payload)> Messages, HashSet<(DateTimeOffset, double)> Expected) Readings(string topic)
    {
        var start = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.AddHours(-6).ToUnixTimeSeconds());
        var messages = new List<(string, string)>(N);
        var expected = new HashSet<(DateTimeOffset, double)>();
        for (var i = 0; i < N; i++)
        {
            var t = start.AddSeconds(i);
            var value = i % 997 + 0.25;
            messages.Add((topic, $$$"""{"ts": {{{t.ToUnixTimeMilliseconds()}}}, "values": {"pm25": {{{value.ToString(System.Globalization.CultureInfo.InvariantCulture)}}}}}"""));
            expected.Add((t, value));
        }
        return (messages, expected);
    }

    static InfluxConnection Influx(Uri url, string database) => new(Options.Create(new InfluxSettings { Url = url, Database = database }));

    static async Task<long> CountAsync(InfluxConnection influx)
    {
        try
        {
            var series = await influx.QueryAsync($"SELECT count(\"value\") FROM \"reading\" WHERE \"station\" = '{Station}'");
            return series.SelectMany(s => s.Values).Select(v => v[1].GetInt64()).FirstOrDefault();
        }
        catch (Exception e) when (e is InfluxException or HttpRequestException or TaskCanceledException)
        {
            return 0; // database not created yet, or InfluxDB down
        }
    }

    /// <summary>The exact comparison: the stored points are the sent readings, one series, each once.</summary>
    static async Task AssertExactlyStoredAsync(InfluxConnection influx, HashSet<(DateTimeOffset, double)> expected)
    {
        try
        {
            await TestInfrastructure.EventuallyAsync(async () => await CountAsync(influx) >= expected.Count, Wait, $"{expected.Count} points stored");
        }
        catch (TimeoutException)
        {
            // The comparison below says what is missing.
        }
        var points = await TestInfrastructure.PointsAsync(influx, Station);
        var stored = points.Select(p => (p.Time, p.Value)).ToList();
        var missing = expected.Except(stored).OrderBy(x => x.Item1).ToList();
        var unexpected = stored.Except(expected).ToList();
        Assert.True(missing.Count == 0, $"{missing.Count} readings missing, first {string.Join(", ", missing.Take(5))}");
        Assert.True(unexpected.Count == 0, $"{unexpected.Count} points that were never sent, first {string.Join(", ", unexpected.Take(5))}");
        Assert.Equal(expected.Count, stored.Count);
        Assert.All(points, p => Assert.Equal(("pm25", "N"), (p.Parameter, p.Flag)));
        var series = await influx.QueryAsync("SHOW SERIES FROM \"reading\"");
        Assert.Equal(["reading,parameter=pm25,station=air-1"], series.SelectMany(s => s.Values).Select(v => v[0].GetString()!));

        // No reading counted twice, or missed, in an aggregate: the hourly rollup equals one computed here from what
        // was sent (minute means, then per hour: minutes, mean, min, max of them).
        var expectedHours = expected.GroupBy(x => x.Item1.ToUnixTimeSeconds() / 60)
            .Select(m => (Minute: m.Key, Mean: m.Average(x => x.Item2)))
            .GroupBy(m => m.Minute / 60)
            .ToDictionary(h => DateTimeOffset.FromUnixTimeSeconds(h.Key * 3600),
                h => (Minutes: h.Count(), Mean: h.Average(m => m.Mean), Min: h.Min(m => m.Mean), Max: h.Max(m => m.Mean)));
        string? difference = null;
        try
        {
            await TestInfrastructure.EventuallyAsync(async () => (difference = await RollupDifferenceAsync(influx, expectedHours)) is null,
                Wait, "the hourly rollup matches the readings sent");
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"{e.Message}: {difference}", e);
        }
    }

    /// <summary>The first hour of reading_1h that differs from the expected figures, null when none does.</summary>
    static async Task<string?> RollupDifferenceAsync(InfluxConnection influx,
        Dictionary<DateTimeOffset, (int Minutes, double Mean, double Min, double Max)> expected)
    {
        var stored = (await influx.QueryAsync($"SELECT \"minutes\", \"mean\", \"min\", \"max\" FROM \"reading_1h\" WHERE \"station\" = '{Station}' AND \"parameter\" = 'pm25'"))
            .SelectMany(x => x.Rows()).ToDictionary(r => DateTimeOffset.FromUnixTimeMilliseconds(r["time"].GetInt64()),
                r => (Minutes: r["minutes"].GetInt32(), Mean: r["mean"].GetDouble(), Min: r["min"].GetDouble(), Max: r["max"].GetDouble()));
        if (stored.Count != expected.Count) return $"{stored.Count} hours in reading_1h, {expected.Count} expected";
        static bool Near(double a, double b) => Math.Abs(a - b) <= 1e-9;
        return expected.Where(h => !stored.TryGetValue(h.Key, out var r) || r.Minutes != h.Value.Minutes
                || !Near(r.Mean, h.Value.Mean) || !Near(r.Min, h.Value.Min) || !Near(r.Max, h.Value.Max))
            .Select(h => $"{h.Key:u}: expected {h.Value}, stored {stored.GetValueOrDefault(h.Key)}").FirstOrDefault();
    }

    async Task RunAsync(Func<Task> test, params Func<string>[] outputs)
    {
        try
        {
            await test();
        }
        catch
        {
            foreach (var o in outputs) output.WriteLine(o());
            throw;
        }
    }

    [Fact]
    public async Task Service_killed_with_SIGKILL_during_a_run_loses_nothing_and_stores_nothing_twice()
    {
        await using var broker = new PrivateBroker();
        await broker.StartAsync();
        // A flush interval of 1 s keeps a batch of unacknowledged messages in the service when it is killed.
        await using var service = new ServiceProcess(broker.Port, TestInfrastructure.InfluxUrl, new() { ["Influx:FlushInterval"] = "00:00:01" });
        await RunAsync(async () =>
        {
            await service.StartAsync();
            using var influx = Influx(service.InfluxUrl, service.Database);
            var (messages, expected) = Readings(service.ReadingsTopic(Station));
            await using var gateway = new PersistentGateway(broker.Port);
            var publishing = gateway.PublishAllAsync(messages, perSecond: 300, timeout: Wait);

            await TestInfrastructure.EventuallyAsync(async () => gateway.Acknowledged >= N / 3 && await CountAsync(influx) > 0, Wait, "a third published, readings being stored");
            await service.KillAsync();
            var publishedAtKill = gateway.Acknowledged;
            var storedAtKill = await CountAsync(influx);
            output.WriteLine($"killed after {publishedAtKill} published, {storedAtKill} stored");
            Assert.True(publishedAtKill < N, "the kill happened while the gateway was still publishing");

            await service.StartAsync();
            await publishing;
            await AssertExactlyStoredAsync(influx, expected);
            // Messages the killed service had received but not acknowledged came back with DUP set.
            Assert.True(await service.MetricAsync("ecomonitor_messages_redelivered_total") > 0, "redelivered messages after the kill");
            await TestInfrastructure.EventuallyAsync(async () => await service.MetricAsync("ecomonitor_deadletters_published_total") == 0
                && await service.MetricAsync("ecomonitor_messages_acknowledged_total") == await service.MetricAsync("ecomonitor_messages_received_total"),
                Wait, "everything received after the restart acknowledged, nothing dead-lettered");
        }, () => service.Output);
    }

    [Fact]
    public async Task InfluxDB_stopped_for_10_seconds_and_started_again_during_a_run_loses_nothing()
    {
        await using var influxd = new PrivateInflux();
        await influxd.StartAsync();
        await using var broker = new PrivateBroker();
        await broker.StartAsync();
        await using var service = new ServiceProcess(broker.Port, influxd.Url);
        await RunAsync(async () =>
        {
            await service.StartAsync();
            using var influx = Influx(service.InfluxUrl, service.Database);
            var (messages, expected) = Readings(service.ReadingsTopic(Station));
            await using var gateway = new PersistentGateway(broker.Port);
            var publishing = gateway.PublishAllAsync(messages, perSecond: 150, timeout: TimeSpan.FromSeconds(60));

            await TestInfrastructure.EventuallyAsync(async () => gateway.Acknowledged >= N / 5 && await CountAsync(influx) > 0, Wait, "a fifth published, readings being stored");
            await influxd.StopAsync();
            var retriesBefore = await service.MetricAsync("ecomonitor_writes_retried_total");
            // The outage itself lasts 10 s; the service must be seen retrying meanwhile.
            var outage = Task.Delay(TimeSpan.FromSeconds(10));
            await TestInfrastructure.EventuallyAsync(async () => await service.MetricAsync("ecomonitor_writes_retried_total") > retriesBefore, Wait, "writes retried while InfluxDB is down");
            await outage;
            Assert.True(gateway.Acknowledged < N, "InfluxDB came back while the gateway was still publishing");
            await influxd.StartAsync();

            await publishing;
            await AssertExactlyStoredAsync(influx, expected);
            await TestInfrastructure.EventuallyAsync(async () => await service.MetricAsync("ecomonitor_messages_acknowledged_total") >= N
                && await service.MetricAsync("ecomonitor_messages_acknowledged_total") == await service.MetricAsync("ecomonitor_messages_received_total"),
                Wait, "every message received acknowledged");
            Assert.Equal(0, await service.MetricAsync("ecomonitor_deadletters_published_total"));
        }, () => service.Output, () => influxd.Output);
    }

    [Fact]
    public async Task Mosquitto_restarted_during_a_run_loses_nothing_and_stores_nothing_twice()
    {
        await using var broker = new PrivateBroker();
        await broker.StartAsync();
        await using var service = new ServiceProcess(broker.Port, TestInfrastructure.InfluxUrl);
        await RunAsync(async () =>
        {
            await service.StartAsync();
            using var influx = Influx(service.InfluxUrl, service.Database);
            var (messages, expected) = Readings(service.ReadingsTopic(Station));
            await using var gateway = new PersistentGateway(broker.Port);
            var publishing = gateway.PublishAllAsync(messages, perSecond: 300, timeout: Wait);

            await TestInfrastructure.EventuallyAsync(async () => gateway.Acknowledged >= N / 3 && await CountAsync(influx) > 0, Wait, "a third published, readings being stored");
            await broker.StopAsync();
            var publishedAtStop = gateway.Acknowledged;
            output.WriteLine($"broker stopped after {publishedAtStop} published");
            await broker.StartAsync();
            Assert.True(publishedAtStop < N, "the broker restarted while the gateway was still publishing");

            await publishing;
            await AssertExactlyStoredAsync(influx, expected);
            await TestInfrastructure.EventuallyAsync(async () => (await ReadinessAsync(service)) == System.Net.HttpStatusCode.OK, Wait, "the service ready (subscribed) again");
            Assert.Equal(0, await service.MetricAsync("ecomonitor_deadletters_published_total"));
        }, () => service.Output);
    }

    /// <summary>The shipped autosave setting saves every 2 s (mosquitto saves when more than autosave_interval = 1 s
    /// has passed): what the broker queued for the service more than that before a crash survives it. (With the
    /// former autosave_interval 10 it fails with all 3,000 readings lost: nothing was saved in the broker's first 11 s.)</summary>
    [Fact]
    public async Task Mosquitto_killed_with_SIGKILL_keeps_what_it_queued_for_the_service_4_s_before()
    {
        // mosquitto writes its pid file after dropping to its own user: into its data folder, which belongs to it.
        await using var broker = new PrivateBroker("pid_file @DIR@/data/mosquitto.pid");
        await broker.StartAsync();
        await using var service = new ServiceProcess(broker.Port, TestInfrastructure.InfluxUrl);
        await RunAsync(async () =>
        {
            await service.StartAsync(); // the persistent session and its subscription
            await service.StopAsync();  // away: the broker queues for it
            using var influx = Influx(service.InfluxUrl, service.Database);
            var (messages, expected) = Readings(service.ReadingsTopic(Station));
            await using (var gateway = new PersistentGateway(broker.Port))
                await gateway.PublishAllAsync(messages, perSecond: 2000, timeout: Wait);

            // The time the crash window is about: twice the save period.
            await Task.Delay(TimeSpan.FromSeconds(4));
            var pid = int.Parse(await File.ReadAllTextAsync(Path.Combine(broker.Directory, "data", "mosquitto.pid")), System.Globalization.CultureInfo.InvariantCulture);
            ChildProcesses.Signal(pid, "KILL");
            await TestInfrastructure.EventuallyAsync(() => !Directory.Exists($"/proc/{pid}"), Wait, "mosquitto gone");
            await broker.StartAsync();

            await service.StartAsync();
            await AssertExactlyStoredAsync(influx, expected);
        }, () => service.Output);
    }

    static async Task<System.Net.HttpStatusCode> ReadinessAsync(ServiceProcess service)
    {
        using var http = new HttpClient();
        return (await http.GetAsync($"http://127.0.0.1:{service.HttpPort}/readyz")).StatusCode;
    }
}
