using System.Globalization;
using System.Text;
using Grpc.Core;
using EcoMonitor.Service.Storage;
using Grpc.Net.Client;

namespace EcoMonitor.Service.Tests.Support;

/// <summary>Readings written straight into the test's database (line protocol, as the service writes it), so that
/// query tests work on data whose answers are worked out by hand.</summary>
public static class Seed
{
    public static readonly TimeSpan China = TimeSpan.FromHours(8);

    public static string Line(string station, string parameter, DateTimeOffset t, double value, string flag = "N") =>
        string.Create(CultureInfo.InvariantCulture, $"reading,station={station},parameter={parameter} value={value},flag=\"{flag}\" {t.ToUnixTimeMilliseconds()}");

    /// <summary>One value per minute for <paramref name="minutes"/> minutes from the start of the local hour.</summary>
    public static IEnumerable<string> Hour(string station, string parameter, DateTime localHour, int minutes, double value, string flag = "N") =>
        Enumerable.Range(0, minutes).Select(m => Line(station, parameter, new DateTimeOffset(localHour, China).AddMinutes(m), value, flag));

    /// <summary>A valid day (the first <paramref name="hours"/> local hours, 45 minutes each) at a constant value.</summary>
    public static IEnumerable<string> Day(string station, string parameter, DateOnly day, double value, int hours = 20) =>
        Enumerable.Range(0, hours).SelectMany(h => Hour(station, parameter, day.ToDateTime(new TimeOnly(h, 0)), 45, value));

    /// <summary>Writes the lines, then rebuilds the hourly rollup over their time span, as an operator's backfill
    /// would (the service rolls up what it ingests itself; these readings go around it).</summary>
    public static async Task WriteAsync(string database, IEnumerable<string> lines)
    {
        var (first, last) = await WriteRawAsync(database, lines);
        if (first > last) return;
        using var influx = new InfluxConnection(Microsoft.Extensions.Options.Options.Create(
            new EcoMonitor.Service.Hosting.InfluxSettings { Url = TestInfrastructure.InfluxUrl, Database = database, Timeout = TimeSpan.FromMinutes(2) }));
        await new HourlyRollup(influx).RebuildAsync(DateTimeOffset.FromUnixTimeMilliseconds(first), DateTimeOffset.FromUnixTimeMilliseconds(last).AddHours(1), CancellationToken.None);
    }

    /// <summary>Writes the lines only (no rollup); returns the first and last time written, in epoch ms.</summary>
    public static async Task<(long First, long Last)> WriteRawAsync(string database, IEnumerable<string> lines)
    {
        using var http = new HttpClient { BaseAddress = TestInfrastructure.InfluxUrl, Timeout = TimeSpan.FromMinutes(2) };
        (await http.PostAsync("query", new FormUrlEncodedContent(new Dictionary<string, string> { ["q"] = $"CREATE DATABASE \"{database}\"" }))).EnsureSuccessStatusCode();
        long first = long.MaxValue, last = long.MinValue;
        foreach (var chunk in lines.Chunk(20000))
        {
            foreach (var line in chunk)
            {
                var ms = long.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
                first = Math.Min(first, ms);
                last = Math.Max(last, ms);
            }
            var response = await http.PostAsync($"write?db={database}&precision=ms", new StringContent(string.Join('\n', chunk), Encoding.UTF8));
            Assert.Equal(204, (int)response.StatusCode);
        }
        return (first, last);
    }

    public static Metadata Key(string key) => new() { { "x-api-key", key } };

    public static GrpcChannel Channel(ServiceUnderTest service) => GrpcChannel.ForAddress(service.GrpcAddress);
}
