using System.Globalization;
using EcoMonitor.Service.Storage;
using EcoMonitor.Service.Tests.Support;

namespace EcoMonitor.Service.Tests;

/// <summary>With Rollup:RecentHours (on by default) the stage keeps the minutes of the hours it computed and reads
/// only the minutes whose readings changed since. After every step of a live feed (new minutes, several readings in
/// a minute, a re-sent value, a re-sent minute now flagged invalid, a late older hour, the station's own minute mean,
/// a new station, wind directions) the hourly rollup must be exactly what a full recompute of what is stored gives:
/// the stored readings are copied into a database of their own and rebuilt there (RebuildRollups' path, which reads
/// every hour whole).</summary>
[Trait("Category", "Integration")]
public sealed class RecentHoursTests
{
    static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    static readonly DateTimeOffset H2 = new DateTimeOffset(DateTime.UtcNow.Ticks / TimeSpan.TicksPerHour * TimeSpan.TicksPerHour, TimeSpan.Zero).AddHours(-2);
    static readonly DateTimeOffset H1 = H2.AddHours(-1);

    static string Reading(DateTimeOffset t, string values, string? flags = null) =>
        string.Create(CultureInfo.InvariantCulture, $$"""{"ts": {{t.ToUnixTimeMilliseconds()}}, "values": {{{values}}}{{(flags is null ? "" : $", \"flags\": {{{flags}}}")}}}""");

    static string Minutes(DateTimeOffset hour, int from, int to, Func<int, string> values) =>
        "[" + string.Join(",", Enumerable.Range(from, to - from).Select(m => Reading(hour.AddMinutes(m), values(m)))) + "]";

    static string Pm25(int m) => string.Create(CultureInfo.InvariantCulture, $"\"pm25\": {Math.Round(20 + 17.3 * Math.Sin(m / 3.0), 6)}, \"wdir\": {(350 + 7 * m) % 360}");

    /// <summary>The rollup's hours as text (doubles as their exact shortest form), for the stations of the test.</summary>
    static async Task<List<string>> HoursAsync(string database)
    {
        using var influx = TestInfrastructure.Influx(database);
        return [.. (await influx.QueryAsync("SELECT \"minutes\", \"mean\", \"min\", \"max\", \"source\" FROM \"reading_1h\" GROUP BY \"station\", \"parameter\""))
            .SelectMany(s => s.Rows().Select(r => string.Join(" ", s.Tags["station"], s.Tags["parameter"],
                string.Join(",", r.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => $"{c.Key}={c.Value.GetRawText()}")))))
            .Order(StringComparer.Ordinal)];
    }

    /// <summary>The full recompute of what the service stored: readings and statistics copied into a new database,
    /// rolled up there by RebuildAsync.</summary>
    static async Task<List<string>> ReferenceAsync(string database)
    {
        var reference = TestInfrastructure.UniqueName("recent_ref");
        await Seed.WriteRawAsync(reference, []);
        using (var influx = TestInfrastructure.Influx(database))
        {
            await influx.QueryAsync($"SELECT * INTO \"{reference}\".\"autogen\".\"reading\" FROM \"reading\" GROUP BY *", post: true);
            await influx.QueryAsync($"SELECT * INTO \"{reference}\".\"autogen\".\"stat\" FROM \"stat\" GROUP BY *", post: true);
        }
        using var target = TestInfrastructure.Influx(reference);
        await new HourlyRollup(target).RebuildAsync(H1.AddHours(-1), H2.AddHours(2), CancellationToken.None);
        return await HoursAsync(reference);
    }

    [Fact]
    public async Task After_every_step_of_a_live_feed_the_hours_are_those_of_a_full_recompute_and_a_changed_minute_is_all_that_is_read()
    {
        await using var service = new ServiceUnderTest();
        await service.StartAsync();
        await using var gateway = await TestMqttClient.ConnectAsync();
        var acknowledged = 0;
        async Task StepAsync(string station, string payload, string what)
        {
            await gateway.PublishAsync(service.ReadingsTopic(station), payload);
            acknowledged++;
            await TestInfrastructure.EventuallyAsync(() => service.Metrics.Acknowledgements == acknowledged, Wait, what + ": acknowledged");
            await service.RollupsCurrentAsync();
            var hours = await HoursAsync(service.Database);
            Assert.NotEmpty(hours);
            Assert.True(hours.SequenceEqual(await ReferenceAsync(service.Database)), what + ": the rollup differs from the full recompute:\n" + string.Join("\n", hours));
        }

        await StepAsync("air-1", Minutes(H2, 0, 20, Pm25), "minutes 0-19");
        Assert.True(service.Rollups.RecentHoursKept >= 2, "the hours' minutes are kept");
        await StepAsync("air-1", Minutes(H2, 20, 40, Pm25), "minutes 20-39");
        await StepAsync("air-1", "[" + Reading(H2.AddMinutes(5).AddSeconds(20), "\"pm25\": 91.25") + "," + Reading(H2.AddMinutes(5).AddSeconds(40), "\"pm25\": 3.5") + "]",
            "two more readings in minute 5");

        var read = service.Rollups.MinuteRowsRead;
        await StepAsync("air-1", "[" + Reading(H2.AddMinutes(10), "\"pm25\": 250.125") + "]", "minute 10 sent again with another value");
        Assert.Equal(1, service.Rollups.MinuteRowsRead - read); // that minute, not the hour's 40

        await StepAsync("air-1", "[" + Reading(H2.AddMinutes(12), "\"pm25\": 12, \"wdir\": 180", "\"pm25\": \"D\", \"wdir\": \"D\"") + "]",
            "minute 12 sent again flagged invalid");
        await StepAsync("air-1", Minutes(H1, 0, 10, Pm25) + "", "minutes 0-9 of the hour before (not kept: read whole)");
        await StepAsync("air-1", "[" + Reading(H2.AddMinutes(45), "\"pm25\": 33.3, \"wdir\": 90") + "]", "a late minute 45");
        await StepAsync("air-1", "[" + string.Create(CultureInfo.InvariantCulture, $$$"""{"ts": {{{H2.AddMinutes(30).ToUnixTimeMilliseconds()}}}, "period": "minute", "values": {"pm25": 77.7}}""") + "]",
            "the station's own mean of minute 30");
        await StepAsync("air-2", Minutes(H2, 0, 60, m => $"\"no2\": {40 + m % 7}.{m}"), "another station's whole hour");
        Assert.Equal(0, service.Rollups.Failures);
    }
}

/// <summary>The bookkeeping of kept hours alone (no InfluxDB).</summary>
public sealed class RecentHoursBookkeepingTests
{
    static readonly DateTimeOffset Hour = new(2025, 11, 3, 0, 0, 0, TimeSpan.Zero);

    static (string, string, DateTimeOffset) Key(int i) => ($"air-{i}", "pm25", Hour.AddHours(i % 3));

    static KeyValuePair<(string, string, DateTimeOffset), double[]> Kept(int i) => new(Key(i), [.. RecentHours.None]);

    [Fact]
    public void Beyond_the_capacity_the_hours_kept_first_are_dropped_down_to_nine_tenths()
    {
        var recent = new RecentHours(10);
        var generation = recent.Take([]).Generation;
        recent.Put(Enumerable.Range(0, 10).Select(Kept), [], generation);
        Assert.Equal(10, recent.Count);
        recent.Put([Kept(3), Kept(10)], [], generation); // 3 again: still in its first place
        Assert.Equal(9, recent.Count);
        var (whole, _, unchanged, _) = recent.Take(Enumerable.Range(0, 11).Select(Key));
        Assert.Equal(Enumerable.Range(0, 2).Select(Key), whole.Order());
        Assert.Equal(9, unchanged.Count);
    }

    [Fact]
    public void Noted_minutes_make_a_kept_hour_changed_once_and_forgetting_or_clearing_makes_it_whole()
    {
        var recent = new RecentHours(100);
        var generation = recent.Take([]).Generation;
        recent.Put([Kept(1), Kept(2)], [], generation);
        recent.Touched([new Domain.Reading("air-1", "pm25", Hour.AddHours(1).AddMinutes(7).AddSeconds(30), 5, "N"),
            new Domain.Reading("air-1", "pm25", Hour.AddHours(1).AddMinutes(3), 6, "N")]);
        var (whole, changed, unchanged, _) = recent.Take([Key(1), Key(2)]);
        Assert.Empty(whole);
        var span = Assert.Single(changed).Value;
        Assert.Equal((Hour.AddHours(1).AddMinutes(3).ToUnixTimeMilliseconds(), Hour.AddHours(1).AddMinutes(8).ToUnixTimeMilliseconds()), (span.From, span.To));
        Assert.Equal(Key(2), Assert.Single(unchanged).Key);
        Assert.Empty(recent.Take([Key(1)]).Changed); // taken: unchanged now

        // An hour neither kept nor being read notes nothing (its next recompute reads it whole); one being read whole
        // notes what is stored meanwhile (the read may have missed it), so it is changed once kept.
        var reading = new Domain.Reading("air-4", "pm25", Hour.AddHours(1).AddMinutes(20), 7, "N");
        recent.Touched([reading]);
        var first = recent.Take([Key(4)]);
        Assert.Equal(Key(4), Assert.Single(first.Whole));
        recent.Touched([reading]);
        recent.Put([Kept(4)], first.Whole, first.Generation);
        Assert.Equal(Key(4), Assert.Single(recent.Take([Key(4)]).Changed).Key);
        recent.Touched([reading]); // kept: noted
        Assert.Single(recent.Take([Key(4)]).Changed);
        recent.Touched([new Domain.Reading("air-7", "pm25", Hour.AddHours(1), 7, "N")]); // neither: not noted
        Assert.Single(recent.Take([Key(7)]).Whole);

        recent.Forget([Key(1)]);
        Assert.Equal(Key(1), Assert.Single(recent.Take([Key(1)]).Whole));
        var before = recent.Take([]).Generation;
        recent.Clear();
        recent.Put([Kept(5)], [], before); // read before the clear: not kept
        Assert.Equal(0, recent.Count);
    }
}
