using System.Globalization;
using System.Text;
using EcoMonitor.Api.V1;
using EcoMonitor.Service.Tests.Support;
using Grpc.Core;

namespace EcoMonitor.Service.Tests;

/// <summary>The official figures (HJ 633 AQI of the six basic pollutants, O3 8-hour statistics, the HJ 663
/// evaluation, the full-year target) through the real service, broker and database, on minute readings whose
/// answers are worked out by hand in the comments.</summary>
[Trait("Category", "Integration")]
public sealed class OfficialFiguresIntegrationTests : IAsyncLifetime
{
    // Minute readings of past days come in over MQTT: allow their age.
    readonly ServiceUnderTest _service = new(new() { ["Ingestion:MaxAge"] = "3650.00:00:00" });
    Grpc.Net.Client.GrpcChannel _channel = null!;
    QueryService.QueryServiceClient _client = null!;
    static readonly Metadata Reader = Seed.Key(ServiceUnderTest.ReaderKey);

    public async Task InitializeAsync()
    {
        await _service.StartAsync();
        _channel = Seed.Channel(_service);
        _client = new QueryService.QueryServiceClient(_channel);
    }

    public async Task DisposeAsync()
    {
        _channel.Dispose();
        await _service.DisposeAsync();
    }

    static Selection Stations(params string[] ids)
    {
        var s = new Selection();
        s.StationIds.AddRange(ids);
        return s;
    }

    /// <summary>45 minutes of each local hour from..to (inclusive) of one parameter, each hour at value(hour).</summary>
    static IEnumerable<string> Hours(string station, string parameter, DateTime firstLocalHour, int count, Func<int, double> value) =>
        Enumerable.Range(0, count).SelectMany(i => Seed.Hour(station, parameter, firstLocalHour.AddHours(i), 45, value(i)));

    [Fact]
    public async Task Daily_aqi_of_all_six_pollutants_from_minute_readings_over_mqtt()
    {
        // 2026-01-20, 24 hours x 45 minutes, all six in each reading. Hand-computed daily IAQI:
        // SO2 30 -> 30; NO2 60 -> 50/40*20 + 50 = 75; CO 5 mg/m³ -> 50/10*1 + 100 = 105; PM10 100 -> 75;
        // PM2.5 60 -> 50/40*25 + 50 = 81.25 -> 82; O3 100 except 200 at 12:00..15:00: max 1-hour 200 -> 100;
        // daily max 8-hour (a window holding the 4 high hours) (4*200 + 4*100)/8 = 150 -> 50/60*50 + 50 = 91.67 -> 92.
        var day = new DateTime(2026, 1, 20);
        await using var gateway = await TestMqttClient.ConnectAsync();
        for (var h = 0; h < 24; h++)
        {
            var ozone = h is >= 12 and <= 15 ? 200 : 100;
            var start = new DateTimeOffset(day.AddHours(h), Seed.China);
            var readings = string.Join(",", Enumerable.Range(0, 45).Select(m => string.Create(CultureInfo.InvariantCulture,
                $$$"""{"ts": {{{start.AddMinutes(m).ToUnixTimeMilliseconds()}}}, "values": {"so2": 30, "no2": 60, "co": 5, "o3": {{{ozone}}}, "pm10": 100, "pm25": 60}}""")));
            await gateway.PublishAsync(_service.ReadingsTopic("air-1"), $"[{readings}]");
        }
        await TestInfrastructure.EventuallyAsync(() => _service.Metrics.Acknowledgements >= 24, TimeSpan.FromSeconds(30), "24 messages stored");
        await _service.RollupsCurrentAsync();

        // Every hour of every pollutant rolled up (the rollup stage has caught up; checked, not assumed).
        await TestInfrastructure.EventuallyAsync(async () =>
        {
            foreach (var parameter in new[] { "so2", "no2", "co", "o3", "pm10", "pm25" })
            {
                var hours = await _client.AggregateAsync(new AggregateRequest { Selection = Stations("air-1"), Parameter = parameter, Period = Period.Hour, From = "2026-01-20", To = "2026-01-20" }, Reader);
                if (hours.Stations[0].Buckets.Count(b => b.Valid) < 24) return false;
            }
            return true;
        }, TimeSpan.FromSeconds(20), "24 valid hours of each pollutant");
        var v = (await _client.GetAqiAsync(new AqiRequest { Selection = Stations("air-1"), Period = Period.Day, From = "2026-01-20", To = "2026-01-20" }, Reader)).Stations[0].Values.Single();
        Assert.Equal(new Dictionary<string, int> { ["so2"] = 30, ["no2"] = 75, ["co"] = 105, ["pm10"] = 75, ["pm25"] = 82, ["o3_1h"] = 100, ["o3_8h"] = 92 },
            v.Iaqi.ToDictionary());
        Assert.Equal((105, "三级", "轻度污染", false), (v.Aqi, v.Level, v.CategoryZh, v.Partial));
        Assert.Equal(["co"], v.PrimaryPollutants);
        Assert.Equal(["co"], v.OverStandard);
        var o3 = v.Items.Single(i => i.Item == "o3_8h");
        Assert.Equal((150.0, "daily maximum 8-hour mean", "o3_8h"), (o3.Concentration, o3.Basis, o3.Table));
        Assert.Equal((5.0, "co_24h"), (v.Items.Single(i => i.Item == "co").Concentration, v.Items.Single(i => i.Item == "co").Table));
    }

    [Fact]
    public async Task Hourly_aqi_with_so2_above_800_and_the_o3_8_hour_moving_mean()
    {
        // SO2 150 from 2026-01-20 11:00 to 2026-01-21 09:00 (23 hours), 1000 at 10:00: above the 1-hour table, so the
        // 24-hour moving mean (23*150 + 1000)/24 = 185.4167 is indexed: 50/325*35.4167 + 100 = 105.45 -> 106.
        // O3 100 at 03:00..09:00, 300 at 10:00: 8-hour moving mean (7*100 + 300)/8 = 125 -> 50/60*25 + 50 = 70.8 -> 71;
        // 1-hour 300 -> 150. NO2 150 -> 75; CO 12 mg/m³ -> 104; PM2.5 40 -> 57; no PM10: partial.
        var lines = new List<string>();
        lines.AddRange(Hours("air-2", "so2", new DateTime(2026, 1, 20, 11, 0, 0), 24, i => i == 23 ? 1000 : 150));
        lines.AddRange(Hours("air-2", "o3", new DateTime(2026, 1, 21, 3, 0, 0), 8, i => i == 7 ? 300 : 100));
        var ten = new DateTime(2026, 1, 21, 10, 0, 0);
        lines.AddRange(Seed.Hour("air-2", "no2", ten, 45, 150));
        lines.AddRange(Seed.Hour("air-2", "co", ten, 45, 12));
        lines.AddRange(Seed.Hour("air-2", "pm25", ten, 45, 40));
        await Seed.WriteAsync(_service.Database, lines);

        var r = await _client.GetAqiAsync(new AqiRequest { Selection = Stations("air-2"), Period = Period.Hour, From = "2026-01-21", To = "2026-01-21" }, Reader);
        Assert.Equal("hour-mean", r.HourlyParticulates);
        var byStart = r.Stations[0].Values.ToDictionary(x => x.Start);
        var v = byStart["2026-01-21T10:00:00+08:00"];
        Assert.Equal(new Dictionary<string, int> { ["so2"] = 106, ["no2"] = 75, ["co"] = 104, ["pm25"] = 57, ["o3_1h"] = 150, ["o3_8h"] = 71 }, v.Iaqi.ToDictionary());
        Assert.Equal((150, "三级", true), (v.Aqi, v.Level, v.Partial));
        Assert.Equal(["pm10"], v.Missing);
        Assert.Equal(["o3_1h"], v.PrimaryPollutants);
        Assert.Equal(["co", "o3_1h", "so2"], v.OverStandard);
        var so2 = v.Items.Single(i => i.Item == "so2");
        Assert.Equal(("so2_24h", "24-hour moving mean"), (so2.Table, so2.Basis));
        Assert.Equal(4450.0 / 24, so2.Concentration, 9);
        Assert.Contains("above the so2_1h table", so2.Note);
        // 08:00: O3 hours 01..08 hold 6 valid hours (03..08): a valid 8-hour mean of 100 -> 50. 07:00: 5 -> none.
        Assert.Equal(50, byStart["2026-01-21T08:00:00+08:00"].Iaqi["o3_8h"]);
        Assert.Contains("o3_8h", byStart["2026-01-21T07:00:00+08:00"].Missing);
        // 09:00: SO2 150 on the 1-hour table -> 50.
        Assert.Equal(50, byStart["2026-01-21T09:00:00+08:00"].Iaqi["so2"]);
    }

    [Fact]
    public async Task O3_daily_maximum_8_hour_mean_its_14_windows_and_the_edges_of_the_day()
    {
        var lines = new List<string>();
        lines.AddRange(Hours("air-3", "o3", new DateTime(2026, 1, 22), 18, _ => 80));   // 00..17: 13 windows, 80: invalid
        lines.AddRange(Hours("air-3", "o3", new DateTime(2026, 1, 23), 18, _ => 170));  // 13 windows, 170 > 160: valid
        lines.AddRange(Hours("air-3", "o3", new DateTime(2026, 1, 24), 19, _ => 80));   // 00..18: 14 windows: valid
        lines.AddRange(Hours("air-3", "o3", new DateTime(2026, 1, 25), 24, h => h >= 16 ? 200 : 50)); // last window 16..23 = 200
        lines.AddRange(Hours("air-3", "o3", new DateTime(2026, 1, 26), 8, _ => 400));   // the next day's 400s do not count for the 25th
        await Seed.WriteAsync(_service.Database, lines);

        var daily = await _client.AggregateAsync(new AggregateRequest
        {
            Selection = Stations("air-3"), Parameter = "o3", Period = Period.Day, From = "2026-01-22", To = "2026-01-26", Statistic = Statistic.O3DailyMax8H,
        }, Reader);
        var b = daily.Stations[0].Buckets;
        Assert.Equal((false, 13, 14), (b[0].Valid, b[0].Count, b[0].Required));
        Assert.False(b[0].HasMean);
        Assert.Equal("13 valid 8-hour windows, 14 required", b[0].Note);
        Assert.Equal((true, 170.0, 13), (b[1].Valid, b[1].Mean, b[1].Count));
        Assert.Contains("exceeds", b[1].Note);
        Assert.Equal((true, 80.0, 14), (b[2].Valid, b[2].Mean, b[2].Count));
        Assert.Equal((true, 200.0, 17), (b[3].Valid, b[3].Mean, b[3].Count));
        // The 26th: windows 00..02 have 8, 7, 6 valid hours: 3 windows, maximum 400 > 160: valid.
        Assert.Equal((true, 400.0, 3), (b[4].Valid, b[4].Mean, b[4].Count));

        // January by the month rule: 4 valid daily maxima (the 23rd..26th), 27 required.
        var month = await _client.AggregateAsync(new AggregateRequest
        {
            Selection = Stations("air-3"), Parameter = "o3", Period = Period.Month, From = "2026-01-01", To = "2026-01-31", Statistic = Statistic.O3DailyMax8H,
        }, Reader);
        Assert.Equal((false, 4, 27), (month.Stations[0].Buckets[0].Valid, month.Stations[0].Buckets[0].Count, month.Stations[0].Buckets[0].Required));

        var moving = await _client.AggregateAsync(new AggregateRequest
        {
            Selection = Stations("air-3"), Parameter = "o3", Period = Period.Hour, From = "2026-01-26", To = "2026-01-26", Statistic = Statistic.O38HMoving,
        }, Reader);
        // 00:00 of the 26th reaches back to 17:00..23:00 of the 25th: (7*200 + 400)/8 = 225.
        Assert.Equal((true, 225.0, 8), (moving.Stations[0].Buckets[0].Valid, moving.Stations[0].Buckets[0].Mean, moving.Stations[0].Buckets[0].Count));
        Assert.Equal("2026-01-26T00:00:00+08:00", moving.Stations[0].Buckets[0].Start);

        var e = await Assert.ThrowsAsync<RpcException>(() => _client.AggregateAsync(new AggregateRequest
        {
            Selection = Stations("air-3"), Parameter = "pm25", Period = Period.Day, From = "2026-01-22", To = "2026-01-22", Statistic = Statistic.O3DailyMax8H,
        }, Reader).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.StartsWith("statistic:", e.Status.Detail);
        var hourly = await Assert.ThrowsAsync<RpcException>(() => _client.AggregateAsync(new AggregateRequest
        {
            Selection = Stations("air-3"), Parameter = "o3", Period = Period.Hour, From = "2026-01-22", To = "2026-01-22", Statistic = Statistic.O3DailyMax8H,
        }, Reader).ResponseAsync);
        Assert.StartsWith("statistic:", hourly.Status.Detail);
    }

    [Fact]
    public async Task Hourly_pm_can_be_the_24_hour_moving_mean_by_setting()
    {
        await using var service = new ServiceUnderTest(new() { ["Standards:HourlyAqiParticulates"] = "Moving24Hours" });
        await service.StartAsync();
        // PM2.5 40 at 00:00..19:00, 100 at 20:00 of 2026-01-21 (nothing the day before).
        await Seed.WriteAsync(service.Database, Hours("air-1", "pm25", new DateTime(2026, 1, 21), 21, i => i == 20 ? 100 : 40));
        using var channel = Seed.Channel(service);
        var r = await new QueryService.QueryServiceClient(channel).GetAqiAsync(
            new AqiRequest { Selection = Stations("air-1"), Period = Period.Hour, From = "2026-01-21", To = "2026-01-21" }, Reader);
        Assert.Equal("moving-24h", r.HourlyParticulates);
        var byStart = r.Stations[0].Values.ToDictionary(v => v.Start);
        // 20:00: 21 valid hours, (20*40 + 100)/21 = 42.857 -> 50/40*7.857 + 50 = 59.8 -> 60 (the hour alone, 100, would be 132).
        var v = byStart["2026-01-21T20:00:00+08:00"];
        Assert.Equal(60, v.Iaqi["pm25"]);
        Assert.Equal("24-hour moving mean", v.Items.Single().Basis);
        Assert.Equal(900.0 / 21, v.Items.Single().Concentration, 9);
        // 19:00 has 20 valid hours (valid), 18:00 19 (no PM value, so no AQI at all).
        Assert.Equal(57, byStart["2026-01-21T19:00:00+08:00"].Iaqi["pm25"]); // 40 -> 56.25 -> 57
        Assert.False(byStart.ContainsKey("2026-01-21T18:00:00+08:00"));

        await using var wrong = new ServiceUnderTest(new() { ["Standards:HourlyAqiParticulates"] = "Weekly" });
        var e = await Assert.ThrowsAnyAsync<Exception>(wrong.StartAsync);
        Assert.Contains("Standards:HourlyAqiParticulates", e.ToString());
    }

    [Fact]
    public async Task O3_daily_maxima_of_a_month_with_their_90th_percentile_by_default()
    {
        // Hourly rollup points (as the service stores them) of March 2026: every hour of day d at 10 * d.
        var lines = new List<string>();
        for (var d = 1; d <= 31; d++)
            for (var h = 0; h < 24; h++)
                lines.Add(string.Create(CultureInfo.InvariantCulture,
                    $"reading_1h,station=air-1,parameter=o3 minutes=60i,mean={10 * d},min={10 * d},max={10 * d} {new DateTimeOffset(2026, 3, d, h, 0, 0, Seed.China).ToUnixTimeMilliseconds()}"));
        await Seed.WriteRawAsync(_service.Database, lines);
        var r = await _client.AggregateAsync(new AggregateRequest
        {
            Selection = Stations("air-1"), Parameter = "o3", Period = Period.Month, From = "2026-03-01", To = "2026-03-31", Statistic = Statistic.O3DailyMax8H,
        }, Reader);
        // Daily maxima 10, 20, ..., 310: mean 160; 90th: k = 1 + 30 * 0.9 = 28 -> X28 = 280.
        var march = r.Stations[0].Buckets.Single();
        Assert.Equal((true, 31, 160.0, 280.0, 10.0, 310.0), (march.Valid, march.Count, march.Mean, march.Percentile, march.Min, march.Max));
    }

    /// <summary>A valid day of air-1 (hours 00..19, 45 minutes each) of the six pollutants.</summary>
    static IEnumerable<string> SixPollutantDay(DateOnly day, double pm25) =>
        new[] { ("so2", 12.0), ("no2", 30.0), ("co", 1.0), ("pm10", 63.0), ("pm25", pm25), ("o3", 120.0) }
            .SelectMany(p => Seed.Day("air-1", p.Item1, day, p.Item2, hours: 20));

    [Fact]
    public async Task Evaluate_year_to_date_against_the_same_span_last_year()
    {
        // 2026-01-01 and -02: SO2 12, NO2 30, CO 1.0, PM10 63, O3 120 (hours 00..19: 15 valid 8-hour windows),
        // PM2.5 30 then 80. 2025-01-01 and -02: the same with PM2.5 40.
        // Written year by year: Seed rebuilds the rollups over the span it wrote.
        await Seed.WriteAsync(_service.Database, SixPollutantDay(new DateOnly(2026, 1, 1), 30).Concat(SixPollutantDay(new DateOnly(2026, 1, 2), 80)));
        await Seed.WriteAsync(_service.Database, SixPollutantDay(new DateOnly(2025, 1, 1), 40).Concat(SixPollutantDay(new DateOnly(2025, 1, 2), 40)));
        var r = await _client.EvaluateYearAsync(new EvaluateYearRequest { Year = 2026, AsOf = "2026-01-02" }, Reader);
        Assert.Equal(("2026-01-02", "GB 3095-2012", "HJ 633-2012"), (r.AsOf, r.Standard, r.Edition));
        Assert.Equal(["air-1", "air-2", "air-3", "zone"], r.Scopes.Select(s => s.Scope));
        var air1 = r.Scopes[0];
        var c = air1.Current;
        Assert.Equal(("2026-01-01", "2026-01-02", false), (c.From, c.To, c.FullYear));
        var f = c.Pollutants.ToDictionary(p => p.Pollutant);
        // PM2.5: mean 55; 95th: k = 1 + 1 * 0.95 = 1.95 -> 30 + 0.95 * 50 = 77.5; over standard on the 2nd (IAQI 107).
        Assert.Equal((2, true, 55.0, 95.0, 77.5), (f["pm25"].ValidDays, f["pm25"].Valid, f["pm25"].AnnualMean, f["pm25"].Percentile, f["pm25"].PercentileValue));
        Assert.Equal((35.0, 75.0, false, 1), (f["pm25"].AnnualLimit, f["pm25"].PercentileLimit, f["pm25"].MeetsGradeIi, f["pm25"].OverStandardDays));
        Assert.Equal((12.0, 98.0, 12.0), (f["so2"].AnnualMean, f["so2"].Percentile, f["so2"].PercentileValue));
        Assert.Equal(("mg/m³", false, 1.0, 4.0), (f["co"].Unit, f["co"].HasAnnualMean, f["co"].PercentileValue, f["co"].PercentileLimit));
        Assert.Equal((90.0, 120.0, 160.0, true), (f["o3"].Percentile, f["o3"].PercentileValue, f["o3"].PercentileLimit, f["o3"].MeetsGradeIi));
        // Composite: 12/60 + 30/40 + 63/70 + 55/35 + 1/4 + 120/160.
        Assert.Equal(0.2 + 0.75 + 0.9 + 55.0 / 35 + 0.25 + 0.75, c.CompositeIndex, 9);
        Assert.False(c.MeetsGradeIi);
        // Daily AQI 67 (O3 8-hour) on the 1st, 107 (PM2.5) on the 2nd: 1 good day of 2.
        Assert.Equal((2, 1, 0, 50.0), (c.AqiDays, c.GoodDays, c.PartialAqiDays, c.GoodDayShare));
        // Last year: PM2.5 40 -> composite 2.85 + 40/35, 2 good days of 2; PM2.5 mean +37.5 %, the share -50 points.
        Assert.Equal(2.85 + 40.0 / 35, air1.Previous.CompositeIndex, 9);
        Assert.Equal(100.0, air1.Previous.GoodDayShare);
        Assert.Equal(37.5, f["pm25"].AnnualMeanChangePercent, 9);
        Assert.Equal(((0.2 + 0.75 + 0.9 + 55.0 / 35 + 0.25 + 0.75) / (2.85 + 40.0 / 35) - 1) * 100, air1.CompositeIndexChangePercent, 9);
        Assert.Equal(-50.0, air1.GoodDayShareChangePoints, 9);

        // A station without data has figures marked invalid, and no composite index.
        var air2 = r.Scopes[1].Current;
        Assert.All(air2.Pollutants, p => Assert.Equal((false, "no valid day"), (p.Valid, p.Note)));
        Assert.False(air2.HasCompositeIndex);
        Assert.False(air2.HasMeetsGradeIi);
        // The zone: the mean of the stations' valid daily values (only air-1's here).
        Assert.Equal(c.CompositeIndex, r.Scopes[3].Current.CompositeIndex, 9);

        var e = await Assert.ThrowsAsync<RpcException>(() => _client.EvaluateYearAsync(new EvaluateYearRequest { Year = 2026, AsOf = "2025-12-31" }, Reader).ResponseAsync);
        Assert.StartsWith("as_of:", e.Status.Detail);

        // The same over JSON (HTTP/1.1 transcoding), as a reader.
        using var http = new HttpClient { BaseAddress = _service.HttpAddress };
        http.DefaultRequestHeaders.Add("x-api-key", ServiceUnderTest.ReaderKey);
        var json = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync("/v1/evaluation?year=2026&asOf=2026-01-02&selection.stationIds=air-1")).RootElement;
        var scope = json.GetProperty("scopes")[0];
        Assert.Equal("air-1", scope.GetProperty("scope").GetString());
        Assert.Equal(50.0, scope.GetProperty("current").GetProperty("goodDayShare").GetDouble());
        var o3 = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync(
            "/v1/aggregate?selection.stationIds=air-1&parameter=o3&period=PERIOD_DAY&from=2026-01-01&to=2026-01-01&statistic=STATISTIC_O3_DAILY_MAX_8H")).RootElement;
        Assert.Equal((120.0, 15), (o3.GetProperty("stations")[0].GetProperty("buckets")[0].GetProperty("mean").GetDouble(),
            o3.GetProperty("stations")[0].GetProperty("buckets")[0].GetProperty("count").GetInt32()));
    }

    /// <summary>Daily rollup points (reading_1d), as the service stores them, for the days given.</summary>
    async Task WriteDaysAsync(string station, IEnumerable<DateOnly> days, double mean)
    {
        var lines = days.Select(d => string.Create(CultureInfo.InvariantCulture,
            $"reading_1d,station={station},parameter=pm25 hours=24i,mean={mean},min={mean},max={mean} {new DateTimeOffset(d.ToDateTime(TimeOnly.MinValue), Seed.China).ToUnixTimeMilliseconds()}"));
        using var http = new HttpClient { BaseAddress = TestInfrastructure.InfluxUrl };
        var response = await http.PostAsync($"write?db={_service.Database}&precision=ms", new StringContent(string.Join('\n', lines), Encoding.UTF8));
        Assert.Equal(204, (int)response.StatusCode);
    }

    /// <summary>2025 days: 27 of each month (25 of February) and <paramref name="extra"/> more in January.</summary>
    static IEnumerable<DateOnly> YearWith(int extra) =>
        Enumerable.Range(1, 12).SelectMany(m => Enumerable.Range(1, (m == 2 ? 25 : 27) + (m == 1 ? extra : 0)).Select(d => new DateOnly(2025, m, d)));

    [Fact]
    public async Task The_full_year_target_follows_the_annual_rule()
    {
        // 2024 complete at 50; 2025 at 45 (-10 %): air-1 on 323 days (322 + 1), air-2 on 324 (322 + 2).
        var leap = Enumerable.Range(0, 366).Select(i => new DateOnly(2024, 1, 1).AddDays(i)).ToList();
        await WriteDaysAsync("air-1", leap, 50);
        await WriteDaysAsync("air-2", leap, 50);
        Assert.Equal(323, YearWith(1).Count());
        await WriteDaysAsync("air-1", YearWith(1), 45);
        await WriteDaysAsync("air-2", YearWith(2), 45);

        var r = await _client.GetTargetProgressAsync(new TargetProgressRequest { Selection = Stations("air-1", "air-2"), AsOf = "2025-12-31" }, Reader);
        var byScope = r.Progress.ToDictionary(p => p.Scope);
        var invalid = byScope["air-1"];
        Assert.Equal((true, false, 323, 366), (invalid.FullYear, invalid.Valid, invalid.CurrentDays, invalid.PreviousDays));
        Assert.False(invalid.HasCurrentMean);
        Assert.False(invalid.HasChangePercent);
        Assert.False(invalid.HasOnTrack); // no verdict
        Assert.Equal("2025 (full year): 323 valid days, 324 required", invalid.Note);
        var valid = byScope["air-2"];
        Assert.Equal((true, true, 324), (valid.FullYear, valid.Valid, valid.CurrentDays));
        Assert.Equal(-10.0, valid.ChangePercent, 9);
        Assert.True(valid.HasOnTrack);
        Assert.True(valid.OnTrack);

        // A day earlier the span is a year to date: complete months only, so 323 days give a figure.
        var ytd = await _client.GetTargetProgressAsync(new TargetProgressRequest { Selection = Stations("air-1"), AsOf = "2025-12-30" }, Reader);
        Assert.Equal((false, true, -10.0), (ytd.Progress[0].FullYear, ytd.Progress[0].Valid, Math.Round(ytd.Progress[0].ChangePercent, 9)));
    }
}

/// <summary>An AQI edition from the editions file (Standards:File) is checked at start-up: every table the reports
/// index, rising breakpoints, and a hand-over for a table that stops before the top level.</summary>
public sealed class AqiEditionFileTests
{
    static EcoMonitor.Service.Query.StandardsCatalog Load(string json, string aqi = "HJ 633-test", string? particulates = null)
    {
        var dir = Directory.CreateTempSubdirectory("ecomon-editions");
        try
        {
            File.WriteAllText(Path.Combine(dir.FullName, "editions.json"), json);
            var settings = new EcoMonitor.Service.Query.StandardsSettings { File = "editions.json", Aqi = aqi };
            if (particulates is not null) settings.HourlyAqiParticulates = Enum.Parse<EcoMonitor.Domain.Standards.HourlyParticulates>(particulates);
            return new EcoMonitor.Service.Query.StandardsCatalog(Microsoft.Extensions.Options.Options.Create(settings),
                new Microsoft.Extensions.Hosting.Internal.HostingEnvironment { ContentRootPath = dir.FullName });
        }
        finally
        {
            dir.Delete(true);
        }
    }

    /// <summary>The built-in edition as JSON under another name, with one table changed by <paramref name="edit"/>.</summary>
    static string Edition(Action<Dictionary<string, double[]>>? edit = null, bool withBeyond = true, Dictionary<string, string>? beyond = null)
    {
        var e = EcoMonitor.Domain.Standards.AqiEdition.Hj633_2012;
        var tables = e.Breakpoints.ToDictionary(kv => kv.Key, kv => kv.Value);
        edit?.Invoke(tables);
        var edition = e with { Name = "HJ 633-test", Breakpoints = tables, BeyondTable = withBeyond ? beyond ?? e.BeyondTable : null };
        var options = new System.Text.Json.JsonSerializerOptions { PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.CamelCase };
        return $$"""{"aqi": [{{System.Text.Json.JsonSerializer.Serialize(edition, options)}}]}""";
    }

    [Fact]
    public void A_complete_edition_loads_and_a_table_named_without_its_period_is_the_24_hour_one()
    {
        // Tables named without their period, the hand-over too: {"so2_1h": "so2"}.
        var catalog = Load(Edition(t =>
        {
            t["pm25"] = t["pm25_24h"];
            t.Remove("pm25_24h");
            t["so2"] = t["so2_24h"];
            t.Remove("so2_24h");
        }, beyond: new() { ["so2_1h"] = "so2", ["o3_8h"] = "o3_1h" }), particulates: "Moving24Hours");
        Assert.Equal("HJ 633-test", catalog.Aqi.Name);
        Assert.Equal(132, catalog.Aqi.Iaqi("pm25_24h", 100));
        Assert.Equal(108, EcoMonitor.Domain.Standards.AqiReport.Hourly(catalog.Aqi, new Dictionary<string, double> { ["so2"] = 900, ["so2_24h"] = 200 },
            EcoMonitor.Domain.Standards.HourlyParticulates.HourMean)!.Iaqi["so2"]);
        Assert.Equal(EcoMonitor.Domain.Standards.HourlyParticulates.Moving24Hours, catalog.HourlyParticulates);
        Assert.Equal("三级", catalog.Aqi.CategoryOf(101).Level);
    }

    [Fact]
    public void An_edition_without_a_table_the_reports_need_is_refused_naming_it()
    {
        var e = Assert.Throws<InvalidOperationException>(() => Load(Edition(t => t.Remove("o3_8h"))));
        Assert.Equal("Standards:Aqi: edition 'HJ 633-test' has no breakpoints for o3_8h.", e.Message);
    }

    [Fact]
    public void A_table_stopping_early_needs_a_hand_over()
    {
        var e = Assert.Throws<InvalidOperationException>(() => Load(Edition(withBeyond: false)));
        Assert.Contains("so2_1h stops before the top index level and names no complete table in beyondTable", e.Message);
        var falling = Assert.Throws<InvalidOperationException>(() => Load(Edition(t => t["no2_1h"] = [0, 100, 90, 700, 1200, 2340, 3090, 3840])));
        Assert.Contains("no2_1h breakpoints that do not match its index levels or do not rise", falling.Message);
    }
}
