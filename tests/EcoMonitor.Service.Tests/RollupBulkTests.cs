using System.Globalization;
using EcoMonitor.Domain;
using EcoMonitor.Service.Storage;
using EcoMonitor.Service.Tests.Support;

namespace EcoMonitor.Service.Tests;

/// <summary>A backlog of many days handed to the rollup stage (the durable marks of a bulk load) is rolled up in
/// recomputes of consecutive days (Rollup:MaxDaysPerQuery), with exactly the figures of the full rebuild.</summary>
[Trait("Category", "Integration")]
public sealed class RollupBulkTests
{
    /// <summary>First local day of the 40 consecutive ones; the isolated day is 60 days before it.</summary>
    static readonly DateTime FirstDay = new(2025, 3, 1);

    static readonly int[] Days = [-60, .. Enumerable.Range(0, 40)];

    static DateTimeOffset Local(int day, int hour) => new(FirstDay.AddDays(day).AddHours(hour), Seed.China);

    static string Stat(string station, string parameter, string period, DateTimeOffset t, double avg, string flag = "N") =>
        string.Create(CultureInfo.InvariantCulture, $"stat,station={station},parameter={parameter},period={period} avg={avg},flag=\"{flag}\" {t.ToUnixTimeMilliseconds()}");

    /// <summary>Per day 7 hours of 4 station-parameters: air-1 pm25 readings (00:00 and 13:00, 45 minutes each), air-1
    /// wdir readings around north (05:00, 50 minutes), air-2 pm25 station hourly values (02:00-04:00, 04:00 flagged D
    /// every fifth day) with readings under 03:00 that the station's value overrides, air-2 no2 readings (07:00, 60
    /// minutes at 30) of which the station's minute means (minutes 0-29 at 40) win: mean 35 over 60 minutes.</summary>
    static IEnumerable<string> DayLines(int d)
    {
        foreach (var h in new[] { 0, 13 })
            for (var m = 0; m < 45; m++)
                yield return Seed.Line("air-1", "pm25", Local(d, h).AddMinutes(m), 10 + Math.Abs(d) % 7 + m % 5);
        for (var m = 0; m < 50; m++)
            yield return Seed.Line("air-1", "wdir", Local(d, 5).AddMinutes(m), (350 + 2 * m + Math.Abs(d) % 3) % 360);
        for (var h = 2; h <= 4; h++)
            yield return Stat("air-2", "pm25", "hour", Local(d, h), 20 + h + Math.Abs(d) % 3, h == 4 && d % 5 == 0 ? "D" : "N");
        for (var m = 0; m < 45; m++)
            yield return Seed.Line("air-2", "pm25", Local(d, 3).AddMinutes(m), 99);
        for (var m = 0; m < 60; m++)
            yield return Seed.Line("air-2", "no2", Local(d, 7).AddMinutes(m), 30);
        for (var m = 0; m < 30; m++)
            yield return Stat("air-2", "no2", "minute", Local(d, 7).AddMinutes(m), 40);
    }

    static IEnumerable<(string StationId, string Parameter, DateTimeOffset Hour)> DayHours(int d) =>
    [
        ("air-1", "pm25", Local(d, 0)), ("air-1", "pm25", Local(d, 13)), ("air-1", "wdir", Local(d, 5)),
        ("air-2", "pm25", Local(d, 2)), ("air-2", "pm25", Local(d, 3)), ("air-2", "pm25", Local(d, 4)), ("air-2", "no2", Local(d, 7)),
    ];

    static string Tags(IReadOnlyDictionary<string, string> tags) => string.Join(",", tags.OrderBy(t => t.Key, StringComparer.Ordinal).Select(t => $"{t.Key}={t.Value}"));

    /// <summary>Every line of a rollup measurement, in a stable order (series, then time).</summary>
    static async Task<List<string>> RowsAsync(string database, string measurement)
    {
        using var influx = TestInfrastructure.Influx(database);
        return [.. (await influx.QueryAsync($"SELECT * FROM \"{measurement}\" GROUP BY *"))
            .OrderBy(s => Tags(s.Tags), StringComparer.Ordinal)
            .SelectMany(s => s.Rows().Select(r => Tags(s.Tags) + " " +
                string.Join(",", r.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => $"{c.Key}={c.Value.GetRawText()}"))))];
    }

    [Fact]
    public async Task A_backlog_of_41_days_is_rolled_up_in_three_recomputes_with_the_figures_of_the_full_rebuild()
    {
        var lines = Days.SelectMany(DayLines).ToList();

        // Reference: the full rebuild (RebuildRollups) over the same data in a database of its own.
        var reference = TestInfrastructure.UniqueName("rollup_ref");
        await Seed.WriteAsync(reference, lines);

        // The stage: the data with the marks a bulk load leaves (one writer, gone), taken over at start.
        await using var service = new ServiceUnderTest();
        var marks = RollupMarkSchema.ToLineProtocol("bulkload", DateTimeOffset.UtcNow.AddMinutes(-10).ToUnixTimeMilliseconds(), Days.SelectMany(DayHours));
        await Seed.WriteRawAsync(service.Database, lines.Concat(marks));
        await service.StartAsync();
        await service.RollupsCurrentAsync();

        var hours = await RowsAsync(service.Database, HourlyRollup.Measurement);
        var days = await RowsAsync(service.Database, HourlyRollup.DailyMeasurement);
        Assert.Equal(41 * 7, hours.Count);
        Assert.Equal(41 * 4, days.Count);
        Assert.Equal(await RowsAsync(reference, HourlyRollup.Measurement), hours);
        Assert.Equal(await RowsAsync(reference, HourlyRollup.DailyMeasurement), days);
        Assert.Contains(hours, h => h.StartsWith("parameter=no2,station=air-2 ", StringComparison.Ordinal) && h.Contains("mean=35,", StringComparison.Ordinal)
            && h.Contains("minutes=60,", StringComparison.Ordinal));

        // The isolated day alone, then days 0-30 (Rollup:MaxDaysPerQuery = 31), then days 31-39: three recomputes,
        // where one per day would take 41; no query spans the 59 days of nothing between the isolated day and day 0.
        Assert.Equal(41 * 7, service.Rollups.HoursRecomputed);
        Assert.Equal(3, service.Rollups.Recomputes);
        Assert.Equal(0, service.Rollups.Failures);
    }

    [Fact]
    public void The_plan_cuts_at_gaps_at_Rollup_MaxDaysPerQuery_and_at_Rollup_MaxHoursPerQuery_and_keeps_one_day_per_recompute_at_1()
    {
        var keys = Days.SelectMany(DayHours).ToList();
        static string Span(List<(string StationId, string Parameter, DateTimeOffset Hour)> r) =>
            $"{r.Min(k => k.Hour.ToOffset(Seed.China)):MM-dd}..{r.Max(k => k.Hour.ToOffset(Seed.China)):MM-dd}:{r.Count}";

        Assert.Equal(["12-31..12-31:7", "03-01..03-31:217", "04-01..04-09:63"],
            RollupStage.Plan(keys, stationsPerQuery: 200, maxDays: 31, maxHours: 100_000).Select(Span));
        // One station per recompute: each station's days are planned on their own.
        Assert.Equal(["12-31..12-31:3", "12-31..12-31:4", "03-01..03-31:93", "03-01..03-31:124", "04-01..04-09:27", "04-01..04-09:36"],
            RollupStage.Plan(keys, stationsPerQuery: 1, maxDays: 31, maxHours: 100_000).Select(Span));
        // 7 hours a day, at most 50 hours: 7 days a recompute.
        Assert.Equal(["12-31..12-31:7", "03-01..03-07:49", "03-08..03-14:49", "03-15..03-21:49", "03-22..03-28:49", "03-29..03-31:21", "04-01..04-07:49", "04-08..04-09:14"],
            RollupStage.Plan(keys, stationsPerQuery: 200, maxDays: 31, maxHours: 50).Select(Span));
        Assert.Equal(41, RollupStage.Plan(keys, stationsPerQuery: 200, maxDays: 1, maxHours: 100_000).Count());
        Assert.All(RollupStage.Plan(keys, 200, 1, 100_000), r => Assert.Single(r.Select(k => ChinaTime.DayStartOf(k.Hour)).Distinct()));
    }
}
