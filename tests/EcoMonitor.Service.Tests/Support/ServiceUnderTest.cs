using EcoMonitor.Service.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace EcoMonitor.Service.Tests.Support;

/// <summary>The real service, built exactly as Program.cs builds it, run in the test process against the real
/// broker and database, with its own topic prefix, client id, database and stations file.</summary>
public sealed class ServiceUnderTest : IAsyncDisposable
{
    public const string StationsJson = """
    {
      "stations": [
        { "id": "air-1", "name": "管委会", "kind": "air", "region": "高新区", "latitude": 37.77, "longitude": 115.74, "mn": "AIR0001", "password": "123456" },
        { "id": "air-2", "name": "科技谷", "kind": "air", "region": "高新区", "latitude": 37.78, "longitude": 115.72 },
        { "id": "air-3", "name": "苏正", "kind": "air", "region": "高新区北部", "latitude": 37.81, "longitude": 115.76 },
        { "id": "voc-1", "name": "化工园区厂界", "kind": "voc", "region": "高新区北部", "latitude": 37.80, "longitude": 115.77, "mn": "VOC0001" },
        { "id": "w-fyh-1", "name": "滏阳河上游断面", "kind": "water", "region": "高新区", "latitude": 37.76, "longitude": 115.71, "waterBody": "river", "waterName": "滏阳河", "targetClass": "IV", "mn": "WAT0001" }
      ]
    }
    """;

    readonly Dictionary<string, string?> _settings;
    readonly Action<IServiceCollection>? _services;
    WebApplication? _app;

    public ServiceUnderTest(Dictionary<string, string?>? overrides = null, Action<IServiceCollection>? services = null)
    {
        _services = services;
        Prefix = TestInfrastructure.UniqueName("t");
        Database = TestInfrastructure.UniqueName("eco_test");
        ClientId = TestInfrastructure.UniqueName("ingest");
        StationsFile = Path.Combine(Path.GetTempPath(), $"{Prefix}-stations.json");
        File.WriteAllText(StationsFile, StationsJson);
        _settings = new()
        {
            ["Http:Url"] = "http://127.0.0.1:0",
            ["Grpc:Url"] = "http://127.0.0.1:0",
            ["Api:Keys:0:Name"] = "officer",
            ["Api:Keys:0:Key"] = ReaderKey,
            ["Api:Keys:0:Role"] = "Reader",
            ["Api:Keys:1:Name"] = "duty-operator",
            ["Api:Keys:1:Key"] = OperatorKey,
            ["Api:Keys:1:Role"] = "Operator",
            ["Api:Keys:2:Name"] = "duty-zhang",
            ["Api:Keys:2:Key"] = DutyKey,
            ["Api:Keys:2:Role"] = "Duty",
            ["Serilog:MinimumLevel:Default"] = "Warning",
            ["Serilog:Using:0"] = "Serilog.Sinks.Console",
            ["Serilog:WriteTo:0:Name"] = "Console",
            ["Stations:File"] = StationsFile,
            ["Mqtt:Host"] = TestInfrastructure.MqttHost,
            ["Mqtt:Port"] = TestInfrastructure.MqttPort.ToString(),
            ["Mqtt:ClientId"] = ClientId,
            ["Mqtt:ReconnectInitialDelay"] = "00:00:00.200",
            ["Mqtt:ReconnectMaxDelay"] = "00:00:01",
            ["Ingestion:TopicPrefix"] = Prefix,
            ["Ingestion:DrainTimeout"] = "00:00:02",
            ["Influx:Url"] = TestInfrastructure.InfluxUrl.ToString(),
            ["Influx:Database"] = Database,
            ["Influx:FlushInterval"] = "00:00:00.100",
            ["Influx:RetryInitialDelay"] = "00:00:00.100",
            ["Influx:RetryMaxDelay"] = "00:00:00.500",
            ["Hj212:Tcp:Enabled"] = "true",
            ["Hj212:Tcp:Port"] = "0",
            // appsettings.json turns alerting on with the shipped rules file; tests that want alerts say so.
            ["Alerting:Enabled"] = "false",
            ["Alerting:RulesFile"] = "",
        };
        foreach (var (k, v) in overrides ?? []) _settings[k] = v;
    }

    public string Prefix { get; }
    public string Database { get; }
    public string ClientId { get; }
    public string StationsFile { get; }

    public void Set(string key, string? value) => _settings[key] = value;

    public string ReadingsTopic(string station) => $"{Prefix}/{station}/readings";

    public IServiceProvider Services => _app?.Services ?? throw new InvalidOperationException("not started");

    public IngestionMetrics Metrics => Services.GetRequiredService<IngestionMetrics>();

    public Storage.RollupStage Rollups => Services.GetRequiredService<Storage.RollupStage>();

    /// <summary>Waits until every batch stored so far is rolled up: the rollup stage follows acknowledgements, so
    /// a test that reads hourly or daily figures right after its messages are acknowledged waits for this first.</summary>
    // A bound, not a timing assertion: on a loaded 2-core machine a round over two years of a fixture may take a while.
    public Task RollupsCurrentAsync() => Rollups.WhenIdleAsync(TimeSpan.FromSeconds(120));

    public async Task<System.Net.IPEndPoint> Hj212EndpointAsync() =>
        await Services.GetRequiredService<Ingestion.Hj212.Hj212TcpListener>().Listening.WaitAsync(TimeSpan.FromSeconds(10));

    public const string ReaderKey = "reader-key-for-tests-0001";
    public const string OperatorKey = "operator-key-for-tests-0001";
    public const string DutyKey = "duty-key-for-tests-00000001";

    /// <summary>The HTTP/1.1 endpoint (first listened) and the gRPC endpoint (second).</summary>
    public Uri HttpAddress => new(Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());

    public Uri GrpcAddress => new(Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Skip(1).First());

    public async Task StartAsync()
    {
        await TestInfrastructure.RequireAsync();
        var app = EcoMonitorApp.Build([], c => c.AddInMemoryCollection(_settings), _services);
        try
        {
            await app.StartAsync();
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }
        _app = app;
        var mqtt = Services.GetRequiredService<Ingestion.MqttConnection>();
        // Throws TimeoutException when the service never subscribes (StopAsync still stops it).
        await TestInfrastructure.EventuallyAsync(() => mqtt.IsSubscribed, TimeSpan.FromSeconds(15), "service subscribed on MQTT");
    }

    public async Task StopAsync()
    {
        if (_app is null) return;
        await _app.StopAsync();
        await _app.DisposeAsync();
        _app = null;
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        File.Delete(StationsFile);
        using var influx = TestInfrastructure.Influx(Database);
        await influx.QueryAsync($"DROP DATABASE \"{Database}\"", post: true);
    }
}
