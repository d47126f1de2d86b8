using System.Globalization;
using EcoMonitor.Domain.Alerting;

namespace EcoMonitor.Service.Alerting;

public enum AlertLanguage { Chinese, English }

/// <summary>Notification text from templates, Chinese by default. Placeholders: {rule}, {subject}, {value}, {detail}
/// (the rule's explanation, with its full stop), {at} (China local time), {user}, {comment}; a rule can bring its own
/// templates per event kind (Alerting rule setting Templates).</summary>
public sealed class AlertTemplates(AlertLanguage language = AlertLanguage.Chinese, IReadOnlyDictionary<AlertEventKind, (string Title, string Text)>? overrides = null)
{
    static readonly Dictionary<AlertEventKind, (string Title, string Text)> Chinese = new()
    {
        [AlertEventKind.Pending] = ("【待确认】{rule}：{subject}", "{subject} {rule} 达到阈值（{value}），持续观察中。{detail}时间：{at}"),
        [AlertEventKind.Fired] = ("【告警】{rule}：{subject}", "{subject} {rule} 超过限值，当前值 {value}。{detail}时间：{at}"),
        [AlertEventKind.Reminder] = ("【提醒】{rule}：{subject} 仍未处理", "{subject} {rule} 仍超过限值，当前值 {value}，尚无人确认。{detail}时间：{at}"),
        [AlertEventKind.Acknowledged] = ("【已确认】{rule}：{subject}", "{user} 已确认：{comment}。时间：{at}"),
        [AlertEventKind.Resolved] = ("【恢复】{rule}：{subject}", "{subject} {rule} 已恢复，当前值 {value}。{detail}时间：{at}"),
    };

    static readonly Dictionary<AlertEventKind, (string Title, string Text)> English = new()
    {
        [AlertEventKind.Pending] = ("[pending] {rule}: {subject}", "{subject} {rule} reached its threshold ({value}); watching. {detail}At {at}"),
        [AlertEventKind.Fired] = ("[alert] {rule}: {subject}", "{subject} {rule} is over its limit: {value}. {detail}At {at}"),
        [AlertEventKind.Reminder] = ("[reminder] {rule}: {subject} not handled", "{subject} {rule} is still over its limit: {value}; nobody has acknowledged it. {detail}At {at}"),
        [AlertEventKind.Acknowledged] = ("[acknowledged] {rule}: {subject}", "{user} acknowledged: {comment}. At {at}"),
        [AlertEventKind.Resolved] = ("[resolved] {rule}: {subject}", "{subject} {rule} is back to normal: {value}. {detail}At {at}"),
    };

    public AlertNotification Render(AlertEvent e, string severity)
    {
        var (title, text) = overrides is not null && overrides.TryGetValue(e.Kind, out var own) ? own
            : (language == AlertLanguage.Chinese ? Chinese : English)[e.Kind];
        string Fill(string template) => template
            .Replace("{rule}", e.Rule).Replace("{subject}", e.Subject)
            .Replace("{value}", e.Value.ToString("0.###", CultureInfo.InvariantCulture))
            .Replace("{at}", e.At.ToOffset(TimeSpan.FromHours(8)).ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture))
            .Replace("{user}", e.User ?? "").Replace("{comment}", e.Comment ?? "")
            .Replace("{detail}", string.IsNullOrEmpty(e.Detail) ? "" : language == AlertLanguage.Chinese ? $"{e.Detail}。" : $"{e.Detail}. ");
        return new AlertNotification(e, severity, Fill(title), Fill(text));
    }
}

/// <summary>Alerts on the broker, for systems that subscribe: {prefix}/alerts/{rule}/{subject}, QoS 1, JSON.</summary>
public sealed class MqttAlertNotifier(Ingestion.MqttConnection mqtt, string prefix) : INotifier
{
    public string Channel => "mqtt";

    public async Task SendAsync(AlertNotification n, CancellationToken ct)
    {
        var payload = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(AlertJson.Of(n), AlertJson.Options);
        var message = new MQTTnet.MqttApplicationMessageBuilder()
            .WithTopic($"{prefix}/alerts/{n.Event.Rule}/{n.Event.Subject}")
            .WithPayload(payload)
            .WithContentType("application/json")
            .WithQualityOfServiceLevel(MQTTnet.Protocol.MqttQualityOfServiceLevel.AtLeastOnce)
            .Build();
        if (await mqtt.PublishAsync(message, ct) != Ingestion.PublishOutcome.Published)
            throw new InvalidOperationException($"the broker did not take the alert on {message.Topic}");
    }
}
