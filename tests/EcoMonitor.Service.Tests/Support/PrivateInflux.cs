using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace EcoMonitor.Service.Tests.Support;

/// <summary>An influxd of the test's own (the real database, from the project's config template, on free loopback
/// ports, in a temporary folder), for tests that need authentication or must stop the database.</summary>
public sealed class PrivateInflux : IAsyncDisposable
{
    readonly string _dir = Path.Combine("/tmp", TestInfrastructure.UniqueName("ecomon-influx"));
    readonly string _config;
    Process? _process;

    public PrivateInflux(bool authEnabled = false)
    {
        Port = FreePort();
        var rpc = FreePort();
        Directory.CreateDirectory(_dir);
        var template = File.ReadAllText(Path.Combine(RepoRoot(), "deploy", "influxdb", "influxdb.conf.template"));
        _config = Path.Combine(_dir, "influxdb.conf");
        File.WriteAllText(_config, template.Replace("@HTTP@", $"127.0.0.1:{Port}").Replace("@RPC@", $"127.0.0.1:{rpc}")
            .Replace("@DIR@", _dir).Replace("auth-enabled = false", $"auth-enabled = {(authEnabled ? "true" : "false")}"));
    }

    public int Port { get; }

    public Uri Url => new($"http://127.0.0.1:{Port}/");

    public async Task StartAsync()
    {
        _process = Process.Start(new ProcessStartInfo("influxd", $"run -config {_config}") { RedirectStandardError = true, RedirectStandardOutput = true })!;
        _process.ErrorDataReceived += (_, _) => { };
        _process.OutputDataReceived += (_, _) => { };
        _process.BeginErrorReadLine();
        _process.BeginOutputReadLine();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(1) };
        await TestInfrastructure.EventuallyAsync(async () =>
        {
            try
            {
                return (await http.GetAsync(new Uri(Url, "ping"))).IsSuccessStatusCode;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(15), $"influxd on port {Port}");
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
        if (_process is { HasExited: false })
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }
        _process?.Dispose();
        try
        {
            Directory.Delete(_dir, true);
        }
        catch (IOException)
        {
        }
    }

    static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "EcoMonitor.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("EcoMonitor.sln not found above the test binaries");
    }
}
