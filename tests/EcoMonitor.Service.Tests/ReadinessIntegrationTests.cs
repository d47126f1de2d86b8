using System.Diagnostics;
using System.Net;
using System.Text.Json;
using EcoMonitor.Service.Tests.Support;
using Grpc.Health.V1;
using Microsoft.Extensions.DependencyInjection;
using Serilog.Core;

namespace EcoMonitor.Service.Tests;

/// <summary>/readyz and the gRPC health service tell the truth: each names the check that fails (InfluxDB refusing
/// the credentials, the broker gone, the pipeline stalled) and passes again once the cause is gone, against a real
/// influxd with authentication, a real mosquitto that is stopped, and a real proxy that refuses connections. And a
/// write resumes within two seconds of InfluxDB answering again, however long it was away.</summary>
[Trait("Category", "Integration")]
public sealed class ReadinessIntegrationTests(Xunit.Abstractions.ITestOutputHelper output)
{
    static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    static string Reading(DateTimeOffset t, double pm25) =>
        $$$"""{"ts": {{{t.ToUnixTimeMilliseconds()}}}, "values": {"pm25": {{{pm25}}}}}""";

    static DateTimeOffset Start => DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.AddHours(-6).ToUnixTimeMilliseconds() / 1000 * 1000);

    sealed record Ready(HttpStatusCode Status, string[] Failing, JsonElement Checks);

    static async Task<Ready> ReadyzAsync(ServiceUnderTest service)
    {
        using var http = new HttpClient { BaseAddress = service.HttpAddress };
        using var response = await http.GetAsync("/readyz");
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
        return new(response.StatusCode, [.. body.GetProperty("failing").EnumerateArray().Select(f => f.GetString()!)], body.GetProperty("checks"));
    }

    static async Task<HealthCheckResponse.Types.ServingStatus> GrpcHealthAsync(ServiceUnderTest service, string check = "")
    {
        using var channel = Seed.Channel(service);
        return (await new Health.HealthClient(channel).CheckAsync(new HealthCheckRequest { Service = check })).Status;
    }

    static async Task<string> MetricsAsync(ServiceUnderTest service)
    {
        using var http = new HttpClient { BaseAddress = service.HttpAddress };
        return await http.GetStringAsync("/metrics");
    }

    static string Detail(Ready r, string check) => r.Checks.GetProperty(check).GetProperty("detail").GetString()!;

    static Task UntilAsync(ServiceUnderTest service, Func<Ready, bool> condition, string what) =>
        TestInfrastructure.EventuallyAsync(async () => condition(await ReadyzAsync(service)), Wait, what);

    [Fact]
    public async Task Readyz_names_influx_while_InfluxDB_refuses_the_credentials_and_passes_once_it_accepts_them()
    {
        await using var influx = new PrivateInflux(authEnabled: true);
        await influx.StartAsync();
        var admin = ("admin", "admin-Secret-1234");
        await influx.QueryAsync($"CREATE USER admin WITH PASSWORD '{admin.Item2}' WITH ALL PRIVILEGES"); // allowed while there is no admin
        var sink = new CapturingSink();
        await using var service = new ServiceUnderTest(new()
        {
            ["Influx:Url"] = influx.Url.ToString(),
            ["Influx:Username"] = "eco",
            ["Influx:Password"] = "eco-Secret-5678", // no such user yet: InfluxDB answers 401
            ["Health:InfluxPingInterval"] = "00:00:00.300",
        }, s => s.AddSingleton<ILogEventSink>(sink));
        await service.StartAsync();

        // Idle: the probe alone finds out. Liveness stays ok meanwhile.
        await UntilAsync(service, r => r.Failing.SequenceEqual(["influx"]) && Detail(r, "influx").Contains("refuses the credentials: 401"),
            "/readyz failing on influx alone, for the credentials");
        var ready = await ReadyzAsync(service);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.Status);
        Assert.Equal("InfluxDB refuses the credentials: 401 authorization failed: check Influx:Token or Influx:Username/Password", Detail(ready, "influx"));
        Assert.True(ready.Checks.GetProperty("mqtt").GetProperty("ready").GetBoolean());
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.NotServing, await GrpcHealthAsync(service));
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.NotServing, await GrpcHealthAsync(service, "influx"));
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, await GrpcHealthAsync(service, "mqtt"));
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, await GrpcHealthAsync(service, "pipeline"));
        using (var http = new HttpClient { BaseAddress = service.HttpAddress })
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/healthz")).StatusCode);
        var metrics = await MetricsAsync(service);
        Assert.Contains("ecomonitor_ready{check=\"influx\"} 0\n", metrics);
        Assert.Contains("ecomonitor_ready{check=\"mqtt\"} 1\n", metrics);

        // A reading waits (not acknowledged) while every write is refused.
        await using var gateway = await TestMqttClient.ConnectAsync();
        var t = Start;
        await gateway.PublishAsync(service.ReadingsTopic("air-1"), Reading(t, 42));
        await TestInfrastructure.EventuallyAsync(() => service.Metrics.Retries >= 2, Wait, "refused writes retried");
        Assert.Equal(0, service.Metrics.Acknowledgements);
        Assert.True((await ReadyzAsync(service)).Checks.GetProperty("pipeline").GetProperty("ready").GetBoolean()); // within Health:StallAfter

        // The operator creates the service's user: the write goes through, and the service is ready again.
        await influx.QueryAsync("CREATE USER eco WITH PASSWORD 'eco-Secret-5678' WITH ALL PRIVILEGES", admin);
        await UntilAsync(service, r => r.Status == HttpStatusCode.OK && r.Failing.Length == 0, "/readyz 200 once the credentials are accepted");
        await TestInfrastructure.EventuallyAsync(() => service.Metrics.Acknowledgements == 1, Wait, "the waiting reading stored and acknowledged");
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, await GrpcHealthAsync(service));
        Assert.Contains("ecomonitor_ready{check=\"influx\"} 1\n", await MetricsAsync(service));
        Assert.DoesNotContain("eco-Secret-5678", sink.All);
    }

    [Fact]
    public async Task Readyz_names_mqtt_while_the_broker_is_down_and_passes_once_it_is_back()
    {
        await using var broker = new PrivateBroker();
        await broker.StartAsync();
        await using var service = new ServiceUnderTest(new() { ["Mqtt:Port"] = broker.Port.ToString() });
        await service.StartAsync();
        await UntilAsync(service, r => r.Status == HttpStatusCode.OK, "/readyz 200 with broker and database there");
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, await GrpcHealthAsync(service));

        await broker.StopAsync();
        await UntilAsync(service, r => r.Failing.SequenceEqual(["mqtt"]) && Detail(r, "mqtt") == "not connected to the broker", "/readyz failing on mqtt alone");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await ReadyzAsync(service)).Status);
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.NotServing, await GrpcHealthAsync(service));
        Assert.Contains("ecomonitor_ready{check=\"mqtt\"} 0\n", await MetricsAsync(service));

        await broker.StartAsync();
        await UntilAsync(service, r => r.Status == HttpStatusCode.OK, "/readyz 200 once the broker is back");
    }

    [Fact]
    public async Task Readyz_names_the_pipeline_when_work_waits_without_progress()
    {
        await using var proxy = new TcpProxy(TestInfrastructure.InfluxUrl);
        await using var service = new ServiceUnderTest(new()
        {
            ["Influx:Url"] = proxy.Url.ToString(),
            ["Health:StallAfter"] = "00:00:02",
            ["Health:InfluxStaleAfter"] = "00:02:00", // InfluxDB answered at start: only the pipeline may fail here
        });
        await service.StartAsync();
        await UntilAsync(service, r => r.Status == HttpStatusCode.OK, "/readyz 200");

        proxy.Mode = ProxyMode.Refuse;
        proxy.DropConnections();
        await using var gateway = await TestMqttClient.ConnectAsync();
        var t = Start;
        await gateway.PublishAsync(service.ReadingsTopic("air-1"), Reading(t, 1));
        await gateway.PublishAsync(service.ReadingsTopic("air-1"), Reading(t.AddMinutes(1), 2));
        await TestInfrastructure.EventuallyAsync(() => service.Metrics.Messages == 2, Wait, "two messages received");
        await UntilAsync(service, r => r.Failing.SequenceEqual(["pipeline"]), "/readyz failing on pipeline alone");
        Assert.StartsWith("2 message(s) waiting and no batch stored for ", Detail(await ReadyzAsync(service), "pipeline"));
        Assert.Contains("ecomonitor_pipeline_queue_depth 2\n", await MetricsAsync(service));
        Assert.Contains("ecomonitor_ready{check=\"pipeline\"} 0\n", await MetricsAsync(service));
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.NotServing, await GrpcHealthAsync(service));

        proxy.Mode = ProxyMode.Forward;
        await UntilAsync(service, r => r.Status == HttpStatusCode.OK, "/readyz 200 once batches complete");
        await TestInfrastructure.EventuallyAsync(() => service.Metrics.Acknowledgements == 2, Wait, "both acknowledged");
        Assert.Contains("ecomonitor_pipeline_queue_depth 0\n", await MetricsAsync(service));
        // Two messages never come near twice Mqtt:ReceiveMaximum: reading from the broker never paused.
        Assert.Contains("ecomonitor_mqtt_receive_pauses_total 0\n", await MetricsAsync(service));
    }

    /// <summary>With the default backoff (0.5 s doubling to 30 s) a 20 s outage used to leave the write waiting
    /// until the sixth retry, 31.5 s after the first failure (11.5 s after InfluxDB was back). With the probe every
    /// Influx:RecoveryProbeInterval (1 s) the write goes out at the first probe that gets an answer: at most 1 s plus
    /// one write after InfluxDB answers. The test allows 2.5 s: the 2 s promised plus the test's own polling (every
    /// 100 ms) and a loaded two-core box.</summary>
    [Fact]
    public async Task Writes_resume_within_two_seconds_of_InfluxDB_answering_after_a_20_second_outage_and_each_reading_is_stored_once()
    {
        await using var proxy = new TcpProxy(TestInfrastructure.InfluxUrl);
        await using var service = new ServiceUnderTest(new()
        {
            ["Influx:Url"] = proxy.Url.ToString(),
            ["Influx:Timeout"] = "00:00:02",
            ["Influx:RetryInitialDelay"] = "00:00:00.500", // the shipped defaults
            ["Influx:RetryMaxDelay"] = "00:00:30",
            ["Health:InfluxStaleAfter"] = "00:00:05",
            ["Health:InfluxPingInterval"] = "00:00:01",
        });
        await service.StartAsync();
        await using var gateway = await TestMqttClient.ConnectAsync();
        using var influx = TestInfrastructure.Influx(service.Database);
        var t = Start;
        await gateway.PublishAsync(service.ReadingsTopic("air-1"), Reading(t, 0));
        await TestInfrastructure.EventuallyAsync(() => service.Metrics.Acknowledgements == 1, Wait, "the first reading stored");

        proxy.Mode = ProxyMode.Refuse;
        proxy.DropConnections();
        var outage = Stopwatch.StartNew();
        const int during = 20;
        for (var i = 1; i <= during; i++)
        {
            await gateway.PublishAsync(service.ReadingsTopic("air-1"), Reading(t.AddMinutes(i), i));
            await Task.Delay(TimeSpan.FromSeconds(20.0 / during));
        }
        // Task.Delay runs on a millisecond tick that can end a hair before the Stopwatch's 20 s: top the outage up
        // so that it lasts the full 20 s by the Stopwatch that reports it.
        while (outage.Elapsed < TimeSpan.FromSeconds(20))
            await Task.Delay(TimeSpan.FromSeconds(20) - outage.Elapsed + TimeSpan.FromMilliseconds(5));
        await TestInfrastructure.EventuallyAsync(() => service.Metrics.Retries >= 5, Wait, "writes retried during the outage");
        Assert.Equal(1, service.Metrics.Acknowledgements);
        Assert.Single(await TestInfrastructure.PointsAsync(influx, "air-1"));
        var down = await ReadyzAsync(service); // nothing answered for more than Health:InfluxStaleAfter (5 s)
        Assert.Equal(["influx"], down.Failing);
        Assert.StartsWith("no write accepted or probe answered for ", Detail(down, "influx"));
        Assert.Contains("Health:InfluxStaleAfter 5.0 s", Detail(down, "influx"));

        proxy.Mode = ProxyMode.Forward;
        var back = Stopwatch.StartNew();
        while ((await TestInfrastructure.PointsAsync(influx, "air-1")).Count < 2)
        {
            Assert.True(back.Elapsed < Wait, "no write after InfluxDB came back");
            await Task.Delay(100);
        }
        var firstWrite = back.Elapsed;
        output.WriteLine($"first write {firstWrite.TotalSeconds:0.000} s after InfluxDB answered again (outage {outage.Elapsed.TotalSeconds:0.0} s)");
        Assert.True(firstWrite <= TimeSpan.FromSeconds(2.5), $"first write {firstWrite.TotalSeconds:0.00} s after InfluxDB answered again");

        await TestInfrastructure.EventuallyAsync(() => service.Metrics.Acknowledgements == during + 1, Wait, "every message acknowledged");
        await UntilAsync(service, r => r.Status == HttpStatusCode.OK, "/readyz 200 once InfluxDB is back");
        var points = await TestInfrastructure.PointsAsync(influx, "air-1");
        Assert.Equal(Enumerable.Range(0, during + 1).Select(i => (t.AddMinutes(i), (double)i)), points.Select(p => (p.Time, p.Value)));
        Assert.Equal(during + 1, service.Metrics.Messages - service.Metrics.Redelivered);
    }
}

/// <summary>The readiness rules on their own, exactly at their thresholds.</summary>
public sealed class ReadinessRuleTests
{
    static readonly DateTimeOffset Now = new(2026, 12, 1, 8, 0, 0, TimeSpan.Zero);
    static readonly TimeSpan Stale = TimeSpan.FromSeconds(30);

    [Fact]
    public void Influx_is_ready_up_to_and_including_InfluxStaleAfter_and_not_a_tick_later()
    {
        Assert.True(Hosting.Readiness.InfluxCheck(Now, Now - Stale, null, Stale).Ready);
        var late = Hosting.Readiness.InfluxCheck(Now, Now - Stale - TimeSpan.FromTicks(1), null, Stale);
        Assert.False(late.Ready);
        Assert.Equal("no write accepted or probe answered for 30.0 s (Health:InfluxStaleAfter 30.0 s)", late.Detail);
        Assert.Equal("InfluxDB has not answered yet", Hosting.Readiness.InfluxCheck(Now, null, null, Stale).Detail);
    }

    [Fact]
    public void Refused_credentials_fail_at_once_until_a_later_success()
    {
        var refused = (Now.AddSeconds(-1), "401 authorization failed", true);
        var check = Hosting.Readiness.InfluxCheck(Now, Now.AddSeconds(-2), refused, Stale);
        Assert.False(check.Ready);
        Assert.Equal("InfluxDB refuses the credentials: 401 authorization failed", check.Detail);
        Assert.True(Hosting.Readiness.InfluxCheck(Now, Now, refused, Stale).Ready); // the write after the fix went through
        // Any other failure within the bound leaves it ready: one refused connection is not an outage.
        Assert.True(Hosting.Readiness.InfluxCheck(Now, Now.AddSeconds(-2), (Now.AddSeconds(-1), "Connection refused", false), Stale).Ready);
    }

    [Fact]
    public void The_pipeline_stalls_only_with_work_waiting_past_StallAfter()
    {
        var stall = TimeSpan.FromSeconds(60);
        Assert.True(Hosting.Readiness.PipelineCheck(Now, 5, Now - stall, stall).Ready);
        var stalled = Hosting.Readiness.PipelineCheck(Now, 5, Now - stall - TimeSpan.FromTicks(1), stall);
        Assert.False(stalled.Ready);
        Assert.Equal("5 message(s) waiting and no batch stored for 60.0 s (Health:StallAfter 60.0 s)", stalled.Detail);
        Assert.Equal(("idle", true), (Hosting.Readiness.PipelineCheck(Now, 0, Now.AddHours(-5), stall) is var idle ? (idle.Detail, idle.Ready) : default));
    }
}
