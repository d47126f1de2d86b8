using System.Collections.Concurrent;
using EcoMonitor.Api.V1;
using EcoMonitor.Cli;
using EcoMonitor.Service.Tests.Support;
using Grpc.Core;

namespace EcoMonitor.Service.Tests;

/// <summary>The alert API over gRPC and `ecomon alerts`, against the real service: evaluation on demand, routing by
/// severity with recipients, a silence holding back one alert, a failing channel visible as a failure, the event
/// stream, acknowledgement by a duty key, history.</summary>
[Trait("Category", "Integration")]
public sealed class AlertApiIntegrationTests
{
    [Fact]
    public async Task Duty_staff_evaluate_silence_acknowledge_and_watch_through_the_api()
    {
        await using var hook = await HttpReceiver.StartAsync();
        var stateFile = AlertTestSettings.TempFile("alerts");
        await using var service = new ServiceUnderTest(AlertTestSettings.For(hook, stateFile,
            ("Alerting:Channels:1:Name", "ding"),
            ("Alerting:Channels:1:Type", "dingtalk"),
            ("Alerting:Channels:1:Url", new Uri(hook.Address, "/ding").ToString()),
            ("Alerting:Channels:2:Name", "broken"),
            ("Alerting:Channels:2:Type", "webhook"),
            ("Alerting:Channels:2:Url", "http://127.0.0.1:1/nobody-listens"),
            ("Alerting:Rules:0:Name", "pm25-hourly"),
            ("Alerting:Rules:0:Kind", "hourly-mean"),
            ("Alerting:Rules:0:Parameter", "pm25"),
            ("Alerting:Rules:0:Threshold", "75"),
            ("Alerting:Rules:0:Severity", "critical"),
            ("Alerting:Rules:0:Channels:0", "duty"),
            ("Alerting:Rules:1:Name", "silent-air"),
            ("Alerting:Rules:1:Kind", "silent"),
            ("Alerting:Rules:1:StationKind", "air"),
            ("Alerting:Rules:1:Threshold", "60"),
            ("Alerting:Rules:1:Channels:0", "duty"),
            ("Alerting:Rules:1:Channels:1", "broken"),
            ("Alerting:Routes:0:Severities:0", "critical"),
            ("Alerting:Routes:0:Channels:0", "ding"),
            ("Alerting:Routes:0:Mobiles:0", "13900000000")));
        await service.StartAsync();
        using var channel = Seed.Channel(service);
        var client = new AlertService.AlertServiceClient(channel);
        var reader = Seed.Key(ServiceUnderTest.ReaderKey);
        var duty = Seed.Key(ServiceUnderTest.DutyKey);
        var operatorKey = Seed.Key(ServiceUnderTest.OperatorKey);

        // PM2.5 90 at air-1 in the last complete hour (and the hours around it, should the clock pass an hour meanwhile).
        var h = new DateTimeOffset(DateTime.UtcNow.Ticks / TimeSpan.TicksPerHour * TimeSpan.TicksPerHour, TimeSpan.Zero).AddHours(-1);
        await Seed.WriteAsync(service.Database, Enumerable.Range(-1, 3).SelectMany(i => Enumerable.Range(0, 45).Select(m => Seed.Line("air-1", "pm25", h.AddHours(i).AddMinutes(m), 90))));

        // Roles: a reader may not silence or evaluate.
        var denied = await Assert.ThrowsAsync<RpcException>(() => client.CreateSilenceAsync(new CreateSilenceRequest { Subject = "air-3", Ends = Rfc(DateTimeOffset.UtcNow.AddHours(1)), Comment = "x" }, reader).ResponseAsync);
        Assert.Equal(StatusCode.PermissionDenied, denied.StatusCode);
        Assert.Equal(StatusCode.PermissionDenied, (await Assert.ThrowsAsync<RpcException>(() => client.EvaluateAlertsAsync(new EvaluateAlertsRequest(), duty).ResponseAsync)).StatusCode);
        var invalid = await Assert.ThrowsAsync<RpcException>(() => client.CreateSilenceAsync(new CreateSilenceRequest { Subject = "air-3", Ends = Rfc(DateTimeOffset.UtcNow.AddHours(1)) }, duty).ResponseAsync);
        Assert.Equal((StatusCode.InvalidArgument, true), (invalid.StatusCode, invalid.Status.Detail.StartsWith("comment:")));

        var everything = await Assert.ThrowsAsync<RpcException>(() => client.CreateSilenceAsync(new CreateSilenceRequest { Ends = Rfc(DateTimeOffset.UtcNow.AddHours(1)), Comment = "x" }, duty).ResponseAsync);
        Assert.Equal((StatusCode.InvalidArgument, true), (everything.StatusCode, everything.Status.Detail.StartsWith("subject:")));

        // air-3 is being serviced: its alerts are held back for an hour.
        var silence = await client.CreateSilenceAsync(new CreateSilenceRequest { Rule = "silent-air", Subject = "air-3", Ends = Rfc(DateTimeOffset.UtcNow.AddHours(1)), Comment = "更换采样泵" }, duty);
        Assert.Equal("duty-zhang", silence.CreatedBy);

        // The stream is open before the evaluation.
        using var watch = client.WatchAlerts(new WatchAlertsRequest { Rule = "silent-air" }, reader);
        await watch.ResponseHeadersAsync;
        var streamed = new ConcurrentQueue<AlertEventInfo>();
        var reading = Task.Run(async () =>
        {
            try
            {
                while (await watch.ResponseStream.MoveNext(CancellationToken.None)) streamed.Enqueue(watch.ResponseStream.Current);
            }
            catch (RpcException)
            {
            }
        });

        var evaluated = await client.EvaluateAlertsAsync(new EvaluateAlertsRequest(), operatorKey);
        var sent = evaluated.Events.Where(e => e.Kind == "fired").Select(e => (e.Rule, e.Subject, e.Silenced)).Order().ToList();
        Assert.Equal([("pm25-hourly", "air-1", false), ("silent-air", "air-2", false), ("silent-air", "air-3", true)], sent);
        Assert.Equal("critical", evaluated.Events.First(e => e.Rule == "pm25-hourly").Severity);

        // The webhook heard of air-1 and air-2, not of the silenced air-3; DingTalk (critical route) of air-1 with the
        // route's mobile mentioned.
        var duties = hook.Requests.Where(r => r.Path == "/duty").Select(r => (r.Body.GetProperty("rule").GetString(), r.Body.GetProperty("subject").GetString())).Order();
        Assert.Equal([("pm25-hourly", "air-1"), ("silent-air", "air-2")], duties);
        var ding = Assert.Single(hook.Requests, r => r.Path == "/ding").Body;
        Assert.Equal(["13900000000"], ding.GetProperty("at").GetProperty("atMobiles").EnumerateArray().Select(m => m.GetString()));
        Assert.Contains("pm25-hourly", ding.GetProperty("markdown").GetProperty("title").GetString());

        // The broken channel failed after its two attempts; that is visible.
        var failures = await client.ListNotificationFailuresAsync(new ListNotificationFailuresRequest(), reader);
        var failure = Assert.Single(failures.Failures);
        Assert.Equal(("broken", "silent-air", "air-2", "fired", 2), (failure.Channel, failure.Rule, failure.Subject, failure.Kind, failure.Attempts));

        // The stream saw both silent-air events, the held-back one marked.
        await Until(() => streamed.Count(e => e.Kind == "fired") >= 2);
        Assert.Equal([("air-2", false), ("air-3", true)], streamed.Where(e => e.Kind == "fired").Select(e => (e.Subject, e.Silenced)).Order());

        // Acknowledge with a duty key: who is the key's name unless given.
        var acknowledged = await client.AcknowledgeAlertAsync(new AcknowledgeAlertRequest { Rule = "pm25-hourly", Subject = "air-1", Comment = "已通知园区" }, duty);
        Assert.Equal(("duty-zhang", "已通知园区", "firing"), (acknowledged.AcknowledgedBy, acknowledged.AcknowledgeComment, acknowledged.State));
        Assert.Equal("acknowledged", hook.Requests.Last(r => r.Path == "/duty").Body.GetProperty("kind").GetString());
        var missing = await Assert.ThrowsAsync<RpcException>(() => client.AcknowledgeAlertAsync(new AcknowledgeAlertRequest { Rule = "pm25-hourly", Subject = "air-2" }, duty).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, missing.StatusCode);
        var active = await client.ListAlertsAsync(new ListAlertsRequest { FiringOnly = true }, reader);
        Assert.Equal(["pm25-hourly/air-1", "silent-air/air-2", "silent-air/air-3"], active.Alerts.Select(a => $"{a.Rule}/{a.Subject}"));
        Assert.Contains(active.Alerts.Single(a => a.Subject == "air-3").History, e => e.Kind == "fired" && e.Silenced);

        // The same over HTTP/JSON (transcoding), and the counters.
        using var http = new HttpClient { BaseAddress = service.HttpAddress };
        http.DefaultRequestHeaders.Add("x-api-key", ServiceUnderTest.ReaderKey);
        using var listed = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync("/v1/alerts?firingOnly=true"));
        Assert.Equal(3, listed.RootElement.GetProperty("alerts").GetArrayLength());
        var metrics = await http.GetStringAsync("/metrics");
        Assert.Contains("ecomonitor_alerts{state=\"firing\"} 3", metrics);
        Assert.Contains("ecomonitor_alert_notification_failures_total 1", metrics);

        // The CLI shows the same.
        var output = new StringWriter();
        var error = new StringWriter();
        Assert.Equal(0, await Ecomon.RunAsync(["alerts", "list", "--server", service.GrpcAddress.ToString(), "--key", ServiceUnderTest.ReaderKey], output, error));
        Assert.Contains(output.ToString().Split('\n'), l => l.StartsWith("pm25-hourly") && l.Contains("air-1") && l.Contains("duty-zhang: 已通知园区"));
        output.GetStringBuilder().Clear();
        Assert.Equal(0, await Ecomon.RunAsync(["alerts", "failures", "--server", service.GrpcAddress.ToString(), "--key", ServiceUnderTest.ReaderKey], output, error));
        Assert.Contains("broken", output.ToString());
        output.GetStringBuilder().Clear();
        Assert.Equal(1, await Ecomon.RunAsync(["alerts", "evaluate", "--server", service.GrpcAddress.ToString(), "--key", ServiceUnderTest.ReaderKey], output, error));
        Assert.Contains("PermissionDenied", error.ToString());

        // air-2 reports again: on demand, its silent alert resolves and goes to the history.
        await Seed.WriteAsync(service.Database, [Seed.Line("air-2", "pm25", DateTimeOffset.UtcNow.AddSeconds(-5), 30)]);
        var resolved = await client.EvaluateAlertsAsync(new EvaluateAlertsRequest { Rules = { "silent-air" } }, operatorKey);
        Assert.Equal([("silent-air", "air-2")], resolved.Events.Where(e => e.Kind == "resolved").Select(e => (e.Rule, e.Subject)));
        var history = await client.GetAlertHistoryAsync(new AlertHistoryRequest { Rule = "silent-air" }, reader);
        Assert.Equal(["fired", "resolved"], Assert.Single(history.Alerts).History.Select(e => e.Kind).Where(k => k != "pending"));

        // The silence ends when asked.
        var silences = await client.ListSilencesAsync(new ListSilencesRequest(), reader);
        Assert.Equal(silence.Id, Assert.Single(silences.Silences).Id);
        await client.ExpireSilenceAsync(new ExpireSilenceRequest { Id = silence.Id }, duty);
        Assert.Empty((await client.ListSilencesAsync(new ListSilencesRequest(), reader)).Silences);
        File.Delete(stateFile);
    }

    [Fact]
    public async Task With_alerting_off_the_api_says_so()
    {
        await using var service = new ServiceUnderTest();
        await service.StartAsync();
        using var channel = Seed.Channel(service);
        var e = await Assert.ThrowsAsync<RpcException>(() => new AlertService.AlertServiceClient(channel)
            .ListAlertsAsync(new ListAlertsRequest(), Seed.Key(ServiceUnderTest.ReaderKey)).ResponseAsync);
        Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
        Assert.Contains("Alerting:Enabled", e.Status.Detail);
    }

    static string Rfc(DateTimeOffset t) => t.ToString("yyyy-MM-ddTHH:mm:ssK", System.Globalization.CultureInfo.InvariantCulture);

    static async Task Until(Func<bool> condition)
    {
        for (var i = 0; i < 100 && !condition(); i++) await Task.Delay(50);
    }
}
