using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using EcoMonitor.Service.Tests.Support;

namespace EcoMonitor.Service.Tests;

/// <summary>GET /metrics through OpenTelemetry's Prometheus exporter, on the real service with the real broker and
/// database: the text format, the runtime and process metrics, exact counters and histograms for what the test
/// published, the last reading time per station, and no /metrics on the gRPC endpoint.</summary>
[Trait("Category", "Integration")]
public sealed partial class MetricsTests : IAsyncLifetime
{
    readonly ServiceUnderTest _service = new();
    TestMqttClient _gateway = null!;

    static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    public async Task InitializeAsync()
    {
        await _service.StartAsync();
        _gateway = await TestMqttClient.ConnectAsync();
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _service.DisposeAsync();
    }

    /// <summary>Every sample of a scrape by its name with labels as the exporter wrote them.</summary>
    internal static Dictionary<string, double> Samples(string text)
    {
        var samples = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n'))
            if (SampleLine().Match(line) is { Success: true } m)
                samples[m.Groups["series"].Value] = double.Parse(m.Groups["value"].Value, CultureInfo.InvariantCulture);
        return samples;
    }

    [GeneratedRegex(@"^(?<series>[a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (?<value>\S+)$")]
    private static partial Regex SampleLine();

    async Task<string> ScrapeAsync()
    {
        using var http = new HttpClient { BaseAddress = _service.HttpAddress };
        return await http.GetStringAsync("/metrics");
    }

    [Fact]
    public async Task Metrics_are_Prometheus_text_with_runtime_and_process_metrics_on_the_http_endpoint_only()
    {
        using var http = new HttpClient { BaseAddress = _service.HttpAddress };
        using var response = await http.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains(response.Content.Headers.ContentType!.Parameters, p => p.Name == "version" && p.Value == "0.0.4");
        var text = await response.Content.ReadAsStringAsync();

        // The text format: every line is a comment (# HELP / # TYPE) or a sample "series value"; every sample
        // belongs to a family declared by a # TYPE line before it.
        var types = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n').Where(l => l.Length > 0))
        {
            if (line.StartsWith("# TYPE ", StringComparison.Ordinal))
            {
                var parts = line.Split(' ');
                Assert.Contains(parts[3], (string[])["counter", "gauge", "histogram", "summary", "untyped"]);
                types[parts[2]] = parts[3];
                continue;
            }
            if (line.StartsWith('#')) continue;
            var m = SampleLine().Match(line);
            Assert.True(m.Success, $"not a sample line: {line}");
            var name = m.Groups["series"].Value.Split('{')[0];
            Assert.True(types.ContainsKey(name) || types.ContainsKey(Regex.Replace(name, "_(bucket|sum|count)$", "")), $"no # TYPE for {name}");
        }
        Assert.Equal("counter", types["ecomonitor_messages_received_total"]);
        Assert.Equal("gauge", types["ecomonitor_ready"]);
        Assert.DoesNotContain("ecomonitor_station_last_reading_timestamp_seconds{", text, StringComparison.Ordinal); // none seen yet
        Assert.DoesNotContain("{} ", text, StringComparison.Ordinal); // a series without labels is "name value"
        Assert.Contains("\necomonitor_messages_received_total 0\n", text, StringComparison.Ordinal);

        var samples = Samples(text);
        Assert.Equal(1, samples["ecomonitor_ready{check=\"mqtt\"}"]);
        Assert.Equal(0, samples["ecomonitor_messages_received_total"]);
        Assert.Equal(0, samples["ecomonitor_tcp_connections_closed_total{reason=\"idle\"}"]);
        // The process's and the runtime's own metrics.
        Assert.True(samples["process_memory_usage_bytes"] > 1_000_000, "process memory");
        Assert.Contains(samples, s => s.Key.StartsWith("process_cpu_time_seconds_total{", StringComparison.Ordinal));
        Assert.Contains(samples, s => s.Key.StartsWith("dotnet_gc_heap_total_allocated_bytes_total", StringComparison.Ordinal) && s.Value > 0);
        Assert.True(samples["dotnet_process_memory_working_set_bytes"] > 1_000_000, "working set");
        // ASP.NET Core's request durations, by route.
        await http.GetStringAsync("/healthz");
        samples = Samples(await http.GetStringAsync("/metrics"));
        Assert.Contains(samples, s => s.Key.StartsWith("http_server_request_duration_seconds_count{", StringComparison.Ordinal)
            && s.Key.Contains("http_route=\"/healthz\"", StringComparison.Ordinal) && s.Value == 1);

        // The gRPC endpoint (HTTP/2 without TLS) answers gRPC, not /metrics.
        using var h2 = new HttpClient { BaseAddress = _service.GrpcAddress, DefaultRequestVersion = HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };
        using var grpcResponse = await h2.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.NotFound, grpcResponse.StatusCode);
        Assert.DoesNotContain("ecomonitor_", await grpcResponse.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Counters_histograms_and_last_reading_times_follow_exactly_what_was_published()
    {
        var now = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        var (t1, t2, t3) = (now.AddMinutes(-10), now.AddMinutes(-7), now.AddMinutes(-6));
        // One message at a time, each acknowledged before the next: each good one is one InfluxDB write of its
        // values plus one rollup mark (one station); the bad ones store nothing and write nothing.
        string[] topics = ["air-1", "air-1", "air-1", "air-2", "air-2"];
        string[] payloads =
        [
            $$$"""{"ts": {{{t1.ToUnixTimeMilliseconds()}}}, "values": {"pm25": 35, "no2": 40}}""", // 2 values + 1 mark
            "not json",                                                                          // malformed_json
            $$$"""{"ts": {{{t2.ToUnixTimeMilliseconds()}}}, "values": {"pm25": 36}}""",             // 1 value + 1 mark
            $$$"""{"ts": {{{t3.ToUnixTimeMilliseconds()}}}, "values": {"pm25": 20}}""",             // 1 value + 1 mark
            $$$"""{"ts": {{{now.ToUnixTimeMilliseconds()}}}, "values": {"pm25": -1}}""",            // negative_value
        ];
        for (var i = 0; i < payloads.Length; i++)
        {
            await _gateway.PublishAsync(_service.ReadingsTopic(topics[i]), payloads[i]);
            var acknowledged = i + 1;
            await TestInfrastructure.EventuallyAsync(() => _service.Metrics.Acknowledgements == acknowledged, Wait, $"message {acknowledged} acknowledged");
        }

        var s = Samples(await ScrapeAsync());
        Assert.Equal(5, s["ecomonitor_messages_received_total"]);
        Assert.Equal(5, s["ecomonitor_messages_acknowledged_total"]);
        Assert.Equal(4, s["ecomonitor_readings_accepted_total"]);
        Assert.Equal(1, s["ecomonitor_rejections_total{reason=\"malformed_json\"}"]);
        Assert.Equal(1, s["ecomonitor_rejections_total{reason=\"negative_value\"}"]);
        Assert.Equal(2, s.Where(x => x.Key.StartsWith("ecomonitor_rejections_total{", StringComparison.Ordinal)).Sum(x => x.Value));
        Assert.Equal(2, s["ecomonitor_deadletters_published_total"]);
        Assert.Equal(7, s["ecomonitor_points_written_total"]); // 3 + 2 + 2

        // Three writes: their latency, and their sizes 3, 2, 2.
        Assert.Equal(3, s["ecomonitor_influx_write_duration_seconds_count"]);
        Assert.InRange(s["ecomonitor_influx_write_duration_seconds_sum"], 0, 3 * Wait.TotalSeconds);
        Assert.Equal(3, s["ecomonitor_influx_write_duration_seconds_bucket{le=\"+Inf\"}"]);
        Assert.Equal(3, s["ecomonitor_influx_write_batch_size_count"]);
        Assert.Equal(7, s["ecomonitor_influx_write_batch_size_sum"]);
        Assert.Equal(0, s["ecomonitor_influx_write_batch_size_bucket{le=\"1\"}"]);
        Assert.Equal(3, s["ecomonitor_influx_write_batch_size_bucket{le=\"5\"}"]);

        // Four values stored: t1 10 minutes old, t2 7 and t3 6 minutes old when written (plus the delivery).
        Assert.Equal(4, s["ecomonitor_reading_age_seconds_count"]);
        Assert.Equal(0, s["ecomonitor_reading_age_seconds_bucket{le=\"300\"}"]);
        Assert.Equal(2, s["ecomonitor_reading_age_seconds_bucket{le=\"600\"}"]);
        Assert.Equal(4, s["ecomonitor_reading_age_seconds_bucket{le=\"1800\"}"]);
        Assert.InRange(s["ecomonitor_reading_age_seconds_sum"], 2 * 600 + 420 + 360, 2 * 600 + 420 + 360 + 4 * Wait.TotalSeconds);

        // The newest reading of each station: air-1's is t2 (t1 came first), air-2's t3 (its -1 was rejected);
        // the other stations sent nothing.
        Assert.Equal(t2.ToUnixTimeSeconds(), s["ecomonitor_station_last_reading_timestamp_seconds{station=\"air-1\"}"]);
        Assert.Equal(t3.ToUnixTimeSeconds(), s["ecomonitor_station_last_reading_timestamp_seconds{station=\"air-2\"}"]);
        Assert.DoesNotContain(s, x => x.Key.Contains("station=\"air-3\"", StringComparison.Ordinal));

        // An hourly mean (the station's own, period "hour") counts from the end of its hour; an older reading does
        // not move a station's time back.
        var hour = new DateTimeOffset(now.UtcTicks / TimeSpan.TicksPerHour * TimeSpan.TicksPerHour, TimeSpan.Zero).AddHours(-2);
        await _gateway.PublishAsync(_service.ReadingsTopic("voc-1"), $$$"""{"ts": {{{hour.ToUnixTimeMilliseconds()}}}, "values": {"nmhc": 0.5}, "period": "hour"}""");
        await _gateway.PublishAsync(_service.ReadingsTopic("air-1"), $$$"""{"ts": {{{t1.AddMinutes(-1).ToUnixTimeMilliseconds()}}}, "values": {"pm25": 30}}""");
        await TestInfrastructure.EventuallyAsync(() => _service.Metrics.Acknowledgements == 7, Wait, "the mean and the older reading acknowledged");
        s = Samples(await ScrapeAsync());
        Assert.Equal(hour.AddHours(1).ToUnixTimeSeconds(), s["ecomonitor_station_last_reading_timestamp_seconds{station=\"voc-1\"}"]);
        Assert.Equal(t2.ToUnixTimeSeconds(), s["ecomonitor_station_last_reading_timestamp_seconds{station=\"air-1\"}"]);
        Assert.Equal(6, s["ecomonitor_reading_age_seconds_count"]);
    }

    /// <summary>Families exported only with alerting on (AlertApiIntegrationTests scrapes them) or with the
    /// alerting lease of several instances (AlertLeaderIntegrationTests).</summary>
    static readonly string[] AlertingFamilies =
        ["ecomonitor_alert_notification_failures_total", "ecomonitor_alert_rules_reload_failures_total", "ecomonitor_alerting_leader"];

    [Fact]
    public async Task Example_alert_rules_use_only_exported_metrics_and_pass_promtool()
    {
        // One stored and rolled-up reading and one rejection: every histogram, the last-reading gauge and the
        // rejections have a series.
        await _gateway.PublishAsync(_service.ReadingsTopic("air-1"), $$$"""{"ts": {{{DateTimeOffset.UtcNow.AddMinutes(-1).ToUnixTimeMilliseconds()}}}, "values": {"pm25": 35}}""");
        await _gateway.PublishAsync(_service.ReadingsTopic("air-1"), "not json");
        await TestInfrastructure.EventuallyAsync(() => _service.Metrics.Acknowledgements == 2, Wait, "both messages acknowledged");
        await _service.RollupsCurrentAsync();
        var families = (await ScrapeAsync()).Split('\n').Where(l => l.StartsWith("# TYPE ", StringComparison.Ordinal))
            .Select(l => l.Split(' ')[2]).Concat(AlertingFamilies).ToHashSet(StringComparer.Ordinal);

        var directory = Path.Combine(ChildProcesses.RepoRoot(), "deploy", "prometheus");
        var rules = File.ReadAllText(Path.Combine(directory, "ecomonitor-alerts.yml"));
        var used = MetricName().Matches(rules).Select(m => Regex.Replace(m.Value, "_(bucket|sum|count)$", "")).ToHashSet(StringComparer.Ordinal);
        Assert.True(used.Count >= 15, $"only {used.Count} metrics named in the rules");
        Assert.All(used, name => Assert.Contains(name, families));
        foreach (var alert in (string[])["EcoMonitorDown", "EcoMonitorNotReady", "EcoMonitorDeadLettersRising", "EcoMonitorInfluxWriteFailures",
                     "EcoMonitorRollupLag", "EcoMonitorPipelineBacklog", "EcoMonitorStationSilent", "EcoMonitorNotificationFailures"])
            Assert.Contains($"- alert: {alert}\n", rules, StringComparison.Ordinal);

        // promtool (Debian's prometheus package) checks the syntax and runs the rules' unit tests, where installed.
        if (Promtool() is not { } promtool) return;
        foreach (var arguments in (string[])["check rules ecomonitor-alerts.yml", "check config prometheus.yml", "test rules ecomonitor-alerts.test.yml"])
        {
            using var process = Process.Start(new ProcessStartInfo(promtool, arguments)
            {
                WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true,
            })!;
            var output = process.StandardOutput.ReadToEndAsync();
            var errors = process.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(Wait);
            await process.WaitForExitAsync(timeout.Token);
            Assert.True(process.ExitCode == 0, $"promtool {arguments}: {await output}{await errors}");
        }
    }

    /// <summary>ECOMON_PROMTOOL, or promtool on the PATH; null when neither.</summary>
    static string? Promtool() =>
        Environment.GetEnvironmentVariable("ECOMON_PROMTOOL") is { Length: > 0 } set ? set
        : (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(d => Path.Combine(d, "promtool")).FirstOrDefault(File.Exists);

    [GeneratedRegex(@"\becomonitor_[a-z_]+")]
    private static partial Regex MetricName();
}
