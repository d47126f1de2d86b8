using System.Globalization;
using EcoMonitor.Api.V1;
using EcoMonitor.Service.Storage;
using EcoMonitor.Service.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace EcoMonitor.Service.Tests;

/// <summary>The rollup stage: acknowledgements do not wait for the rollup, the durable dirty marks written with the
/// readings repair what a stopped or crashed instance left, and the figures are those of a recompute from the
/// stored data. Hours are recent ended hours; the expected figures are worked out from the values sent.</summary>
[Trait("Category", "Integration")]
public sealed class RollupStageIntegrationTests
{
    static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    /// <summary>A whole UTC hour (also a whole local hour) that ended three hours ago.</summary>
    static DateTimeOffset RecentHour() =>
        new DateTimeOffset(DateTime.UtcNow.Ticks / TimeSpan.TicksPerHour * TimeSpan.TicksPerHour, TimeSpan.Zero).AddHours(-3);

    /// <summary>pm25 = 10 + m at minute m of the hour, minutes 0..44: 45 minutes, mean 32, min 10, max 54.</summary>
    static string Pm25Message(DateTimeOffset hour, string extra = "") =>
        "[" + string.Join(",", Enumerable.Range(0, 45).Select(m => string.Create(CultureInfo.InvariantCulture,
            $$$"""{"ts": {{{hour.AddMinutes(m).ToUnixTimeMilliseconds()}}}, "values": {"pm25": {{{10 + m}}}{{{extra}}}}}"""))) + "]";

    /// <summary>The rollup's row of one station, parameter and hour: (minutes, mean, min, max), or null.</summary>
    static async Task<(long Minutes, double Mean, double Min, double Max)?> HourRowAsync(string database, string station, string parameter, DateTimeOffset hour)
    {
        using var influx = TestInfrastructure.Influx(database);
        var bind = new Dictionary<string, object> { ["s"] = station, ["p"] = parameter, ["t"] = hour.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture) };
        var series = await influx.QueryAsync("SELECT \"minutes\", \"mean\", \"min\", \"max\" FROM \"reading_1h\" WHERE \"station\" = $s AND \"parameter\" = $p AND time = $t", bind);
        var row = series.SelectMany(s => s.Rows()).SingleOrDefault();
        return row is null ? null : (row["minutes"].GetInt64(), row["mean"].GetDouble(), row["min"].GetDouble(), row["max"].GetDouble());
    }

    static async Task<long> CountAsync(string database, string query)
    {
        using var influx = TestInfrastructure.Influx(database);
        return (await influx.QueryAsync(query)).SelectMany(s => s.Values).Count();
    }

    static async Task<string> MetricsAsync(ServiceUnderTest service)
    {
        using var http = new HttpClient { BaseAddress = service.HttpAddress };
        return await http.GetStringAsync("/metrics");
    }

    static string? Metric(string text, string name) =>
        text.Split('\n').FirstOrDefault(l => l.StartsWith(name + " ", StringComparison.Ordinal))?[(name.Length + 1)..];

    [Fact]
    public async Task Acknowledged_batches_are_rolled_up_by_the_stage_their_marks_deleted_and_the_lag_reported()
    {
        await using var service = new ServiceUnderTest();
        await service.StartAsync();
        var hour = RecentHour();
        await using var gateway = await TestMqttClient.ConnectAsync();
        await gateway.PublishAsync(service.ReadingsTopic("air-1"), Pm25Message(hour, ", \"no2\": 40"));
        await TestInfrastructure.EventuallyAsync(() => service.Metrics.Acknowledgements == 1, Wait, "the message acknowledged");
        await service.RollupsCurrentAsync();

        Assert.Equal((45L, 32.0, 10.0, 54.0), await HourRowAsync(service.Database, "air-1", "pm25", hour));
        Assert.Equal((45L, 40.0, 40.0, 40.0), await HourRowAsync(service.Database, "air-1", "no2", hour));
        Assert.Equal(0, await CountAsync(service.Database, "SELECT * FROM \"rollup_dirty\"")); // done: marks deleted
        var metrics = await MetricsAsync(service);
        Assert.Equal("2", Metric(metrics, "ecomonitor_rollup_hours_recomputed_total")); // pm25 and no2 of one hour
        Assert.Equal("1", Metric(metrics, "ecomonitor_rollup_lag_seconds_count")); // one batch
        Assert.Equal("0", Metric(metrics, "ecomonitor_rollup_pending_hours"));
        Assert.Equal("0", Metric(metrics, "ecomonitor_rollup_failures_total"));
        var p99 = double.Parse(Metric(metrics, "ecomonitor_rollup_lag_recent_seconds{quantile=\"0.99\"}")!, CultureInfo.InvariantCulture);
        Assert.InRange(p99, 0, Wait.TotalSeconds);
    }

    [Fact]
    public async Task Readings_are_acknowledged_and_stored_while_the_rollup_is_held_back_and_the_next_start_catches_up_exactly()
    {
        var hour = RecentHour();
        await using var ingestOnly = new ServiceUnderTest(new() { ["Rollup:Enabled"] = "false" });
        await ingestOnly.StartAsync();
        await using (var gateway = await TestMqttClient.ConnectAsync())
            await gateway.PublishAsync(ingestOnly.ReadingsTopic("air-1"), Pm25Message(hour));
        await TestInfrastructure.EventuallyAsync(() => ingestOnly.Metrics.Acknowledgements == 1, Wait, "the message acknowledged without a rollup");
        Assert.Equal(45, await CountAsync(ingestOnly.Database, "SELECT \"value\" FROM \"reading\""));
        Assert.Null(await HourRowAsync(ingestOnly.Database, "air-1", "pm25", hour));
        using (var influx = TestInfrastructure.Influx(ingestOnly.Database))
        {
            var mark = (await influx.QueryAsync("SELECT \"keys\", \"station\" FROM \"rollup_dirty\"")).SelectMany(s => s.Rows()).Single();
            Assert.Equal(($"pm25@{hour.ToUnixTimeMilliseconds()}", "air-1"), (mark["keys"].GetString(), mark["station"].GetString()));
        }
        await ingestOnly.StopAsync();

        // The next instance on the same database takes the marks over at start.
        await using var next = new ServiceUnderTest(new() { ["Influx:Database"] = ingestOnly.Database });
        await next.StartAsync();
        await next.RollupsCurrentAsync();
        var client = new QueryService.QueryServiceClient(Seed.Channel(next));
        var day = hour.ToOffset(Seed.China).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        var selection = new Selection();
        selection.StationIds.Add("air-1");
        var bucket = (await client.AggregateAsync(new AggregateRequest { Selection = selection, Parameter = "pm25", Period = Period.Hour, From = day, To = day },
            Seed.Key(ServiceUnderTest.ReaderKey))).Stations[0].Buckets
            .Single(b => b.Start == hour.ToOffset(Seed.China).ToString("yyyy-MM-ddTHH:mm:sszzz", CultureInfo.InvariantCulture));
        Assert.Equal((true, 45, 32.0, 10.0, 54.0), (bucket.Valid, bucket.Count, bucket.Mean, bucket.Min, bucket.Max));
        Assert.Equal(0, await CountAsync(ingestOnly.Database, "SELECT * FROM \"rollup_dirty\""));
        Assert.Equal("1", Metric(await MetricsAsync(next), "ecomonitor_rollup_hours_repaired_total"));
    }

    [Fact]
    public async Task Marks_a_crashed_instance_left_are_rolled_up_at_start_one_station_per_query_and_only_the_marked_hours()
    {
        // What a crash between the write and the rollup leaves: readings and their marks, no rollup.
        var hour = RecentHour();
        await using var service = new ServiceUnderTest(new() { ["Rollup:StationsPerQuery"] = "1" });
        var lines = new List<string>();
        lines.AddRange(Enumerable.Range(0, 45).Select(m => Seed.Line("air-1", "pm25", hour.AddMinutes(m), 10 + m)));
        lines.AddRange(Enumerable.Range(0, 30).Select(m => Seed.Line("air-2", "no2", hour.AddMinutes(m), 40)));
        lines.AddRange(Enumerable.Range(0, 45).Select(m => Seed.Line("air-3", "pm25", hour.AddMinutes(m), 50)));
        lines.Add(Seed.Line("air-3", "pm25", hour.AddSeconds(30), 70)); // minute 0: (50 + 70) / 2 = 60
        lines.AddRange(Enumerable.Range(0, 45).Select(m => Seed.Line("air-1", "pm25", hour.AddHours(-1).AddMinutes(m), 99))); // stored, not marked
        var sequence = DateTimeOffset.UtcNow.AddMinutes(-10).ToUnixTimeMilliseconds();
        lines.AddRange(RollupMarkSchema.ToLineProtocol("crashed0", sequence,
            [("air-1", "pm25", hour), ("air-2", "no2", hour), ("air-3", "pm25", hour)]));
        await Seed.WriteRawAsync(service.Database, lines);

        await service.StartAsync();
        await service.RollupsCurrentAsync();

        Assert.Equal((45L, 32.0, 10.0, 54.0), await HourRowAsync(service.Database, "air-1", "pm25", hour));
        Assert.Equal((30L, 40.0, 40.0, 40.0), await HourRowAsync(service.Database, "air-2", "no2", hour));
        var air3 = await HourRowAsync(service.Database, "air-3", "pm25", hour);
        Assert.Equal((45L, 50.0, 60.0), (air3!.Value.Minutes, air3.Value.Min, air3.Value.Max));
        Assert.Equal((44 * 50 + 60) / 45.0, air3.Value.Mean, 9);
        Assert.Null(await HourRowAsync(service.Database, "air-1", "pm25", hour.AddHours(-1))); // work follows the marks, not the history
        Assert.Equal(0, await CountAsync(service.Database, "SELECT * FROM \"rollup_dirty\""));
        var metrics = await MetricsAsync(service);
        Assert.Equal("3", Metric(metrics, "ecomonitor_rollup_hours_repaired_total"));
        Assert.Equal("3", Metric(metrics, "ecomonitor_rollup_hours_recomputed_total"));
    }

    [Fact]
    public async Task Beyond_Rollup_MaxPendingHours_the_stage_takes_the_hours_from_the_durable_marks()
    {
        // One message touching 1,200 hours (pm25 and pm10 in each of 600 hours over 25 days) against a bound of 1,000:
        // the hours are left to the marks (two lines of at most 1,000 keys), read back and rolled up, 25 local days.
        await using var service = new ServiceUnderTest(new() { ["Rollup:MaxPendingHours"] = "1000", ["Ingestion:MaxReadingsPerMessage"] = "5000" });
        await service.StartAsync();
        var last = RecentHour();
        var entries = Enumerable.Range(0, 600).Select(i => string.Create(CultureInfo.InvariantCulture,
            $$$"""{"ts": {{{last.AddHours(-i).ToUnixTimeMilliseconds()}}}, "values": {"pm25": {{{i % 100 + 1}}}, "pm10": {{{2 * (i % 100) + 1}}}}}"""));
        await using var gateway = await TestMqttClient.ConnectAsync();
        await gateway.PublishAsync(service.ReadingsTopic("air-1"), "[" + string.Join(",", entries) + "]");
        await TestInfrastructure.EventuallyAsync(() => service.Metrics.Acknowledgements == 1, Wait, "the message acknowledged");
        await service.RollupsCurrentAsync();

        using var influx = TestInfrastructure.Influx(service.Database);
        var hours = (await influx.QueryAsync("SELECT \"minutes\", \"mean\", \"min\", \"max\" FROM \"reading_1h\" WHERE \"station\" = 'air-1' GROUP BY \"parameter\""))
            .SelectMany(series => series.Rows().Select(r => (Parameter: series.Tags["parameter"], Time: DateTimeOffset.FromUnixTimeMilliseconds(r["time"].GetInt64()),
                Figures: (r["minutes"].GetInt64(), r["mean"].GetDouble(), r["min"].GetDouble(), r["max"].GetDouble()))))
            .ToDictionary(h => (h.Parameter, h.Time), h => h.Figures);
        Assert.Equal(1200, hours.Count);
        for (var i = 0; i < 600; i++)
        {
            double pm25 = i % 100 + 1, pm10 = 2 * (i % 100) + 1;
            Assert.Equal((1L, pm25, pm25, pm25), hours[("pm25", last.AddHours(-i))]);
            Assert.Equal((1L, pm10, pm10, pm10), hours[("pm10", last.AddHours(-i))]);
        }
        Assert.Equal(0, await CountAsync(service.Database, "SELECT * FROM \"rollup_dirty\""));
        var metrics = await MetricsAsync(service);
        Assert.Equal("1200", Metric(metrics, "ecomonitor_rollup_hours_repaired_total"));
        Assert.Equal("0", Metric(metrics, "ecomonitor_rollup_failures_total"));
    }

    [Theory]
    [InlineData("Rollup:StationsPerQuery", "0", "StationsPerQuery")]
    [InlineData("Rollup:MaxPendingHours", "10", "MaxPendingHours")]
    [InlineData("Rollup:MaxDaysPerQuery", "0", "MaxDaysPerQuery")]
    [InlineData("Rollup:MaxHoursPerQuery", "10", "MaxHoursPerQuery")]
    [InlineData("Rollup:RepairInterval", "00:00:00.500", "Rollup:RepairInterval")]
    [InlineData("Rollup:OrphanAfter", "00:00:04", "Rollup:OrphanAfter")]
    [InlineData("Rollup:Enabled", "sometimes", "Rollup:Enabled")]
    public async Task Invalid_rollup_setting_stops_the_start_and_is_named(string key, string value, string named)
    {
        await using var service = new ServiceUnderTest(new() { [key] = value });
        var e = Assert.IsType<Microsoft.Extensions.Options.OptionsValidationException>(await Assert.ThrowsAnyAsync<Exception>(service.StartAsync));
        Assert.Contains(named, string.Join(" ", e.Failures));
    }

    [Fact]
    public void Marks_of_a_long_backlog_are_split_under_InfluxDBs_string_limit_and_parse_back()
    {
        var start = new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero);
        var hours = Enumerable.Range(0, 2500).Select(h => ("air-1", h % 2 == 0 ? "pm25" : "no2", start.AddHours(h / 2))).ToList();
        hours.Add(("air 2,x=y", "so2", start)); // a station id that needs escaping in a tag
        Assert.Equal(3, RollupMarkSchema.Span(hours));
        var lines = RollupMarkSchema.ToLineProtocol("w1", 1_000, hours).ToList();
        Assert.Equal(4, lines.Count); // air-1: 1000 + 1000 + 500 keys at 1000, 1001, 1002 ms; the other station: one line
        Assert.Equal(["1000", "1001", "1002", "1000"], lines.Select(l => l[(l.LastIndexOf(' ') + 1)..]));
        Assert.All(lines, l => Assert.True(l.Length < 64 * 1024));
        Assert.Equal([("air-1", "pm25", start), ("air-1", "no2", start.AddHours(1))],
            RollupMarkSchema.Parse("air-1", $"pm25@{start.ToUnixTimeMilliseconds()} no2@{start.AddHours(1).ToUnixTimeMilliseconds()} broken@x"));
    }

    /// <summary>Answers no /query that names two or more stations within Influx:Timeout (holds it 10 s): a loaded
    /// InfluxDB that cannot answer a whole chunk in time. Queries of one station pass straight through.</summary>
    sealed class SlowMultiStationQueries() : DelegatingHandler(new SocketsHttpHandler())
    {
        int _held;

        public int Held => Volatile.Read(ref _held);

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
        {
            if (request.RequestUri!.AbsolutePath.EndsWith("/query", StringComparison.Ordinal) && request.Content is { } content
                && Uri.UnescapeDataString((await content.ReadAsStringAsync(ct)).Replace('+', ' ')).Contains("\"station\" = $s1", StringComparison.Ordinal))
            {
                Interlocked.Increment(ref _held);
                await Task.Delay(TimeSpan.FromSeconds(10), ct);
            }
            return await base.SendAsync(request, ct);
        }
    }

    [Fact]
    public async Task A_chunk_that_gets_no_answer_within_the_timeout_is_split_until_its_stations_are_rolled_up()
    {
        var hour = RecentHour();
        await using var ingestOnly = new ServiceUnderTest(new() { ["Rollup:Enabled"] = "false" });
        await ingestOnly.StartAsync();
        await using (var gateway = await TestMqttClient.ConnectAsync())
        {
            await gateway.PublishAsync(ingestOnly.ReadingsTopic("air-1"), Pm25Message(hour));
            await gateway.PublishAsync(ingestOnly.ReadingsTopic("air-2"), Pm25Message(hour));
        }
        await TestInfrastructure.EventuallyAsync(() => ingestOnly.Metrics.Acknowledgements == 2, Wait, "both messages acknowledged without a rollup");
        await ingestOnly.StopAsync();

        // The next instance takes both stations' marks over at start: one chunk of two stations, too slow as a whole.
        var slow = new SlowMultiStationQueries();
        await using var next = new ServiceUnderTest(new() { ["Influx:Database"] = ingestOnly.Database, ["Influx:Timeout"] = "00:00:02" },
            services => services.AddSingleton(sp => new InfluxConnection(sp.GetRequiredService<IOptions<Hosting.InfluxSettings>>(), slow)));
        await next.StartAsync();
        await next.RollupsCurrentAsync();
        Assert.True(slow.Held >= 1, "the two stations were first asked for in one query");
        Assert.Equal((45L, 32.0, 10.0, 54.0), await HourRowAsync(ingestOnly.Database, "air-1", "pm25", hour));
        Assert.Equal((45L, 32.0, 10.0, 54.0), await HourRowAsync(ingestOnly.Database, "air-2", "pm25", hour));
        var metrics = await MetricsAsync(next);
        Assert.Equal("2", Metric(metrics, "ecomonitor_rollup_hours_repaired_total"));
        Assert.True(long.Parse(Metric(metrics, "ecomonitor_rollup_failures_total")!, CultureInfo.InvariantCulture) >= 1, "the timed-out chunk counted as a failure");
    }
}

/// <summary>The service as its own process killed with SIGKILL between storing readings and rolling them up: the
/// next process rolls them up at start from the durable marks, with the figures worked out from what was sent.</summary>
[Trait("Category", "Integration")]
[Collection(ProcessFaultTests.Collection)]
public sealed class RollupCrashTests
{
    static readonly TimeSpan Wait = TimeSpan.FromSeconds(40);

    static async Task<long> CountAsync(string database, string query)
    {
        using var influx = TestInfrastructure.Influx(database);
        return (await influx.QueryAsync(query)).SelectMany(s => s.Values).Count();
    }

    /// <summary>(minutes, mean, min, max) of one hour of reading_1h, or null.</summary>
    static async Task<(long, double, double, double)?> HourAsync(string database, string station, string parameter, DateTimeOffset hour)
    {
        using var influx = TestInfrastructure.Influx(database);
        var bind = new Dictionary<string, object> { ["s"] = station, ["p"] = parameter, ["t"] = hour.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture) };
        var row = (await influx.QueryAsync("SELECT \"minutes\", \"mean\", \"min\", \"max\" FROM \"reading_1h\" WHERE \"station\" = $s AND \"parameter\" = $p AND time = $t", bind))
            .SelectMany(s => s.Rows()).SingleOrDefault();
        return row is null ? null : (row["minutes"].GetInt64(), row["mean"].GetDouble(), row["min"].GetDouble(), row["max"].GetDouble());
    }

    [Fact]
    public async Task A_service_killed_between_the_write_and_the_rollup_leaves_marks_the_next_process_rolls_up()
    {
        var hour = new DateTimeOffset(DateTime.UtcNow.Ticks / TimeSpan.TicksPerHour * TimeSpan.TicksPerHour, TimeSpan.Zero).AddHours(-4);
        // First process: stores and acknowledges, its rollup held back (the widest window between write and rollup).
        await using var first = new ServiceProcess(TestInfrastructure.MqttPort, TestInfrastructure.InfluxUrl, new() { ["Rollup:Enabled"] = "false" });
        await first.StartAsync();
        await using var gateway = await TestMqttClient.ConnectAsync();
        // air-1: pm25 = 10 + m for minutes 0..44 in one message: hour (45, 32, 10, 54).
        await gateway.PublishAsync(first.ReadingsTopic("air-1"), "[" + string.Join(",", Enumerable.Range(0, 45).Select(m => string.Create(CultureInfo.InvariantCulture,
            $$$"""{"ts": {{{hour.AddMinutes(m).ToUnixTimeMilliseconds()}}}, "values": {"pm25": {{{10 + m}}}}}"""))) + "]");
        await TestInfrastructure.EventuallyAsync(async () => await first.MetricAsync("ecomonitor_messages_acknowledged_total") == 1, Wait, "the message acknowledged");
        Assert.Equal(1, await CountAsync(first.Database, "SELECT * FROM \"rollup_dirty\""));
        Assert.Equal(0, await CountAsync(first.Database, "SELECT * FROM \"reading_1h\""));
        await first.KillAsync();

        // Second process, rollups on: 60 one-minute messages of air-2 (no2 = m at minute m: hour (60, 29.5, 0, 59)),
        // killed as soon as they are acknowledged, whether or not its stage got to them.
        await using var second = new ServiceProcess(TestInfrastructure.MqttPort, TestInfrastructure.InfluxUrl, new() { ["Influx:Database"] = first.Database });
        await second.StartAsync();
        for (var m = 0; m < 60; m++)
            await gateway.PublishAsync(second.ReadingsTopic("air-2"), string.Create(CultureInfo.InvariantCulture,
                $$$"""{"ts": {{{hour.AddMinutes(m).ToUnixTimeMilliseconds()}}}, "values": {"no2": {{{m}}}}}"""));
        await TestInfrastructure.EventuallyAsync(async () => await second.MetricAsync("ecomonitor_messages_acknowledged_total") == 60, Wait, "60 messages acknowledged");
        await second.KillAsync();

        // Third process: every hour rolled up exactly, no mark left.
        await using var third = new ServiceProcess(TestInfrastructure.MqttPort, TestInfrastructure.InfluxUrl, new() { ["Influx:Database"] = first.Database });
        await third.StartAsync();
        await TestInfrastructure.EventuallyAsync(async () => await CountAsync(first.Database, "SELECT * FROM \"rollup_dirty\"") == 0, Wait, "every mark rolled up");
        Assert.Equal((45L, 32.0, 10.0, 54.0), await HourAsync(first.Database, "air-1", "pm25", hour));
        Assert.Equal((60L, 29.5, 0.0, 59.0), await HourAsync(first.Database, "air-2", "no2", hour));
    }

    /// <summary>Holds the first /write that carries a daily rollup line until released: the writer has read the
    /// day's hours and is about to write its day line when another writer goes ahead. Everything else passes straight
    /// to the real InfluxDB.</summary>
    sealed class HoldFirstDayLine() : DelegatingHandler(new SocketsHttpHandler())
    {
        readonly TaskCompletionSource _held = new(TaskCreationOptions.RunContinuationsAsynchronously);
        readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
        int _seen;

        public Task Held => _held.Task;

        public void Release() => _release.TrySetResult();

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
        {
            if (request.Method == HttpMethod.Post && request.RequestUri!.AbsolutePath.EndsWith("/write", StringComparison.Ordinal)
                && request.Content is { } content && (await content.ReadAsStringAsync(ct)).Contains(HourlyRollup.DailyMeasurement + ",", StringComparison.Ordinal)
                && Interlocked.Increment(ref _seen) == 1)
            {
                _held.TrySetResult();
                await _release.Task.WaitAsync(ct);
            }
            return await base.SendAsync(request, ct);
        }
    }

    /// <summary>A database with 45 minutes of pm25 of air-1 in two hours of one local day: hour 1 = 10 + m at minute m
    /// (mean 32), hour 2 = 100 every minute (mean 100). Returns the two hours.</summary>
    static async Task<(DateTimeOffset First, DateTimeOffset Second)> SeedTwoHoursAsync(string database)
    {
        var day = Domain.ChinaTime.DayStartOf(DateTimeOffset.UtcNow.AddDays(-2));
        var (first, second) = (day.AddHours(2), day.AddHours(5));
        using var influx = TestInfrastructure.Influx(database);
        await influx.QueryAsync($"CREATE DATABASE \"{database}\"", post: true);
        var lines = Enumerable.Range(0, 45).SelectMany(m => new[]
        {
            ReadingSchema.ToLineProtocol(new Domain.Reading("air-1", "pm25", first.AddMinutes(m), 10 + m, "N")),
            ReadingSchema.ToLineProtocol(new Domain.Reading("air-1", "pm25", second.AddMinutes(m), 100, "N")),
        });
        using var response = await influx.Http.PostAsync(influx.WriteUrl, new StringContent(string.Join('\n', lines)));
        response.EnsureSuccessStatusCode();
        return (first, second);
    }

    /// <summary>The daily rollup of air-1's pm25 on the local day of <paramref name="hour"/>: (hours, mean, min, max).</summary>
    static async Task<(long Hours, double Mean, double Min, double Max)> DayRowAsync(string database, DateTimeOffset hour)
    {
        using var influx = TestInfrastructure.Influx(database);
        var bind = new Dictionary<string, object> { ["t"] = Domain.ChinaTime.Utc(Domain.ChinaTime.DayStartOf(hour)) };
        var series = await influx.QueryAsync("SELECT \"hours\", \"mean\", \"min\", \"max\" FROM \"reading_1d\" WHERE \"station\" = 'air-1' AND \"parameter\" = 'pm25' AND time = $t", bind);
        var row = series.SelectMany(s => s.Rows()).Single();
        return (row["hours"].GetInt64(), row["mean"].GetDouble(), row["min"].GetDouble(), row["max"].GetDouble());
    }

    /// <summary>Two writers (two instances' rollup stages) recompute different hours of the same station-day at the
    /// same moment, in the order that loses an hour: A writes hour 1 and reads the day (hour 2 not rolled up yet), B
    /// writes hour 2, reads the day (with hour 1) and writes its day line, and only then A's day line lands. Without
    /// the check after the write (verifyDays false) the day is left with hour 1 alone: the race is real. With it (as
    /// the stage runs with Mqtt:SharedGroup), A reads the day again after its write, finds hour 2 and writes the day
    /// once more: the day equals the single writer's, 2 hours, mean (32 + 100) / 2 = 66, min 32, max 100.</summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Two_writers_of_one_station_day_lose_an_hour_of_the_daily_rollup_without_the_day_check_and_equal_a_single_writer_with_it(bool verifyDays)
    {
        var database = TestInfrastructure.UniqueName("rollrace");
        var single = TestInfrastructure.UniqueName("rollsingle");
        var (first, second) = await SeedTwoHoursAsync(database);
        await SeedTwoHoursAsync(single);
        using var timeout = new CancellationTokenSource(Wait);
        try
        {
            using var hold = new HoldFirstDayLine();
            using var viaHold = new InfluxConnection(Microsoft.Extensions.Options.Options.Create(
                new Hosting.InfluxSettings { Url = TestInfrastructure.InfluxUrl, Database = database }), hold);
            using var direct = TestInfrastructure.Influx(database);
            var a = new HourlyRollup(viaHold);
            var b = new HourlyRollup(direct);

            var writingA = a.UpdateHoursAsync([("air-1", "pm25", first)], timeout.Token, verifyDays);
            await hold.Held.WaitAsync(timeout.Token); // A has written hour 1 and read the day without hour 2
            await b.UpdateHoursAsync([("air-1", "pm25", second)], timeout.Token, verifyDays);
            hold.Release(); // A's day line lands after B's
            await writingA;

            using var singleInflux = TestInfrastructure.Influx(single);
            await new HourlyRollup(singleInflux).UpdateHoursAsync([("air-1", "pm25", first), ("air-1", "pm25", second)], timeout.Token);
            Assert.Equal((2L, 66.0, 32.0, 100.0), await DayRowAsync(single, first));
            if (verifyDays)
                Assert.Equal(await DayRowAsync(single, first), await DayRowAsync(database, first));
            else
                Assert.Equal((1L, 32.0, 32.0, 32.0), await DayRowAsync(database, first)); // the stale day line won
        }
        finally
        {
            foreach (var name in new[] { database, single })
            {
                using var influx = TestInfrastructure.Influx(name);
                await influx.QueryAsync($"DROP DATABASE \"{name}\"", post: true);
            }
        }
    }
}
