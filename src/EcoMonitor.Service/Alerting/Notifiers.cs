using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Serialization;
using EcoMonitor.Domain.Alerting;

namespace EcoMonitor.Service.Alerting;

/// <summary>What a notification says: the event, and the text rendered from a template. <see cref="Mobiles"/> and
/// <see cref="To"/> are recipients a route adds to the channel's own (mentions, e-mail addresses).</summary>
public sealed record AlertNotification(AlertEvent Event, string Severity, string Title, string Text)
{
    public IReadOnlyList<string> Mobiles { get; init; } = [];
    public IReadOnlyList<string> To { get; init; } = [];
}

/// <summary>A channel duty staff watch. Each channel formats and delivers one notification; failures throw, and
/// the caller retries and records them.</summary>
public interface INotifier
{
    string Channel { get; }

    Task SendAsync(AlertNotification notification, CancellationToken ct);
}

/// <summary>A configured channel: its name (Alerting:Channels:n:Name) is what logs and failures show.</summary>
public sealed class NamedChannel(string name, INotifier inner) : INotifier
{
    public string Channel => name;

    public Task SendAsync(AlertNotification notification, CancellationToken ct) => inner.SendAsync(notification, ct);
}

/// <summary>Generic webhook: the event as JSON.</summary>
public sealed class WebhookNotifier(HttpClient http, Uri url) : INotifier
{
    public string Channel => "webhook";

    public async Task SendAsync(AlertNotification n, CancellationToken ct)
    {
        using var response = await http.PostAsJsonAsync(url, AlertJson.Of(n), AlertJson.Options, ct);
        response.EnsureSuccessStatusCode();
    }
}

/// <summary>The JSON form of a notification, for the webhook and the MQTT channel.</summary>
public sealed record AlertJson(string Kind, string Rule, string Subject, string Severity, DateTimeOffset At, double Value,
    string Title, string Text, string? AcknowledgedBy, string? Comment, string? Detail, IReadOnlyList<string> Mobiles, IReadOnlyList<string> To)
{
    public static AlertJson Of(AlertNotification n) => new(n.Event.Kind.ToString().ToLowerInvariant(), n.Event.Rule, n.Event.Subject,
        n.Severity, n.Event.At.ToOffset(Domain.ChinaTime.Offset), n.Event.Value, n.Title, n.Text, n.Event.User, n.Event.Comment, n.Event.Detail, n.Mobiles, n.To);

    /// <summary>camelCase names; Chinese text as it is rather than \u escapes (readable on the broker and in logs of
    /// the receiving side; still valid JSON).</summary>
    public static readonly System.Text.Json.JsonSerializerOptions Options = new(System.Text.Json.JsonSerializerDefaults.Web)
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.Create(System.Text.Unicode.UnicodeRanges.All),
    };
}

/// <summary>DingTalk custom robot: markdown message with @mobile mentions; with a signing secret, the request carries
/// timestamp and sign = URL-encoded Base64(HMAC-SHA256(secret, timestamp + "\n" + secret)).</summary>
public sealed class DingTalkNotifier(HttpClient http, Uri webhook, string? secret, IReadOnlyList<string> atMobiles, TimeProvider time) : INotifier
{
    public string Channel => "dingtalk";

    public static string Sign(long timestampMs, string secret)
    {
        using var hmac = new HMACSHA256(Encoding.UTF8.GetBytes(secret));
        var signature = hmac.ComputeHash(Encoding.UTF8.GetBytes($"{timestampMs}\n{secret}"));
        return Uri.EscapeDataString(Convert.ToBase64String(signature));
    }

    public async Task SendAsync(AlertNotification n, CancellationToken ct)
    {
        var url = webhook.ToString();
        if (!string.IsNullOrEmpty(secret))
        {
            var ts = time.GetUtcNow().ToUnixTimeMilliseconds();
            url += (url.Contains('?') ? "&" : "?") + $"timestamp={ts}&sign={Sign(ts, secret)}";
        }
        var mobiles = atMobiles.Union(n.Mobiles).ToList();
        var mentions = string.Concat(mobiles.Select(m => $" @{m}"));
        var body = new DingTalkMessage("markdown", new DingTalkMarkdown(n.Title, $"### {n.Title}\n\n{n.Text}{mentions}"), new DingTalkAt(mobiles, false));
        using var response = await http.PostAsJsonAsync(url, body, ct);
        response.EnsureSuccessStatusCode();
        await RobotReply.EnsureOkAsync(response, "errcode", ct);
    }

    sealed record DingTalkMessage([property: JsonPropertyName("msgtype")] string MsgType, [property: JsonPropertyName("markdown")] DingTalkMarkdown Markdown, [property: JsonPropertyName("at")] DingTalkAt At);
    sealed record DingTalkMarkdown([property: JsonPropertyName("title")] string Title, [property: JsonPropertyName("text")] string Text);
    sealed record DingTalkAt([property: JsonPropertyName("atMobiles")] IReadOnlyList<string> AtMobiles, [property: JsonPropertyName("isAtAll")] bool IsAtAll);
}

/// <summary>WeCom (企业微信) group robot: a text message, with mentioned_mobile_list (markdown messages cannot mention).</summary>
public sealed class WeComNotifier(HttpClient http, Uri webhook, IReadOnlyList<string> mentionedMobiles) : INotifier
{
    public string Channel => "wecom";

    public async Task SendAsync(AlertNotification n, CancellationToken ct)
    {
        var body = new WeComMessage("text", new WeComText($"{n.Title}\n{n.Text}", [.. mentionedMobiles.Union(n.Mobiles)]));
        using var response = await http.PostAsJsonAsync(webhook, body, ct);
        response.EnsureSuccessStatusCode();
        await RobotReply.EnsureOkAsync(response, "errcode", ct);
    }

    sealed record WeComMessage([property: JsonPropertyName("msgtype")] string MsgType, [property: JsonPropertyName("text")] WeComText Text);
    sealed record WeComText([property: JsonPropertyName("content")] string Content, [property: JsonPropertyName("mentioned_mobile_list")] IReadOnlyList<string> MentionedMobileList);
}

/// <summary>DingTalk and WeCom answer HTTP 200 with {"errcode": n, "errmsg": ".."}: anything but 0 is a failure.</summary>
static class RobotReply
{
    public static async Task EnsureOkAsync(HttpResponseMessage response, string field, CancellationToken ct)
    {
        var text = await response.Content.ReadAsStringAsync(ct);
        if (text.Length == 0) return;
        try
        {
            using var doc = System.Text.Json.JsonDocument.Parse(text);
            if (doc.RootElement.TryGetProperty(field, out var code) && code.ValueKind == System.Text.Json.JsonValueKind.Number && code.GetInt32() != 0)
                throw new HttpRequestException($"robot refused the message: {text}");
        }
        catch (System.Text.Json.JsonException)
        {
        }
    }
}

/// <summary>E-mail over SMTP (MailKit): STARTTLS when the server offers it (or TLS on connect), optional login.</summary>
public sealed class EmailNotifier(string host, int port, bool tlsOnConnect, string? user, string? password, string from, IReadOnlyList<string> to) : INotifier
{
    public string Channel => "email";

    public async Task SendAsync(AlertNotification n, CancellationToken ct)
    {
        var message = new MimeKit.MimeMessage();
        message.From.Add(MimeKit.MailboxAddress.Parse(from));
        foreach (var address in to.Union(n.To)) message.To.Add(MimeKit.MailboxAddress.Parse(address));
        message.Subject = $"[{n.Severity}] {n.Title}";
        message.Body = new MimeKit.TextPart("plain") { Text = $"{n.Text}\n\n{n.Event.Rule} / {n.Event.Subject} / {n.Event.At.ToOffset(Domain.ChinaTime.Offset):yyyy-MM-dd HH:mm:ss zzz}" };
        using var smtp = new MailKit.Net.Smtp.SmtpClient();
        await smtp.ConnectAsync(host, port, tlsOnConnect ? MailKit.Security.SecureSocketOptions.SslOnConnect : MailKit.Security.SecureSocketOptions.StartTlsWhenAvailable, ct);
        if (!string.IsNullOrEmpty(user)) await smtp.AuthenticateAsync(user, password ?? "", ct);
        await smtp.SendAsync(message, ct);
        await smtp.DisconnectAsync(true, ct);
    }
}
