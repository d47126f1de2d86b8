using System.Globalization;
using EcoMonitor.Service.Storage;
using EcoMonitor.Service.Tests.Support;
using Xunit.Abstractions;

namespace EcoMonitor.Service.Tests;

/// <summary>Two service processes in one shared subscription group on the test mosquitto; one is killed with SIGKILL
/// while a gateway publishes, and started again. mosquitto hands the messages of a shared group to its members in
/// turn, connected or not: what the killed member had in flight, and its turn of what arrives while it is down, stay
/// in its persistent session and reach it (not the other member) when it is back. So nothing is lost, provided the
/// member comes back (or its session is drained) before Mqtt:SessionExpiry.</summary>
[Trait("Category", "Integration")]
[Collection(ProcessFaultTests.Collection)]
public sealed class ScaleOutProcessTests(ITestOutputHelper output)
{
    const int N = 3000;
    static readonly string[] Stations = ["air-1", "air-2", "air-3"];
    static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);

    /// <summary>N readings, the stations in turn, a minute of simulated time per round, from 20 hours ago on the hour.</summary>
    static List<(string Station, DateTimeOffset Time, double Value)> Readings()
    {
        var now = DateTimeOffset.UtcNow;
        var start = new DateTimeOffset(now.Ticks / TimeSpan.TicksPerHour * TimeSpan.TicksPerHour, TimeSpan.Zero).AddHours(-20);
        return [.. Enumerable.Range(0, N).Select(i => (Stations[i % 3], start.AddMinutes(i / 3), i * 7919 % 1000 / 4.0 + 1))];
    }

    static async Task<long> CountAsync(string database)
    {
        using var influx = TestInfrastructure.Influx(database);
        try
        {
            var series = await influx.QueryAsync("SELECT count(\"value\") FROM \"reading\"");
            return series.SelectMany(s => s.Values).Select(v => v[1].GetInt64()).FirstOrDefault();
        }
        catch (Exception e) when (e is InfluxException or HttpRequestException or TaskCanceledException)
        {
            return 0;
        }
    }

    /// <summary>The first station-hour of reading_1h that differs from the figures of what was sent (one reading a
    /// minute: the hour's minutes, mean, min and max of the values), null when none does.</summary>
    static async Task<string?> RollupDifferenceAsync(string database, List<(string Station, DateTimeOffset Time, double Value)> sent)
    {
        var expected = sent.GroupBy(r => (r.Station, Hour: DateTimeOffset.FromUnixTimeSeconds(r.Time.ToUnixTimeSeconds() / 3600 * 3600)))
            .ToDictionary(h => h.Key, h => (Minutes: h.Count(), Mean: h.Average(r => r.Value), Min: h.Min(r => r.Value), Max: h.Max(r => r.Value)));
        using var influx = TestInfrastructure.Influx(database);
        var stored = (await influx.QueryAsync($"SELECT \"minutes\", \"mean\", \"min\", \"max\", \"station\" FROM \"{HourlyRollup.Measurement}\" WHERE \"parameter\" = 'pm25'"))
            .SelectMany(x => x.Rows()).ToDictionary(r => (r["station"].GetString()!, DateTimeOffset.FromUnixTimeMilliseconds(r["time"].GetInt64())),
                r => (Minutes: r["minutes"].GetInt32(), Mean: r["mean"].GetDouble(), Min: r["min"].GetDouble(), Max: r["max"].GetDouble()));
        if (stored.Count != expected.Count) return $"{stored.Count} station-hours in reading_1h, {expected.Count} expected";
        static bool Near(double a, double b) => Math.Abs(a - b) <= 1e-9;
        return expected.Where(h => !stored.TryGetValue(h.Key, out var r) || r.Minutes != h.Value.Minutes
                || !Near(r.Mean, h.Value.Mean) || !Near(r.Min, h.Value.Min) || !Near(r.Max, h.Value.Max))
            .Select(h => $"{h.Key}: expected {h.Value}, stored {stored.GetValueOrDefault(h.Key)}").FirstOrDefault();
    }

    [Fact]
    public async Task A_member_killed_with_SIGKILL_mid_load_and_restarted_loses_nothing_and_stores_nothing_twice()
    {
        var group = TestInfrastructure.UniqueName("g");
        // A flush interval of 1 s keeps a batch of unacknowledged messages in the member when it is killed.
        await using var a = new ServiceProcess(TestInfrastructure.MqttPort, TestInfrastructure.InfluxUrl,
            new() { ["Mqtt:SharedGroup"] = group, ["Influx:FlushInterval"] = "00:00:01" });
        await using var b = new ServiceProcess(TestInfrastructure.MqttPort, TestInfrastructure.InfluxUrl, new()
        {
            ["Mqtt:SharedGroup"] = group, ["Influx:FlushInterval"] = "00:00:01", ["Ingestion:TopicPrefix"] = a.Prefix, ["Influx:Database"] = a.Database,
        });
        try
        {
            await Task.WhenAll(a.StartAsync(), b.StartAsync());
            var readings = Readings();
            var messages = readings.Select(r => (a.ReadingsTopic(r.Station),
                string.Create(CultureInfo.InvariantCulture, $$$"""{"ts": {{{r.Time.ToUnixTimeMilliseconds()}}}, "values": {"pm25": {{{r.Value}}}}}"""))).ToList();
            await using var gateway = new PersistentGateway(TestInfrastructure.MqttPort);
            var publishing = gateway.PublishAllAsync(messages, perSecond: 300, timeout: Wait);

            await TestInfrastructure.EventuallyAsync(async () => gateway.Acknowledged >= N / 3 && await CountAsync(a.Database) > 0, Wait, "a third published, readings being stored");
            var bBefore = await b.MetricAsync("ecomonitor_messages_received_total");
            await b.KillAsync();
            var killedAt = gateway.Acknowledged;
            var aAtKill = await a.MetricAsync("ecomonitor_messages_received_total");
            Assert.True(killedAt < N, "the kill happened while the gateway was still publishing");
            // Down for 3 s (about 900 messages published): the broker keeps handing b its turn.
            await Task.Delay(TimeSpan.FromSeconds(3));
            var publishedWhileDown = gateway.Acknowledged - killedAt;
            var aWhileDown = await a.MetricAsync("ecomonitor_messages_received_total") - aAtKill;
            output.WriteLine($"b killed after {killedAt} published ({bBefore} received by b); while it was down {publishedWhileDown} were published, a received {aWhileDown}");
            await b.StartAsync();
            await publishing;

            await TestInfrastructure.EventuallyAsync(async () => await CountAsync(a.Database) >= N, Wait, $"{N} readings stored");
            await Task.Delay(TimeSpan.FromSeconds(1)); // anything stored twice or late would show now
            Assert.Equal(N, await CountAsync(a.Database));
            var aReceived = await a.MetricAsync("ecomonitor_messages_received_total");
            var bReceived = await b.MetricAsync("ecomonitor_messages_received_total");
            var bRedelivered = await b.MetricAsync("ecomonitor_messages_redelivered_total");
            output.WriteLine($"a received {aReceived}; b after its restart {bReceived}, of them {bRedelivered} redelivered (DUP)");
            // The killed member's in-flight messages came back to it, with DUP set; the other member got none of them,
            // and took no more than its own turn while b was down.
            Assert.True(bRedelivered > 0, "b's unacknowledged messages were redelivered to b");
            Assert.Equal(0, await a.MetricAsync("ecomonitor_messages_redelivered_total"));
            Assert.True(aWhileDown < publishedWhileDown * 3 / 4, $"a received {aWhileDown} of {publishedWhileDown} while b was down: the broker kept b's turn for b");

            string? difference = null;
            try
            {
                await TestInfrastructure.EventuallyAsync(async () => (difference = await RollupDifferenceAsync(a.Database, readings)) is null,
                    Wait, "the hourly rollup matches the readings sent");
            }
            catch (TimeoutException e)
            {
                throw new TimeoutException($"{e.Message}: {difference}", e);
            }
        }
        catch
        {
            output.WriteLine(a.Output);
            output.WriteLine(b.Output);
            throw;
        }
    }
}
