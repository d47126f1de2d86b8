using System.Diagnostics;
using System.Globalization;
using System.Net;

namespace EcoMonitor.Service.Tests.Support;

/// <summary>The real service as a separate OS process (`dotnet EcoMonitor.Service.dll`, built by the solution build
/// before the tests run), configured through environment variables the way an operator would, so that a test can
/// kill it with SIGKILL. It runs in its own folder with appsettings.json, its own stations file, prefix, client id and
/// database; Dispose kills it whatever happened in the test.</summary>
public sealed class ServiceProcess : IAsyncDisposable
{
    readonly Dictionary<string, string> _settings;
    readonly OutputTail _output = new();
    Process? _process;

    public ServiceProcess(int mqttPort, Uri influxUrl, Dictionary<string, string>? overrides = null)
    {
        Prefix = TestInfrastructure.UniqueName("t");
        Database = TestInfrastructure.UniqueName("eco_test");
        ClientId = TestInfrastructure.UniqueName("ingest");
        InfluxUrl = influxUrl;
        StationsFile = Path.Combine(Path.GetTempPath(), $"{Prefix}-stations.json");
        File.WriteAllText(StationsFile, ServiceUnderTest.StationsJson);
        HttpPort = ChildProcesses.FreePort();
        _settings = new()
        {
            ["Http:Url"] = $"http://127.0.0.1:{HttpPort}",
            ["Grpc:Url"] = $"http://127.0.0.1:{ChildProcesses.FreePort()}",
            ["Serilog:MinimumLevel:Default"] = "Warning",
            ["Stations:File"] = StationsFile,
            ["Mqtt:Host"] = "127.0.0.1",
            ["Mqtt:Port"] = mqttPort.ToString(CultureInfo.InvariantCulture),
            ["Mqtt:ClientId"] = ClientId,
            ["Mqtt:ReconnectInitialDelay"] = "00:00:00.200",
            ["Mqtt:ReconnectMaxDelay"] = "00:00:01",
            ["Ingestion:TopicPrefix"] = Prefix,
            ["Ingestion:DrainTimeout"] = "00:00:02",
            ["Influx:Url"] = influxUrl.ToString(),
            ["Influx:Database"] = Database,
            ["Influx:FlushInterval"] = "00:00:00.100",
            ["Influx:Timeout"] = "00:00:05",
            ["Influx:RetryInitialDelay"] = "00:00:00.100",
            ["Influx:RetryMaxDelay"] = "00:00:01",
            ["Hj212:Tcp:Enabled"] = "false",
            ["Alerting:Enabled"] = "false",
            ["Alerting:RulesFile"] = "",
        };
        foreach (var (k, v) in overrides ?? []) _settings[k] = v;
    }

    public string Prefix { get; }
    public string Database { get; }
    public string ClientId { get; }
    public string StationsFile { get; }
    public Uri InfluxUrl { get; }
    public int HttpPort { get; }
    public int? Pid => _process?.Id;

    /// <summary>The process started by <see cref="StartAsync"/> is still running (it never exited or restarted).</summary>
    public bool IsRunning => _process is { HasExited: false };

    public string ReadingsTopic(string station) => $"{Prefix}/{station}/readings";

    /// <summary>The last lines the service wrote, for failure messages.</summary>
    public string Output => _output.ToString();

    /// <summary>The service's folder: src/EcoMonitor.Service/bin/{configuration}/{framework}, the configuration and
    /// framework being those of the test binaries (tests/EcoMonitor.Service.Tests/bin/Release/net10.0).</summary>
    public static string ServiceDirectory()
    {
        var testBin = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var framework = testBin.Name;
        var configuration = testBin.Parent!.Name;
        var dir = Path.Combine(ChildProcesses.RepoRoot(), "src", "EcoMonitor.Service", "bin", configuration, framework);
        if (!File.Exists(Path.Combine(dir, "EcoMonitor.Service.dll")))
            throw new InvalidOperationException($"{dir}/EcoMonitor.Service.dll is missing: build the solution (dotnet build EcoMonitor.sln -c {configuration}) before the tests.");
        return dir;
    }

    /// <summary>Starts the process and waits until /readyz answers 200 (subscribed, InfluxDB answering, pipeline
    /// moving).</summary>
    public async Task StartAsync(TimeSpan? timeout = null)
    {
        if (_process is { HasExited: false }) throw new InvalidOperationException("already running");
        var dir = ServiceDirectory();
        var start = new ProcessStartInfo("dotnet", [Path.Combine(dir, "EcoMonitor.Service.dll")])
        {
            WorkingDirectory = dir, // the content root: appsettings.json is read from here
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        foreach (var (k, v) in _settings) start.Environment[k.Replace(":", "__", StringComparison.Ordinal)] = v;
        var process = Process.Start(start)!;
        ChildProcesses.Track(process);
        // ECOMON_TEST_SERVICE_LOG_DIR keeps the whole output of every service process, for debugging a test.
        var logDir = Environment.GetEnvironmentVariable("ECOMON_TEST_SERVICE_LOG_DIR");
        var log = logDir is null ? null : TextWriter.Synchronized(new StreamWriter(Path.Combine(logDir, $"{Prefix}.log"), append: true) { AutoFlush = true });
        process.OutputDataReceived += (_, e) => { _output.Add(e.Data); log?.WriteLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { _output.Add(e.Data); log?.WriteLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        try
        {
            await TestInfrastructure.EventuallyAsync(async () =>
            {
                if (process.HasExited) throw new InvalidOperationException($"the service exited with {process.ExitCode}:\n{Output}");
                try
                {
                    return (await http.GetAsync($"http://127.0.0.1:{HttpPort}/readyz")).StatusCode == HttpStatusCode.OK;
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                    return false;
                }
            }, timeout ?? TimeSpan.FromSeconds(30), "the service process answers /readyz with 200");
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"{e.Message}\n{Output}", e);
        }
    }

    /// <summary>kill -9: no drain, no disconnect; the broker sees the TCP connection die.</summary>
    public async Task KillAsync()
    {
        if (_process is null) return;
        ChildProcesses.Signal(_process.Id, "KILL");
        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        Forget();
    }

    /// <summary>SIGTERM, as systemd stops it: drains and disconnects.</summary>
    public async Task StopAsync()
    {
        if (_process is null) return;
        ChildProcesses.Signal(_process.Id, "TERM");
        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));
        Forget();
    }

    void Forget()
    {
        ChildProcesses.Untrack(_process!);
        _process!.Dispose();
        _process = null;
    }

    /// <summary>One counter from GET /metrics (Prometheus text), e.g. "ecomonitor_messages_acknowledged_total" or
    /// "ecomonitor_rejections_total{reason=\"malformed_json\"}"; 0 when absent.</summary>
    public async Task<long> MetricAsync(string name)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var text = await http.GetStringAsync($"http://127.0.0.1:{HttpPort}/metrics");
        foreach (var line in text.Split('\n'))
            if (line.StartsWith(name + " ", StringComparison.Ordinal))
                return long.Parse(line[(name.Length + 1)..], CultureInfo.InvariantCulture);
        return 0;
    }

    /// <summary>All counters of GET /metrics by name (with labels).</summary>
    public async Task<Dictionary<string, long>> MetricsAsync()
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var text = await http.GetStringAsync($"http://127.0.0.1:{HttpPort}/metrics");
        // Counters only: gauges and histogram sums (seconds, NaN) are not whole numbers.
        var counters = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var l in text.Split('\n').Where(l => l.Length > 0 && l[0] != '#'))
            if (long.TryParse(l[(l.LastIndexOf(' ') + 1)..], NumberStyles.Integer, CultureInfo.InvariantCulture, out var value))
                counters[l[..l.LastIndexOf(' ')]] = value;
        return counters;
    }

    /// <summary>The process's resident set now and its peak (VmRSS, VmHWM from /proc), in bytes.</summary>
    public (long Rss, long PeakRss) Memory()
    {
        var status = File.ReadAllLines($"/proc/{_process!.Id}/status");
        long Kb(string key) => long.Parse(status.Single(l => l.StartsWith(key + ":", StringComparison.Ordinal))[(key.Length + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
        return (Kb("VmRSS"), Kb("VmHWM"));
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is not null)
        {
            ChildProcesses.KillQuietly(_process);
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            Forget();
        }
        File.Delete(StationsFile);
        try
        {
            using var http = new HttpClient { BaseAddress = InfluxUrl, Timeout = TimeSpan.FromSeconds(5) };
            await http.PostAsync("query", new FormUrlEncodedContent(new Dictionary<string, string> { ["q"] = $"DROP DATABASE \"{Database}\"" }));
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            // a private InfluxDB may already be gone
        }
    }
}
