using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using EcoMonitor.Domain.Alerting;
using EcoMonitor.Service.Alerting;
using EcoMonitor.Service.Tests.Support;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Time.Testing;

namespace EcoMonitor.Service.Tests;

/// <summary>Notification payloads checked field by field at a real HTTP receiver started by the test.</summary>
public sealed class NotifierTests : IAsyncLifetime
{
    HttpReceiver _receiver = null!;
    Uri _base = null!;

    ConcurrentQueue<(string Path, IQueryCollection Query, JsonElement Body)> _requests => _receiver.Requests;

    public async Task InitializeAsync()
    {
        _receiver = await HttpReceiver.StartAsync();
        _base = _receiver.Address;
    }

    public async Task DisposeAsync() => await _receiver.DisposeAsync();

    static readonly AlertNotification Fired = new(
        new AlertEvent(AlertEventKind.Fired, "pm25-hourly", "air-gxq-gwh", new DateTimeOffset(2026, 3, 1, 9, 0, 0, TimeSpan.FromHours(8)), 88.5),
        "warning", "PM2.5 小时均值超标", "高新区管委会 PM2.5 小时均值 88.5 µg/m³，超过 75");

    [Fact]
    public async Task Webhook_carries_the_event_as_json()
    {
        using var http = new HttpClient();
        await new WebhookNotifier(http, new Uri(_base, "/hooks/eco")).SendAsync(Fired, CancellationToken.None);
        var (path, _, body) = Assert.Single(_requests);
        Assert.Equal("/hooks/eco", path);
        Assert.Equal(("fired", "pm25-hourly", "air-gxq-gwh", "warning", 88.5), (body.GetProperty("kind").GetString(), body.GetProperty("rule").GetString(),
            body.GetProperty("subject").GetString(), body.GetProperty("severity").GetString(), body.GetProperty("value").GetDouble()));
        Assert.Equal(Fired.Event.At, body.GetProperty("at").GetDateTimeOffset());
        Assert.Equal(Fired.Title, body.GetProperty("title").GetString());
    }

    [Fact]
    public async Task DingTalk_markdown_with_mentions_and_a_signature()
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 3, 1, 1, 0, 0, TimeSpan.Zero));
        using var http = new HttpClient();
        const string secret = "SEC0123456789abcdef";
        await new DingTalkNotifier(http, new Uri(_base, "/robot/send?access_token=tok"), secret, ["13800000001"], clock).SendAsync(Fired, CancellationToken.None);
        var (path, query, body) = Assert.Single(_requests);
        Assert.Equal("/robot/send", path);
        Assert.Equal("tok", query["access_token"]);
        var ts = clock.GetUtcNow().ToUnixTimeMilliseconds();
        Assert.Equal(ts.ToString(), query["timestamp"]);
        // DingTalk's documented signature: Base64(HMAC-SHA256(key = secret, data = timestamp + "\n" + secret)).
        var expected = Convert.ToBase64String(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes($"{ts}\n{secret}")));
        Assert.Equal(expected, query["sign"]);
        Assert.Equal("markdown", body.GetProperty("msgtype").GetString());
        Assert.Equal(Fired.Title, body.GetProperty("markdown").GetProperty("title").GetString());
        Assert.Contains("88.5", body.GetProperty("markdown").GetProperty("text").GetString());
        Assert.EndsWith("@13800000001", body.GetProperty("markdown").GetProperty("text").GetString());
        Assert.Equal("13800000001", body.GetProperty("at").GetProperty("atMobiles")[0].GetString());
        Assert.False(body.GetProperty("at").GetProperty("isAtAll").GetBoolean());
    }

    [Fact]
    public async Task WeCom_text_with_mentioned_mobiles()
    {
        using var http = new HttpClient();
        await new WeComNotifier(http, new Uri(_base, "/cgi-bin/webhook/send?key=k1"), ["13800000002", "@all"]).SendAsync(Fired, CancellationToken.None);
        var (path, query, body) = Assert.Single(_requests);
        Assert.Equal(("/cgi-bin/webhook/send", "k1"), (path.ToString(), query["key"].ToString()));
        Assert.Equal("text", body.GetProperty("msgtype").GetString());
        Assert.Equal($"{Fired.Title}\n{Fired.Text}", body.GetProperty("text").GetProperty("content").GetString());
        Assert.Equal(["13800000002", "@all"], body.GetProperty("text").GetProperty("mentioned_mobile_list").EnumerateArray().Select(x => x.GetString()));
    }

    [Fact]
    public async Task A_robot_that_answers_an_error_code_is_a_failure()
    {
        _receiver.Reply = """{"errcode":310000,"errmsg":"sign not match"}""";
        using var http = new HttpClient();
        var e = await Assert.ThrowsAsync<HttpRequestException>(() =>
            new DingTalkNotifier(http, new Uri(_base, "/robot/send?access_token=tok"), "wrong", [], TimeProvider.System).SendAsync(Fired, CancellationToken.None));
        Assert.Contains("sign not match", e.Message);
    }

    [Fact]
    public async Task Email_reaches_a_real_smtp_server()
    {
        await using var smtp = new TestSmtpServer();
        await new EmailNotifier("127.0.0.1", smtp.Port, false, null, null, "ecomonitor@hs-gxq.example", ["duty@hs-gxq.example", "chief@hs-gxq.example"])
            .SendAsync(Fired, CancellationToken.None);
        var (from, to, data) = Assert.Single(smtp.Messages);
        Assert.Equal("ecomonitor@hs-gxq.example", from);
        Assert.Equal(["duty@hs-gxq.example", "chief@hs-gxq.example"], to);
        var message = MimeKit.MimeMessage.Load(new MemoryStream(Encoding.UTF8.GetBytes(data)));
        Assert.Equal($"[warning] {Fired.Title}", message.Subject);
        Assert.Contains(Fired.Text, message.TextBody);
        Assert.Contains("pm25-hourly / air-gxq-gwh / 2026-03-01 09:00:00 +08:00", message.TextBody);
    }

    [Fact]
    public async Task A_failing_endpoint_is_retried_and_a_lasting_failure_is_kept_visible()
    {
        using var http = new HttpClient();
        var dispatcher = new NotificationDispatcher(TimeProvider.System, Microsoft.Extensions.Logging.Abstractions.NullLogger<NotificationDispatcher>.Instance,
            attempts: 3, initialDelay: TimeSpan.FromMilliseconds(20));
        var webhook = new WebhookNotifier(http, new Uri(_base, "/hooks/eco"));
        var nowhere = new WebhookNotifier(http, new Uri("http://127.0.0.1:9/hooks")); // nothing listens on port 9

        _receiver.FailNext = 2; // two 503s, then accepted
        var delivered = await dispatcher.SendAsync(Fired, [webhook, nowhere], CancellationToken.None);
        Assert.Equal(["webhook"], delivered);
        Assert.Equal(3, _requests.Count);
        var failure = Assert.Single(dispatcher.Failures);
        Assert.Equal(("webhook", "pm25-hourly", "air-gxq-gwh", "Fired", 3), (failure.Channel, failure.Rule, failure.Subject, failure.Kind, failure.Attempts));
        Assert.False(string.IsNullOrEmpty(failure.Error));
    }

    [Fact]
    public void Templates_are_Chinese_by_default_and_English_on_request()
    {
        var e = new AlertEvent(AlertEventKind.Acknowledged, "nmhc-hourly", "voc-gxq-hgy", new DateTimeOffset(2026, 3, 1, 1, 30, 0, TimeSpan.Zero), 12.5, "值班员张", "已联系企业");
        var zh = new AlertTemplates().Render(e, "critical");
        Assert.Equal("【已确认】nmhc-hourly：voc-gxq-hgy", zh.Title);
        Assert.Equal("值班员张 已确认：已联系企业。时间：2026-03-01 09:30", zh.Text);
        var en = new AlertTemplates(AlertLanguage.English).Render(e with { Kind = AlertEventKind.Fired }, "critical");
        Assert.Equal(("[alert] nmhc-hourly: voc-gxq-hgy", "voc-gxq-hgy nmhc-hourly is over its limit: 12.5. At 2026-03-01 09:30"), (en.Title, en.Text));
        var own = new AlertTemplates(overrides: new Dictionary<AlertEventKind, (string, string)> { [AlertEventKind.Fired] = ("{subject} NMHC {value} mg/m³", "GB 37822") }).Render(e with { Kind = AlertEventKind.Fired }, "critical");
        Assert.Equal("voc-gxq-hgy NMHC 12.5 mg/m³", own.Title);
    }

    [Fact]
    [Trait("Category", "Integration")]
    public async Task Alerts_are_published_on_the_broker()
    {
        await using var service = new ServiceUnderTest();
        await service.StartAsync();
        await using var watcher = await TestMqttClient.ConnectAsync($"{service.Prefix}/alerts/#");
        var mqtt = (EcoMonitor.Service.Ingestion.MqttConnection)service.Services.GetService(typeof(EcoMonitor.Service.Ingestion.MqttConnection))!;
        await new MqttAlertNotifier(mqtt, service.Prefix).SendAsync(Fired, CancellationToken.None);
        await TestInfrastructure.EventuallyAsync(() => !watcher.Received.IsEmpty, TimeSpan.FromSeconds(10), "the alert on the broker");
        var (topic, payload) = Assert.Single(watcher.Received);
        Assert.Equal($"{service.Prefix}/alerts/pm25-hourly/air-gxq-gwh", topic);
        Assert.Equal(("fired", 88.5), (payload.Json().GetProperty("kind").GetString(), payload.Json().GetProperty("value").GetDouble()));
    }
}
