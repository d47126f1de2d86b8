using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using EcoMonitor.Api.V1;
using EcoMonitor.Cli;
using EcoMonitor.Service.Tests.Support;

namespace EcoMonitor.Service.Tests;

/// <summary>`ecomon` as a newcomer runs it: a real process (`dotnet ecomon.dll`, the CLI project's build)
/// against a stopped service, a wrong key, the HTTP port, with the key in the environment; what it prints for
/// times, names and verdicts it cannot give; and the chart of a range without data.</summary>
[Trait("Category", "Integration")]
public sealed class CliErrorTests(Xunit.Abstractions.ITestOutputHelper log) : IAsyncLifetime
{
    readonly ServiceUnderTest _service = new();

    public Task InitializeAsync() => _service.StartAsync();

    public Task DisposeAsync() => _service.DisposeAsync().AsTask();

    /// <summary>Runs ecomon with only the given ECOMON_* variables (none inherited), at most a minute.</summary>
    Task<(int Code, string Out, string Err)> Ecomon(Dictionary<string, string>? environment, params string[] args) => Run("dotnet", [CliDll(), .. args], environment);

    async Task<(int Code, string Out, string Err)> Run(string program, string[] args, Dictionary<string, string>? environment)
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
            UseShellExecute = false,
        };
        foreach (var a in args) start.ArgumentList.Add(a);
        start.Environment.Remove("ECOMON_API_KEY");
        start.Environment.Remove("ECOMON_SERVER");
        foreach (var (k, v) in environment ?? []) start.Environment[k] = v;
        using var process = Process.Start(start)!;
        ChildProcesses.Track(process);
        try
        {
            var output = process.StandardOutput.ReadToEndAsync();
            var error = process.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await process.WaitForExitAsync(timeout.Token);
            var result = (process.ExitCode, await output, await error);
            log.WriteLine($"$ ecomon {string.Join(' ', args)}\n{result.Item2}{result.Item3}exit {result.ExitCode}");
            return result;
        }
        finally
        {
            ChildProcesses.KillQuietly(process);
            ChildProcesses.Untrack(process);
        }
    }

    /// <summary>The CLI's own build, src/EcoMonitor.Cli/bin/{configuration}/{framework}/ecomon.dll (the copy next to
    /// the tests resolves the tests' newer dependencies against the CLI's deps.json and does not start).</summary>
    static string CliDll()
    {
        var testBin = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var dll = Path.Combine(ChildProcesses.RepoRoot(), "src", "EcoMonitor.Cli", "bin", testBin.Parent!.Name, testBin.Name, "ecomon.dll");
        Assert.True(File.Exists(dll), $"{dll} is missing: build the solution before the tests");
        return dll;
    }

    static string[] Lines(string s) => s.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>The second line (the hint), failing with the whole output when there is none.</summary>
    static string Hint(string err)
    {
        var lines = Lines(err);
        Assert.True(lines.Length > 1, $"expected an error line and a hint, got: {err}");
        return lines[1];
    }

    static void OneErrorLine(string err, string prefix)
    {
        var lines = Lines(err);
        Assert.True(lines.Length is 1 or 2, err);
        Assert.StartsWith(prefix, lines[0]);
        if (lines.Length == 2) Assert.StartsWith("hint: ", lines[1]);
        Assert.DoesNotContain("   at ", err);
        Assert.DoesNotContain("Unhandled exception", err);
        Assert.DoesNotContain("RpcException", err);
    }

    string HostPort => $"{_service.GrpcAddress.Host}:{_service.GrpcAddress.Port}";

    [Fact]
    public async Task Errors_are_one_line_with_the_status_and_exit_1_never_a_stack_trace()
    {
        // A stopped service: nobody listens on the port. The port stays bound (not listening: connections are refused)
        // so that no other test's listener can take it meanwhile.
        using var holder = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        holder.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        var closed = ((System.Net.IPEndPoint)holder.LocalEndPoint!).Port;
        var (code, output, err) = await Ecomon(null, "stations", "--server", $"127.0.0.1:{closed}", "--key", ServiceUnderTest.ReaderKey);
        Assert.Equal(1, code);
        Assert.Equal("", output);
        OneErrorLine(err, "error: Unavailable: ");
        Assert.Contains($"127.0.0.1:{closed}", Hint(err));

        // A wrong key (from the environment), and no key at all.
        (code, _, err) = await Ecomon(new() { ["ECOMON_API_KEY"] = "not-a-key-of-this-service" }, "stations", "--server", HostPort);
        Assert.Equal(1, code);
        OneErrorLine(err, "error: Unauthenticated: ");
        Assert.Equal("hint: give an API key with --key KEY or the environment variable ECOMON_API_KEY", Hint(err));

        // A reader asking for an operator's call.
        (code, _, err) = await Ecomon(null, "alerts", "evaluate", "--server", HostPort, "--key", ServiceUnderTest.ReaderKey);
        Assert.Equal(1, code);
        OneErrorLine(err, "error: PermissionDenied: ");

        // The HTTP/1.1 port instead of the gRPC one.
        (code, _, err) = await Ecomon(null, "stations", "--server", _service.HttpAddress.ToString(), "--key", ServiceUnderTest.ReaderKey);
        Assert.Equal(1, code);
        OneErrorLine(err, "error: ");
        Assert.Equal("hint: that is the service's HTTP port (Http:Url, 8480 by default); gRPC listens on Grpc:Url (8481 by default)", Hint(err));

        // A bad argument found by the service, one found by ecomon, and a command line that does not parse (exit 2).
        (code, _, err) = await Ecomon(null, "aggregate", "--station", "nope", "--parameter", "pm25", "--period", "day", "--from", "2026-01-07", "--to", "2026-01-07",
            "--server", HostPort, "--key", ServiceUnderTest.ReaderKey);
        Assert.Equal(1, code);
        OneErrorLine(err, "error: InvalidArgument: selection.station_ids[0]: no station 'nope'");
        (code, _, err) = await Ecomon(null, "stations", "--server", "ftp://example", "--key", "x");
        Assert.Equal(1, code);
        OneErrorLine(err, "error: InvalidArgument: --server: 'ftp://example' is not host:port, http://host:port or https://host:port");
        // A password in the server's URL is never echoed.
        (code, _, err) = await Ecomon(null, "stations", "--server", "http://ops:pa55word@127.0.0.1:1", "--key", "x");
        Assert.Equal(1, code);
        OneErrorLine(err, "error: InvalidArgument: --server: 'http://***@127.0.0.1:1' is not host:port, http://host:port or https://host:port");
        Assert.DoesNotContain("pa55word", err);
        // A date that is not yyyy-MM-dd is named as typed, before any call (exit 2 like any command line that does not parse).
        (code, _, err) = await Ecomon(null, "aggregate", "--station", "air-1", "--parameter", "pm25", "--period", "day", "--from", "03/01/2026", "--to", "2026-02-30",
            "--server", HostPort, "--key", ServiceUnderTest.ReaderKey);
        Assert.Equal(2, code);
        OneErrorLine(err, "error: InvalidArgument: --from: '03/01/2026' is not a date yyyy-MM-dd; --to: '2026-02-30' is not a date yyyy-MM-dd");
        (code, _, err) = await Ecomon(null, "aggregate", "--station", "air-1");
        Assert.Equal(2, code);
        OneErrorLine(err, "error: InvalidArgument: Option '--parameter' is required");
        Assert.Equal("hint: ecomon aggregate --help", Hint(err));
    }

    /// <summary>Kestrel's HTTP/1.1-only port answers the HTTP/2 preface with a GOAWAY HTTP_1_1_REQUIRED and closes;
    /// with the client's frames still unread the kernel resets the connection and on a loaded machine the client sees
    /// the reset first ("the server did not complete the HTTP/2 handshake", no HTTP_1_1_REQUIRED: it failed CI that
    /// way). A fault-injecting listener makes that ordering certain: it resets every HTTP/2 connection without a
    /// GOAWAY and answers HTTP/1.1 requests. ecomon must still tell that the port speaks HTTP/1.1 only.</summary>
    [Fact]
    public async Task The_HTTP_port_is_named_also_when_the_connection_is_reset_before_the_GOAWAY_is_read()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        using var stop = new CancellationTokenSource();
        int http2 = 0, http1 = 0;
        var serving = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                using var socket = await listener.AcceptSocketAsync(stop.Token);
                var buffer = new byte[4096];
                var n = await socket.ReceiveAsync(buffer, System.Net.Sockets.SocketFlags.None, stop.Token);
                if (Encoding.ASCII.GetString(buffer, 0, n).StartsWith("PRI * HTTP/2.0", StringComparison.Ordinal))
                {
                    Interlocked.Increment(ref http2);
                    socket.LingerState = new System.Net.Sockets.LingerOption(true, 0); // close = RST, no GOAWAY
                }
                else
                {
                    Interlocked.Increment(ref http1);
                    await socket.SendAsync("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"u8.ToArray(), System.Net.Sockets.SocketFlags.None, stop.Token);
                    socket.Shutdown(System.Net.Sockets.SocketShutdown.Send);
                }
            }
        });
        try
        {
            var (code, output, err) = await Ecomon(null, "stations", "--server", $"127.0.0.1:{port}", "--key", ServiceUnderTest.ReaderKey);
            Assert.Equal(1, code);
            Assert.Equal("", output);
            Assert.True(http2 >= 1, "ecomon never tried HTTP/2");
            Assert.True(http1 >= 1, "ecomon never asked in HTTP/1.1");
            OneErrorLine(err, $"error: ");
            Assert.Contains($"127.0.0.1:{port} answers HTTP/1.1 only, not gRPC", Lines(err)[0]);
            Assert.Equal(Failure.HttpPortHint, Hint(err));
        }
        finally
        {
            stop.Cancel();
            listener.Stop();
            await Task.WhenAny(serving, Task.Delay(5000));
        }
    }

    [Fact]
    public async Task Server_as_host_port_key_from_the_environment_never_shown_by_help()
    {
        const string secret = "sekrit-reader-key-000000000001";
        foreach (var args in new[] { new[] { "--help" }, ["aggregate", "--help"], ["alerts", "ack", "--help"] })
        {
            var (helpCode, help, helpErr) = await Ecomon(new() { ["ECOMON_API_KEY"] = secret, ["ECOMON_SERVER"] = HostPort }, args);
            Assert.True(helpCode == 0, helpErr);
            Assert.Contains("--key", help);
            Assert.DoesNotContain(secret, help + helpErr);
            Assert.DoesNotContain("sekrit", help + helpErr);
        }

        // host:port without a scheme, on the command line and in ECOMON_SERVER; the key from ECOMON_API_KEY.
        var (code, output, err) = await Ecomon(new() { ["ECOMON_API_KEY"] = ServiceUnderTest.ReaderKey }, "stations", "--kind", "water", "--server", HostPort);
        Assert.True(code == 0, err);
        Assert.Contains(Lines(output), l => Regex.IsMatch(l, @"^w-fyh-1\s+滏阳河上游断面\s+water\s+高新区"));
        (code, output, err) = await Ecomon(new() { ["ECOMON_API_KEY"] = ServiceUnderTest.ReaderKey, ["ECOMON_SERVER"] = HostPort }, "stations", "--json");
        Assert.True(code == 0, err);
        Assert.Equal(5, JsonDocument.Parse(output).RootElement.GetProperty("stations").GetArrayLength());
        Assert.Equal("", err);

        // deploy/bin/ecomon through a link elsewhere (as on the PATH) finds the repository's build.
        var link = Path.Combine(Path.GetTempPath(), $"{_service.Prefix}-ecomon");
        File.CreateSymbolicLink(link, Path.Combine(ChildProcesses.RepoRoot(), "deploy", "bin", "ecomon"));
        try
        {
            (code, output, err) = await Run(link, ["latest", "--station", "air-1"], new() { ["ECOMON_API_KEY"] = ServiceUnderTest.ReaderKey, ["ECOMON_SERVER"] = HostPort });
            Assert.True(code == 0, err);
            Assert.StartsWith("station  name  parameter  time (China)", output);
        }
        finally
        {
            File.Delete(link);
        }
    }

    [Fact]
    public async Task Times_in_China_time_names_beside_ids_and_unknown_without_data()
    {
        // 2026-01-05 18:45 UTC is 2026-01-06 02:45 in China: the reading belongs to the China date 2026-01-06.
        await Seed.WriteAsync(_service.Database, [Seed.Line("voc-1", "nmhc", new DateTimeOffset(2026, 1, 5, 18, 45, 0, TimeSpan.Zero), 31.5)]);
        var key = new Dictionary<string, string> { ["ECOMON_API_KEY"] = ServiceUnderTest.ReaderKey, ["ECOMON_SERVER"] = HostPort };
        var (code, output, err) = await Ecomon(key, "voc", "--from", "2026-01-06", "--to", "2026-01-06");
        Assert.True(code == 0, err);
        Assert.Contains(Lines(output), l => Regex.IsMatch(l, @"^voc-1\s+化工园区厂界\s+single-value\s+2026-01-06 02:45\s+31\.5\s+30$"));
        (code, output, _) = await Ecomon(key, "voc", "--from", "2026-01-05", "--to", "2026-01-05");
        Assert.Equal(0, code);
        Assert.DoesNotContain("single-value", output);

        // No water data in January: no class, no verdict; the target has no valid mean: no verdict.
        (code, output, err) = await Ecomon(key, "water", "--from", "2026-01-01", "--to", "2026-01-31");
        Assert.True(code == 0, err);
        Assert.Contains(Lines(output), l => Regex.IsMatch(l, @"^w-fyh-1\s+滏阳河上游断面\s+unknown\s+IV\s+unknown\s+no valid data$"));
        (code, output, err) = await Ecomon(key, "target", "--as-of", "2026-01-31", "--past-years", "0");
        Assert.True(code == 0, err);
        Assert.Contains(Lines(output), l => Regex.IsMatch(l, @"^zone\s+-3\s+unknown(\s|$)"));

        // The JSON API (transcoding) omits meetsTarget without a class, and gives it with one.
        using var http = new HttpClient { BaseAddress = _service.HttpAddress };
        http.DefaultRequestHeaders.Add("x-api-key", ServiceUnderTest.ReaderKey);
        using (var empty = JsonDocument.Parse(await http.GetStringAsync("/v1/water?from=2026-01-01&to=2026-01-31")))
        {
            var section = empty.RootElement.GetProperty("sections")[0];
            Assert.Equal("w-fyh-1", section.GetProperty("stationId").GetString());
            Assert.False(section.TryGetProperty("meetsTarget", out _), section.ToString());
        }
        // nh3n 2.5 mg/L is class 劣V (V allows 2.0): a river section with target IV fails it.
        await Seed.WriteAsync(_service.Database, [Seed.Line("w-fyh-1", "nh3n", new DateTimeOffset(2026, 2, 10, 10, 0, 0, Seed.China), 2.5)]);
        using (var measured = JsonDocument.Parse(await http.GetStringAsync("/v1/water?from=2026-02-01&to=2026-02-28")))
            Assert.False(measured.RootElement.GetProperty("sections")[0].GetProperty("meetsTarget").GetBoolean());
        (code, output, _) = await Ecomon(key, "water", "--from", "2026-02-01", "--to", "2026-02-28");
        Assert.Equal(0, code);
        Assert.Contains(Lines(output), l => Regex.IsMatch(l, @"^w-fyh-1\s+滏阳河上游断面\s+劣V\s+IV\s+no\s+nh3n\s+nh3n=2\.5\(劣V\)$"));
    }

    [Fact]
    public async Task A_chart_without_data_says_so_over_the_requested_range()
    {
        var png = Path.Combine(Path.GetTempPath(), $"{_service.Prefix}-empty.png");
        try
        {
            var (code, _, err) = await Ecomon(new() { ["ECOMON_API_KEY"] = ServiceUnderTest.ReaderKey },
                "aggregate", "--station", "air-1", "--parameter", "pm25", "--period", "day", "--from", "2026-01-07", "--to", "2026-01-09", "--png", png, "--server", HostPort);
            Assert.True(code == 0, err);
            var bytes = await File.ReadAllBytesAsync(png);
            Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, bytes[..4]);
        }
        finally
        {
            File.Delete(png);
        }

        // What that picture says, from the same response.
        using var channel = Seed.Channel(_service);
        var client = new QueryService.QueryServiceClient(channel);
        var request = new AggregateRequest { Selection = new Selection { StationIds = { "air-1" } }, Parameter = "pm25", Period = Period.Day, From = "2026-01-07", To = "2026-01-09" };
        var names = new StationNames(new Dictionary<string, string> { ["air-1"] = "管委会" });
        var empty = Chart.Model(await client.AggregateAsync(request, Seed.Key(ServiceUnderTest.ReaderKey)), new DateOnly(2026, 1, 7), new DateOnly(2026, 1, 9), names);
        Assert.Equal("no valid data from 2026-01-07 to 2026-01-09", empty.Message);
        Assert.Equal("pm25 (µg/m³), day means, 2026-01-07 to 2026-01-09 (China time)", empty.Title);
        Assert.Equal((new DateTime(2026, 1, 7), new DateTime(2026, 1, 10)), (empty.XMin, empty.XMax));
        Assert.Empty(empty.Series);
        Assert.Equal(75, empty.Limit?.Value);

        // Valid days 7 and 9 around an invalid 8th: two runs (a gap, no zero, no line across), named in the legend.
        await Seed.WriteAsync(_service.Database, Seed.Day("air-1", "pm25", new DateOnly(2026, 1, 7), 42).Concat(Seed.Day("air-1", "pm25", new DateOnly(2026, 1, 9), 88)));
        var trend = Chart.Model(await client.AggregateAsync(request, Seed.Key(ServiceUnderTest.ReaderKey)), new DateOnly(2026, 1, 7), new DateOnly(2026, 1, 9), names);
        Assert.Null(trend.Message);
        var series = Assert.Single(trend.Series);
        Assert.Equal("air-1 管委会", series.Label);
        Assert.Equal(2, series.Runs.Count);
        Assert.Equal((new DateTime(2026, 1, 7), 42.0), Assert.Single(series.Runs[0]));
        Assert.Equal((new DateTime(2026, 1, 9), 88.0), Assert.Single(series.Runs[1]));
    }
}
