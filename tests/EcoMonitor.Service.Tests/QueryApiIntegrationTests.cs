using EcoMonitor.Api.V1;
using EcoMonitor.Service.Tests.Support;
using Grpc.Core;

namespace EcoMonitor.Service.Tests;

/// <summary>A real gRPC client against the running service and the real InfluxDB, on data worked out by hand.</summary>
[Trait("Category", "Integration")]
public sealed class QueryApiIntegrationTests : IAsyncLifetime
{
    readonly ServiceUnderTest _service = new();
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

    [Fact]
    public async Task Calls_without_a_known_key_are_unauthenticated()
    {
        var none = await Assert.ThrowsAsync<RpcException>(() => _client.ListStationsAsync(new ListStationsRequest()).ResponseAsync);
        Assert.Equal(StatusCode.Unauthenticated, none.StatusCode);
        var wrong = await Assert.ThrowsAsync<RpcException>(() => _client.ListStationsAsync(new ListStationsRequest(), Seed.Key("not-a-key-of-ours-at-all")).ResponseAsync);
        Assert.Equal(StatusCode.Unauthenticated, wrong.StatusCode);
        var bearer = await _client.ListStationsAsync(new ListStationsRequest(), new Metadata { { "authorization", $"Bearer {ServiceUnderTest.OperatorKey}" } });
        Assert.Equal(5, bearer.Stations.Count);
    }

    [Fact]
    public async Task Stations_are_listed_and_filtered()
    {
        var air = await _client.ListStationsAsync(new ListStationsRequest { Kind = StationKind.Air }, Reader);
        Assert.Equal(["air-1", "air-2", "air-3"], air.Stations.Select(s => s.Id));
        var water = await _client.GetStationAsync(new GetStationRequest { Id = "w-fyh-1" }, Reader);
        Assert.Equal(("river", "滏阳河", "IV", "WAT0001"), (water.WaterBody, water.WaterName, water.TargetClass, water.Mn));
        var region = await _client.ListStationsAsync(new ListStationsRequest { Region = "高新区北部" }, Reader);
        Assert.Equal(["air-3", "voc-1"], region.Stations.Select(s => s.Id));
    }

    [Theory]
    [InlineData("station", "x' OR 1=1 --", "id")]
    [InlineData("station", "air-1\" OR \"station\" =~ /.*/", "id")]
    [InlineData("aggregate-station", "air-1' OR '1'='1", "selection.station_ids[0]")]
    [InlineData("aggregate-parameter", "value\" FROM \"reading\" --", "parameter")]
    [InlineData("aggregate-region", "x'; DROP DATABASE eco; --", "selection.region")]
    [InlineData("aggregate-date", "2026-01-01'); --", "from")]
    public async Task Hostile_identifiers_are_rejected_naming_the_field(string call, string hostile, string field)
    {
        var e = await Assert.ThrowsAsync<RpcException>(() => call switch
        {
            "station" => _client.GetStationAsync(new GetStationRequest { Id = hostile }, Reader).ResponseAsync,
            "aggregate-station" => (Task)_client.AggregateAsync(new AggregateRequest { Selection = Stations(hostile), Parameter = "pm25", Period = Period.Day, From = "2026-01-01", To = "2026-01-02" }, Reader).ResponseAsync,
            "aggregate-parameter" => _client.AggregateAsync(new AggregateRequest { Selection = Stations("air-1"), Parameter = hostile, Period = Period.Day, From = "2026-01-01", To = "2026-01-02" }, Reader).ResponseAsync,
            "aggregate-region" => _client.AggregateAsync(new AggregateRequest { Selection = new Selection { Region = hostile }, Parameter = "pm25", Period = Period.Day, From = "2026-01-01", To = "2026-01-02" }, Reader).ResponseAsync,
            _ => _client.AggregateAsync(new AggregateRequest { Selection = Stations("air-1"), Parameter = "pm25", Period = Period.Day, From = hostile, To = "2026-01-02" }, Reader).ResponseAsync,
        });
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.StartsWith(field + ":", e.Status.Detail);
        Assert.DoesNotContain("DROP", e.Status.Detail);
        // The database is still there and answers.
        await _client.AggregateAsync(new AggregateRequest { Selection = Stations("air-1"), Parameter = "pm25", Period = Period.Day, From = "2026-01-01", To = "2026-01-01" }, Reader);
    }

    [Fact]
    public async Task A_day_needs_20_valid_hours_and_an_hour_45_minutes_of_valid_data()
    {
        var d1 = new DateOnly(2026, 1, 10);
        var d2 = d1.AddDays(1);
        var lines = new List<string>();
        for (var h = 0; h < 20; h++) lines.AddRange(Seed.Hour("air-1", "pm25", d1.ToDateTime(new TimeOnly(h, 0)), 45, 30 + h));
        for (var h = 0; h < 19; h++) lines.AddRange(Seed.Hour("air-1", "pm25", d2.ToDateTime(new TimeOnly(h, 0)), 45, 50));
        lines.AddRange(Seed.Hour("air-1", "pm25", d2.ToDateTime(new TimeOnly(20, 0)), 44, 50)); // 44 minutes: not a valid hour
        // Invalid flags are kept out: in hour 21 of day 1, 45 normal minutes at 40 and 15 fault minutes at 400.
        lines.AddRange(Seed.Hour("air-1", "pm25", d1.ToDateTime(new TimeOnly(21, 0)), 45, 40));
        lines.AddRange(Seed.Hour("air-1", "pm25", d1.ToDateTime(new TimeOnly(21, 45)), 15, 400, "D"));
        await Seed.WriteAsync(_service.Database, lines);

        var days = await _client.AggregateAsync(new AggregateRequest { Selection = Stations("air-1"), Parameter = "pm25", Period = Period.Day, From = "2026-01-10", To = "2026-01-11" }, Reader);
        var (first, second) = (days.Stations[0].Buckets[0], days.Stations[0].Buckets[1]);
        Assert.Equal("2026-01-10T00:00:00+08:00", first.Start);
        Assert.True(first.Valid);
        Assert.Equal(21, first.Count);                       // hours 0-19 and hour 21
        Assert.Equal((20 * 39.5 + 40) / 21, first.Mean, 9);  // 30..49 and 40
        Assert.Equal((30.0, 49.0), (first.Min, first.Max));
        Assert.False(second.Valid);
        Assert.False(second.HasMean);
        Assert.Equal((19, 20), (second.Count, second.Required));

        var hours = await _client.AggregateAsync(new AggregateRequest { Selection = Stations("air-1"), Parameter = "pm25", Period = Period.Hour, From = "2026-01-10", To = "2026-01-11" }, Reader);
        var byStart = hours.Stations[0].Buckets.ToDictionary(b => b.Start);
        Assert.Equal(48, byStart.Count);
        Assert.Equal((true, 40.0, 45), (byStart["2026-01-10T21:00:00+08:00"].Valid, byStart["2026-01-10T21:00:00+08:00"].Mean, byStart["2026-01-10T21:00:00+08:00"].Count));
        Assert.Equal((false, 44), (byStart["2026-01-11T20:00:00+08:00"].Valid, byStart["2026-01-11T20:00:00+08:00"].Count));
        Assert.Equal((false, 0), (byStart["2026-01-10T22:00:00+08:00"].Valid, byStart["2026-01-10T22:00:00+08:00"].Count));
    }

    [Fact]
    public async Task Readings_at_15_59_and_16_00_UTC_fall_on_different_local_days()
    {
        var utc = new DateTimeOffset(2026, 1, 20, 15, 15, 0, TimeSpan.Zero); // 23:15 local
        var lines = Enumerable.Range(0, 45).Select(m => Seed.Line("air-2", "pm25", utc.AddMinutes(m), 20))          // 15:15-15:59 UTC
            .Concat(Enumerable.Range(0, 45).Select(m => Seed.Line("air-2", "pm25", utc.AddMinutes(45 + m), 60)));      // 16:00-16:44 UTC
        await Seed.WriteAsync(_service.Database, lines);
        var r = await _client.AggregateAsync(new AggregateRequest { Selection = Stations("air-2"), Parameter = "pm25", Period = Period.Hour, From = "2026-01-20", To = "2026-01-21" }, Reader);
        var valid = r.Stations[0].Buckets.Where(b => b.Valid).ToList();
        Assert.Equal([("2026-01-20T23:00:00+08:00", 20.0), ("2026-01-21T00:00:00+08:00", 60.0)], valid.Select(b => (b.Start, b.Mean)));
    }

    [Fact]
    public async Task Daily_aqi_by_HJ_633_with_primary_pollutant_and_category()
    {
        var day = new DateOnly(2026, 1, 5);
        await Seed.WriteAsync(_service.Database, Seed.Day("air-1", "pm25", day, 100).Concat(Seed.Day("air-1", "pm10", day, 160))
            .Concat(Seed.Day("air-2", "pm25", day, 35)).Concat(Seed.Day("air-2", "pm10", day, 50)));
        var r = await _client.GetAqiAsync(new AqiRequest { Selection = new Selection { Region = "高新区" }, Period = Period.Day, From = "2026-01-05", To = "2026-01-05" }, Reader);
        var a1 = r.Stations.Single(s => s.StationId == "air-1").Values.Single();
        Assert.Equal((132, 132, 105), (a1.Aqi, a1.Iaqi["pm25"], a1.Iaqi["pm10"]));
        Assert.Equal(["pm25"], a1.PrimaryPollutants);
        Assert.Equal(("轻度污染", "Lightly polluted"), (a1.CategoryZh, a1.CategoryEn));
        var a2 = r.Stations.Single(s => s.StationId == "air-2").Values.Single();
        Assert.Equal((50, "优"), (a2.Aqi, a2.CategoryZh));
        Assert.Empty(a2.PrimaryPollutants);
        // The region: PM2.5 (100 + 35) / 2 = 67.5 -> IAQI ceil(50 + 50 * 32.5 / 40) = 91; PM10 105 -> ceil(50 + 50 * 55 / 100) = 78.
        var region = r.Region.Values.Single();
        Assert.Equal((91, 91, 78), (region.Aqi, region.Iaqi["pm25"], region.Iaqi["pm10"]));
        Assert.Equal("良", region.CategoryZh);
    }

    [Fact]
    public async Task The_target_at_minus_2_9_minus_3_0_and_minus_3_1_percent()
    {
        // January of both years, every day valid: last year 50 everywhere; this year 48.55, 48.5 and 48.45.
        var lines = new List<string>();
        foreach (var (station, current) in new[] { ("air-1", 48.55), ("air-2", 48.5), ("air-3", 48.45) })
            for (var d = 1; d <= 31; d++)
            {
                lines.AddRange(Seed.Day(station, "pm25", new DateOnly(2025, 1, d), 50));
                lines.AddRange(Seed.Day(station, "pm25", new DateOnly(2026, 1, d), current));
            }
        await Seed.WriteAsync(_service.Database, lines);
        var r = await _client.GetTargetProgressAsync(new TargetProgressRequest { AsOf = "2026-01-31", PastYears = 1 }, Reader);
        var byScope = r.Progress.ToDictionary(p => p.Scope);
        Assert.Equal(48.55, byScope["air-1"].CurrentMean, 9);
        Assert.Equal(50.0, byScope["air-1"].PreviousMean, 9);
        Assert.Equal((31, 31), (byScope["air-1"].CurrentDays, byScope["air-1"].PreviousDays));
        Assert.Equal(-2.9, byScope["air-1"].ChangePercent, 9);
        Assert.False(byScope["air-1"].OnTrack);
        Assert.Equal(-3.0, byScope["air-2"].ChangePercent, 9);
        Assert.True(byScope["air-2"].OnTrack);
        Assert.Equal(-3.1, byScope["air-3"].ChangePercent, 9);
        Assert.True(byScope["air-3"].OnTrack);
        Assert.Equal(-3, byScope["air-3"].TargetPercent);
        // Zone: the mean of the stations' daily means, (48.55 + 48.5 + 48.45) / 3 = 48.5 -> -3.0 %.
        Assert.Equal(-3.0, byScope["zone"].ChangePercent, 9);
        Assert.True(byScope["zone"].OnTrack);
        // Rounded as published, 49 vs 50 and 48 vs 50.
        Assert.Equal(-2.0, byScope["air-1"].RoundedChangePercent, 9);
        Assert.Equal(-4.0, byScope["air-2"].RoundedChangePercent, 9);
        // 2025 as a full year has only January: not a valid annual mean, and it says why.
        var year = r.Years.Single(y => y.Scope == "air-1");
        Assert.Equal((2025, false, 31), (year.Year, year.Valid, year.ValidDays));
        Assert.StartsWith("31 valid days, 324 required; months below their minimum: 2, 3,", year.Note);
    }

    [Fact]
    public async Task A_year_needs_324_valid_days_and_every_month_its_minimum()
    {
        // air-1: 324 valid days, every month at or above its minimum; air-2: 323 days; air-3: 330 days but February 24.
        static IEnumerable<DateOnly> Year(int keep, int februaryDays)
        {
            var days = new List<DateOnly>();
            for (var m = 1; m <= 12; m++)
            {
                var inMonth = DateTime.DaysInMonth(2025, m);
                days.AddRange(Enumerable.Range(1, m == 2 ? Math.Min(februaryDays, inMonth) : inMonth).Select(d => new DateOnly(2025, m, d)));
            }
            // Drop days from the ends of the months, never below 27 (February: its given days).
            var drop = days.Count - keep;
            foreach (var m in Enumerable.Range(1, 12).Where(m => m != 2))
            {
                var spare = DateTime.DaysInMonth(2025, m) - 27;
                var n = Math.Min(spare, drop);
                days.RemoveAll(d => d.Month == m && d.Day > DateTime.DaysInMonth(2025, m) - n);
                drop -= n;
            }
            return days;
        }
        var lines = new List<string>();
        foreach (var d in Year(324, 25)) lines.AddRange(Seed.Day("air-1", "pm25", d, 40, hours: 20));
        foreach (var d in Year(323, 25)) lines.AddRange(Seed.Day("air-2", "pm25", d, 40, hours: 20));
        foreach (var d in Year(330, 24)) lines.AddRange(Seed.Day("air-3", "pm25", d, 40, hours: 20));

        // A year of minute data is computed from the raw readings here (no rollup yet): give the database time.
        await using var patient = new ServiceUnderTest(new() { ["Influx:Timeout"] = "00:02:00" });
        await patient.StartAsync();
        using var channel = Seed.Channel(patient);
        var client = new QueryService.QueryServiceClient(channel);
        await Seed.WriteAsync(patient.Database, lines);
        var years = await client.AggregateAsync(new AggregateRequest { Selection = Stations("air-1", "air-2", "air-3"), Parameter = "pm25", Period = Period.Year, From = "2025-01-01", To = "2025-12-31" }, Reader);
        var y = years.Stations.ToDictionary(s => s.StationId, s => s.Buckets.Single());
        Assert.Equal((true, 40.0, 324, 324), (y["air-1"].Valid, y["air-1"].Mean, y["air-1"].Count, y["air-1"].Required));
        Assert.Equal((false, 323), (y["air-2"].Valid, y["air-2"].Count));
        Assert.False(y["air-2"].HasMean);
        Assert.Equal((false, 330), (y["air-3"].Valid, y["air-3"].Count));
        Assert.Equal("months below their minimum: 2", y["air-3"].Note);
        Assert.Equal(40.0, y["air-1"].Percentile);

        var months = await client.AggregateAsync(new AggregateRequest { Selection = Stations("air-3"), Parameter = "pm25", Period = Period.Month, From = "2025-02-01", To = "2025-03-31" }, Reader);
        var (feb, mar) = (months.Stations[0].Buckets[0], months.Stations[0].Buckets[1]);
        Assert.Equal((false, 24, 25), (feb.Valid, feb.Count, feb.Required));
        Assert.Equal((true, 27), (mar.Valid, mar.Required));
        Assert.True(mar.Count >= 27);
    }

    [Fact]
    public async Task Water_sections_are_classed_by_GB_3838()
    {
        var t = new DateTime(2026, 2, 10, 8, 0, 0);
        // COD 15 is class I (equal limits of I and II: the better class); NH3-N 2.5 is worse than V; TN is not
        // evaluated for rivers; a fault-flagged DO reading does not count.
        await Seed.WriteAsync(_service.Database, new[]
        {
            Seed.Line("w-fyh-1", "cod", new DateTimeOffset(t, Seed.China), 15),
            Seed.Line("w-fyh-1", "do", new DateTimeOffset(t, Seed.China), 6),
            Seed.Line("w-fyh-1", "do", new DateTimeOffset(t.AddHours(1), Seed.China), 1, "D"),
            Seed.Line("w-fyh-1", "nh3n", new DateTimeOffset(t, Seed.China), 2.4),
            Seed.Line("w-fyh-1", "nh3n", new DateTimeOffset(t.AddHours(1), Seed.China), 2.6),
            Seed.Line("w-fyh-1", "tp", new DateTimeOffset(t, Seed.China), 0.2),
            Seed.Line("w-fyh-1", "tn", new DateTimeOffset(t, Seed.China), 5),
        });
        var r = await _client.GetWaterQualityAsync(new WaterQualityRequest { From = "2026-02-01", To = "2026-02-28" }, Reader);
        var s = r.Sections.Single();
        Assert.Equal(("w-fyh-1", "劣V", "IV", false), (s.StationId, s.WaterClass, s.TargetClass, s.MeetsTarget));
        Assert.Equal(["nh3n"], s.FailingParameters);
        Assert.Equal([("cod", "I"), ("do", "II"), ("nh3n", "劣V"), ("tp", "III")], s.Parameters.Select(p => (p.Parameter, p.WaterClass)));
        Assert.Equal(2.5, s.Parameters.Single(p => p.Parameter == "nh3n").Mean, 9);
    }

    [Fact]
    public async Task An_unreachable_database_is_unavailable_and_the_service_stays_up()
    {
        await using var service = new ServiceUnderTest(new() { ["Influx:Url"] = "http://127.0.0.1:9/", ["Influx:Timeout"] = "00:00:02" });
        await service.StartAsync();
        using var channel = Seed.Channel(service);
        var client = new QueryService.QueryServiceClient(channel);
        var e = await Assert.ThrowsAsync<RpcException>(() => client.AggregateAsync(new AggregateRequest { Selection = Stations("air-1"), Parameter = "pm25", Period = Period.Day, From = "2026-01-01", To = "2026-01-01" }, Reader).ResponseAsync);
        Assert.Equal(StatusCode.Unavailable, e.StatusCode);
        Assert.Equal(5, (await client.ListStationsAsync(new ListStationsRequest(), Reader)).Stations.Count);
    }

    [Fact]
    public async Task Health_and_reflection_are_served()
    {
        var health = new Grpc.Health.V1.Health.HealthClient(_channel);
        Assert.Equal(Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.Serving, (await health.CheckAsync(new Grpc.Health.V1.HealthCheckRequest())).Status);
        var reflection = new Grpc.Reflection.V1Alpha.ServerReflection.ServerReflectionClient(_channel);
        using var call = reflection.ServerReflectionInfo();
        await call.RequestStream.WriteAsync(new Grpc.Reflection.V1Alpha.ServerReflectionRequest { ListServices = "" });
        await call.RequestStream.CompleteAsync();
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Contains("ecomonitor.v1.QueryService", call.ResponseStream.Current.ListServicesResponse.Service.Select(s => s.Name));
    }

    [Fact]
    public async Task The_api_answers_json_over_http_1_1()
    {
        await Seed.WriteAsync(_service.Database, Seed.Day("air-1", "pm25", new DateOnly(2026, 1, 7), 42));
        using var http = new HttpClient { BaseAddress = _service.HttpAddress };
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, (await http.GetAsync("/v1/stations")).StatusCode);
        http.DefaultRequestHeaders.Add("x-api-key", ServiceUnderTest.ReaderKey);

        var stations = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync("/v1/stations?kind=STATION_KIND_WATER")).RootElement;
        Assert.Equal("w-fyh-1", stations.GetProperty("stations")[0].GetProperty("id").GetString());
        var station = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync("/v1/stations/air-1")).RootElement;
        Assert.Equal("管委会", station.GetProperty("name").GetString());

        var day = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync(
            "/v1/aggregate?selection.stationIds=air-1&parameter=pm25&period=PERIOD_DAY&from=2026-01-07&to=2026-01-07")).RootElement;
        var bucket = day.GetProperty("stations")[0].GetProperty("buckets")[0];
        Assert.Equal((true, 42.0, 20), (bucket.GetProperty("valid").GetBoolean(), bucket.GetProperty("mean").GetDouble(), bucket.GetProperty("count").GetInt32()));

        var bad = await http.GetAsync("/v1/aggregate?selection.stationIds=air-1%27%20OR%201%3D1&parameter=pm25&period=PERIOD_DAY&from=2026-01-07&to=2026-01-07");
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("selection.station_ids[0]", await bad.Content.ReadAsStringAsync());
    }

    static DateTimeOffset RecentSecond(int minutesAgo) =>
        DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.AddMinutes(-minutesAgo).ToUnixTimeSeconds());

    [Fact]
    public async Task Latest_values_per_station_and_parameter_with_their_flags()
    {
        var (t1, t2) = (RecentSecond(90), RecentSecond(30));
        await Seed.WriteAsync(_service.Database, new[]
        {
            Seed.Line("air-1", "pm25", t1, 30), Seed.Line("air-1", "pm25", t2, 35, "M"), Seed.Line("air-1", "pm10", t1, 70),
            Seed.Line("air-2", "pm25", t2, 44), Seed.Line("air-1", "pm25", t1.AddDays(-3), 99),
        });
        var r = await _client.GetLatestAsync(new LatestRequest { Selection = Stations("air-1") }, Reader);
        Assert.Equal([("pm10", 70.0, "N", true), ("pm25", 35.0, "M", false)], r.Readings.Select(x => (x.Parameter, x.Value, x.Flag, x.Valid)));
        Assert.Equal(t2.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ"), r.Readings[1].Time);
        var all = await _client.GetLatestAsync(new LatestRequest(), Reader);
        Assert.Equal(["air-1", "air-1", "air-2"], all.Readings.Select(x => x.StationId));
    }

    [Fact]
    public async Task Raw_readings_come_a_page_at_a_time()
    {
        var start = new DateTimeOffset(2026, 2, 1, 0, 0, 0, TimeSpan.Zero);
        await Seed.WriteAsync(_service.Database, Enumerable.Range(0, 25).Select(i => Seed.Line("air-2", "pm25", start.AddMinutes(i), i))
            .Concat(Enumerable.Range(0, 5).Select(i => Seed.Line("air-2", "pm10", start.AddMinutes(i), 100 + i))));
        var pages = new List<ListReadingsResponse>();
        var token = "";
        do
        {
            var page = await _client.ListReadingsAsync(new ListReadingsRequest { StationId = "air-2", Parameter = "pm25", From = "2026-02-01T00:00:00Z", To = "2026-02-02T00:00:00Z", PageSize = 10, PageToken = token }, Reader);
            pages.Add(page);
            token = page.NextPageToken;
        } while (token.Length > 0);
        Assert.Equal([10, 10, 5], pages.Select(p => p.Readings.Count));
        Assert.Equal(Enumerable.Range(0, 25).Select(i => (double)i), pages.SelectMany(p => p.Readings).Select(r => r.Value));
        var both = await _client.ListReadingsAsync(new ListReadingsRequest { StationId = "air-2", From = "2026-02-01T00:00:00Z", To = "2026-02-01T00:03:00Z" }, Reader);
        Assert.Equal(6, both.Readings.Count);
        var e = await Assert.ThrowsAsync<RpcException>(() => _client.ListReadingsAsync(new ListReadingsRequest { StationId = "air-2", From = "2026-02-01T00:00:00Z", To = "2026-02-02T00:00:00Z", PageToken = "1; DROP" }, Reader).ResponseAsync);
        Assert.StartsWith("page_token:", e.Status.Detail);
    }

    [Fact]
    public async Task Watch_streams_the_readings_of_the_chosen_stations_as_they_are_stored()
    {
        var request = new WatchRequest();
        request.StationIds.Add("air-2");
        using var call = _client.Watch(request, Reader);
        var broadcast = (EcoMonitor.Service.Query.ReadingBroadcast)_service.Services.GetService(typeof(EcoMonitor.Service.Query.ReadingBroadcast))!;
        await TestInfrastructure.EventuallyAsync(() => broadcast.Watchers == 1, TimeSpan.FromSeconds(10), "the watcher subscribed");
        await using var gateway = await TestMqttClient.ConnectAsync();
        var t = RecentSecond(1);
        await gateway.PublishAsync(_service.ReadingsTopic("air-1"), $$$"""{"ts": {{{t.ToUnixTimeMilliseconds()}}}, "values": {"pm25": 11}}""");
        await gateway.PublishAsync(_service.ReadingsTopic("air-2"), $$$"""{"ts": {{{t.ToUnixTimeMilliseconds()}}}, "values": {"pm25": 22, "pm10": 33}}""");
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var received = new List<Reading>();
        while (received.Count < 2 && await call.ResponseStream.MoveNext(cts.Token)) received.Add(call.ResponseStream.Current);
        Assert.Equal([("air-2", "pm10", 33.0), ("air-2", "pm25", 22.0)], received.Select(r => (r.StationId, r.Parameter, r.Value)).Order());
    }

    [Fact]
    public async Task Vocs_hourly_means_and_single_values_over_the_limits()
    {
        var h1 = new DateTime(2026, 1, 15, 9, 0, 0);
        var h2 = h1.AddHours(1);
        var lines = Seed.Hour("voc-1", "nmhc", h1, 45, 12).ToList();                    // hourly mean 12 > 10
        lines.AddRange(Seed.Hour("voc-1", "nmhc", h2, 44, 5));                           // hourly mean 5.57: below
        lines.Add(Seed.Line("voc-1", "nmhc", new DateTimeOffset(h2.AddMinutes(44), Seed.China), 31)); // single value 31 > 30
        lines.Add(Seed.Line("voc-1", "nmhc", new DateTimeOffset(h2.AddMinutes(50), Seed.China), 80, "C")); // calibration: not counted
        await Seed.WriteAsync(_service.Database, lines);
        var r = await _client.GetVocExceedancesAsync(new VocExceedancesRequest { From = "2026-01-15", To = "2026-01-15" }, Reader);
        var s = r.Stations.Single();
        Assert.Equal(("voc-1", 10.0, 30.0), (s.StationId, s.HourlyLimit, s.SingleLimit));
        Assert.Equal([("hourly-mean", "2026-01-15T09:00:00+08:00", 12.0), ("single-value", "2026-01-15T02:44:00.000Z", 31.0)],
            s.Exceedances.Select(x => (x.Kind, x.Time, x.Value)));
    }

    [Fact]
    public async Task Ingested_readings_keep_the_hourly_rollup_current_even_when_a_value_is_corrected()
    {
        // 45 minutes of one local hour, published over MQTT: the hour is valid.
        var hour = new DateTimeOffset(DateTime.UtcNow.Ticks / TimeSpan.TicksPerHour * TimeSpan.TicksPerHour, TimeSpan.Zero).AddHours(-3);
        var readings = string.Join(",", Enumerable.Range(0, 45).Select(m => $$$"""{"ts": {{{hour.AddMinutes(m).ToUnixTimeMilliseconds()}}}, "values": {"pm25": {{{20 + m % 2}}}}}"""));
        await using var gateway = await TestMqttClient.ConnectAsync();
        await gateway.PublishAsync(_service.ReadingsTopic("air-3"), $"[{readings}]");
        await TestInfrastructure.EventuallyAsync(() => _service.Metrics.Acknowledgements >= 1, TimeSpan.FromSeconds(20), "the message stored");
        await _service.RollupsCurrentAsync();
        var day = hour.ToOffset(Seed.China).ToString("yyyy-MM-dd");
        var request = new AggregateRequest { Selection = Stations("air-3"), Parameter = "pm25", Period = Period.Hour, From = day, To = day };
        var bucket = (await _client.AggregateAsync(request, Reader)).Stations[0].Buckets.Single(b => b.Start == hour.ToOffset(Seed.China).ToString("yyyy-MM-ddTHH:mm:sszzz"));
        Assert.Equal((true, 45, 20.0, 21.0), (bucket.Valid, bucket.Count, bucket.Min, bucket.Max));
        Assert.Equal((23 * 20 + 22 * 21) / 45.0, bucket.Mean, 9);
        async Task<long> ValidHoursOfTheDay()
        {
            using var influx = TestInfrastructure.Influx(_service.Database);
            var rows = await influx.QueryAsync("SELECT \"hours\" FROM \"reading_1d\" WHERE \"station\" = 'air-3'");
            return rows.SelectMany(x => x.Values).Single()[1].GetInt64();
        }
        Assert.Equal(1, await ValidHoursOfTheDay()); // the daily rollup follows the hourly one

        // The datalogger corrects one minute to "maintenance": 44 valid minutes, the hour is no longer valid.
        await gateway.PublishAsync(_service.ReadingsTopic("air-3"), $$$"""{"ts": {{{hour.AddMinutes(10).ToUnixTimeMilliseconds()}}}, "values": {"pm25": 20}, "flags": {"pm25": "M"}}""");
        await TestInfrastructure.EventuallyAsync(() => _service.Metrics.Acknowledgements >= 2, TimeSpan.FromSeconds(20), "the correction stored");
        await _service.RollupsCurrentAsync();
        bucket = (await _client.AggregateAsync(request, Reader)).Stations[0].Buckets.Single(b => b.Start == hour.ToOffset(Seed.China).ToString("yyyy-MM-ddTHH:mm:sszzz"));
        Assert.Equal((false, 44), (bucket.Valid, bucket.Count));
        Assert.Equal(0, await ValidHoursOfTheDay());
    }

    [Fact]
    public async Task Operators_rebuild_rollups_after_an_import_and_readers_may_not()
    {
        await Seed.WriteRawAsync(_service.Database, Seed.Day("air-2", "pm25", new DateOnly(2026, 1, 12), 55));
        var request = new AggregateRequest { Selection = Stations("air-2"), Parameter = "pm25", Period = Period.Day, From = "2026-01-12", To = "2026-01-12" };
        Assert.False((await _client.AggregateAsync(request, Reader)).Stations[0].Buckets[0].Valid); // imported around the service: no rollup yet

        var rebuild = new RebuildRollupsRequest { From = "2026-01-12", To = "2026-01-12" };
        var denied = await Assert.ThrowsAsync<RpcException>(() => _client.RebuildRollupsAsync(rebuild, Reader).ResponseAsync);
        Assert.Equal(StatusCode.PermissionDenied, denied.StatusCode);
        Assert.Contains("operator", denied.Status.Detail);

        await _client.RebuildRollupsAsync(rebuild, Seed.Key(ServiceUnderTest.OperatorKey));
        var day = (await _client.AggregateAsync(request, Reader)).Stations[0].Buckets[0];
        Assert.Equal((true, 55.0, 20), (day.Valid, day.Mean, day.Count));
    }

    [Fact]
    public async Task A_new_edition_of_a_standard_is_data_and_a_setting()
    {
        // An edition that asks 19 valid hours for a day instead of 20 (for the test), chosen by setting.
        var file = Path.Combine(Path.GetTempPath(), $"{_service.Prefix}-standards.json");
        await File.WriteAllTextAsync(file, """
            {"air": [{"name": "GB 3095-test", "minMinutesPerHour": 45, "minHoursPerDay": 19, "minDaysPerMonth": 27,
                      "minDaysPerFebruary": 25, "minDaysPerYear": 324,
                      "limits": {"pm25": {"annualGradeI": 15, "annualGradeII": 30, "dailyGradeI": 35, "dailyGradeII": 60}}}]}
            """);
        await using var service = new ServiceUnderTest(new() { ["Standards:File"] = file, ["Standards:Air"] = "GB 3095-test" });
        await service.StartAsync();
        await Seed.WriteAsync(service.Database, Seed.Day("air-1", "pm25", new DateOnly(2026, 1, 11), 50, hours: 19));
        using var channel = Seed.Channel(service);
        var r = await new QueryService.QueryServiceClient(channel).AggregateAsync(new AggregateRequest { Selection = Stations("air-1"), Parameter = "pm25", Period = Period.Day, From = "2026-01-11", To = "2026-01-11" }, Reader);
        Assert.Equal(("GB 3095-test", true, 19, 19), (r.Standard, r.Stations[0].Buckets[0].Valid, r.Stations[0].Buckets[0].Count, r.Stations[0].Buckets[0].Required));

        await using var unknown = new ServiceUnderTest(new() { ["Standards:Air"] = "GB 3095-2099" });
        var e = await Assert.ThrowsAnyAsync<Exception>(unknown.StartAsync);
        Assert.Contains("Standards:Air: no edition 'GB 3095-2099'; known: GB 3095-2012", e.ToString());
        File.Delete(file);
    }

    [Fact]
    public async Task Hourly_aqi_uses_the_valid_hours_and_names_missing_pollutants()
    {
        var hour = new DateTime(2026, 1, 16, 8, 0, 0);
        await Seed.WriteAsync(_service.Database, Seed.Hour("air-1", "pm25", hour, 45, 115)      // IAQI 150
            .Concat(Seed.Hour("air-1", "pm10", hour, 30, 400))                                   // 30 minutes: not a valid hour
            .Concat(Seed.Hour("air-1", "pm25", hour.AddHours(1), 50, 20)));                        // IAQI ceil(20 * 50 / 35) = 29
        var r = await _client.GetAqiAsync(new AqiRequest { Selection = Stations("air-1"), Period = Period.Hour, From = "2026-01-16", To = "2026-01-16" }, Reader);
        var values = r.Stations.Single().Values;
        Assert.Equal(["2026-01-16T08:00:00+08:00", "2026-01-16T09:00:00+08:00"], values.Select(v => v.Start));
        Assert.Equal((150, "轻度污染", "pm25"), (values[0].Aqi, values[0].CategoryZh, values[0].PrimaryPollutants.Single()));
        // A station measuring PM only: an AQI of what it has, marked partial, naming every item without a valid value.
        Assert.Equal(["co", "no2", "o3_1h", "o3_8h", "pm10", "so2"], values[0].Missing);
        Assert.True(values[0].Partial);
        Assert.Equal(("三级", "pm25_24h", "1-hour mean"), (values[0].Level, values[0].Items.Single().Table, values[0].Items.Single().Basis));
        Assert.Equal((29, "优"), (values[1].Aqi, values[1].CategoryZh));
        Assert.Empty(values[1].PrimaryPollutants);
        Assert.Equal("HJ 633-2012", r.Edition);
    }
}
