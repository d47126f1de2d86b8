using System.Globalization;
using EcoMonitor.Api.V1;
using EcoMonitor.Domain;
using EcoMonitor.Service.Tests.Support;
using Grpc.Core;

namespace EcoMonitor.Service.Tests;

/// <summary>Stations that send their own hourly means (HJ 212 CN=2061, JSON "period": "hour"), stored as station
/// hours and not as raw readings: the water class (GB 3838, by the period mean) and the latest values count them,
/// through the real broker, service and database. Times are recent local hours that have ended (within
/// Ingestion:MaxAge).</summary>
[Trait("Category", "Integration")]
public sealed class HourlyOnlyStationTests
{
    static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);
    static readonly TimeSpan China = TimeSpan.FromHours(8);
    static readonly Metadata Reader = Seed.Key(ServiceUnderTest.ReaderKey);

    static DateTimeOffset LocalDay(int daysAgo) => ChinaTime.StartOf(ChinaTime.DateOf(DateTimeOffset.UtcNow).AddDays(-daysAgo));

    static string Local(DateTimeOffset t) => t.ToOffset(China).ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture);

    static string Date(DateTimeOffset t) => t.ToOffset(China).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

    static string N(double v) => v.ToString("0.######", CultureInfo.InvariantCulture);

    /// <summary>A surface-water station's hourly data frame (ST=21) of the section w-fyh-1 (MN WAT0001).</summary>
    static string Hourly(DateTimeOffset hour, string cp) =>
        Hj212TestFrames.Frame($"QN={Local(hour.AddHours(1))}000;ST=21;CN=2061;PW=x;MN=WAT0001;Flag=4;CP=&&DataTime={Local(hour)};{cp}&&");

    static string Json(DateTimeOffset t, string values) => $"{{\"ts\":{t.ToUnixTimeMilliseconds()},\"values\":{{{values}}}}}";

    static Selection Section()
    {
        var s = new Selection();
        s.StationIds.Add("w-fyh-1");
        return s;
    }

    static async Task AcknowledgedAsync(ServiceUnderTest service, long messages)
    {
        await TestInfrastructure.EventuallyAsync(() => service.Metrics.Acknowledgements >= messages, Wait, $"{messages} messages acknowledged");
        await service.RollupsCurrentAsync();
    }

    [Fact]
    public async Task A_section_sending_only_hourly_means_gets_its_class_from_them_and_latest_values_at_the_hours_start()
    {
        await using var service = new ServiceUnderTest();
        await service.StartAsync();
        await using var gateway = await TestMqttClient.ConnectAsync();
        var first = LocalDay(5);
        // Three days of hourly data, nothing else. Even hours: NH3-N 1.2, COD 18; odd hours: NH3-N 1.6, COD 24;
        // DO 5.5 and TP 0.15 throughout. Means: NH3-N 1.4 (IV: <= 1.5), COD 21 (IV: > 20, <= 30), DO 5.5 (III: >= 5),
        // TP 0.15 (III: <= 0.2, river). The section: IV, which meets its target IV.
        string Frame(int h) => Hourly(first.AddHours(h), h % 2 == 0
            ? "w21003-Avg=1.2,w21003-Flag=N;w01018-Avg=18,w01018-Flag=N;w01009-Avg=5.5,w01009-Flag=N;w21011-Avg=0.15,w21011-Flag=N"
            : "w21003-Avg=1.6,w21003-Flag=N;w01018-Avg=24,w01018-Flag=N;w01009-Avg=5.5,w01009-Flag=N;w21011-Avg=0.15,w21011-Flag=N");
        for (var day = 0; day < 3; day++)
            await gateway.PublishAsync($"{service.Prefix}/w-fyh-1/hj212", string.Concat(Enumerable.Range(day * 24, 24).Select(Frame)));
        await AcknowledgedAsync(service, 3);

        var client = new QueryService.QueryServiceClient(Seed.Channel(service));
        var r = await client.GetWaterQualityAsync(new WaterQualityRequest { From = Date(first), To = Date(first.AddDays(2)) }, Reader);
        var s = r.Sections.Single();
        Assert.Equal(("w-fyh-1", "IV", "IV", true, true), (s.StationId, s.WaterClass, s.TargetClass, s.HasMeetsTarget, s.MeetsTarget));
        Assert.Equal([("cod", "IV"), ("do", "III"), ("nh3n", "IV"), ("tp", "III")], s.Parameters.Select(p => (p.Parameter, p.WaterClass)));
        Assert.Equal(1.4, s.Parameters.Single(p => p.Parameter == "nh3n").Mean, 9);
        Assert.Equal(21, s.Parameters.Single(p => p.Parameter == "cod").Mean, 9);
        Assert.Empty(s.FailingParameters);
        // The first day alone has 12 even and 12 odd hours: the same means.
        var one = (await client.GetWaterQualityAsync(new WaterQualityRequest { From = Date(first), To = Date(first) }, Reader)).Sections.Single();
        Assert.Equal(1.4, one.Parameters.Single(p => p.Parameter == "nh3n").Mean, 9);

        // Latest: the last hour sent (the third day's 23:00, odd: NH3-N 1.6), at the start of that hour, as hourly.
        var last = first.AddHours(71);
        var latest = await client.GetLatestAsync(new LatestRequest { Selection = Section(), WithinHours = 24 * 7 }, Reader);
        Assert.Equal(["cod", "do", "nh3n", "tp"], latest.Readings.Select(x => x.Parameter));
        var nh3n = latest.Readings.Single(x => x.Parameter == "nh3n");
        Assert.Equal(("w-fyh-1", 1.6, "N", true, "hour"), (nh3n.StationId, nh3n.Value, nh3n.Flag, nh3n.Valid, nh3n.Period));
        Assert.Equal(last, DateTimeOffset.Parse(nh3n.Time, CultureInfo.InvariantCulture));
        Assert.All(latest.Readings, x => Assert.Equal((ChinaTime.Utc(last), "hour"), (x.Time, x.Period)));
    }

    [Fact]
    public async Task An_hour_with_minute_readings_and_the_stations_hourly_mean_counts_once()
    {
        await using var service = new ServiceUnderTest();
        await service.StartAsync();
        await using var gateway = await TestMqttClient.ConnectAsync();
        var day = LocalDay(4);
        // 08:00: four readings of NH3-N 1.0 and the station's hourly mean 1.6 -> the hour counts once, at 1.6.
        // 09:00: two readings of 1.0, no station hour -> both count. 10:00: two readings of 5.0 and the station's
        // hour flagged D (fault) -> the station declared the hour unusable: nothing of it counts.
        // Period mean (1.6 + 1.0 + 1.0) / 3 = 1.2: class IV. Counting the hour twice would give (4 + 1.6 + 2) / 7
        // = 1.086 (III); the readings alone 16 / 8 = 2.0 (V).
        var h8 = day.AddHours(8);
        var readings = Enumerable.Range(0, 4).Select(m => Json(h8.AddMinutes(m * 10), "\"nh3n\":1.0"))
            .Concat(Enumerable.Range(0, 2).Select(m => Json(h8.AddHours(1).AddMinutes(m * 20), "\"nh3n\":1.0")))
            .Concat(Enumerable.Range(0, 2).Select(m => Json(h8.AddHours(2).AddMinutes(m * 20), "\"nh3n\":5.0")));
        await gateway.PublishAsync(service.ReadingsTopic("w-fyh-1"), "[" + string.Join(',', readings) + "]");
        await gateway.PublishAsync($"{service.Prefix}/w-fyh-1/hj212",
            Hourly(h8, $"w21003-Avg={N(1.6)},w21003-Flag=N") + Hourly(h8.AddHours(2), "w21003-Avg=5,w21003-Flag=D"));
        await AcknowledgedAsync(service, 2);

        var client = new QueryService.QueryServiceClient(Seed.Channel(service));
        var s = (await client.GetWaterQualityAsync(new WaterQualityRequest { From = Date(day), To = Date(day) }, Reader)).Sections.Single();
        var nh3n = s.Parameters.Single();
        Assert.Equal(("nh3n", "IV"), (nh3n.Parameter, nh3n.WaterClass));
        Assert.Equal(1.2, nh3n.Mean, 9);
        Assert.Equal(("IV", true), (s.WaterClass, s.MeetsTarget));

        // Latest: the 10:00 station hour (data to 11:00) is newer than the readings within it (10:20): flag D, hourly.
        var latest = (await client.GetLatestAsync(new LatestRequest { Selection = Section(), WithinHours = 24 * 7 }, Reader)).Readings.Single();
        Assert.Equal(("nh3n", 5.0, "D", false, "hour", ChinaTime.Utc(h8.AddHours(2))), (latest.Parameter, latest.Value, latest.Flag, latest.Valid, latest.Period, latest.Time));
    }

    [Fact]
    public async Task A_raw_reading_after_the_last_station_hour_is_the_latest_value()
    {
        await using var service = new ServiceUnderTest();
        await service.StartAsync();
        await using var gateway = await TestMqttClient.ConnectAsync();
        var hour = LocalDay(2).AddHours(8);
        // The station's 08:00 hour (data to 09:00) and a real-time reading at 09:05: the reading is newer.
        await gateway.PublishAsync($"{service.Prefix}/w-fyh-1/hj212", Hourly(hour, "w21003-Avg=0.4,w21003-Flag=N"));
        await gateway.PublishAsync(service.ReadingsTopic("w-fyh-1"), Json(hour.AddMinutes(65), "\"nh3n\":0.7"));
        await AcknowledgedAsync(service, 2);
        var client = new QueryService.QueryServiceClient(Seed.Channel(service));
        var latest = (await client.GetLatestAsync(new LatestRequest { Selection = Section(), WithinHours = 24 * 7 }, Reader)).Readings.Single();
        Assert.Equal(("nh3n", 0.7, "", ChinaTime.Utc(hour.AddMinutes(65))), (latest.Parameter, latest.Value, latest.Period, latest.Time));
        // A window that ends before the hour did: nothing since (within 1 hour of now there is no data at all).
        var none = await client.GetLatestAsync(new LatestRequest { Selection = Section(), WithinHours = 1 }, Reader);
        Assert.Empty(none.Readings);
    }
}
