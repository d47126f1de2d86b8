using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

/// <summary>EcoMonitor as its own process (the built EcoMonitor.Service.dll, configured on the command line), so that
/// its CPU time and peak resident set are its own and exact (/proc/PID), not mixed with the publisher's and the
/// reference subscriber's. Counters come from its GET /metrics.</summary>
sealed partial class ServiceProcess : IAsyncDisposable
{
    readonly Process _process;
    readonly HttpClient _http;
    readonly string _dir;
    readonly Queue<string> _log = new();

    ServiceProcess(Process process, HttpClient http, string dir) => (_process, _http, _dir) = (process, http, dir);

    public int Id => _process.Id;

    /// <summary>The service's DLL: --service-dll, else next to the repository's build output.</summary>
    public static string LocateDll(string? explicitPath)
    {
        if (explicitPath is not null) return Path.GetFullPath(explicitPath);
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "src", "EcoMonitor.Service", "bin", "Release", "net10.0", "EcoMonitor.Service.dll");
            if (File.Exists(candidate)) return candidate;
        }
        throw new FileNotFoundException("EcoMonitor.Service.dll not found: build the service (Release) or pass --service-dll");
    }

    public static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    public static async Task<ServiceProcess> StartAsync(string dll, IReadOnlyDictionary<string, string> settings)
    {
        var dir = Directory.CreateTempSubdirectory("ecomon-bench-service").FullName;
        var httpPort = FreePort();
        var all = new Dictionary<string, string>(settings)
        {
            ["Http:Url"] = $"http://127.0.0.1:{httpPort}",
            ["Grpc:Url"] = $"http://127.0.0.1:{FreePort()}",
            ["Hj212:Tcp:Port"] = FreePort().ToString(CultureInfo.InvariantCulture),
            ["Alerting:StateFile"] = Path.Combine(dir, "alerts-state.json"),
            ["Serilog:MinimumLevel:Default"] = "Warning",
        };
        var start = new ProcessStartInfo("dotnet") { WorkingDirectory = Path.GetDirectoryName(dll)!, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(dll);
        foreach (var (key, value) in all) start.ArgumentList.Add($"--{key}={value}");
        // The GC and thread-pool settings are the service's own (its runtimeconfig): measured as shipped.
        var process = Process.Start(start)!;
        var service = new ServiceProcess(process, new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}/"), Timeout = TimeSpan.FromSeconds(10) }, dir);
        process.OutputDataReceived += (_, e) => service.Keep(e.Data);
        process.ErrorDataReceived += (_, e) => service.Keep(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var sw = Stopwatch.StartNew();
        while (true)
        {
            if (process.HasExited) throw new InvalidOperationException($"the service exited with {process.ExitCode}: {service.Log}");
            if (sw.Elapsed > TimeSpan.FromSeconds(60)) throw new TimeoutException($"the service did not subscribe within 60 s: {service.Log}");
            try
            {
                if ((await service._http.GetStringAsync("healthz")).Contains("\"subscribed\"", StringComparison.Ordinal)) return service;
            }
            catch (HttpRequestException)
            {
            }
            await Task.Delay(100);
        }
    }

    void Keep(string? line)
    {
        if (line is null) return;
        lock (_log)
        {
            _log.Enqueue(line);
            while (_log.Count > 20) _log.Dequeue();
        }
    }

    public string Log
    {
        get { lock (_log) return string.Join('\n', _log); }
    }

    /// <summary>The counters of GET /metrics (name with its labels -> value).</summary>
    public async Task<Dictionary<string, long>> MetricsAsync()
    {
        var text = await _http.GetStringAsync("metrics");
        var result = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (Match m in MetricLine().Matches(text)) result[m.Groups[1].Value] = long.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
        return result;
    }

    public async Task<long> AcknowledgedAsync() => (await MetricsAsync()).GetValueOrDefault("ecomonitor_messages_acknowledged_total");

    [GeneratedRegex(@"^(ecomonitor_[a-z_]+(?:\{[^}]*\})?) (\d+)$", RegexOptions.Multiline)]
    private static partial Regex MetricLine();

    /// <summary>User + system CPU time of the service so far.</summary>
    public TimeSpan CpuTime
    {
        get
        {
            _process.Refresh();
            return _process.TotalProcessorTime;
        }
    }

    /// <summary>Resident set now and its peak since start (VmRSS, VmHWM of /proc/PID/status), in bytes.</summary>
    public (long Rss, long Peak) Memory()
    {
        long rss = 0, peak = 0;
        foreach (var line in File.ReadLines($"/proc/{_process.Id}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal)) rss = Kilobytes(line);
            else if (line.StartsWith("VmHWM:", StringComparison.Ordinal)) peak = Kilobytes(line);
        }
        return (rss, peak);

        static long Kilobytes(string line) => long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
    }

    /// <summary>Stops the service as an operator would (SIGTERM: it drains and disconnects), killing it after 15 s.</summary>
    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            using (var kill = Process.Start(new ProcessStartInfo("kill", $"-TERM {_process.Id}")))
                await kill!.WaitForExitAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            try
            {
                await _process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }
        }
        _process.Dispose();
        _http.Dispose();
        Directory.Delete(_dir, true);
    }
}
