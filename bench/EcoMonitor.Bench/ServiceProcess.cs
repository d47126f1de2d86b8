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

/// <summary>One or more service processes against the same broker, database and stations file. With more than one
/// they form an MQTT 5 shared group (<c>Mqtt:SharedGroup</c>, the broker hands each message to one member), each with
/// its own <c>Mqtt:ClientId</c> (its persistent session) and its own HTTP, gRPC and HJ 212 ports, as a scaled-out
/// deployment runs them. Every member is started and subscribed before <see cref="StartAsync"/> returns.</summary>
sealed class ServiceGroup : IAsyncDisposable
{
    /// <summary>The shared group's name (each benchmark run has a broker of its own).</summary>
    public const string GroupName = "ecomonitor-bench";

    readonly ServiceProcess[] _members;

    ServiceGroup(ServiceProcess[] members) => _members = members;

    public int Count => _members.Length;

    /// <summary>Starts <paramref name="instances"/> processes one after the other. With one, the settings are passed
    /// as they are; with more, member i (from 1) gets <c>Mqtt:ClientId</c> = the given id + i and the group.</summary>
    public static async Task<ServiceGroup> StartAsync(string dll, int instances, IReadOnlyDictionary<string, string> settings)
    {
        var members = new List<ServiceProcess>();
        try
        {
            for (var i = 1; i <= instances; i++)
            {
                var own = new Dictionary<string, string>(settings);
                if (instances > 1)
                {
                    own["Mqtt:SharedGroup"] = GroupName;
                    own["Mqtt:ClientId"] = settings["Mqtt:ClientId"] + i.ToString(CultureInfo.InvariantCulture);
                }
                members.Add(await ServiceProcess.StartAsync(dll, own));
            }
        }
        catch
        {
            await Task.WhenAll(members.Select(m => m.DisposeAsync().AsTask()));
            throw;
        }
        return new ServiceGroup([.. members]);
    }

    /// <summary><c>ecomonitor_messages_acknowledged_total</c> of each member, polled at the same time.</summary>
    public Task<long[]> AcknowledgedAsync() => Task.WhenAll(_members.Select(m => m.AcknowledgedAsync()));

    /// <summary>The counters of each member's GET /metrics.</summary>
    public Task<Dictionary<string, long>[]> MetricsAsync() => Task.WhenAll(_members.Select(m => m.MetricsAsync()));

    /// <summary>The members' counters added up, name by name (with labels).</summary>
    public static Dictionary<string, long> Sum(IEnumerable<Dictionary<string, long>> metrics)
    {
        var sum = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var member in metrics)
            foreach (var (name, value) in member)
                sum[name] = sum.GetValueOrDefault(name) + value;
        return sum;
    }

    /// <summary>User + system CPU time of all members so far.</summary>
    public TimeSpan CpuTime => _members.Aggregate(TimeSpan.Zero, (total, m) => total + m.CpuTime);

    /// <summary>Peak resident set (VmHWM) of the largest member and of all members added up, in bytes.</summary>
    public (long Largest, long Sum) PeakMemory()
    {
        var peaks = _members.Select(m => m.Memory().Peak).ToList();
        return (peaks.Max(), peaks.Sum());
    }

    /// <summary>The last lines each member logged, named by member when there are several.</summary>
    public string Log => _members.Length == 1
        ? _members[0].Log
        : string.Join('\n', _members.Select((m, i) => $"[instance {i + 1}, pid {m.Id}]\n{m.Log}"));

    /// <summary>Stops every member at once (each as <see cref="ServiceProcess.DisposeAsync"/> does).</summary>
    public async ValueTask DisposeAsync() => await Task.WhenAll(_members.Select(m => m.DisposeAsync().AsTask()));
}
