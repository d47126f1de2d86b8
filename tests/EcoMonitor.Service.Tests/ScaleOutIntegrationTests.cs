using System.Globalization;
using System.Text.Json;
using EcoMonitor.Service.Storage;
using EcoMonitor.Service.Tests.Support;
using Microsoft.Extensions.Options;
using Xunit.Abstractions;

namespace EcoMonitor.Service.Tests;

/// <summary>Two instances of the service in one MQTT 5 shared subscription group (Mqtt:SharedGroup) against the real
/// mosquitto and InfluxDB: the broker splits the readings between them, each reading is stored once, and the hourly
/// and daily rollups are those of a single instance that received the same readings.</summary>
[Trait("Category", "Integration")]
public sealed class ScaleOutIntegrationTests(ITestOutputHelper output)
{
    const int N = 4000;
    static readonly string[] Stations = ["air-1", "air-2", "air-3"];
    static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);

    /// <summary>N readings, one per message, the stations in turn, a minute of simulated time per round, starting 30 hours
    /// ago on the hour: about 22 hours of each station, over two China days. The broker hands consecutive messages to
    /// the two members in turn, so each station-hour is written by both instances, interleaved.</summary>
    static List<(string Station, DateTimeOffset Time, double Value)> Readings()
    {
        var now = DateTimeOffset.UtcNow;
        var start = new DateTimeOffset(now.Ticks / TimeSpan.TicksPerHour * TimeSpan.TicksPerHour, TimeSpan.Zero).AddHours(-30);
        return [.. Enumerable.Range(0, N).Select(i => (Stations[i % 3], start.AddMinutes(i / 3), i * 7919 % 1000 / 4.0 + 1))];
    }

    static string Payload((string Station, DateTimeOffset Time, double Value) r) =>
        string.Create(CultureInfo.InvariantCulture, $$$"""{"ts": {{{r.Time.ToUnixTimeMilliseconds()}}}, "values": {"pm25": {{{r.Value}}}}}""");

    static async Task<long> CountAsync(string database)
    {
        using var influx = TestInfrastructure.Influx(database);
        try
        {
            var series = await influx.QueryAsync("SELECT count(\"value\") FROM \"reading\"");
            return series.SelectMany(s => s.Values).Select(v => v[1].GetInt64()).FirstOrDefault();
        }
        catch (InfluxException)
        {
            return 0;
        }
    }

    /// <summary>Every row of a rollup measurement (tags and fields), as sorted text; numbers to 12 significant digits.</summary>
    static async Task<List<string>> RowsAsync(string database, string measurement)
    {
        using var influx = TestInfrastructure.Influx(database);
        try
        {
            var series = await influx.QueryAsync($"SELECT * FROM \"{measurement}\"");
            return [.. series.SelectMany(s => s.Rows()).Select(r => string.Join(" ", r.OrderBy(kv => kv.Key, StringComparer.Ordinal)
                .Select(kv => $"{kv.Key}={(kv.Value.ValueKind == JsonValueKind.Number ? kv.Value.GetDouble().ToString("G12", CultureInfo.InvariantCulture) : kv.Value.ToString())}")))
                .Order(StringComparer.Ordinal)];
        }
        catch (InfluxException)
        {
            return [];
        }
    }

    [Fact]
    public async Task Two_instances_in_a_shared_group_store_each_reading_once_and_roll_up_as_one_instance_does()
    {
        var group = TestInfrastructure.UniqueName("g");
        await using var a = new ServiceUnderTest(new() { ["Mqtt:SharedGroup"] = group });
        await using var b = new ServiceUnderTest(new()
        {
            ["Mqtt:SharedGroup"] = group, ["Ingestion:TopicPrefix"] = a.Prefix, ["Influx:Database"] = a.Database,
        });
        await using var single = new ServiceUnderTest();
        await Task.WhenAll(a.StartAsync(), b.StartAsync(), single.StartAsync());

        var readings = Readings();
        await using var gateway = await TestMqttClient.ConnectAsync();
        foreach (var r in readings)
        {
            var payload = Payload(r);
            await gateway.PublishAsync(a.ReadingsTopic(r.Station), payload);
            await gateway.PublishAsync(single.ReadingsTopic(r.Station), payload);
        }

        await TestInfrastructure.EventuallyAsync(async () => await CountAsync(a.Database) >= N && await CountAsync(single.Database) >= N, Wait,
            $"{N} readings stored by the pair and by the single instance");
        await TestInfrastructure.EventuallyAsync(() => a.Metrics.Acknowledgements + b.Metrics.Acknowledgements == N, Wait, "every message acknowledged");
        output.WriteLine($"instance a received {a.Metrics.Messages}, b {b.Metrics.Messages}");
        Assert.True(a.Metrics.Messages > 0 && b.Metrics.Messages > 0, $"both members received readings (a {a.Metrics.Messages}, b {b.Metrics.Messages})");
        Assert.Equal(N, a.Metrics.Messages + b.Metrics.Messages); // each message to one member only
        Assert.Equal(N, await CountAsync(a.Database));
        Assert.Equal(N, await CountAsync(single.Database));

        // Hours with readings, per station: the rows reading_1h must have (computed from what was sent).
        var hours = readings.Select(r => (r.Station, r.Time.ToUnixTimeSeconds() / 3600)).Distinct().Count();
        List<string> pair = [], alone = [];
        foreach (var measurement in new[] { HourlyRollup.Measurement, HourlyRollup.DailyMeasurement })
        {
            try
            {
                await TestInfrastructure.EventuallyAsync(async () =>
                {
                    pair = await RowsAsync(a.Database, measurement);
                    alone = await RowsAsync(single.Database, measurement);
                    return pair.Count > 0 && pair.SequenceEqual(alone) && (measurement != HourlyRollup.Measurement || pair.Count == hours);
                }, Wait, $"{measurement} of the pair equals the single instance's");
            }
            catch (TimeoutException e)
            {
                var first = pair.Except(alone).Concat(alone.Except(pair)).FirstOrDefault();
                throw new TimeoutException($"{e.Message}: {pair.Count} rows against {alone.Count} ({hours} hours sent); first difference: {first}", e);
            }
            output.WriteLine($"{measurement}: {pair.Count} rows equal");
        }
    }

    [Theory]
    [InlineData("Mqtt:SharedGroup", "ingest/a", "Mqtt:SharedGroup")]
    [InlineData("Mqtt:SharedGroup", "ingest+", "Mqtt:SharedGroup")]
    [InlineData("Alerting:LeaseRenewInterval", "00:00:00.050", "Alerting:LeaseRenewInterval")]
    [InlineData("Alerting:LeaseDuration", "00:00:14", "Alerting:LeaseDuration")]
    [InlineData("Alerting:LeaseSettle", "00:00:20", "Alerting:LeaseSettle")]
    public async Task Scale_out_settings_are_validated_at_start_and_named(string key, string value, string named)
    {
        await using var service = new ServiceUnderTest(new() { [key] = value });
        var e = await Assert.ThrowsAnyAsync<Exception>(service.StartAsync);
        var validation = Assert.IsType<OptionsValidationException>(e);
        Assert.Contains(named, string.Join(" ", validation.Failures));
    }

    [Fact]
    public async Task A_leadership_mode_that_does_not_exist_is_named()
    {
        await using var service = new ServiceUnderTest(new() { ["Alerting:Leadership"] = "Sometimes" });
        var e = await Assert.ThrowsAnyAsync<Exception>(service.StartAsync);
        Assert.Contains("Alerting:Leadership", e.Message);
    }
}
