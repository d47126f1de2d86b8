using EcoMonitor.Service.Hosting;
using EcoMonitor.Service.Tests.Support;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace EcoMonitor.Service.Tests;

/// <summary>A value that does not fit its setting stops the start naming the setting (and, for a choice, the
/// allowed values), where the configuration binder used to drop a list element silently (a key with the role
/// "Operater" vanished and then failed as unknown), accept any number as a role, or throw a generic error.</summary>
public sealed class StrictSettingsTests
{
    static async Task<OptionsValidationException> StartFailsAsync(Dictionary<string, string?> settings)
    {
        await using var service = new ServiceUnderTest(settings);
        return Assert.IsType<OptionsValidationException>(await Assert.ThrowsAnyAsync<Exception>(service.StartAsync));
    }

    [Theory]
    [InlineData("Api:Keys:1:Role", "Operater", "Api:Keys:1:Role must be one of Reader, Duty, Operator (got 'Operater').")]
    [InlineData("Api:Keys:1:Role", "2", "Api:Keys:1:Role must be one of Reader, Duty, Operator (got '2').")]
    [InlineData("Api:Keys:0:Role", "Reader,Operator", "Api:Keys:0:Role must be one of Reader, Duty, Operator (got 'Reader,Operator').")]
    [InlineData("Api:TargetVerdictPolicy", "Rounded", "Api:TargetVerdictPolicy must be one of Exact, RoundedMeans (got 'Rounded').")]
    [InlineData("Ingestion:UnknownStations", "Ignore", "Ingestion:UnknownStations must be one of Reject, Accept (got 'Ignore').")]
    [InlineData("Alerting:Language", "French", "Alerting:Language must be one of Chinese, English (got 'French').")]
    [InlineData("Alerting:Rules:0:Threshold", "high", "Alerting:Rules:0:Threshold: 'high' is not a valid number.")]
    [InlineData("Mqtt:KeepAlive", "30s", "Mqtt:KeepAlive: '30s' is not a valid duration ([d.]hh:mm:ss[.fff]).")]
    [InlineData("Influx:CreateDatabase", "yes", "Influx:CreateDatabase: 'yes' is not a valid boolean (true or false).")]
    [InlineData("Ingestion:Ranges:pm25:Max", "lots", "Ingestion:Ranges:pm25:Max: 'lots' is not a valid number.")]
    [InlineData("Hj212:Tcp:Port", "nine", "Hj212:Tcp:Port: 'nine' is not a valid whole number.")]
    public async Task A_value_that_does_not_fit_its_setting_stops_the_start_named(string key, string value, string message)
    {
        var e = await StartFailsAsync(new() { [key] = value });
        Assert.Equal([message], e.Failures);
    }

    [Fact]
    public async Task Every_bad_value_is_listed_at_once()
    {
        var e = await StartFailsAsync(new() { ["Api:Keys:1:Role"] = "Operater", ["Ingestion:UnknownStations"] = "Ignore" });
        Assert.Equal(2, e.Failures.Count());
        Assert.Contains(e.Failures, f => f.StartsWith("Api:Keys:1:Role", StringComparison.Ordinal));
        Assert.Contains(e.Failures, f => f.StartsWith("Ingestion:UnknownStations", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("Health:InfluxStaleAfter", "00:00:00.500", "Health:InfluxStaleAfter")]
    [InlineData("Health:InfluxPingInterval", "00:00:30", "Health:InfluxPingInterval")] // not shorter than InfluxStaleAfter (30 s)
    [InlineData("Health:StallAfter", "00:00:00", "Health:StallAfter")]
    [InlineData("Influx:RecoveryProbeInterval", "00:00:00.010", "Influx:RecoveryProbeInterval")]
    [InlineData("Api:MaxWatchStreams", "0", "Api:MaxWatchStreams")]
    [InlineData("Api:MaxWatchStreamsPerKey", "65", "Api:MaxWatchStreamsPerKey")] // more than MaxWatchStreams (64)
    [InlineData("Api:WatchBufferSize", "0", "Api:WatchBufferSize")]
    public async Task New_settings_are_validated_by_name(string key, string value, string named)
    {
        var e = await StartFailsAsync(new() { [key] = value });
        Assert.Contains(named, string.Join(" ", e.Failures));
    }

    [Theory]
    [InlineData("met")]   // meteorology is a parameter kind, never a station kind
    [InlineData("1")]     // an enum's number
    public async Task An_alert_rule_names_a_station_kind_by_name(string kind)
    {
        var e = await StartFailsAsync(new()
        {
            ["Alerting:Enabled"] = "true", ["Alerting:RulesFile"] = "",
            ["Alerting:Rules:0:Name"] = "silent-x", ["Alerting:Rules:0:Kind"] = "silent", ["Alerting:Rules:0:StationKind"] = kind,
            ["Alerting:Rules:0:Threshold"] = "60",
        });
        Assert.Contains(e.Failures, f => f.Contains($"StationKind must be air, voc or water (got '{kind}')", StringComparison.Ordinal));
    }

    static IConfiguration Config(Dictionary<string, string?> values) => new ConfigurationBuilder().AddInMemoryCollection(values).Build();

    [Fact]
    public void Names_are_case_insensitive_and_empty_nullable_values_are_allowed()
    {
        StrictSettings.Check(Config(new()
        {
            ["Api:Keys:0:Role"] = "operator",
            ["Ingestion:UnknownStations"] = "ACCEPT",
            ["Alerting:Rules:0:Threshold"] = "",
            ["Alerting:Rules:0:Window"] = "01:00:00",
            ["Alerting:Rules:0:Stations:0"] = "air-1",
            ["Hj212:StationUnits:air-1:a34004"] = "ug/m3",
        }));
    }

    [Fact]
    public void The_shipped_appsettings_pass()
    {
        var config = new ConfigurationBuilder().AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json")).Build();
        StrictSettings.Check(config);
        Assert.NotEmpty(config.GetSection("Alerting").GetChildren());
    }
}
