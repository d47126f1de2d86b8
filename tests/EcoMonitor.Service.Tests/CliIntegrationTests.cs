using System.Text.Json;
using EcoMonitor.Cli;
using EcoMonitor.Service.Tests.Support;

namespace EcoMonitor.Service.Tests;

/// <summary>`ecomon` against the running service.</summary>
[Trait("Category", "Integration")]
public sealed class CliIntegrationTests : IAsyncLifetime
{
    readonly ServiceUnderTest _service = new();

    public Task InitializeAsync() => _service.StartAsync();

    public Task DisposeAsync() => _service.DisposeAsync().AsTask();

    async Task<(int Code, string Out, string Err)> Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = await Ecomon.RunAsync([.. args, "--server", _service.GrpcAddress.ToString(), "--key", ServiceUnderTest.ReaderKey], output, error);
        return (code, output.ToString(), error.ToString());
    }

    [Fact]
    public async Task Stations_as_a_table_and_as_json()
    {
        var (code, table, _) = await Run("stations", "--kind", "water");
        Assert.Equal(0, code);
        Assert.Contains("w-fyh-1", table);
        Assert.Contains("滏阳河", table);
        Assert.DoesNotContain("air-1", table);
        var (_, json, _) = await Run("stations", "--json");
        Assert.Equal(5, JsonDocument.Parse(json).RootElement.GetProperty("stations").GetArrayLength());
    }

    [Fact]
    public async Task Aggregate_prints_buckets_and_draws_the_trend_with_its_limit()
    {
        await Seed.WriteAsync(_service.Database, Seed.Day("air-1", "pm25", new DateOnly(2026, 1, 7), 42).Concat(Seed.Day("air-1", "pm25", new DateOnly(2026, 1, 8), 88)));
        var png = Path.Combine(Path.GetTempPath(), $"{_service.Prefix}.png");
        var (code, table, err) = await Run("aggregate", "--station", "air-1", "--parameter", "pm25", "--period", "day", "--from", "2026-01-07", "--to", "2026-01-09", "--png", png);
        Assert.True(code == 0, err);
        var lines = table.Split('\n');
        // Days as China dates, the station's name beside its id, an invalid day without a mean.
        Assert.Contains(lines, l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^air-1\s+管委会\s+2026-01-07\s+yes\s+42\s+42\s+42\s+42\s+20/20$"));
        Assert.Contains(lines, l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^air-1\s+管委会\s+2026-01-09\s+no\s+0/20\s"));
        var bytes = await File.ReadAllBytesAsync(png);
        File.Delete(png);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, bytes[..4]);
        Assert.True(bytes.Length > 5000);
    }

    [Fact]
    public async Task Errors_say_what_is_wrong_and_exit_non_zero()
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = await Ecomon.RunAsync(["stations", "--server", _service.GrpcAddress.ToString(), "--key", ""], output, error);
        Assert.Equal(1, code);
        Assert.Contains("Unauthenticated", error.ToString());
        var (badCode, _, badErr) = await Run("aggregate", "--station", "nope", "--parameter", "pm25", "--period", "day", "--from", "2026-01-07", "--to", "2026-01-07");
        Assert.Equal(1, badCode);
        Assert.Contains("selection.station_ids[0]: no station 'nope'", badErr);
    }

    [Fact]
    public async Task Target_water_and_watch()
    {
        var (code, target, err) = await Run("target", "--as-of", "2026-01-31", "--past-years", "1");
        Assert.True(code == 0, err);
        Assert.Contains("zone", target);
        var (waterCode, water, _) = await Run("water", "--from", "2026-01-01", "--to", "2026-01-31");
        Assert.Equal(0, waterCode);
        Assert.Contains("w-fyh-1", water);

        var watching = Run("watch", "--station", "air-2", "--count", "1");
        var broadcast = (EcoMonitor.Service.Query.ReadingBroadcast)_service.Services.GetService(typeof(EcoMonitor.Service.Query.ReadingBroadcast))!;
        await TestInfrastructure.EventuallyAsync(() => broadcast.Watchers == 1, TimeSpan.FromSeconds(10), "ecomon watch subscribed");
        await using var gateway = await TestMqttClient.ConnectAsync();
        await gateway.PublishAsync(_service.ReadingsTopic("air-2"), $$$"""{"ts": {{{DateTimeOffset.UtcNow.AddSeconds(-1).ToUnixTimeMilliseconds()}}}, "values": {"pm25": 27.5}}""");
        var (watchCode, line, _) = await watching.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(0, watchCode);
        Assert.Contains("air-2", line);
        Assert.Contains("27.5", line);
    }

    [Fact]
    public async Task Latest_and_voc_tables()
    {
        var t = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.AddMinutes(-5).ToUnixTimeSeconds());
        await Seed.WriteAsync(_service.Database, new[] { Seed.Line("voc-1", "nmhc", t, 31.5), Seed.Line("air-1", "pm25", t, 18) });
        var (code, latest, err) = await Run("latest", "--region", "高新区北部");
        Assert.True(code == 0, err);
        Assert.Contains(latest.Split('\n'), l => l.StartsWith("voc-1") && l.Contains("nmhc") && l.Contains("31.5"));
        Assert.DoesNotContain("air-1", latest);
        var day = t.ToOffset(TimeSpan.FromHours(8)).ToString("yyyy-MM-dd");
        var (vocCode, voc, _) = await Run("voc", "--from", day, "--to", day);
        Assert.Equal(0, vocCode);
        Assert.Contains(voc.Split('\n'), l => l.StartsWith("voc-1") && l.Contains("single-value") && l.Contains("31.5") && l.Contains(" 30"));
    }
}
