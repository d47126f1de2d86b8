using System.Diagnostics;

namespace EcoMonitor.Service.Tests.Support;

/// <summary>An influxd of the test's own (the real database, from the project's config template, on free loopback
/// ports, in a temporary folder), for tests that need authentication or must stop and start the database under a
/// running service without disturbing the others. The process is killed when the test host exits, whatever
/// happened in the test.</summary>
public sealed class PrivateInflux : IAsyncDisposable
{
    readonly string _dir = Path.Combine("/tmp", TestInfrastructure.UniqueName("ecomon-influx"));
    readonly string _config;
    readonly OutputTail _output = new(100);
    Process? _process;

    public PrivateInflux(bool authEnabled = false)
    {
        Port = ChildProcesses.FreePort();
        var rpc = ChildProcesses.FreePort();
        Directory.CreateDirectory(_dir);
        var template = File.ReadAllText(Path.Combine(ChildProcesses.RepoRoot(), "deploy", "influxdb", "influxdb.conf.template"));
        _config = Path.Combine(_dir, "influxdb.conf");
        File.WriteAllText(_config, template.Replace("@HTTP@", $"127.0.0.1:{Port}").Replace("@RPC@", $"127.0.0.1:{rpc}")
            .Replace("@DIR@", _dir).Replace("auth-enabled = false", $"auth-enabled = {(authEnabled ? "true" : "false")}"));
    }

    public int Port { get; }

    public Uri Url => new($"http://127.0.0.1:{Port}/");

    /// <summary>The last lines influxd wrote, for failure messages.</summary>
    public string Output => _output.ToString();

    /// <summary>Starts influxd (again, after <see cref="StopAsync"/>, on the same data) and waits until /ping answers.</summary>
    public async Task StartAsync()
    {
        var process = Process.Start(new ProcessStartInfo("influxd", ["run", "-config", _config])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        })!;
        ChildProcesses.Track(process);
        process.ErrorDataReceived += (_, e) => _output.Add(e.Data);
        process.OutputDataReceived += (_, e) => _output.Add(e.Data);
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        _process = process;
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(1) };
        await TestInfrastructure.EventuallyAsync(async () =>
        {
            if (process.HasExited) throw new InvalidOperationException($"influxd exited with {process.ExitCode}:\n{Output}");
            try
            {
                return (await http.GetAsync(new Uri(Url, "ping"))).IsSuccessStatusCode;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(30), $"influxd on port {Port}");
    }

    /// <summary>Stops influxd as an operator would (SIGTERM: it closes its shards and exits); its data stays.</summary>
    public async Task StopAsync()
    {
        if (_process is null) return;
        ChildProcesses.Signal(_process.Id, "TERM");
        try
        {
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(15));
        }
        catch (TimeoutException)
        {
            ChildProcesses.KillQuietly(_process);
            await _process.WaitForExitAsync();
        }
        ChildProcesses.Untrack(_process);
        _process.Dispose();
        _process = null;
    }

    /// <summary>Runs InfluxQL over HTTP (as <paramref name="user"/> when given) and fails the test on an error.</summary>
    public async Task QueryAsync(string influxQl, (string User, string Password)? user = null)
    {
        using var http = new HttpClient { BaseAddress = Url };
        using var request = new HttpRequestMessage(HttpMethod.Post, "query") { Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["q"] = influxQl }) };
        if (user is var (u, p))
            request.Headers.Authorization = new("Basic", Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"{u}:{p}")));
        var response = await http.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode || body.Contains("\"error\"")) throw new InvalidOperationException($"{influxQl}: {(int)response.StatusCode} {body}");
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is not null)
        {
            ChildProcesses.KillQuietly(_process);
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            ChildProcesses.Untrack(_process);
            _process.Dispose();
            _process = null;
        }
        try
        {
            Directory.Delete(_dir, true);
        }
        catch (IOException)
        {
        }
    }
}
