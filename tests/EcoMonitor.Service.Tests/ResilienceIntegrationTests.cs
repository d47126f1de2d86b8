using System.Text;
using EcoMonitor.Service.Ingestion;
using EcoMonitor.Service.Tests.Support;

namespace EcoMonitor.Service.Tests;

/// <summary>Nothing is lost and nothing is counted twice when the service, the broker or the database goes away.</summary>
[Trait("Category", "Integration")]
public sealed class ResilienceIntegrationTests
{
    static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    static string Reading(string station, DateTimeOffset t, double pm25) =>
        $$$"""{"ts": {{{t.ToUnixTimeMilliseconds()}}}, "values": {"pm25": {{{pm25}}}, "pm10": {{{pm25 * 2}}}}}""";

    static DateTimeOffset Start => DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.AddHours(-6).ToUnixTimeMilliseconds() / 1000 * 1000);

    static async Task<long> CountAsync(string database, string station)
    {
        using var influx = TestInfrastructure.Influx(database);
        return (await TestInfrastructure.PointsAsync(influx, station)).Count;
    }

    [Fact]
    public async Task Message_stored_but_not_acknowledged_before_a_stop_is_redelivered_and_leaves_one_point()
    {
        await using var proxy = new TcpProxy(TestInfrastructure.InfluxUrl);
        await using var service = new ServiceUnderTest(new() { ["Influx:Url"] = proxy.Url.ToString(), ["Influx:Timeout"] = "00:01:00" });
        await service.StartAsync();
        await using var gateway = await TestMqttClient.ConnectAsync();
        var t = Start;

        await gateway.PublishAsync(service.ReadingsTopic("air-1"), Reading("air-1", t, 20));
        await TestInfrastructure.EventuallyAsync(() => service.Metrics.Acknowledgements == 1, Wait, "first message acknowledged");

        // InfluxDB stores the second message but its answer never reaches the service, which stops before acknowledging.
        proxy.Mode = ProxyMode.SwallowResponses;
        await gateway.PublishAsync(service.ReadingsTopic("air-1"), Reading("air-1", t.AddMinutes(1), 30));
        await TestInfrastructure.EventuallyAsync(async () => await CountAsync(service.Database, "air-1") == 4, Wait, "second message stored");
        await TestInfrastructure.EventuallyAsync(() => proxy.Swallowed > 0, Wait, "InfluxDB answered");
        var metricsBefore = service.Metrics;
        await service.StopAsync();
        Assert.Equal(1, metricsBefore.Acknowledgements);

        proxy.Mode = ProxyMode.Forward;
        proxy.DropConnections();
        await service.StartAsync();
        await TestInfrastructure.EventuallyAsync(() => service.Metrics.Acknowledgements == 1, Wait, "redelivered message acknowledged");
        Assert.Equal(1, service.Metrics.Redelivered);

        using var influx = TestInfrastructure.Influx(service.Database);
        var points = await TestInfrastructure.PointsAsync(influx, "air-1");
        Assert.Equal(4, points.Count);
        var counts = await influx.QueryAsync("SELECT count(\"value\") FROM \"reading\" WHERE \"station\" = 'air-1' AND \"parameter\" = 'pm25'");
        Assert.Equal(2, counts.Single().Values.Single()[1].GetInt64());
    }

    [Fact]
    public async Task Messages_published_while_the_service_is_down_are_all_stored_after_it_restarts()
    {
        await using var service = new ServiceUnderTest();
        await service.StartAsync(); // creates the persistent session and its subscription
        await service.StopAsync();

        await using (var gateway = await TestMqttClient.ConnectAsync())
        {
            var t = Start;
            for (var i = 0; i < 1500; i++)
                await gateway.PublishAsync(service.ReadingsTopic("air-2"), Reading("air-2", t.AddSeconds(i), i % 300));
        }

        await service.StartAsync();
        await TestInfrastructure.EventuallyAsync(async () => await CountAsync(service.Database, "air-2") == 3000, Wait, "3000 points");
        await TestInfrastructure.EventuallyAsync(() => service.Metrics.Acknowledgements == 1500, Wait, "1500 acknowledgements");
        Assert.Equal(1500, service.Metrics.Messages);
    }

    [Theory]
    [InlineData(ProxyMode.Refuse)]          // connection refused
    [InlineData(ProxyMode.Answer503)]       // 5xx
    [InlineData(ProxyMode.SwallowResponses)] // no answer: Influx:Timeout
    public async Task While_InfluxDB_is_unreachable_readings_wait_unacknowledged_and_are_stored_when_it_returns(ProxyMode failure)
    {
        await using var proxy = new TcpProxy(TestInfrastructure.InfluxUrl) { Mode = failure };
        await using var service = new ServiceUnderTest(new() { ["Influx:Url"] = proxy.Url.ToString(), ["Influx:Timeout"] = "00:00:00.500" });
        await service.StartAsync();
        await using var gateway = await TestMqttClient.ConnectAsync();
        var t = Start;
        for (var i = 0; i < 20; i++)
            await gateway.PublishAsync(service.ReadingsTopic("air-1"), Reading("air-1", t.AddMinutes(i), 50 + i));

        await TestInfrastructure.EventuallyAsync(() => service.Metrics.Retries >= 3, Wait, "write retries");
        Assert.Equal(0, service.Metrics.Acknowledgements);

        proxy.Mode = ProxyMode.Forward;
        proxy.DropConnections();
        await TestInfrastructure.EventuallyAsync(async () => await CountAsync(service.Database, "air-1") == 40, Wait, "40 points once InfluxDB is back");
        await TestInfrastructure.EventuallyAsync(() => service.Metrics.Acknowledgements == 20, Wait, "20 acknowledgements");
    }

    [Fact]
    public async Task Points_InfluxDB_refuses_are_dead_lettered_alone()
    {
        await using var service = new ServiceUnderTest();
        await service.StartAsync();
        var old = Start.AddDays(-20);
        // A string-typed "value" in the shard of 20 days ago makes InfluxDB refuse float values there.
        using (var http = new HttpClient { BaseAddress = TestInfrastructure.InfluxUrl })
        {
            var response = await http.PostAsync($"write?db={service.Database}&precision=ms",
                new StringContent($"reading,station=other,parameter=pm25 value=\"text\" {old.AddHours(-1).ToUnixTimeMilliseconds()}\n", Encoding.UTF8));
            Assert.Equal(204, (int)response.StatusCode);
        }
        await using var deadLetters = await TestMqttClient.ConnectAsync($"{service.Prefix}/deadletter/#");
        await using var gateway = await TestMqttClient.ConnectAsync();
        var now = Start;
        await gateway.PublishAsync(service.ReadingsTopic("air-1"),
            $$$"""[{"ts": {{{old.ToUnixTimeMilliseconds()}}}, "values": {"pm25": 11}}, {"ts": {{{now.ToUnixTimeMilliseconds()}}}, "values": {"pm25": 12, "pm10": 20}}]""");

        await TestInfrastructure.EventuallyAsync(() => !deadLetters.Received.IsEmpty, Wait, "a dead letter");
        var dl = Assert.Single(deadLetters.Received).Payload.Json();
        var rejection = Assert.Single(dl.GetProperty("rejections").EnumerateArray());
        Assert.Equal(RejectReason.RejectedByDatabase, rejection.GetProperty("reason").GetString());
        Assert.Equal(0, rejection.GetProperty("index").GetInt32());
        Assert.Contains("field type conflict", rejection.GetProperty("detail").GetString());
        Assert.Equal(2, dl.GetProperty("storedReadings").GetInt32());
        Assert.Equal("partial", dl.GetProperty("scope").GetString());
        using var influx = TestInfrastructure.Influx(service.Database);
        var stored = await TestInfrastructure.PointsAsync(influx, "air-1");
        Assert.Equal([("pm10", 20.0), ("pm25", 12.0)], stored.Select(p => (p.Parameter, p.Value)).Order());
        Assert.All(stored, p => Assert.Equal(now, p.Time));
        Assert.Equal(1, service.Metrics.Acknowledgements);
    }

    [Fact]
    public async Task Broker_restart_loses_nothing_queued_for_the_service_and_the_service_reconnects()
    {
        await using var broker = new PrivateBroker();
        await broker.StartAsync();
        await using var service = new ServiceUnderTest(new() { ["Mqtt:Port"] = broker.Port.ToString() });
        await service.StartAsync();
        await service.StopAsync();

        var t = Start;
        await using (var gateway = await TestMqttClient.ConnectAsync(port: broker.Port))
            for (var i = 0; i < 200; i++)
                await gateway.PublishAsync(service.ReadingsTopic("air-1"), Reading("air-1", t.AddSeconds(i), 10));

        await broker.StopAsync();
        await broker.StartAsync();
        await service.StartAsync();
        await TestInfrastructure.EventuallyAsync(async () => await CountAsync(service.Database, "air-1") == 400, Wait, "400 points after the broker restart");

        // The broker goes away under a running service: it reconnects by itself and takes new readings.
        await broker.StopAsync();
        await broker.StartAsync();
        await using (var gateway = await TestMqttClient.ConnectAsync(port: broker.Port))
            await gateway.PublishAsync(service.ReadingsTopic("air-1"), Reading("air-1", t.AddHours(1), 10));
        await TestInfrastructure.EventuallyAsync(async () => await CountAsync(service.Database, "air-1") == 402, Wait, "402 points after reconnecting");
    }

    [Fact]
    public async Task A_database_dropped_under_the_running_service_is_created_again()
    {
        await using var service = new ServiceUnderTest();
        await service.StartAsync();
        await using var gateway = await TestMqttClient.ConnectAsync();
        var t = Start;
        await gateway.PublishAsync(service.ReadingsTopic("air-1"), Reading("air-1", t, 10));
        await TestInfrastructure.EventuallyAsync(async () => await CountAsync(service.Database, "air-1") == 2, Wait, "first reading stored");
        await service.RollupsCurrentAsync(); // else the rollup stage, finding the database gone, creates it before the write does

        using (var influx = TestInfrastructure.Influx(service.Database))
            await influx.QueryAsync($"DROP DATABASE \"{service.Database}\"", post: true);
        await gateway.PublishAsync(service.ReadingsTopic("air-1"), Reading("air-1", t.AddMinutes(1), 11));
        await TestInfrastructure.EventuallyAsync(async () => await CountAsync(service.Database, "air-1") == 2, Wait, "second reading stored in the new database");
        Assert.True(service.Metrics.Retries >= 1);
    }

    [Fact]
    public async Task Database_and_retention_policy_are_created_at_start_and_written_into()
    {
        await using var service = new ServiceUnderTest(new() { ["Influx:RetentionPolicy"] = "one_year", ["Influx:RetentionDuration"] = "52w" });
        await service.StartAsync();
        using var influx = TestInfrastructure.Influx(service.Database);
        var policies = (await influx.QueryAsync($"SHOW RETENTION POLICIES ON \"{service.Database}\"")).SelectMany(s => s.Rows()).ToList();
        var rp = Assert.Single(policies, p => p["name"].GetString() == "one_year");
        Assert.Equal("8736h0m0s", rp["duration"].GetString());

        await using var gateway = await TestMqttClient.ConnectAsync();
        await gateway.PublishAsync(service.ReadingsTopic("air-1"), Reading("air-1", Start, 25));
        await TestInfrastructure.EventuallyAsync(async () =>
            (await influx.QueryAsync("SELECT count(\"value\") FROM \"one_year\".\"reading\"")).SelectMany(s => s.Values).Select(v => v[1].GetInt64()).FirstOrDefault() == 2,
            Wait, "two points in the one_year retention policy");
        Assert.Empty(await influx.QueryAsync("SELECT * FROM \"autogen\".\"reading\""));
    }
}
