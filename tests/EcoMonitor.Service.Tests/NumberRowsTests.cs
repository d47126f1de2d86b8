using System.Text;
using EcoMonitor.Service.Hosting;
using EcoMonitor.Service.Storage;
using EcoMonitor.Service.Tests.Support;

namespace EcoMonitor.Service.Tests;

/// <summary>The rollup's minute answers are read token by token (InfluxConnection.QueryNumbersAsync): every row of
/// every series with its own tags, nulls skipped, members the reader does not know skipped, an error in the answer
/// an error. The answers below are InfluxDB 1.x's JSON form (/query, epoch=ms).</summary>
public sealed class NumberRowsTests
{
    static List<string> Read(string answer, string column = "m")
    {
        var rows = new List<string>();
        NumberRows.Read(Encoding.UTF8.GetBytes(answer), column, (tags, ms, value) =>
            rows.Add($"{string.Join(",", tags.OrderBy(t => t.Key).Select(t => $"{t.Key}={t.Value}"))} {ms} {value:R}"));
        return rows;
    }

    [Fact]
    public void Rows_of_several_series_keep_their_tags_and_order_and_nulls_are_skipped()
    {
        var rows = Read("""
            {"results":[{"statement_id":0,"series":[
              {"name":"reading","tags":{"parameter":"pm25","station":"air-1"},"columns":["time","m"],"values":[[1000,35.5],[2000,null],[3000,1e-7]],"partial":true},
              {"name":"reading","tags":{"parameter":"no2","station":"air-2"},"columns":["time","m"],"values":[[1000,-0.25]]}],"partial":true}]}
            """);
        Assert.Equal(["parameter=pm25,station=air-1 1000 35.5", "parameter=pm25,station=air-1 3000 1E-07", "parameter=no2,station=air-2 1000 -0.25"], rows);
    }

    [Fact]
    public void Column_order_and_unknown_members_do_not_matter()
    {
        var rows = Read("""
            {"results":[{"statement_id":0,"messages":[{"level":"warning","text":"x"}],"series":[
              {"name":"reading","tags":{"station":"air-3"},"columns":["value","time","flag"],"values":[[7.25,60000,"N"],[[1],120000,{"a":1}]],"extra":{"b":[1,2]}}]}]}
            """, "value");
        Assert.Equal(["station=air-3 60000 7.25"], rows);
    }

    [Fact]
    public void An_answer_without_series_has_no_rows_and_an_error_in_it_is_an_error()
    {
        Assert.Empty(Read("""{"results":[{"statement_id":0}]}"""));
        var e = Assert.Throws<InfluxException>(() => Read("""{"results":[{"statement_id":0,"error":"shard 3 unavailable"}]}"""));
        Assert.Contains("shard 3 unavailable", e.Message);
        Assert.Throws<InvalidOperationException>(() => Read("""{"results":[{"series":[{"columns":["time","x"],"values":[[1,2]]}]}]}"""));
        Assert.ThrowsAny<System.Text.Json.JsonException>(() => Read("""{"results":[{"series":[{"columns":["time","m"],"values":[[1,2]"""));
    }

    /// <summary>Against the real InfluxDB: an answer of several chunks (a series longer than ChunkRows rows) gives
    /// every row once, in time order.</summary>
    [Fact]
    [Trait("Category", "Integration")]
    public async Task A_chunked_answer_from_InfluxDB_gives_every_row_once_in_order()
    {
        var database = TestInfrastructure.UniqueName("chunks");
        var start = new DateTimeOffset(2025, 6, 1, 0, 0, 0, TimeSpan.Zero);
        var count = 2 * InfluxConnection.ChunkRows + 123;
        await Seed.WriteRawAsync(database, Enumerable.Range(0, count).Select(i => Seed.Line("air-1", "pm25", start.AddSeconds(i), i * 0.5)));
        using var influx = TestInfrastructure.Influx(database);
        var rows = new List<(long Ms, double Value)>();
        await influx.QueryNumbersAsync("SELECT \"value\" FROM \"reading\" GROUP BY \"station\"", null, "value", (tags, ms, value) =>
        {
            Assert.Equal("air-1", tags["station"]);
            rows.Add((ms, value));
        });
        Assert.Equal(Enumerable.Range(0, count).Select(i => (start.AddSeconds(i).ToUnixTimeMilliseconds(), i * 0.5)), rows);
    }

    /// <summary>QuerySeriesAsync (the rollup's day reads): a chunked answer of two series, each longer than a chunk,
    /// gives the same rows with the same tags as the whole answer of QueryAsync, in order.</summary>
    [Fact]
    [Trait("Category", "Integration")]
    public async Task Series_read_chunk_by_chunk_equal_the_whole_answer()
    {
        var database = TestInfrastructure.UniqueName("chunks");
        var start = new DateTimeOffset(2025, 6, 1, 0, 0, 0, TimeSpan.Zero);
        var count = InfluxConnection.ChunkRows + 777;
        await Seed.WriteRawAsync(database, Enumerable.Range(0, count).SelectMany(i => new[]
        {
            Seed.Line("air-1", "pm25", start.AddSeconds(i), i * 0.5),
            Seed.Line("air-2", "pm25", start.AddSeconds(i), i * 0.25, flag: "H"),
        }));
        using var influx = TestInfrastructure.Influx(database);
        const string q = "SELECT \"value\", \"flag\" FROM \"reading\" WHERE time >= $from GROUP BY \"station\"";
        var bind = new Dictionary<string, object> { ["from"] = start.ToString("O") };
        static IEnumerable<string> Rows(IEnumerable<InfluxSeries> series) => series.SelectMany(s => s.Values.Select(v =>
            $"{s.Tags["station"]} {string.Join(" ", s.Columns.Zip(v).Select(c => $"{c.First}={c.Second.GetRawText()}"))}"));
        var chunked = new List<InfluxSeries>();
        await foreach (var series in influx.QuerySeriesAsync(q, bind)) chunked.Add(series);
        var whole = await influx.QueryAsync(q, bind);
        Assert.Equal(2, whole.Count);
        Assert.True(chunked.Count >= 4, $"{chunked.Count} series parts: the answer was not chunked");
        Assert.Equal(2 * count, Rows(chunked).Count());
        Assert.Equal(Rows(whole), Rows(chunked));
    }

    [Fact]
    [Trait("Category", "Integration")]
    public async Task An_error_in_a_chunked_answer_is_an_InfluxException()
    {
        using var influx = TestInfrastructure.Influx(TestInfrastructure.UniqueName("chunks"));
        await influx.QueryAsync($"CREATE DATABASE \"{influx.Settings.Database}\"", post: true);
        var e = await Assert.ThrowsAsync<InfluxException>(async () =>
        {
            await foreach (var _ in influx.QuerySeriesAsync("SELECT \"value\" FROM \"reading\" GROUP BY time(1m)", null)) { }
        });
        Assert.Contains("GROUP BY requires at least one aggregate function", e.Message);
    }
}
