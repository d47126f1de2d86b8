using System.Globalization;
using EcoMonitor.Service.Storage;
using EcoMonitor.Service.Tests.Support;

namespace EcoMonitor.Service.Tests;

/// <summary>The rollup takes an hour's count, mean, min and max of its minute means itself (HourlyRollup), from the
/// minute means InfluxDB gives. The reference here is InfluxDB's own answer to the nested query the rollup used to
/// send (the mean, min and max of a subquery's minute means): the figures must be the same to the last bit, for
/// irregular readings (several a minute, some minutes empty), values with many decimals and invalid flags.</summary>
[Trait("Category", "Integration")]
public sealed class HourlyRollupMeanTests
{
    static readonly DateTimeOffset First = new(2025, 11, 3, 8, 0, 0, Seed.China);

    [Fact]
    public async Task Hour_figures_are_bit_for_bit_those_of_InfluxDBs_mean_min_max_over_the_minute_means()
    {
        var random = new Random(20261202);
        var lines = new List<string>();
        string[] flags = ["N", "N", "N", "N", "N", "N", "S", "D", "M", "C"];
        for (var s = 0; s < 6; s++)
            foreach (var parameter in new[] { "pm25", "no2", "co" })
                for (var t = First.AddSeconds(random.Next(0, 90)); t < First.AddHours(3); t = t.AddSeconds(new[] { 1, 7, 13, 59, 61, 61, 127 }[random.Next(7)]))
                {
                    var value = Math.Round(random.NextDouble() * 500, new[] { 0, 1, 2, 3, 6, 12 }[random.Next(6)]);
                    lines.Add(Seed.Line($"air-{s}", parameter, t, value, flags[random.Next(flags.Length)]));
                }
        var database = TestInfrastructure.UniqueName("rollup_mean");
        await Seed.WriteAsync(database, lines); // the rollup, as RebuildRollups runs it

        using var influx = TestInfrastructure.Influx(database);
        var bind = new Dictionary<string, object> { ["from"] = First.UtcDateTime.ToString("o"), ["to"] = First.AddHours(3).UtcDateTime.ToString("o") };
        var reference = await influx.QueryAsync(
            "SELECT count(\"m\") AS \"minutes\", mean(\"m\") AS \"mean\", min(\"m\") AS \"min\", max(\"m\") AS \"max\" FROM " +
            "(SELECT mean(\"value\") AS \"m\" FROM \"reading\" WHERE (\"flag\" = 'N' OR \"flag\" = 'S') AND time >= $from AND time < $to " +
            "GROUP BY time(1m), \"station\", \"parameter\" fill(none)) WHERE time >= $from AND time < $to " +
            "GROUP BY time(1h), \"station\", \"parameter\" fill(none)", bind);
        var expected = reference.SelectMany(s => s.Rows().Select(r => Row(s.Tags["station"], s.Tags["parameter"], r["time"].GetInt64(),
            r["minutes"].GetInt64(), r["mean"].GetDouble(), r["min"].GetDouble(), r["max"].GetDouble()))).Order(StringComparer.Ordinal).ToList();

        var rollup = await influx.QueryAsync("SELECT \"minutes\", \"mean\", \"min\", \"max\" FROM \"reading_1h\" WHERE time >= $from AND time < $to GROUP BY \"station\", \"parameter\"", bind);
        var actual = rollup.SelectMany(s => s.Rows().Select(r => Row(s.Tags["station"], s.Tags["parameter"], r["time"].GetInt64(),
            r["minutes"].GetInt64(), r["mean"].GetDouble(), r["min"].GetDouble(), r["max"].GetDouble()))).Order(StringComparer.Ordinal).ToList();

        Assert.Equal(6 * 3 * 3, expected.Count);
        Assert.Equal(expected, actual);
    }

    /// <summary>Wind directions are read raw, in chunks of InfluxConnection.ChunkRows rows, and each minute's vector
    /// mean is taken once its last reading has come. One reading every 2 s for three hours is 5,400 rows of one
    /// series: minutes straddle the chunks' edges. Expected: per minute the mean unit vector of its valid readings,
    /// per hour the mean unit vector of its minutes' directions (worked out here from the readings as written).</summary>
    [Fact]
    public async Task Wind_direction_minutes_that_straddle_the_answers_chunks_count_once_with_all_their_readings()
    {
        var random = new Random(7);
        var readings = new List<(DateTimeOffset T, double Degrees, bool Valid)>();
        for (var t = First; t < First.AddHours(3); t = t.AddSeconds(2))
            readings.Add((t, Math.Round((350 + random.NextDouble() * 40) % 360, 3), random.Next(10) > 0));
        Assert.True(readings.Count > 2 * InfluxConnection.ChunkRows);
        var database = TestInfrastructure.UniqueName("rollup_wdir");
        await Seed.WriteAsync(database, readings.Select(r => Seed.Line("air-9", "wdir", r.T, r.Degrees, r.Valid ? "N" : "D")));

        static (double Sin, double Cos) Unit(double degrees) => (Math.Sin(degrees * Math.PI / 180), Math.Cos(degrees * Math.PI / 180));
        static double Direction(IEnumerable<double> degrees)
        {
            var units = degrees.Select(Unit).ToList();
            var d = Math.Atan2(units.Average(u => u.Sin), units.Average(u => u.Cos)) * 180 / Math.PI;
            return d < 0 ? d + 360 : d;
        }
        var expected = readings.Where(r => r.Valid)
            .GroupBy(r => r.T.AddSeconds(-r.T.Second))
            .Select(m => (Minute: m.Key, Direction: Direction(m.Select(r => r.Degrees))))
            .GroupBy(m => m.Minute.AddMinutes(-m.Minute.Minute))
            .ToDictionary(h => h.Key.ToUnixTimeMilliseconds(), h => (Minutes: h.Count(), Direction: Direction(h.Select(m => m.Direction))));

        using var influx = TestInfrastructure.Influx(database);
        var rows = (await influx.QueryAsync("SELECT \"minutes\", \"mean\" FROM \"reading_1h\" WHERE \"parameter\" = 'wdir'")).Single().Rows().ToList();
        Assert.Equal(3, rows.Count);
        foreach (var row in rows)
        {
            var (minutes, direction) = expected[row["time"].GetInt64()];
            Assert.Equal(minutes, row["minutes"].GetInt32());
            Assert.Equal(direction, row["mean"].GetDouble(), 1e-9);
        }
    }

    /// <summary>A row with its doubles as their exact bits (R: the shortest text that reads back to the same double).</summary>
    static string Row(string station, string parameter, long time, long minutes, double mean, double min, double max) =>
        string.Create(CultureInfo.InvariantCulture, $"{station} {parameter} {time} {minutes} {mean:R} {min:R} {max:R} {BitConverter.DoubleToInt64Bits(mean)}");
}
