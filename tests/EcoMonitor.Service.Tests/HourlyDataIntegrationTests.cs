using System.Globalization;
using EcoMonitor.Api.V1;
using EcoMonitor.Domain;
using EcoMonitor.Domain.Alerting;
using EcoMonitor.Service.Alerting;
using EcoMonitor.Service.Tests.Support;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace EcoMonitor.Service.Tests;

/// <summary>Station hourly means (HJ 212 CN=2061, JSON "period": "hour") and minute means (CN=2051) against minute
/// readings in the same hours, meteorology and wind, through the real broker, service and database. Times are recent
/// local hours that have ended (Ingestion:MaxAge keeps its default of 30 days).</summary>
[Trait("Category", "Integration")]
public sealed class HourlyDataIntegrationTests
{
    static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);
    static readonly TimeSpan China = TimeSpan.FromHours(8);
    static readonly Metadata Reader = Seed.Key(ServiceUnderTest.ReaderKey);

    /// <summary>Local midnight <paramref name="daysAgo"/> days before today (China time).</summary>
    static DateTimeOffset LocalDay(int daysAgo) => ChinaTime.StartOf(ChinaTime.DateOf(DateTimeOffset.UtcNow).AddDays(-daysAgo));

    static string Local(DateTimeOffset t) => t.ToOffset(China).ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture);

    static string N(double v) => v.ToString("0.######", CultureInfo.InvariantCulture);

    static string Hourly(DateTimeOffset hour, string cp, string mn = "AIR0001", string pw = "123456", string cn = "2061") =>
        Hj212TestFrames.Frame($"QN={Local(hour.AddHours(1))}000;ST=22;CN={cn};PW={pw};MN={mn};Flag=4;CP=&&DataTime={Local(hour)};{cp}&&");

    static string Json(DateTimeOffset t, string values, string extra = "") =>
        $"{{\"ts\":{t.ToUnixTimeMilliseconds()},\"values\":{{{values}}}{extra}}}";

    static string Array(IEnumerable<string> items) => "[" + string.Join(',', items) + "]";

    static Selection Stations(params string[] ids)
    {
        var s = new Selection();
        s.StationIds.AddRange(ids);
        return s;
    }

    static async Task<List<Bucket>> HoursAsync(ServiceUnderTest service, string station, string parameter, DateTimeOffset day)
    {
        var client = new QueryService.QueryServiceClient(Seed.Channel(service));
        var date = day.ToOffset(China).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        var r = await client.AggregateAsync(new AggregateRequest { Selection = Stations(station), Parameter = parameter, Period = Period.Hour, From = date, To = date }, Reader);
        return [.. r.Stations[0].Buckets];
    }

    static async Task<Bucket> DayAsync(ServiceUnderTest service, string station, string parameter, DateTimeOffset day)
    {
        var client = new QueryService.QueryServiceClient(Seed.Channel(service));
        var date = day.ToOffset(China).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        var r = await client.AggregateAsync(new AggregateRequest { Selection = Stations(station), Parameter = parameter, Period = Period.Day, From = date, To = date }, Reader);
        return r.Stations[0].Buckets.Single();
    }

    /// <summary>Waits until the service has acknowledged <paramref name="messages"/> messages in all (stored, rolled up).</summary>
    static async Task AcknowledgedAsync(ServiceUnderTest service, long messages)
    {
        await TestInfrastructure.EventuallyAsync(() => service.Metrics.Acknowledgements >= messages, Wait, $"{messages} messages acknowledged");
        await service.RollupsCurrentAsync();
    }

    [Theory]
    [InlineData("Station")]
    [InlineData("Minutes")]
    public async Task Ingestion_HourlyPrecedence_decides_between_the_stations_hourly_value_and_the_minutes(string precedence)
    {
        await using var service = new ServiceUnderTest(new() { ["Ingestion:HourlyPrecedence"] = precedence });
        await service.StartAsync();
        await using var gateway = await TestMqttClient.ConnectAsync();
        var day = LocalDay(3);
        // 00:00: 50 minutes at 30 and the station's 40 (N). 01:00: 30 minutes at 30 (too few) and 40 (N).
        // 02:00: 50 minutes at 30 and the station's 40 flagged D. 03:00: the station's 40 flagged D alone.
        var minutes = Enumerable.Range(0, 50).Select(m => Json(day.AddMinutes(m), "\"pm25\":30"))
            .Concat(Enumerable.Range(0, 30).Select(m => Json(day.AddHours(1).AddMinutes(m), "\"pm25\":30")))
            .Concat(Enumerable.Range(0, 50).Select(m => Json(day.AddHours(2).AddMinutes(m), "\"pm25\":30")));
        await gateway.PublishAsync(service.ReadingsTopic("air-1"), Array(minutes));
        await gateway.PublishAsync($"{service.Prefix}/air-1/hj212",
            Hourly(day, "a34004-Avg=40,a34004-Flag=N") + Hourly(day.AddHours(1), "a34004-Avg=40,a34004-Flag=N") +
            Hourly(day.AddHours(2), "a34004-Avg=40,a34004-Flag=D") + Hourly(day.AddHours(3), "a34004-Avg=40,a34004-Flag=D"));
        await AcknowledgedAsync(service, 2);

        var hours = await HoursAsync(service, "air-1", "pm25", day);
        if (precedence == "Station")
        {
            Assert.Equal((true, 60, 40.0), (hours[0].Valid, hours[0].Count, hours[0].Mean));
            Assert.False(hours[2].Valid); // the station said D: the hour is invalid whatever its minutes
        }
        else
        {
            Assert.Equal((true, 50, 30.0), (hours[0].Valid, hours[0].Count, hours[0].Mean));
            Assert.Equal((true, 50, 30.0), (hours[2].Valid, hours[2].Count, hours[2].Mean));
        }
        Assert.Equal((true, 60, 40.0), (hours[1].Valid, hours[1].Count, hours[1].Mean)); // too few minutes: the station's value either way
        Assert.False(hours[3].Valid);
        // The day: Station 00:00 and 01:00 at 40 -> 2 valid hours; Minutes: 30, 40, 30 -> 3 (a day needs 20).
        var d = await DayAsync(service, "air-1", "pm25", day);
        Assert.Equal((false, precedence == "Station" ? 2 : 3), (d.Valid, d.Count));
    }

    [Theory]
    [InlineData("Hourly")]
    [InlineData("5")]
    public async Task Ingestion_HourlyPrecedence_is_validated_at_start_and_named(string value)
    {
        await using var service = new ServiceUnderTest(new() { ["Ingestion:HourlyPrecedence"] = value });
        var e = await Assert.ThrowsAnyAsync<Exception>(service.StartAsync);
        var message = e is Microsoft.Extensions.Options.OptionsValidationException v ? string.Join(" ", v.Failures) : e.Message;
        Assert.Contains("Ingestion:HourlyPrecedence", message);
    }

    [Fact]
    public async Task Late_and_repeated_hourly_frames_overwrite_and_never_count_twice()
    {
        await using var service = new ServiceUnderTest();
        await service.StartAsync();
        await using var gateway = await TestMqttClient.ConnectAsync();
        var day = LocalDay(4);
        string Frames(IEnumerable<int> hours, Func<int, double> value) =>
            string.Concat(hours.Select(h => Hourly(day.AddHours(h), $"a34004-Avg={N(value(h))},a34004-Flag=N")));
        // The afternoon first, the morning late (a datalogger re-sending history after an outage): 20 + h, mean 31.5.
        await gateway.PublishAsync($"{service.Prefix}/air-1/hj212", Frames(Enumerable.Range(12, 12), h => 20 + h));
        await gateway.PublishAsync($"{service.Prefix}/air-1/hj212", Frames(Enumerable.Range(0, 12), h => 20 + h));
        await AcknowledgedAsync(service, 2);
        var first = await DayAsync(service, "air-1", "pm25", day);
        Assert.Equal((true, 24, 31.5), (first.Valid, first.Count, first.Mean));

        // The whole day again: the same figures, each hour still 60 minutes.
        await gateway.PublishAsync($"{service.Prefix}/air-1/hj212", Frames(Enumerable.Range(0, 24), h => 20 + h));
        await AcknowledgedAsync(service, 3);
        var again = await DayAsync(service, "air-1", "pm25", day);
        Assert.Equal((true, 24, 31.5, 20.0, 43.0), (again.Valid, again.Count, again.Mean, again.Min, again.Max));
        Assert.All(await HoursAsync(service, "air-1", "pm25", day), h => Assert.Equal((true, 60), (h.Valid, h.Count)));
        using var influx = TestInfrastructure.Influx(service.Database);
        var stats = await influx.QueryAsync("SELECT count(\"avg\") FROM \"stat\" WHERE \"station\" = 'air-1'");
        Assert.Equal(24, stats.Single().Values.Single()[1].GetInt64());

        // A corrected resend of 05:00 (25 -> 49): the day's mean rises by 24 / 24 = 1.
        await gateway.PublishAsync($"{service.Prefix}/air-1/hj212", Frames([5], _ => 49));
        await AcknowledgedAsync(service, 4);
        var corrected = await DayAsync(service, "air-1", "pm25", day);
        Assert.Equal((true, 24, 32.5), (corrected.Valid, corrected.Count, corrected.Mean));
        Assert.Equal(49.0, (await HoursAsync(service, "air-1", "pm25", day))[5].Mean);
    }

    [Fact]
    public async Task RebuildRollups_builds_hours_from_imported_hourly_and_minute_statistics()
    {
        await using var service = new ServiceUnderTest();
        await service.StartAsync();
        var day = LocalDay(5);
        // Imported around the service: 20 station hours (10 + h, h = 0..19: mean 19.5) and, for 21:00, 45 minute means
        // at 50 from the station (CN=2051): 21 valid hours, mean (20 x 19.5 + 50) / 21 = 440 / 21.
        var lines = Enumerable.Range(0, 20).Select(h => string.Create(CultureInfo.InvariantCulture,
                $"stat,station=air-2,parameter=pm25,period=hour avg={10 + h},flag=\"N\" {day.AddHours(h).ToUnixTimeMilliseconds()}"))
            .Concat(Enumerable.Range(0, 45).Select(m => string.Create(CultureInfo.InvariantCulture,
                $"stat,station=air-2,parameter=pm25,period=minute avg=50,flag=\"N\" {day.AddHours(21).AddMinutes(m).ToUnixTimeMilliseconds()}")));
        await Seed.WriteRawAsync(service.Database, lines);
        Assert.False((await DayAsync(service, "air-2", "pm25", day)).Valid); // nothing rolled up yet
        var date = day.ToOffset(China).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        await new QueryService.QueryServiceClient(Seed.Channel(service)).RebuildRollupsAsync(new RebuildRollupsRequest { From = date, To = date },
            Seed.Key(ServiceUnderTest.OperatorKey));
        var rebuilt = await DayAsync(service, "air-2", "pm25", day);
        Assert.Equal((true, 21), (rebuilt.Valid, rebuilt.Count));
        Assert.Equal(440.0 / 21, rebuilt.Mean, 9);
    }

    [Fact]
    public async Task Minute_means_of_cn_2051_count_as_their_minutes()
    {
        await using var service = new ServiceUnderTest();
        await service.StartAsync();
        await using var gateway = await TestMqttClient.ConnectAsync();
        var day = LocalDay(2);
        string Minute(DateTimeOffset t, double v) => Hourly(t, $"a34004-Avg={N(v)},a34004-Flag=N", cn: "2051");
        // 01:00: 45 minute means 29.4, 30, 30.6 repeating (mean 30); 02:00: 44 of them; 03:00: minutes 0-29 from the
        // station (30) and real-time readings at 60 for minutes 20-44: the station's minute wins where both exist, so
        // 30 minutes at 30 and 15 at 60, 45 minutes, mean (30 x 30 + 15 x 60) / 45 = 40.
        var frames = Enumerable.Range(0, 45).Select(m => Minute(day.AddHours(1).AddMinutes(m), 30 + (m % 3 - 1) * 0.6))
            .Concat(Enumerable.Range(0, 44).Select(m => Minute(day.AddHours(2).AddMinutes(m), 30)))
            .Concat(Enumerable.Range(0, 30).Select(m => Minute(day.AddHours(3).AddMinutes(m), 30)));
        await gateway.PublishAsync($"{service.Prefix}/air-1/hj212", string.Concat(frames));
        await gateway.PublishAsync(service.ReadingsTopic("air-1"), Array(Enumerable.Range(20, 25).Select(m => Json(day.AddHours(3).AddMinutes(m).AddSeconds(30), "\"pm25\":60"))));
        await AcknowledgedAsync(service, 2);

        var hours = await HoursAsync(service, "air-1", "pm25", day);
        Assert.Equal((true, 45), (hours[1].Valid, hours[1].Count));
        Assert.Equal(30.0, hours[1].Mean, 9);
        Assert.Equal((false, 44), (hours[2].Valid, hours[2].Count));
        Assert.Equal((true, 45), (hours[3].Valid, hours[3].Count));
        Assert.Equal(40.0, hours[3].Mean, 9);
        Assert.Equal((30.0, 60.0), (hours[3].Min, hours[3].Max));
    }

    [Fact]
    public async Task Carbon_monoxide_and_gases_are_stored_in_their_canonical_units_from_any_accepted_unit()
    {
        await using var service = new ServiceUnderTest(new() { ["Hj212:StationUnits:air-1:co"] = "ug/m3", ["Hj212:StationUnits:air-1:no2"] = "ppb" });
        await service.StartAsync();
        await using var gateway = await TestMqttClient.ConnectAsync();
        var hour = LocalDay(1).AddHours(9);
        await gateway.PublishAsync(service.ReadingsTopic("air-2"), Array([
            Json(hour, "\"co\":1.2"),                                                       // mg/m³, the canonical unit
            Json(hour.AddMinutes(1), "\"co\":1200", ",\"units\":{\"co\":\"µg/m3\"}"),      // µg/m³
            Json(hour.AddMinutes(2), "\"co\":1,\"so2\":10", ",\"units\":{\"co\":\"ppm\",\"so2\":\"ppb\"}"),
            Json(hour.AddHours(1), "\"co\":900", ",\"period\":\"hour\",\"units\":{\"co\":\"ug/m3\"}"),
        ]));
        await gateway.PublishAsync($"{service.Prefix}/air-1/hj212", Hourly(hour, "a21005-Avg=1300,a21005-Max=2100,a21005-Flag=N;a21004-Avg=50,a21004-Flag=N"));
        await AcknowledgedAsync(service, 2);

        using var influx = TestInfrastructure.Influx(service.Database);
        var readings = (await TestInfrastructure.PointsAsync(influx, "air-2")).OrderBy(p => p.Time).ThenBy(p => p.Parameter).ToList();
        Assert.Equal([("co", 1.2), ("co", 1.2), ("co", 1.1449008788), ("so2", 26.1867974658)],
            readings.Select(p => (p.Parameter, Math.Round(p.Value, 10))));
        var stats = (await influx.QueryAsync("SELECT \"avg\", \"max\" FROM \"stat\" GROUP BY \"station\", \"parameter\""))
            .ToDictionary(s => (s.Tags["station"], s.Tags["parameter"]), s => s.Rows().Single());
        Assert.Equal(0.9, stats[("air-2", "co")]["avg"].GetDouble(), 9);
        Assert.Equal((1.3, 2.1), (Math.Round(stats[("air-1", "co")]["avg"].GetDouble(), 9), Math.Round(stats[("air-1", "co")]["max"].GetDouble(), 9)));
        Assert.Equal(94.0241160842, stats[("air-1", "no2")]["avg"].GetDouble(), 9); // 50 ppb x 46.006 / 24.465
        // The station's hourly CO is that hour's value: 1.3 mg/m³ against the GB 3095 1-hour limit of 10.
        var hours = await HoursAsync(service, "air-1", "co", hour);
        Assert.Equal((true, 60), (hours[9].Valid, hours[9].Count));
        Assert.Equal(1.3, hours[9].Mean, 9);
    }

    [Fact]
    public async Task Wind_direction_is_averaged_as_a_vector_and_meteorology_is_shown_like_any_parameter()
    {
        await using var service = new ServiceUnderTest();
        await service.StartAsync();
        await using var gateway = await TestMqttClient.ConnectAsync();
        var day = LocalDay(2);
        // 02:00: every minute 350° and, 30 s later, 10° (a plain mean would say 180°); 03:00: 90° and 180°.
        // 04:00: the station's own hourly value, 270° (and 5.5 m/s).
        IEnumerable<string> Pairs(DateTimeOffset hour, double a, double b) => Enumerable.Range(0, 50).SelectMany(m => new[]
        {
            Json(hour.AddMinutes(m), $"\"wdir\":{N(a)},\"wspd\":2"), Json(hour.AddMinutes(m).AddSeconds(30), $"\"wdir\":{N(b)},\"wspd\":3"),
        });
        await gateway.PublishAsync(service.ReadingsTopic("air-1"), Array(Pairs(day.AddHours(2), 350, 10).Concat(Pairs(day.AddHours(3), 90, 180))));
        await gateway.PublishAsync($"{service.Prefix}/air-1/hj212", Hourly(day.AddHours(4), "a01008-Avg=270,a01008-Flag=N;a01007-Avg=5.5,a01007-Flag=N"));
        var now = DateTimeOffset.UtcNow;
        await gateway.PublishAsync(service.ReadingsTopic("air-1"), Json(now.AddMinutes(-1), "\"temp\":-3.5,\"rh\":64,\"pressure\":1013.2,\"wspd\":2.3,\"wdir\":45,\"pm25\":35",
            ",\"units\":{\"pressure\":\"hPa\"}"));
        await AcknowledgedAsync(service, 3);

        // The hourly rollup, read as stored (the query API aggregates the pollutants of a station's kind).
        using var influx = TestInfrastructure.Influx(service.Database);
        async Task<Dictionary<DateTimeOffset, IReadOnlyDictionary<string, System.Text.Json.JsonElement>>> RollupAsync(string parameter) =>
            (await influx.QueryAsync("SELECT * FROM \"reading_1h\" WHERE \"station\" = 'air-1' AND \"parameter\" = $p", new Dictionary<string, object> { ["p"] = parameter }))
                .Single().Rows().ToDictionary(r => DateTimeOffset.FromUnixTimeMilliseconds(r["time"].GetInt64()));
        var wdir = await RollupAsync("wdir");
        Assert.Equal((50, "minutes"), (wdir[day.AddHours(2)]["minutes"].GetInt32(), wdir[day.AddHours(2)]["source"].GetString()));
        Assert.Equal(0.0, wdir[day.AddHours(2)]["mean"].GetDouble(), 6);      // north, not 180
        Assert.Equal(135.0, wdir[day.AddHours(3)]["mean"].GetDouble(), 6);
        Assert.Equal((60, "station", 270.0), (wdir[day.AddHours(4)]["minutes"].GetInt32(), wdir[day.AddHours(4)]["source"].GetString(), wdir[day.AddHours(4)]["mean"].GetDouble()));
        Assert.All(wdir.Values, r => Assert.Equal(System.Text.Json.JsonValueKind.Null, r["min"].ValueKind)); // no range of directions
        var wspd = await RollupAsync("wspd");
        Assert.Equal((50, 2.5, 2.5, 2.5), (wspd[day.AddHours(2)]["minutes"].GetInt32(), wspd[day.AddHours(2)]["mean"].GetDouble(),
            wspd[day.AddHours(2)]["min"].GetDouble(), wspd[day.AddHours(2)]["max"].GetDouble()));
        Assert.Equal(5.5, wspd[day.AddHours(4)]["mean"].GetDouble());
        // The day's direction is the vector mean of the valid hours' directions: 0°, 135° and 270°:
        // sin: (0 + 0.70711 − 1) / 3, cos: (1 − 0.70711 + 0) / 3 -> atan2(−0.29289, 0.29289) = −45° = 315°.
        var dayRow = (await influx.QueryAsync($"SELECT \"hours\", \"mean\" FROM \"reading_1d\" WHERE \"station\" = 'air-1' AND \"parameter\" = 'wdir' AND time = {day.ToUnixTimeMilliseconds()}ms")).Single().Rows().Single();
        Assert.Equal(3, dayRow["hours"].GetInt32());
        Assert.Equal(315.0, dayRow["mean"].GetDouble(), 6);

        // Aggregate answers for meteorology of an air station, with vector means of the direction at every period.
        var hours = await HoursAsync(service, "air-1", "wdir", day);
        Assert.Equal(0.0, hours[2].Mean, 6);
        Assert.Equal(135.0, hours[3].Mean, 6);
        Assert.Equal(270.0, hours[4].Mean, 6);
        Assert.Equal(5.5, (await HoursAsync(service, "air-1", "wspd", day))[4].Mean, 9);
        var aggregateClient = new QueryService.QueryServiceClient(Seed.Channel(service));
        var date = day.ToOffset(China).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        var dayBucket = (await aggregateClient.AggregateAsync(new AggregateRequest { Selection = Stations("air-1"), Parameter = "wdir", Period = Period.Day, From = date, To = date,
            Percentile = 50 }, Reader)).Stations[0].Buckets.Single();
        // three valid hours are not a valid day (20 required), and an invalid bucket has no mean, vector or not
        Assert.False(dayBucket.Valid);

        // GetLatest and ListReadings show meteorology like any other parameter, in canonical units.
        var client = new QueryService.QueryServiceClient(Seed.Channel(service));
        var latest = await client.GetLatestAsync(new LatestRequest { Selection = Stations("air-1"), WithinHours = 1 }, Reader);
        Assert.Equal([("pm25", 35.0), ("pressure", 101.32), ("rh", 64.0), ("temp", -3.5), ("wdir", 45.0), ("wspd", 2.3)],
            latest.Readings.Select(r => (r.Parameter, Math.Round(r.Value, 9))).Order());
        var list = await client.ListReadingsAsync(new ListReadingsRequest
        {
            StationId = "air-1", Parameter = "wdir", From = ChinaTime.Utc(day.AddHours(2)), To = ChinaTime.Utc(day.AddHours(2).AddMinutes(1)), PageSize = 10,
        }, Reader);
        Assert.Equal([350.0, 10.0], list.Readings.Select(r => r.Value));
    }

    [Theory]
    [InlineData("Chinese", "；东北风 2.3 m/s")]
    [InlineData("English", "; wind 2.3 m/s from 45° (NE)")]
    public async Task Vocs_alert_texts_name_the_wind_at_the_time(string language, string wind)
    {
        await using var hook = await HttpReceiver.StartAsync();
        var stateFile = AlertTestSettings.TempFile("alerts");
        var now = new DateTimeOffset(DateTime.UtcNow.Ticks / TimeSpan.TicksPerMinute * TimeSpan.TicksPerMinute, TimeSpan.Zero);
        var clock = new FakeTimeProvider(now);
        await using var service = new ServiceUnderTest(AlertTestSettings.For(hook, stateFile,
            ("Alerting:Language", language),
            ("Alerting:Rules:0:Name", "nmhc-single"), ("Alerting:Rules:0:Kind", "single-value"), ("Alerting:Rules:0:Parameter", "nmhc"),
            ("Alerting:Rules:0:Channels:0", "duty")), services => services.AddSingleton(new AlertClock(clock)));
        const string voc2 = """{ "id": "voc-2", "name": "园区南厂界", "kind": "voc", "region": "高新区北部", "latitude": 37.79, "longitude": 115.77 }, """;
        File.WriteAllText(service.StationsFile, ServiceUnderTest.StationsJson.Replace("""{ "id": "w-fyh-1",""", voc2 + """{ "id": "w-fyh-1","""));
        await service.StartAsync();
        // voc-1: NMHC 35 two minutes ago, wind 2.2 and 2.4 m/s from 40° and 50° within the window (2.3 m/s from 45°, NE).
        // voc-2: NMHC 36, no wind readings: its text has no wind.
        await Seed.WriteAsync(service.Database,
        [
            Seed.Line("voc-1", "nmhc", now.AddMinutes(-2), 35), Seed.Line("voc-2", "nmhc", now.AddMinutes(-2), 36),
            Seed.Line("voc-1", "wspd", now.AddMinutes(-3), 2.2), Seed.Line("voc-1", "wspd", now.AddMinutes(-2), 2.4),
            Seed.Line("voc-1", "wdir", now.AddMinutes(-3), 40), Seed.Line("voc-1", "wdir", now.AddMinutes(-2), 50),
            Seed.Line("voc-1", "wdir", now.AddMinutes(-1), 0, "D"), // a faulty direction is not the wind
        ]);
        clock.SetUtcNow(now);
        var events = await service.Services.GetRequiredService<AlertEvaluator>().EvaluateOnceAsync(CancellationToken.None);
        var fired = events.Where(e => e.Kind == AlertEventKind.Fired).ToDictionary(e => e.Subject);
        Assert.EndsWith(wind, fired["voc-1"].Detail);
        Assert.DoesNotContain(language == "Chinese" ? "风" : "wind", fired["voc-2"].Detail);
        await TestInfrastructure.EventuallyAsync(() => hook.Requests.Count >= 2, Wait, "two notifications");
        var text = hook.Requests.Select(r => r.Body).Single(b => b.GetProperty("subject").GetString() == "voc-1").GetProperty("text").GetString();
        Assert.Contains(wind, text);
        File.Delete(stateFile);
    }

    [Fact]
    public async Task An_hourly_only_vocs_point_feeds_the_hourly_rule_with_its_wind_and_is_not_silent()
    {
        await using var hook = await HttpReceiver.StartAsync();
        var stateFile = AlertTestSettings.TempFile("alerts");
        var hour = new DateTimeOffset(DateTime.UtcNow.Ticks / TimeSpan.TicksPerHour * TimeSpan.TicksPerHour, TimeSpan.Zero).AddHours(-1);
        var now = hour.AddHours(1).AddMinutes(10);
        var clock = new FakeTimeProvider(now);
        await using var service = new ServiceUnderTest(AlertTestSettings.For(hook, stateFile,
            ("Alerting:Rules:0:Name", "nmhc-1h"), ("Alerting:Rules:0:Kind", "hourly-mean"), ("Alerting:Rules:0:Parameter", "nmhc"),
            ("Alerting:Rules:0:Channels:0", "duty"),
            ("Alerting:Rules:1:Name", "silent-voc"), ("Alerting:Rules:1:Kind", "silent"), ("Alerting:Rules:1:Threshold", "90"),
            ("Alerting:Rules:1:Stations:0", "voc-1"), ("Alerting:Rules:1:Channels:0", "duty")), services => services.AddSingleton(new AlertClock(clock)));
        await service.StartAsync();
        // The point sends only hourly means (JSON "period": "hour"): NMHC 12 mg/m³ over the 10 of GB 37822, wind 2.3 m/s from 45°.
        await using var gateway = await TestMqttClient.ConnectAsync();
        await gateway.PublishAsync(service.ReadingsTopic("voc-1"), Json(hour, "\"nmhc\":12,\"wspd\":2.3,\"wdir\":45", ",\"period\":\"hour\""));
        await AcknowledgedAsync(service, 1);

        var events = await service.Services.GetRequiredService<AlertEvaluator>().EvaluateOnceAsync(CancellationToken.None);
        var fired = Assert.Single(events, e => e.Kind == AlertEventKind.Fired);
        Assert.Equal(("nmhc-1h", "voc-1", 12.0), (fired.Rule, fired.Subject, fired.Value));
        Assert.EndsWith("（限值 10）；东北风 2.3 m/s", fired.Detail);
        // Its data is as recent as the end of its last hour, 10 minutes ago: not silent (threshold 90 minutes).
        Assert.DoesNotContain(events, e => e.Rule == "silent-voc");
        File.Delete(stateFile);
    }

    [Fact]
    public async Task Bad_hourly_input_is_dead_lettered_with_its_reason_and_nothing_else_is_lost()
    {
        await using var service = new ServiceUnderTest();
        await service.StartAsync();
        await using var deadLetters = await TestMqttClient.ConnectAsync($"{service.Prefix}/deadletter/#");
        await using var gateway = await TestMqttClient.ConnectAsync();
        var day = LocalDay(1);
        var future = new DateTimeOffset(DateTime.UtcNow.Ticks / TimeSpan.TicksPerHour * TimeSpan.TicksPerHour, TimeSpan.Zero).AddHours(2);
        await gateway.PublishAsync($"{service.Prefix}/air-1/hj212",
            Hourly(day.AddHours(1), "a34004-Avg=41,a34004-Flag=X;a34002-Avg=80,a34002-Flag=N") +   // bad flag letter: pm25 only
            Hourly(day.AddHours(2), "a34004-Avg=4100,a34004-Flag=N;a34002-Avg=81,a34002-Flag=N") + // out of range: pm25 only
            Hourly(future, "a34004-Avg=41,a34004-Flag=N") +                                        // an hour to come
            Hourly(day.AddHours(3).AddMinutes(30), "a34004-Avg=41,a34004-Flag=N") +                // not on the hour
            Hourly(day.AddHours(4), "a34004-Avg=42,a34004-Flag=N"));
        await AcknowledgedAsync(service, 1);
        await TestInfrastructure.EventuallyAsync(() => !deadLetters.Received.IsEmpty, Wait, "a dead letter");
        var letter = deadLetters.Received.Single().Payload.Json();
        Assert.Equal(("partial", 3), (letter.GetProperty("scope").GetString(), letter.GetProperty("storedReadings").GetInt32()));
        Assert.Equal(
            [
                ("invalid_flag", 0, "pm25"), ("out_of_range", 1, "pm25"), ("timestamp_in_future", 2, ""), ("invalid_timestamp", 3, ""),
            ],
            letter.GetProperty("rejections").EnumerateArray().Select(r => (r.GetProperty("reason").GetString()!, r.GetProperty("index").GetInt32(),
                r.TryGetProperty("parameter", out var p) ? p.GetString()! : "")));
        var hours = await HoursAsync(service, "air-1", "pm10", day);
        Assert.Equal([80.0, 81.0], hours.Where(h => h.Valid).Select(h => h.Mean));
        Assert.Equal(42.0, Assert.Single(await HoursAsync(service, "air-1", "pm25", day), h => h.Valid).Mean);
    }
}
