using System.Net.Sockets;
using System.Text.Json;
using EcoMonitor.Service.Hosting;
using EcoMonitor.Service.Storage;
using Microsoft.Extensions.Options;

namespace EcoMonitor.Service.Tests.Support;

/// <summary>Where the real broker and database of the test run are: started by deploy/local/test.sh (or .ci/run),
/// overridable with ECOMON_TEST_MQTT_PORT and ECOMON_TEST_INFLUX_URL.</summary>
public static class TestInfrastructure
{
    public static string MqttHost => "127.0.0.1";
    public static int MqttPort => int.Parse(Environment.GetEnvironmentVariable("ECOMON_TEST_MQTT_PORT") ?? "18830");
    public static Uri InfluxUrl => new(Environment.GetEnvironmentVariable("ECOMON_TEST_INFLUX_URL") ?? "http://127.0.0.1:18086");

    /// <summary>A name no other test uses: for topic prefixes, client ids and databases.</summary>
    public static string UniqueName(string stem) => $"{stem}_{Guid.NewGuid():N}"[..Math.Min(stem.Length + 13, 64)];

    public static InfluxConnection Influx(string database) =>
        new(Options.Create(new InfluxSettings { Url = InfluxUrl, Database = database }));

    /// <summary>Fails (never skips) when the broker or database is not there, saying how to start them.</summary>
    public static async Task RequireAsync()
    {
        using var tcp = new TcpClient();
        try
        {
            await tcp.ConnectAsync(MqttHost, MqttPort);
        }
        catch (SocketException e)
        {
            throw new InvalidOperationException($"No MQTT broker on {MqttHost}:{MqttPort} ({e.Message}). Run the tests with `bash deploy/local/test.sh`, which starts mosquitto and InfluxDB.");
        }
        using var http = new HttpClient();
        try
        {
            (await http.GetAsync(new Uri(InfluxUrl, "ping"))).EnsureSuccessStatusCode();
        }
        catch (HttpRequestException e)
        {
            throw new InvalidOperationException($"No InfluxDB at {InfluxUrl} ({e.Message}). Run the tests with `bash deploy/local/test.sh`.");
        }
    }

    /// <summary>Polls until the condition holds. A condition that reads InfluxDB while the service writes can meet a
    /// point with some fields and not yet the others (InfluxDB 1.x keeps each field as a cache key of its own): a
    /// JSON null where a number or string is read counts as "not yet", and is named if the time runs out.</summary>
    public static async Task EventuallyAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var until = DateTime.UtcNow + timeout;
        InvalidOperationException? partial = null;
        while (true)
        {
            try
            {
                if (await condition()) return;
                partial = null;
            }
            catch (InvalidOperationException e) when (e.TargetSite?.DeclaringType?.Namespace == "System.Text.Json")
            {
                partial = e;
            }
            if (DateTime.UtcNow > until)
                throw new TimeoutException($"Timed out after {timeout} waiting for: {what}" + (partial is null ? "" : $" (last read: {partial.Message})"), partial);
            await Task.Delay(100);
        }
    }

    public static Task EventuallyAsync(Func<bool> condition, TimeSpan timeout, string what) =>
        EventuallyAsync(() => Task.FromResult(condition()), timeout, what);

    /// <summary>Rows of reading points of one station, ordered by time. InfluxDB 1.x keeps each field of a point as
    /// a key of its own in its cache, so a query running beside a write can see a point's flag before its value
    /// (seen while polling during a write): a row missing a field is read again, up to 2 s, and then fails.</summary>
    public static async Task<List<StoredPoint>> PointsAsync(InfluxConnection influx, string station)
    {
        for (var attempt = 0; ; attempt++)
        {
            List<IReadOnlyDictionary<string, System.Text.Json.JsonElement>> rows;
            try
            {
                var series = await influx.QueryAsync(
                    "SELECT \"value\", \"flag\", \"parameter\" FROM \"reading\" WHERE \"station\" = $station ORDER BY time",
                    new Dictionary<string, object> { ["station"] = station });
                rows = [.. series.SelectMany(s => s.Rows())];
            }
            catch (InfluxException e) when (e.Message.Contains("database not found"))
            {
                return [];
            }
            var partial = rows.FirstOrDefault(r => new[] { "value", "flag", "parameter" }.Any(f => r[f].ValueKind == System.Text.Json.JsonValueKind.Null));
            if (partial is not null)
            {
                Assert.True(attempt < 20, $"a reading point of {station} without all of value, flag and parameter for 2 s: time {partial["time"]}, value {partial["value"]}, flag {partial["flag"]}, parameter {partial["parameter"]}");
                await Task.Delay(100);
                continue;
            }
            return [.. rows.Select(r => new StoredPoint(
                DateTimeOffset.FromUnixTimeMilliseconds(r["time"].GetInt64()),
                r["parameter"].GetString()!, r["value"].GetDouble(), r["flag"].GetString()!))];
        }
    }
}

public sealed record StoredPoint(DateTimeOffset Time, string Parameter, double Value, string Flag);

public static class JsonExtensions
{
    public static JsonElement Json(this byte[] payload) => JsonDocument.Parse(payload).RootElement.Clone();
}
