using System.Globalization;
using System.Net.Sockets;
using System.Text;
using EcoMonitor.Api.V1;
using EcoMonitor.Service.Tests.Support;
using Grpc.Core;
using Xunit.Abstractions;

namespace EcoMonitor.Service.Tests;

/// <summary>A year of hourly CN=2061 frames for two stations, one over TCP and one over MQTT, through the real service
/// into the real InfluxDB, plus the same hours as minute readings for two mirror stations, sent once for the class.
///
/// The data, by construction (so every figure below is worked out from these rules, not from the code):
/// - day d's base B(d) = 30 + (day of year mod 7) x 5, minus 1.5 in 2026; station h-mqtt and its mirror m-2 add 10;
/// - hour h of day d is B(d) + 4 at even hours and B(d) − 4 at odd hours, so a day with the hours in pairs means B(d);
/// - on days 3 and 10 of every month hours 0-4 are invalid (flag D; the mirrors: 44 minutes), leaving 19 valid hours:
///   the day is invalid (GB 3095: 20); on day 2 hours 0 and 1 are invalid (flag M; the mirrors: no minute, and 44
///   minutes): 22 valid hours, still in pairs, the day means B(d).
/// - h-tcp and h-mqtt: every hour of 2025 (8,760 frames) and of 1-4 January 2026 (96), hourly values only;
///   m-1 and m-2: 45 minutes of every valid hour of 1-4 January 2025 and 2026 (8,640 readings each), minute values
///   v + (−0.6, 0, +0.6) repeating, whose mean is v.</summary>
public sealed class HourlyYearFixture : IAsyncLifetime
{
    public const string StationsJson = """
    {
      "stations": [
        { "id": "h-tcp", "name": "小时站一", "kind": "air", "region": "高新区", "latitude": 37.77, "longitude": 115.74, "mn": "HTCP0001" },
        { "id": "h-mqtt", "name": "小时站二", "kind": "air", "region": "高新区", "latitude": 37.78, "longitude": 115.72, "mn": "HMQT0001" },
        { "id": "m-1", "name": "分钟站一", "kind": "air", "region": "对照", "latitude": 37.77, "longitude": 115.74 },
        { "id": "m-2", "name": "分钟站二", "kind": "air", "region": "对照", "latitude": 37.78, "longitude": 115.72 }
      ]
    }
    """;

    static readonly TimeSpan China = TimeSpan.FromHours(8);

    public ServiceUnderTest Service { get; } = new(new()
    {
        ["Ingestion:MaxAge"] = "3650.00:00:00", // the data is of 2025 and January 2026
    });

    public TimeSpan Took { get; private set; }

    public static double Base(DateOnly d) => 30 + d.DayOfYear % 7 * 5 - (d.Year == 2026 ? 1.5 : 0);

    public static double Offset(string station) => station is "h-mqtt" or "m-2" ? 10 : 0;

    public static double HourValue(string station, DateOnly d, int h) => Base(d) + Offset(station) + (h % 2 == 0 ? 4 : -4);

    /// <summary>The flag an hour carries (N valid; D on days 3 and 10 for hours 0-4; M on day 2 for hours 0-1).</summary>
    public static string HourFlag(DateOnly d, int h) => d.Day is 3 or 10 && h < 5 ? "D" : d.Day == 2 && h < 2 ? "M" : "N";

    /// <summary>Minutes the mirror stations send for an hour: 45 when valid, 44 (or none, day 2 hour 0) when not.</summary>
    public static int MirrorMinutes(DateOnly d, int h) => HourFlag(d, h) == "N" ? 45 : d.Day == 2 && h == 0 ? 0 : 44;

    static string Local(DateTimeOffset t, string format) => t.ToOffset(China).ToString(format, CultureInfo.InvariantCulture);

    static string N(double v) => v.ToString("0.###", CultureInfo.InvariantCulture);

    static IEnumerable<(DateOnly Day, int Hour)> Hours(DateOnly from, DateOnly to)
    {
        for (var d = from; d <= to; d = d.AddDays(1))
            for (var h = 0; h < 24; h++) yield return (d, h);
    }

    public static IEnumerable<(DateOnly Day, int Hour)> HourlySpan() => Hours(new DateOnly(2025, 1, 1), new DateOnly(2026, 1, 4));

    static string HourlyFrame(string station, string mn, DateOnly d, int h, int flag)
    {
        var start = new DateTimeOffset(d.ToDateTime(new TimeOnly(h, 0)), China);
        var v = HourValue(station, d, h);
        return Hj212TestFrames.Frame(
            $"QN={Local(start.AddHours(1), "yyyyMMddHHmmss")}000;ST=22;CN=2061;PW=123456;MN={mn};Flag={flag};CP=&&DataTime={Local(start, "yyyyMMddHHmmss")};" +
            $"a34004-Avg={N(v)},a34004-Min={N(v - 2)},a34004-Max={N(v + 2)},a34004-Flag={HourFlag(d, h)}&&");
    }

    public async Task InitializeAsync()
    {
        File.WriteAllText(Service.StationsFile, StationsJson);
        await Service.StartAsync();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var hours = HourlySpan().ToList();

        // TCP: every frame asks for the data response (Flag=5); all answers back means all stored and rolled up.
        var tcp = SendOverTcpAsync(hours.Select(x => HourlyFrame("h-tcp", "HTCP0001", x.Day, x.Hour, 5)).ToList());

        // MQTT: 1,000 frames per message.
        await using var gateway = await TestMqttClient.ConnectAsync();
        var messages = 0;
        foreach (var chunk in hours.Select(x => HourlyFrame("h-mqtt", "HMQT0001", x.Day, x.Hour, 4)).Chunk(1000))
        {
            await gateway.PublishAsync($"{Service.Prefix}/h-mqtt/hj212", string.Concat(chunk));
            messages++;
        }
        // The mirrors: minute readings as JSON, 1,000 per message.
        foreach (var (station, mirrorOf) in new[] { ("m-1", "h-tcp"), ("m-2", "h-mqtt") })
        {
            var readings = Hours(new DateOnly(2025, 1, 1), new DateOnly(2025, 1, 4)).Concat(Hours(new DateOnly(2026, 1, 1), new DateOnly(2026, 1, 4)))
                .SelectMany(x => Enumerable.Range(0, MirrorMinutes(x.Day, x.Hour)).Select(m =>
                {
                    var t = new DateTimeOffset(x.Day.ToDateTime(new TimeOnly(x.Hour, m)), China);
                    var v = HourValue(mirrorOf, x.Day, x.Hour) + (m % 3 - 1) * 0.6;
                    return $"{{\"ts\":{t.ToUnixTimeMilliseconds()},\"values\":{{\"pm25\":{N(v)}}}}}";
                }));
            foreach (var chunk in readings.Chunk(1000))
            {
                await gateway.PublishAsync(Service.ReadingsTopic(station), "[" + string.Join(',', chunk) + "]");
                messages++;
            }
        }
        await tcp;
        await TestInfrastructure.EventuallyAsync(() => Service.Metrics.Acknowledgements >= hours.Count + messages, TimeSpan.FromSeconds(60),
            "every message stored and acknowledged");
        await Service.RollupsCurrentAsync();
        Took = clock.Elapsed;
    }

    async Task SendOverTcpAsync(List<string> frames)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(await Service.Hj212EndpointAsync());
        var stream = tcp.GetStream();
        var answers = 0;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var reader = Task.Run(async () =>
        {
            var buffer = new byte[16384];
            while (answers < frames.Count)
            {
                var n = await stream.ReadAsync(buffer, cts.Token);
                if (n == 0) break;
                for (var i = 0; i < n; i++) if (buffer[i] == '\n') answers++;
            }
        });
        foreach (var chunk in frames.Chunk(200))
            await stream.WriteAsync(Encoding.ASCII.GetBytes(string.Concat(chunk)), cts.Token);
        await reader;
        Assert.Equal(frames.Count, answers);
    }

    public async Task DisposeAsync() => await Service.DisposeAsync();
}

[Trait("Category", "Integration")]
public sealed class HourlyYearIntegrationTests(HourlyYearFixture fixture, ITestOutputHelper output) : IClassFixture<HourlyYearFixture>
{
    static readonly Metadata Reader = Seed.Key(ServiceUnderTest.ReaderKey);

    QueryService.QueryServiceClient Client() => new(Seed.Channel(fixture.Service));

    static Selection Stations(params string[] ids)
    {
        var s = new Selection();
        s.StationIds.AddRange(ids);
        return s;
    }

    [Fact]
    public async Task An_hourly_only_station_over_a_year_has_its_valid_days_and_annual_mean()
    {
        output.WriteLine($"two station-years of hourly frames (TCP + MQTT) and 17,280 minute readings stored and rolled up in {fixture.Took.TotalSeconds:0.0} s");
        var client = Client();
        var year = await client.AggregateAsync(new AggregateRequest { Selection = Stations("h-tcp", "h-mqtt"), Parameter = "pm25", Period = Period.Year, From = "2025-01-01", To = "2025-12-31" }, Reader);
        // 365 days less days 3 and 10 of every month = 341 valid days; the sum of B(d) over them is 15,305 (worked
        // from the rule above); 15,305 / 341 = 44.882697947...; h-mqtt is 10 higher.
        var tcp = year.Stations.Single(s => s.StationId == "h-tcp").Buckets.Single();
        var mqtt = year.Stations.Single(s => s.StationId == "h-mqtt").Buckets.Single();
        Assert.Equal((true, 341), (tcp.Valid, tcp.Count));
        Assert.Equal(15305.0 / 341, tcp.Mean, 9);
        Assert.Equal((true, 341), (mqtt.Valid, mqtt.Count));
        Assert.Equal(15305.0 / 341 + 10, mqtt.Mean, 9);

        // February: 28 days less 2 = 26 valid days (minimum 25).
        var february = await client.AggregateAsync(new AggregateRequest { Selection = Stations("h-tcp"), Parameter = "pm25", Period = Period.Month, From = "2025-02-01", To = "2025-02-28" }, Reader);
        Assert.Equal((true, 26), (february.Stations[0].Buckets[0].Valid, february.Stations[0].Buckets[0].Count));

        // Days: the 10th has 19 valid hours (invalid), the 2nd 22 (mean B = 30 + 33 mod 7 x 5 = 55 on 2 February).
        var days = await client.AggregateAsync(new AggregateRequest { Selection = Stations("h-tcp"), Parameter = "pm25", Period = Period.Day, From = "2025-02-02", To = "2025-02-10" }, Reader);
        var byDay = days.Stations[0].Buckets.ToDictionary(b => b.Start[..10]);
        Assert.Equal((true, 22, 55.0), (byDay["2025-02-02"].Valid, byDay["2025-02-02"].Count, byDay["2025-02-02"].Mean));
        Assert.Equal((false, 19), (byDay["2025-02-10"].Valid, byDay["2025-02-10"].Count));
        Assert.Equal((false, 19), (byDay["2025-02-03"].Valid, byDay["2025-02-03"].Count));

        // The daily AQI of 2 February from the station's hours: PM2.5 55 -> IAQI ceil(50 + 50 / 40 x 20) = 75 (HJ 633).
        var aqi = await client.GetAqiAsync(new AqiRequest { Selection = Stations("h-tcp"), Period = Period.Day, From = "2025-02-02", To = "2025-02-02" }, Reader);
        var value = aqi.Stations.Single().Values.Single();
        Assert.Equal((75, 75), (value.Aqi, value.Iaqi["pm25"]));
    }

    [Fact]
    public async Task Hourly_frames_give_the_same_target_figures_as_the_same_hours_sent_as_minute_readings()
    {
        // The target as of 4 January 2026 is made of the days 1-4 January of 2026 and of 2025 and nothing else: the
        // mirror stations carry exactly those days as minute readings, so equal figures prove that a station hour
        // counts as its minutes do (valid hours, invalid hours, invalid days alike). The hourly stations' other 361
        // days of 2025 are checked by the annual figures of the test above and below.
        var r = await Client().GetTargetProgressAsync(new TargetProgressRequest { Selection = Stations("h-tcp", "h-mqtt", "m-1", "m-2"), AsOf = "2026-01-04", PastYears = 1 }, Reader);
        var p = r.Progress.ToDictionary(x => x.Scope);
        foreach (var (hourly, minutes) in new[] { ("h-tcp", "m-1"), ("h-mqtt", "m-2") })
        {
            Assert.Equal((p[minutes].CurrentDays, p[minutes].PreviousDays), (p[hourly].CurrentDays, p[hourly].PreviousDays));
            Assert.Equal(p[minutes].CurrentMean, p[hourly].CurrentMean, 9);
            Assert.Equal(p[minutes].PreviousMean, p[hourly].PreviousMean, 9);
            Assert.Equal(p[minutes].ChangePercent, p[hourly].ChangePercent, 9);
            Assert.Equal(p[minutes].RoundedChangePercent, p[hourly].RoundedChangePercent, 9);
            Assert.Equal(p[minutes].OnTrack, p[hourly].OnTrack);
        }
        // By hand: valid days 1, 2 and 4 January (the 3rd has 19 valid hours); B = 35, 40, 50 in 2025 (day of year
        // 1, 2, 4), 1.5 lower in 2026. h-tcp: 40.1667 against 41.6667, −3.6 %: on track. h-mqtt: 50.1667 against
        // 51.6667, −2.903 %: not on track. Rounded means: 40 vs 42 (−4.762 %) and 50 vs 52 (−3.846 %).
        Assert.Equal((3, 3), (p["h-tcp"].CurrentDays, p["h-tcp"].PreviousDays));
        Assert.Equal(125.0 / 3 - 1.5, p["h-tcp"].CurrentMean, 9);
        Assert.Equal(125.0 / 3, p["h-tcp"].PreviousMean, 9);
        Assert.Equal(-3.6, p["h-tcp"].ChangePercent, 9);
        Assert.True(p["h-tcp"].OnTrack);
        Assert.Equal(-1.5 / (125.0 / 3 + 10) * 100, p["h-mqtt"].ChangePercent, 9);
        Assert.False(p["h-mqtt"].OnTrack);
        Assert.Equal(-2.0 / 42 * 100, p["h-tcp"].RoundedChangePercent, 9);
        Assert.Equal(-2.0 / 52 * 100, p["h-mqtt"].RoundedChangePercent, 9);
        // Full year 2025 of the hourly-only stations: valid, 341 days, the annual means worked out above.
        var years = r.Years.ToDictionary(y => y.Scope);
        Assert.Equal((2025, true, 341), (years["h-tcp"].Year, years["h-tcp"].Valid, years["h-tcp"].ValidDays));
        Assert.Equal(15305.0 / 341, years["h-tcp"].Mean, 9);
        Assert.Equal(15305.0 / 341 + 10, years["h-mqtt"].Mean, 9);
    }

    [Fact]
    public async Task RebuildRollups_over_the_year_gives_the_same_figures()
    {
        var client = Client();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await client.RebuildRollupsAsync(new RebuildRollupsRequest { From = "2025-01-01", To = "2026-01-04" }, Seed.Key(ServiceUnderTest.OperatorKey));
        output.WriteLine($"RebuildRollups over 369 days of four stations (two station-years of hourly statistics): {clock.Elapsed.TotalSeconds:0.0} s");
        var year = await client.AggregateAsync(new AggregateRequest { Selection = Stations("h-tcp", "h-mqtt"), Parameter = "pm25", Period = Period.Year, From = "2025-01-01", To = "2025-12-31" }, Reader);
        var tcp = year.Stations.Single(s => s.StationId == "h-tcp").Buckets.Single();
        var mqtt = year.Stations.Single(s => s.StationId == "h-mqtt").Buckets.Single();
        Assert.Equal((true, 341, true, 341), (tcp.Valid, tcp.Count, mqtt.Valid, mqtt.Count));
        Assert.Equal(15305.0 / 341, tcp.Mean, 9);
        Assert.Equal(15305.0 / 341 + 10, mqtt.Mean, 9);
        var target = await client.GetTargetProgressAsync(new TargetProgressRequest { Selection = Stations("h-tcp", "m-1"), AsOf = "2026-01-04" }, Reader);
        Assert.Equal(-3.6, target.Progress.Single(p => p.Scope == "h-tcp").ChangePercent, 9);
        Assert.Equal(-3.6, target.Progress.Single(p => p.Scope == "m-1").ChangePercent, 9);
    }

    [Fact]
    public async Task A_station_hour_is_valid_with_its_own_figures_and_a_flagged_one_is_not()
    {
        var r = await Client().AggregateAsync(new AggregateRequest { Selection = Stations("h-tcp", "m-1"), Parameter = "pm25", Period = Period.Hour, From = "2025-01-02", To = "2025-01-02" }, Reader);
        var hourly = r.Stations.Single(s => s.StationId == "h-tcp").Buckets;
        var minutes = r.Stations.Single(s => s.StationId == "m-1").Buckets;
        // 2 January 2025 (B = 40): hours 0 and 1 flagged M / 0 and 44 minutes: invalid in both forms.
        Assert.False(hourly[0].Valid);
        Assert.False(hourly[1].Valid);
        Assert.False(minutes[0].Valid);
        Assert.Equal((false, 44), (minutes[1].Valid, minutes[1].Count));
        // 02:00 is 44 (even hour: B + 4): the station's figures (min 42, max 46 as sent) and minutes = 60; the mirror:
        // 45 minutes, mean 44, min 43.4, max 44.6.
        Assert.Equal((true, 60, 44.0, 42.0, 46.0), (hourly[2].Valid, hourly[2].Count, hourly[2].Mean, hourly[2].Min, hourly[2].Max));
        Assert.Equal((true, 45), (minutes[2].Valid, minutes[2].Count));
        Assert.Equal(44.0, minutes[2].Mean, 9);
        Assert.Equal((43.4, 44.6), (Math.Round(minutes[2].Min, 9), Math.Round(minutes[2].Max, 9)));
        Assert.Equal(36.0, hourly[3].Mean, 9);
    }
}
