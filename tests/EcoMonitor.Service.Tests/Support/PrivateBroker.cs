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

    /// <param name="extraConfig">Lines appended to the configuration; "@DIR@" stands for the broker's folder.</param>
    public PrivateBroker(string extraConfig = "", bool anonymous = true)
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        Port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        System.IO.Directory.CreateDirectory(Path.Combine(_dir, "data"));
        var template = File.ReadAllText(Path.Combine(RepoRoot(), "deploy", "mosquitto", "mosquitto.conf.template"));
        File.WriteAllText(Path.Combine(_dir, "mosquitto.conf"),
            template.Replace("@PORT@", Port.ToString()).Replace("@DATA@", Path.Combine(_dir, "data") + "/")
                .Replace("allow_anonymous true", $"allow_anonymous {(anonymous ? "true" : "false")}")
            + "\n" + extraConfig.Replace("@DIR@", _dir) + "\n");
        // mosquitto drops root privileges: its data folder must belong to it.
        Run("chmod", $"755 {_dir}");
        Run("chown", $"-R mosquitto: {Path.Combine(_dir, "data")}");
    }

    public int Port { get; }

    /// <summary>The broker's folder, for certificates and password files the test puts there.</summary>
    public string Directory => _dir;

    /// <summary>Runs a program (openssl, mosquitto_passwd) in the broker's folder and fails the test if it fails.</summary>
    public void Exec(string file, string args)
    {
        using var p = Process.Start(new ProcessStartInfo(file, args) { WorkingDirectory = _dir, RedirectStandardError = true, RedirectStandardOutput = true })!;
        var err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{file} {args} failed: {err}");
    }

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
            System.IO.Directory.Delete(_dir, true);
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
