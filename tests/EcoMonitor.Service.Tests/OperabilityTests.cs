using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using EcoMonitor.Api.V1;
using EcoMonitor.Service.Tests.Support;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Configuration;

namespace EcoMonitor.Service.Tests;

/// <summary>The service as an operator runs it, as a real process: exit codes and one-line messages when it cannot
/// start (a port in use, a wrong setting, https without a certificate), https on the HTTP endpoint, --check-config,
/// the log formats and the file sink, a log line per gRPC call, and no secret in any log line.</summary>
[Trait("Category", "Integration")]
[Collection(ProcessFaultTests.Collection)] // one service process at a time with the other process tests: each loads the machine
public sealed class OperabilityTests
{
    [Theory]
    [InlineData("Http:Url")]
    [InlineData("Grpc:Url")]
    [InlineData("Hj212:Tcp:Port")]
    public async Task A_port_in_use_stops_the_start_with_exit_2_naming_the_setting_before_anything_connects(string setting)
    {
        using var holder = new TcpListener(IPAddress.Loopback, 0);
        holder.Start();
        var port = ((IPEndPoint)holder.LocalEndpoint).Port;
        // The broker the service would connect to: nothing may connect before the ports are known to be free.
        using var broker = new TcpListener(IPAddress.Loopback, 0);
        broker.Start();
        await using var run = new ServiceRun(new()
        {
            [setting] = setting == "Hj212:Tcp:Port" ? port.ToString(CultureInfo.InvariantCulture) : $"http://127.0.0.1:{port}",
            ["Hj212:Tcp:Enabled"] = setting == "Hj212:Tcp:Port" ? "true" : "false",
            ["Mqtt:Port"] = ((IPEndPoint)broker.LocalEndpoint).Port.ToString(CultureInfo.InvariantCulture),
        });
        Assert.Equal(2, await run.ExitCodeAsync());
        Assert.Contains($"{setting}: 127.0.0.1:{port} is already in use", run.Output);
        AssertNoStackTrace(run.Output);
        Assert.False(broker.Pending(), "the service connected to the broker before it found the port in use");
    }

    [Fact]
    public async Task Wrong_settings_exit_2_with_every_problem_named_in_one_line_each()
    {
        await using var run = new ServiceRun(new() { ["Mqtt:Port"] = "abc", ["Influx:BatchSize"] = "0", ["Logging:Format"] = "Xml" });
        Assert.Equal(2, await run.ExitCodeAsync());
        Assert.Contains("Mqtt:Port: 'abc' is not a valid whole number.", run.Output);
        Assert.Contains("Influx:BatchSize: The field BatchSize must be between 1 and 100000.", run.Output);
        Assert.Contains("Logging:Format must be one of Plain, Json (got 'Xml').", run.Output);

        // A password in InfluxDB's URL: refused (HttpClient would not send it, and the URL is logged), never echoed.
        await using var url = new ServiceRun(new() { ["Influx:Url"] = "http://ecomonitor:influx-url-secret-71c@127.0.0.1:8086" });
        Assert.Equal(2, await url.ExitCodeAsync());
        Assert.Contains("Influx:Url must not carry user:password@; give Influx:Username and Influx:Password (or Influx:Token).", url.Output);
        Assert.DoesNotContain("influx-url-secret-71c", url.Output);
        AssertNoStackTrace(run.Output);
    }

    [Fact]
    public async Task A_failure_found_after_the_start_exits_2_with_its_message_not_0()
    {
        // The alert state file is read when alerting runs; a broken one stops the service (as documented), which
        // then exited 0 as after a normal stop, and systemd saw a clean exit.
        var state = TempFile("{not json");
        await using var run = new ServiceRun(new() { ["Alerting:Enabled"] = "true", ["Alerting:StateFile"] = state });
        Assert.Equal(2, await run.ExitCodeAsync());
        Assert.Contains($"FTL Alerting:StateFile: '{state}' cannot be read", run.Output);
        File.Delete(state);
    }

    [Fact]
    public async Task An_https_Http_Url_without_a_certificate_is_refused_at_start()
    {
        await using var run = new ServiceRun(new() { ["Http:Url"] = $"https://127.0.0.1:{ChildProcesses.FreePort()}" });
        Assert.Equal(2, await run.ExitCodeAsync());
        Assert.Contains("Http:Url is https but Http:Tls:CertificatePath is not set", run.Output);
        AssertNoStackTrace(run.Output);
    }

    [Fact]
    public async Task An_https_Http_Url_with_a_certificate_is_served_over_tls_and_not_in_clear()
    {
        using var certificate = new SelfSignedCertificate("http-pass-0001");
        var port = ChildProcesses.FreePort();
        await using var run = new ServiceRun(new()
        {
            ["Http:Url"] = $"https://127.0.0.1:{port}",
            ["Http:Tls:CertificatePath"] = certificate.Path,
            ["Http:Tls:CertificatePassword"] = certificate.Password,
        });
        string? presented = null;
        using var https = new HttpClient(new SocketsHttpHandler
        {
            SslOptions = { RemoteCertificateValidationCallback = (_, c, _, _) => { presented = c?.Subject; return true; } },
        }) { Timeout = TimeSpan.FromSeconds(5) };
        await run.StartAsync(new Uri($"https://127.0.0.1:{port}/readyz"), https);
        Assert.Equal("CN=localhost", presented);

        // The JSON API with its key over TLS.
        using var request = new HttpRequestMessage(HttpMethod.Get, $"https://127.0.0.1:{port}/v1/stations");
        request.Headers.Add("x-api-key", ServiceRun.ReaderKey);
        using var response = await https.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(5, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("stations").GetArrayLength());

        // Plain HTTP to the same port gets no answer.
        using var plain = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        await Assert.ThrowsAnyAsync<Exception>(async () => (await plain.GetAsync($"http://127.0.0.1:{port}/readyz")).EnsureSuccessStatusCode());
    }

    const string GoodRules = """
        // comments are allowed, as in the shipped file
        { "Rules": [
            { "Name": "pm25-24h", "Kind": "daily-mean", "Parameter": "pm25" },
            { "Name": "nmhc-1h", "Kind": "hourly-mean", "Parameter": "nmhc", "Severity": "critical", "Channels": ["broker"] }
          ],
          "Routes": [ { "Severities": ["warning"], "Channels": ["broker"] } ] }
        """;

    [Fact]
    public async Task Check_config_reports_a_good_configuration_and_exits_0_without_listening_or_connecting()
    {
        var rules = TempFile(GoodRules);
        // Both held by the test: --check-config neither listens on Http:Url nor connects to the broker.
        using var http = new TcpListener(IPAddress.Loopback, 0);
        http.Start();
        using var broker = new TcpListener(IPAddress.Loopback, 0);
        broker.Start();
        await using var run = new ServiceRun(new()
        {
            ["Http:Url"] = $"http://127.0.0.1:{((IPEndPoint)http.LocalEndpoint).Port}",
            ["Mqtt:Port"] = ((IPEndPoint)broker.LocalEndpoint).Port.ToString(CultureInfo.InvariantCulture),
            ["Alerting:Enabled"] = "true",
            ["Alerting:RulesFile"] = rules,
            ["Alerting:Channels:0:Name"] = "broker",
            ["Alerting:Channels:0:Type"] = "mqtt",
        }, ["--check-config"]);
        Assert.Equal(0, await run.ExitCodeAsync());
        Assert.Contains($"stations: 5 from {run.StationsFile} (3 air, 1 VOCs, 1 water)", run.Output);
        Assert.Contains($"alert rules: 2 rule(s), 1 route(s), 0 maintenance window(s) from {rules}; channels broker (mqtt)", run.Output);
        Assert.Contains("standards: GB 3095-2012, HJ 633-2012, GB 3838-2002", run.Output);
        // Every section of StrictSettings.Sections, the import's among them.
        Assert.Contains("settings: 13 sections (Mqtt, Ingestion, Influx, Health, Rollup, Stations, Hj212, Api, Voc, Standards, Alerting, Logging, Import), all valid", run.Output);
        Assert.Contains("OK: no problems found.", run.Output);
        Assert.False(broker.Pending(), "--check-config connected to the broker");
        File.Delete(rules);
    }

    [Fact]
    public async Task Check_config_lists_a_bad_stations_file_a_rule_that_reaches_no_channel_and_a_bad_setting_and_exits_2()
    {
        // The route takes critical alerts only: the warning rule "lonely" has no Channels of its own and reaches nobody.
        var rules = TempFile("""
            { "Rules": [
                { "Name": "lonely", "Kind": "daily-mean", "Parameter": "pm10" },
                { "Name": "nmhc-1h", "Kind": "hourly-mean", "Parameter": "nmhc", "Severity": "critical" }
              ],
              "Routes": [ { "Severities": ["critical"], "Channels": ["broker"] } ] }
            """);
        await using var run = new ServiceRun(new()
        {
            ["Influx:BatchSize"] = "0",
            ["Alerting:Enabled"] = "true",
            ["Alerting:RulesFile"] = rules,
            ["Alerting:Channels:0:Name"] = "broker",
            ["Alerting:Channels:0:Type"] = "mqtt",
        }, ["--check-config"], """
            {"stations": [
              {"id": "a-1", "name": "A", "kind": "air", "region": "r", "latitude": 37, "longitude": 115},
              {"id": "a-1", "name": "B", "kind": "air", "region": "r", "latitude": 37, "longitude": 115}
            ]}
            """);
        Assert.Equal(2, await run.ExitCodeAsync());
        Assert.Contains("3 problem(s):", run.Output);
        Assert.Contains("  - Influx:BatchSize: The field BatchSize must be between 1 and 100000.", run.Output);
        Assert.Contains("stations[1] (a-1): duplicate id", run.Output);
        Assert.Contains($"  - Alerting:RulesFile ({Path.GetFileName(rules)}) Rules:0 'lonely' (severity warning) reaches no channel", run.Output);
        Assert.DoesNotContain("'nmhc-1h'", run.Output);
        Assert.Contains("The service would not start.", run.Output);
        File.Delete(rules);
    }

    [Fact]
    public async Task Json_logs_are_one_object_per_line_with_a_line_per_grpc_call_and_no_secret_anywhere()
    {
        using var certificate = new SelfSignedCertificate("pfx-secret-6a8f1");
        var state = Path.Combine(Path.GetTempPath(), $"{TestInfrastructure.UniqueName("state")}.json");
        var grpcPort = ChildProcesses.FreePort();
        // Every secret setting the service has, each with a value that appears nowhere else.
        var secrets = new Dictionary<string, string>
        {
            ["Api:Keys:0:Key"] = ServiceRun.ReaderKey,
            ["Mqtt:Password"] = "mqtt-secret-4b1e9",
            ["Influx:Password"] = "influx-secret-9d2c7",
            ["Grpc:Tls:CertificatePassword"] = certificate.Password,
            ["Alerting:Channels:0:Password"] = "smtp-secret-3e7b5",
            ["Alerting:Channels:1:Secret"] = "ding-secret-5c0d3",
            ["Alerting:Channels:1:Url"] = "https://oapi.dingtalk.com/robot/send?access_token=ding-token-2f9a1",
        };
        await using var run = new ServiceRun(new(secrets)
        {
            ["Logging:Format"] = "Json",
            ["Serilog:MinimumLevel:Default"] = "Information",
            ["Grpc:Url"] = $"https://127.0.0.1:{grpcPort}",
            ["Grpc:Tls:CertificatePath"] = certificate.Path,
            ["Mqtt:Username"] = "ecomonitor",
            ["Influx:Username"] = "ecomonitor",
            ["Alerting:Enabled"] = "true",
            ["Alerting:StateFile"] = state,
            ["Alerting:Channels:0:Name"] = "duty-mail",
            ["Alerting:Channels:0:Type"] = "email",
            ["Alerting:Channels:0:SmtpHost"] = "127.0.0.1",
            ["Alerting:Channels:0:SmtpUser"] = "alerts",
            ["Alerting:Channels:0:From"] = "alerts@example.org",
            ["Alerting:Channels:0:To:0"] = "duty@example.org",
            ["Alerting:Channels:1:Name"] = "duty-ding",
            ["Alerting:Channels:1:Type"] = "dingtalk",
            ["Alerting:Rules:0:Name"] = "pm25-24h",
            ["Alerting:Rules:0:Kind"] = "daily-mean",
            ["Alerting:Rules:0:Parameter"] = "pm25",
            ["Alerting:Rules:0:Channels:0"] = "duty-mail",
            ["Alerting:Rules:0:Channels:1"] = "duty-ding",
        });
        await run.StartAsync();
        // Kestrel binds Http:Url (which /readyz answers on) before Grpc:Url.
        await TestInfrastructure.EventuallyAsync(() => run.Stdout.Any(l => l.Contains("Now listening on", StringComparison.Ordinal) && l.Contains($"127.0.0.1:{grpcPort}", StringComparison.Ordinal)),
            TimeSpan.FromSeconds(10), "the gRPC endpoint listening");

        using var channel = GrpcChannel.ForAddress($"https://127.0.0.1:{grpcPort}", new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler { SslOptions = { RemoteCertificateValidationCallback = (_, _, _, _) => true } },
        });
        var client = new QueryService.QueryServiceClient(channel);
        Assert.Equal(5, (await client.ListStationsAsync(new ListStationsRequest(), Seed.Key(ServiceRun.ReaderKey))).Stations.Count);
        var unknown = await Assert.ThrowsAsync<RpcException>(() => client.ListStationsAsync(new ListStationsRequest(), Seed.Key("wrong-key-presented-8e1d")).ResponseAsync);
        Assert.Equal(StatusCode.Unauthenticated, unknown.StatusCode);
        var denied = await Assert.ThrowsAsync<RpcException>(() => client.RebuildRollupsAsync(new RebuildRollupsRequest { From = "2026-01-01", To = "2026-01-01" }, Seed.Key(ServiceRun.ReaderKey)).ResponseAsync);
        Assert.Equal(StatusCode.PermissionDenied, denied.StatusCode);
        // The import streams both ways: its call is logged too (here refused: a reader may not import).
        using (var import = new ImportService.ImportServiceClient(channel).Import(Seed.Key(ServiceRun.ReaderKey)))
        {
            var refused = await Assert.ThrowsAsync<RpcException>(async () =>
            {
                await import.RequestStream.WriteAsync(new ImportBatch { Format = ImportFormat.Csv, FirstLine = 1 });
                await import.ResponseStream.MoveNext(CancellationToken.None);
            });
            Assert.Equal(StatusCode.PermissionDenied, refused.StatusCode);
        }
        using (var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) })
        using (var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{run.HttpPort}/v1/stations"))
        {
            request.Headers.Add("x-api-key", ServiceRun.ReaderKey);
            Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(request)).StatusCode);
        }
        // The call lines are written when the calls end, before their responses: all five are in once the last returned.
        await TestInfrastructure.EventuallyAsync(() => run.Stdout.Count(l => l.Contains("CallLogging", StringComparison.Ordinal)) >= 5,
            TimeSpan.FromSeconds(10), "five call lines");
        Assert.Equal(0, await run.StopAsync());

        var events = run.Stdout.Where(l => l.Length > 0).Select(line =>
        {
            using var doc = JsonDocument.Parse(line); // throws on a line that is not one JSON value
            Assert.Equal(JsonValueKind.Object, doc.RootElement.ValueKind);
            return doc.RootElement.Clone();
        }).ToList();
        Assert.Contains(events, e => Text(e, "@m").StartsWith("MQTT: ", StringComparison.Ordinal) && Text(e, "Password") == "set");
        var calls = events.Where(e => Text(e, "SourceContext") == "EcoMonitor.Service.Hosting.CallLogging").ToList();
        void Call(string method, string status, string caller, string transport) =>
            Assert.Single(calls, e => Text(e, "Method") == method && Text(e, "StatusCode") == status && Text(e, "Caller") == caller
                && Text(e, "Transport") == transport && e.GetProperty("ElapsedMs").GetDouble() >= 0);
        Call("/ecomonitor.v1.QueryService/ListStations", "OK", "officer", "grpc");
        Call("/ecomonitor.v1.QueryService/ListStations", "Unauthenticated", "-", "grpc");
        Call("/ecomonitor.v1.QueryService/RebuildRollups", "PermissionDenied", "officer", "grpc");
        Call("/ecomonitor.v1.QueryService/ListStations", "OK", "officer", "json");
        Call("/ecomonitor.v1.ImportService/Import", "PermissionDenied", "officer", "grpc");
        Assert.Equal(5, calls.Count);
        Assert.All(calls, e => Assert.False(e.TryGetProperty("@l", out _), "a call line is at Information"));

        var everything = string.Join('\n', run.Stdout.Concat(run.Stderr));
        foreach (var secret in secrets.Values.Append("wrong-key-presented-8e1d").Append("ding-token-2f9a1"))
            Assert.DoesNotContain(secret, everything);
        File.Delete(state);
    }

    [Fact]
    public async Task The_rolling_file_sink_writes_plain_lines_and_a_rule_without_channel_is_warned_of_by_name()
    {
        var folder = Directory.CreateTempSubdirectory("ecomon-logs").FullName;
        var state = Path.Combine(folder, "state.json");
        await using var run = new ServiceRun(new()
        {
            ["Logging:Console"] = "false",
            ["Logging:File:Path"] = Path.Combine(folder, "service.log"),
            ["Logging:File:RollingInterval"] = "Day",
            ["Logging:File:RetainedFileCountLimit"] = "3",
            ["Serilog:MinimumLevel:Default"] = "Information",
            ["Api:Keys:0:Key"] = ServiceRun.ReaderKey,
            ["Alerting:Enabled"] = "true",
            ["Alerting:StateFile"] = state,
            ["Alerting:Channels:0:Name"] = "broker",
            ["Alerting:Channels:0:Type"] = "mqtt",
            ["Alerting:Rules:0:Name"] = "lonely",
            ["Alerting:Rules:0:Kind"] = "daily-mean",
            ["Alerting:Rules:0:Parameter"] = "pm10",
        });
        await run.StartAsync();
        using (var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) })
        using (var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{run.HttpPort}/v1/stations"))
        {
            request.Headers.Add("x-api-key", ServiceRun.ReaderKey);
            Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(request)).StatusCode);
        }
        Assert.Equal(0, await run.StopAsync());

        // Day rolling: service{yyyyMMdd}.log, the date the service's local one.
        var file = Assert.Single(Directory.GetFiles(folder, "service*.log"));
        Assert.Matches(@"^service\d{8}\.log$", Path.GetFileName(file));
        var text = await File.ReadAllTextAsync(file);
        Assert.Matches(@"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} [+-]\d\d:\d\d INF EcoMonitor\.Service\.Hosting\.StartupReport: MQTT: ", text);
        Assert.Matches(@"INF EcoMonitor\.Service\.Hosting\.CallLogging: gRPC /ecomonitor\.v1\.QueryService/ListStations OK in \d+(\.\d)? ms, key officer, json", text);
        Assert.Contains("WRN EcoMonitor.Service.Hosting.StartupReport: Alerting:Rules:0 'lonely' (severity warning) reaches no channel", text);
        Assert.DoesNotContain(ServiceRun.ReaderKey, text);
        Assert.DoesNotContain(run.Stdout, l => l.Contains("StartupReport", StringComparison.Ordinal)); // Logging:Console false
        Directory.Delete(folder, true);
    }

    [Fact]
    public void A_certificate_with_a_wrong_password_or_for_an_http_url_is_refused_naming_the_setting_and_not_the_password()
    {
        using var certificate = new SelfSignedCertificate("right-pass-0001");
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Http:Url"] = "https://127.0.0.1:8480",
            ["Http:Tls:CertificatePath"] = certificate.Path,
            ["Http:Tls:CertificatePassword"] = "wrong-pass-0002",
            ["Grpc:Url"] = "http://127.0.0.1:8481",
            ["Grpc:Tls:CertificatePath"] = certificate.Path,
        }).Build();
        var (http, grpc, problems) = Hosting.Endpoints.Read(config, Path.GetTempPath());
        Assert.Null(http!.Certificate);
        Assert.Equal(2, problems.Count);
        Assert.StartsWith($"Http:Tls:CertificatePath: '{certificate.Path}' cannot be opened as PKCS#12 with Http:Tls:CertificatePassword", problems[0]);
        Assert.Equal("Grpc:Tls:CertificatePath is set but Grpc:Url is http: write https:// to serve TLS, or remove the certificate.", problems[1]);
        Assert.DoesNotContain("wrong-pass-0002", string.Join(" ", problems));
        Assert.Equal(8481, grpc!.Port);
    }

    [Fact]
    public void A_rule_reaches_a_channel_through_its_own_channels_or_a_route_matching_its_name_and_severity()
    {
        static Alerting.AlertRuleSettings Rule(string name, string severity = "warning", params string[] channels) =>
            new() { Name = name, Kind = "daily-mean", Parameter = "pm10", Severity = severity, Channels = [.. channels] };
        var rules = new Alerting.AlertRuleSet
        {
            Rules = [Rule("own", "warning", "broker"), Rule("named"), Rule("critical", "critical"), Rule("lonely"), Rule("unnamed", "info")],
            Routes =
            [
                new() { Rules = ["named", "unnamed"], Severities = ["warning"], Channels = ["mail"] }, // "unnamed" is info: not matched
                new() { Severities = ["critical"], Channels = ["ding"] },
            ],
        };
        Assert.Equal(["lonely", "unnamed"], Alerting.RuleRouting.Unrouted(rules).Select(x => x.Rule.Name));
        Assert.Equal([3, 4], Alerting.RuleRouting.Unrouted(rules).Select(x => x.Index));
    }

    static string Text(JsonElement e, string name) => e.TryGetProperty(name, out var p) ? p.ToString() : "";

    static void AssertNoStackTrace(string output)
    {
        Assert.DoesNotContain("Unhandled exception", output);
        Assert.DoesNotMatch(@"(?m)^\s+at ", output);
    }

    static string TempFile(string content)
    {
        var path = Path.Combine(Path.GetTempPath(), $"{TestInfrastructure.UniqueName("rules")}.json");
        File.WriteAllText(path, content);
        return path;
    }

    /// <summary>A PKCS#12 file with a self-signed certificate for CN=localhost, made with openssl.</summary>
    sealed class SelfSignedCertificate : IDisposable
    {
        readonly string _dir = Directory.CreateTempSubdirectory("ecomon-tls").FullName;

        public SelfSignedCertificate(string password)
        {
            Password = password;
            Run("req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 2 -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1");
            Run($"pkcs12 -export -out api.pfx -inkey key.pem -in cert.pem -passout pass:{password}");
        }

        public string Password { get; }
        public string Path => System.IO.Path.Combine(_dir, "api.pfx");

        void Run(string args)
        {
            using var p = Process.Start(new ProcessStartInfo("openssl", args) { WorkingDirectory = _dir, RedirectStandardError = true })!;
            var err = p.StandardError.ReadToEnd();
            p.WaitForExit();
            Assert.True(p.ExitCode == 0, err);
        }

        public void Dispose() => Directory.Delete(_dir, true);
    }

    /// <summary>`dotnet EcoMonitor.Service.dll [args]` with settings as environment variables (on top of the
    /// defaults of <see cref="ServiceProcess"/>: its own stations file, prefix, client id, database and free ports),
    /// keeping every line it writes, stdout and stderr apart.</summary>
    sealed class ServiceRun : IAsyncDisposable
    {
        public const string ReaderKey = "reader-secret-key-7f3a9c";

        readonly Process _process;
        readonly string _database = TestInfrastructure.UniqueName("eco_test");
        bool _started;

        public ServiceRun(Dictionary<string, string> overrides, string[]? args = null, string stations = ServiceUnderTest.StationsJson)
        {
            var prefix = TestInfrastructure.UniqueName("t");
            StationsFile = Path.Combine(Path.GetTempPath(), $"{prefix}-stations.json");
            File.WriteAllText(StationsFile, stations);
            HttpPort = ChildProcesses.FreePort();
            var settings = new Dictionary<string, string>
            {
                ["Http:Url"] = $"http://127.0.0.1:{HttpPort}",
                ["Grpc:Url"] = $"http://127.0.0.1:{ChildProcesses.FreePort()}",
                ["Serilog:MinimumLevel:Default"] = "Warning",
                ["Stations:File"] = StationsFile,
                ["Mqtt:Host"] = "127.0.0.1",
                ["Mqtt:Port"] = TestInfrastructure.MqttPort.ToString(CultureInfo.InvariantCulture),
                ["Mqtt:ClientId"] = TestInfrastructure.UniqueName("ingest"),
                ["Ingestion:TopicPrefix"] = prefix,
                ["Ingestion:DrainTimeout"] = "00:00:02",
                ["Influx:Url"] = TestInfrastructure.InfluxUrl.ToString(),
                ["Influx:Database"] = _database,
                ["Hj212:Tcp:Enabled"] = "false",
                ["Alerting:Enabled"] = "false",
                ["Alerting:RulesFile"] = "",
                ["Api:Keys:0:Name"] = "officer",
                ["Api:Keys:0:Key"] = ReaderKey,
                ["Api:Keys:0:Role"] = "Reader",
            };
            foreach (var (k, v) in overrides) settings[k] = v;
            var dir = ServiceProcess.ServiceDirectory();
            var start = new ProcessStartInfo("dotnet", [Path.Combine(dir, "EcoMonitor.Service.dll"), .. args ?? []])
            {
                WorkingDirectory = dir,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
            foreach (var (k, v) in settings) start.Environment[k.Replace(":", "__", StringComparison.Ordinal)] = v;
            _process = Process.Start(start)!;
            ChildProcesses.Track(_process);
            _process.OutputDataReceived += (_, e) => { if (e.Data is not null) Stdout.Enqueue(e.Data); };
            _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) Stderr.Enqueue(e.Data); };
            _process.BeginOutputReadLine();
            _process.BeginErrorReadLine();
        }

        public string StationsFile { get; }
        public int HttpPort { get; }
        public ConcurrentQueue<string> Stdout { get; } = new();
        public ConcurrentQueue<string> Stderr { get; } = new();
        public string Output => string.Join('\n', Stdout.Concat(Stderr));

        /// <summary>For a run expected to end by itself (a refused start, --check-config).</summary>
        public async Task<int> ExitCodeAsync()
        {
            try
            {
                await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            }
            catch (TimeoutException)
            {
                Assert.Fail($"the service did not exit within 30 s:\n{Output}");
            }
            _process.WaitForExit(); // the output read to its end
            return _process.ExitCode;
        }

        /// <summary>Waits until /readyz answers 200 (plain http on Http:Url unless given).</summary>
        public async Task StartAsync(Uri? readyz = null, HttpClient? client = null)
        {
            _started = true;
            using var own = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
            var http = client ?? own;
            var url = readyz ?? new Uri($"http://127.0.0.1:{HttpPort}/readyz");
            await TestInfrastructure.EventuallyAsync(async () =>
            {
                if (_process.HasExited) throw new InvalidOperationException($"the service exited with {_process.ExitCode}:\n{Output}");
                try
                {
                    return (await http.GetAsync(url)).StatusCode == HttpStatusCode.OK;
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                    return false;
                }
            }, TimeSpan.FromSeconds(30), "the service answers /readyz with 200");
        }

        /// <summary>SIGTERM, as systemd stops it; the exit code.</summary>
        public async Task<int> StopAsync()
        {
            ChildProcesses.Signal(_process.Id, "TERM");
            return await ExitCodeAsync();
        }

        public async ValueTask DisposeAsync()
        {
            ChildProcesses.KillQuietly(_process);
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            ChildProcesses.Untrack(_process);
            _process.Dispose();
            File.Delete(StationsFile);
            if (!_started) return;
            using var http = new HttpClient { BaseAddress = TestInfrastructure.InfluxUrl, Timeout = TimeSpan.FromSeconds(5) };
            await http.PostAsync("query", new FormUrlEncodedContent(new Dictionary<string, string> { ["q"] = $"DROP DATABASE \"{_database}\"" }));
        }
    }
}
