using System.Globalization;
using EcoMonitor.Service.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;

/// <summary>The service inside the bench's own process (sections 6 and 7), where the bench reads its internals (the
/// rollup stage's lag) or calls it as a client on the same machine; alerting off, logging at Warning.</summary>
static class InProcessService
{
    /// <summary>What every bench run of the service is given, in process or as a process of its own: the stations
    /// file, the run's broker and topic prefix, the run's database.</summary>
    public static Dictionary<string, string> Connection(int brokerPort, string prefix, string influxUrl, string database, string stationsFile) => new()
    {
        ["Stations:File"] = stationsFile,
        ["Mqtt:Port"] = brokerPort.ToString(CultureInfo.InvariantCulture),
        ["Mqtt:ClientId"] = prefix + "-svc",
        ["Ingestion:TopicPrefix"] = prefix,
        ["Influx:Url"] = influxUrl,
        ["Influx:Database"] = database,
    };

    public static WebApplication Build(int brokerPort, string prefix, string influxUrl, string database, string stationsFile,
        IEnumerable<KeyValuePair<string, string?>>? extra = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Http:Url"] = "http://127.0.0.1:0",
            ["Grpc:Url"] = "http://127.0.0.1:0",
            ["Serilog:MinimumLevel:Default"] = "Warning",
            ["Alerting:Enabled"] = "false",
        };
        foreach (var (key, value) in Connection(brokerPort, prefix, influxUrl, database, stationsFile)) settings[key] = value;
        foreach (var (key, value) in extra ?? []) settings[key] = value;
        return EcoMonitorApp.Build([], c => c.AddInMemoryCollection(settings));
    }
}
