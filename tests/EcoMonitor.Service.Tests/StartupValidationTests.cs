using EcoMonitor.Service.Hosting;
using EcoMonitor.Service.Stations;
using EcoMonitor.Service.Tests.Support;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace EcoMonitor.Service.Tests;

/// <summary>A wrong setting or stations file stops start-up with a message that names it.</summary>
public sealed class StartupValidationTests
{
    static async Task<Exception> StartFailsAsync(Dictionary<string, string?> settings)
    {
        await using var service = new ServiceUnderTest(settings);
        return await Assert.ThrowsAnyAsync<Exception>(service.StartAsync);
    }

    [Theory]
    [InlineData("Mqtt:Port", "0", "Port")]
    [InlineData("Mqtt:ClientId", "bad id/", "ClientId")]
    [InlineData("Mqtt:SessionExpiry", "00:00:00", "Mqtt:SessionExpiry")]
    [InlineData("Mqtt:ReceiveMaximum", "70000", "ReceiveMaximum")]
    [InlineData("Influx:Database", "eco; DROP", "Database")]
    [InlineData("Influx:BatchSize", "0", "BatchSize")]
    [InlineData("Influx:Url", "ftp://x", "Influx:Url")]
    [InlineData("Ingestion:TopicPrefix", "eco/#", "TopicPrefix")]
    [InlineData("Ingestion:Ranges:pm99:Max", "5", "Ingestion:Ranges:pm99")]
    [InlineData("Ingestion:Ranges:pm25:Max", "-1", "Ingestion:Ranges:pm25")]
    public async Task Invalid_setting_is_named(string key, string value, string named)
    {
        var e = await StartFailsAsync(new() { [key] = value });
        var validation = Assert.IsType<OptionsValidationException>(e);
        Assert.Contains(named, string.Join(" ", validation.Failures));
    }

    [Fact]
    public async Task Both_token_and_user_for_InfluxDB_is_refused_and_the_secret_is_not_echoed()
    {
        var e = await StartFailsAsync(new() { ["Influx:Token"] = "s3cr3t-token", ["Influx:Username"] = "u" });
        Assert.Contains("Influx:Token", e.Message);
        Assert.DoesNotContain("s3cr3t-token", e.Message);
    }

    [Fact]
    public void Stations_file_problems_are_all_listed_with_their_position()
    {
        var path = Path.GetTempFileName();
        File.WriteAllText(path, """
            {"stations": [
              {"id": "a-1", "name": "A", "kind": "air", "region": "r", "latitude": 37, "longitude": 115},
              {"id": "a-1", "name": "B", "kind": "air", "region": "r", "latitude": 37, "longitude": 115},
              {"id": "w 2", "name": "C", "kind": "water", "region": "r", "latitude": 95, "longitude": 115, "waterBody": "sea"},
              {"id": "v-3", "name": "D", "kind": "dust", "region": "r", "latitude": 37, "longitude": 115}
            ]}
            """);
        var e = Assert.Throws<InvalidOperationException>(() => StationRegistry.Load(path));
        File.Delete(path);
        Assert.StartsWith("Stations:File", e.Message);
        Assert.Contains("stations[1] (a-1): duplicate id", e.Message);
        Assert.Contains("stations[2] (w 2): id must match", e.Message);
        Assert.Contains("stations[2] (w 2): latitude", e.Message);
        Assert.Contains("stations[2] (w 2): waterBody must be river or lake", e.Message);
        Assert.Contains("stations[2] (w 2): targetClass", e.Message);
        Assert.Contains("stations[3] (v-3): kind must be air, voc or water", e.Message);
    }

    [Fact]
    public void Shipped_sample_stations_file_loads()
    {
        var registry = StationRegistry.Load(Path.Combine(AppContext.BaseDirectory, "stations.json"));
        Assert.Contains(registry.All, s => s.Kind == Domain.StationKind.Voc);
        Assert.Contains(registry.All, s => s.WaterName == "滏阳河");
        Assert.Contains(registry.All, s => s.WaterName == "白马沟");
        Assert.All(registry.All.Where(s => s.Kind == Domain.StationKind.Water), s => Assert.NotNull(s.TargetClass));
    }
}
