using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace EcoMonitor.Service.Tests.Support;

/// <summary>A mosquitto of the test's own (the real broker, from the project's config template), for tests that
/// restart the broker without disturbing the others.</summary>
public sealed class PrivateBroker : IAsyncDisposable
{
    readonly string _dir = Path.Combine("/tmp", TestInfrastructure.UniqueName("ecomon-broker"));
    Process? _process;

    public PrivateBroker()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        Port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        Directory.CreateDirectory(Path.Combine(_dir, "data"));
        var template = File.ReadAllText(Path.Combine(RepoRoot(), "deploy", "mosquitto", "mosquitto.conf.template"));
        File.WriteAllText(Path.Combine(_dir, "mosquitto.conf"),
            template.Replace("@PORT@", Port.ToString()).Replace("@DATA@", Path.Combine(_dir, "data") + "/"));
        // mosquitto drops root privileges: its data folder must belong to it.
        Run("chmod", $"755 {_dir}");
        Run("chown", $"-R mosquitto: {Path.Combine(_dir, "data")}");
    }

    public int Port { get; }

    public async Task StartAsync()
    {
        _process = Process.Start(new ProcessStartInfo("mosquitto", $"-c {Path.Combine(_dir, "mosquitto.conf")}")
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        })!;
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginErrorReadLine();
        _process.BeginOutputReadLine();
        await TestInfrastructure.EventuallyAsync(async () =>
        {
            using var tcp = new TcpClient();
            try
            {
                await tcp.ConnectAsync(IPAddress.Loopback, Port);
                return true;
            }
            catch (SocketException)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(10), $"mosquitto on port {Port}");
    }

    /// <summary>Stops the broker the way an operator's restart does (SIGTERM: it saves its sessions and exits).</summary>
    public async Task StopAsync()
    {
        if (_process is null) return;
        Run("kill", $"-TERM {_process.Id}");
        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        _process.Dispose();
        _process = null;
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

    static void Run(string file, string args)
    {
        using var p = Process.Start(file, args);
        p.WaitForExit();
    }

    static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "EcoMonitor.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("EcoMonitor.sln not found above the test binaries");
    }
}
