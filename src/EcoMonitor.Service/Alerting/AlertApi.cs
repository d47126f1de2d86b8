using EcoMonitor.Api.V1;
using EcoMonitor.Domain;
using EcoMonitor.Domain.Alerting;
using EcoMonitor.Service.Query;
using Grpc.Core;
using Microsoft.Extensions.Options;

namespace EcoMonitor.Service.Alerting;

/// <summary>The duty staff's alert API (protos/ecomonitor/v1/alerts.proto). With Alerting:Enabled false every call
/// is FAILED_PRECONDITION.</summary>
public sealed class AlertApi(AlertEvaluator evaluator, NotificationDispatcher dispatcher, AlertBroadcast broadcast, IOptions<AlertingSettings> settings,
    AlertClock clock, Stations.StationRegistry stations) : AlertService.AlertServiceBase
{
    void EnsureEnabled()
    {
        if (!evaluator.Enabled)
            throw new RpcException(new Status(StatusCode.FailedPrecondition, "alerting is disabled (Alerting:Enabled is false)"));
    }

    public override Task<ListAlertsResponse> ListAlerts(ListAlertsRequest request, ServerCallContext context)
    {
        EnsureEnabled();
        var response = new ListAlertsResponse();
        response.Alerts.AddRange(evaluator.Active
            .Where(a => Matches(a, request.Rule, request.Subject) && (!request.FiringOnly || a.State == Domain.Alerting.AlertState.Firing))
            .OrderBy(a => a.Rule, StringComparer.Ordinal).ThenBy(a => a.Subject, StringComparer.Ordinal)
            .Select(ToApi));
        return Task.FromResult(response);
    }

    public override Task<ListAlertsResponse> GetAlertHistory(AlertHistoryRequest request, ServerCallContext context)
    {
        EnsureEnabled();
        var now = clock.Now;
        var from = request.From.Length == 0 ? now.AddDays(-7) : Instant(request.From, "from");
        var to = request.To.Length == 0 ? now : Instant(request.To, "to");
        if (to <= from) throw Invalid("to", "must be after from");
        if (request.Limit is < 0 or > 1000) throw Invalid("limit", "must be within 0..1000");
        var response = new ListAlertsResponse();
        response.Alerts.AddRange(evaluator.Closed
            .Where(a => a.ResolvedAt >= from && a.ResolvedAt < to && Matches(a, request.Rule, request.Subject))
            .OrderByDescending(a => a.ResolvedAt)
            .Take(request.Limit == 0 ? 100 : request.Limit)
            .Select(ToApi));
        return Task.FromResult(response);
    }

    public override async Task<AlertInfo> AcknowledgeAlert(AcknowledgeAlertRequest request, ServerCallContext context)
    {
        EnsureEnabled();
        if (request.Rule.Length == 0) throw Invalid("rule", "is required");
        if (request.Subject.Length == 0) throw Invalid("subject", "is required");
        if (request.Comment.Length > 500) throw Invalid("comment", "at most 500 characters");
        var user = request.User.Length > 0 ? request.User : ApiKeyInterceptor.CallerOf(context);
        if (await evaluator.AcknowledgeAsync(request.Rule, request.Subject, user, request.Comment, context.CancellationToken) is null)
            throw new RpcException(new Status(StatusCode.NotFound, $"no firing alert {request.Rule}/{request.Subject} (a pending alert cannot be acknowledged yet)"));
        // It may have resolved in between (an evaluation ran): then it is in the history.
        return ToApi(evaluator.Active.FirstOrDefault(a => a.Rule == request.Rule && a.Subject == request.Subject)
                     ?? evaluator.Closed.Last(a => a.Rule == request.Rule && a.Subject == request.Subject));
    }

    public override async Task<SilenceInfo> CreateSilence(CreateSilenceRequest request, ServerCallContext context)
    {
        EnsureEnabled();
        var now = clock.Now;
        var starts = request.Starts.Length == 0 ? now : Instant(request.Starts, "starts");
        if (request.Ends.Length == 0) throw Invalid("ends", "is required");
        var ends = Instant(request.Ends, "ends");
        if (ends <= starts || ends <= now) throw Invalid("ends", "must be after starts and in the future");
        if (ends - starts > TimeSpan.FromDays(31)) throw Invalid("ends", "a silence lasts at most 31 days");
        if (request.Comment.Trim().Length == 0) throw Invalid("comment", "say why (it is shown to the other duty staff)");
        if (request.Rule.Length > 0 && evaluator.Rules.Rules.All(r => r.Name != request.Rule)) throw Invalid("rule", $"no rule '{request.Rule}'");
        if (request.Rule.Length == 0 && request.Subject.Length == 0) throw Invalid("subject", "name a rule, a subject or both (a silence of everything is not offered)");
        if (request.Subject.Length > 0 && request.Subject != "zone" && !stations.TryGet(request.Subject, out _))
            throw Invalid("subject", $"no station '{(request.Subject.Length > 64 ? request.Subject[..64] : request.Subject)}' (or 'zone')");
        var user = request.User.Length > 0 ? request.User : ApiKeyInterceptor.CallerOf(context);
        var silence = await evaluator.SilenceAsync(Empty(request.Rule), Empty(request.Subject), starts, ends, user, request.Comment, context.CancellationToken);
        return ToApi(silence);
    }

    public override Task<ListSilencesResponse> ListSilences(ListSilencesRequest request, ServerCallContext context)
    {
        EnsureEnabled();
        var response = new ListSilencesResponse();
        response.Silences.AddRange(evaluator.Silences.OrderBy(s => s.Starts).Select(ToApi));
        return Task.FromResult(response);
    }

    public override async Task<SilenceInfo> ExpireSilence(ExpireSilenceRequest request, ServerCallContext context)
    {
        EnsureEnabled();
        if (request.Id.StartsWith("maintenance-", StringComparison.Ordinal))
            throw new RpcException(new Status(StatusCode.FailedPrecondition, "maintenance windows come from the rule set; edit the rules file"));
        return await evaluator.ExpireSilenceAsync(request.Id, ApiKeyInterceptor.CallerOf(context), context.CancellationToken) is { } s
            ? ToApi(s)
            : throw new RpcException(new Status(StatusCode.NotFound, $"no silence '{request.Id}'"));
    }

    public override async Task<EvaluateAlertsResponse> EvaluateAlerts(EvaluateAlertsRequest request, ServerCallContext context)
    {
        EnsureEnabled();
        for (var i = 0; i < request.Rules.Count; i++)
            if (evaluator.Rules.Rules.All(r => r.Name != request.Rules[i])) throw Invalid($"rules[{i}]", $"no rule '{request.Rules[i]}'");
        var events = await evaluator.EvaluateOnceAsync(context.CancellationToken, [.. request.Rules]);
        var response = new EvaluateAlertsResponse();
        response.Events.AddRange(events.Select(e => ToApi(e, SeverityOf(e.Rule))));
        return response;
    }

    public override Task<ListNotificationFailuresResponse> ListNotificationFailures(ListNotificationFailuresRequest request, ServerCallContext context)
    {
        EnsureEnabled();
        var response = new ListNotificationFailuresResponse();
        response.Failures.AddRange(dispatcher.Failures.Select(f => new NotificationFailure
        {
            Channel = f.Channel, Rule = f.Rule, Subject = f.Subject, Kind = f.Kind.ToLowerInvariant(), At = ChinaTime.Format(f.At), Attempts = f.Attempts, Error = f.Error,
        }));
        return Task.FromResult(response);
    }

    public override Task<ListAlertRulesResponse> ListAlertRules(ListAlertRulesRequest request, ServerCallContext context)
    {
        EnsureEnabled();
        var response = new ListAlertRulesResponse { Source = settings.Value.RulesFile is { Length: > 0 } f ? f : "settings" };
        response.Rules.AddRange(evaluator.Rules.Rules.Select(r =>
        {
            var rule = new AlertRule
            {
                Name = r.Name, Kind = r.Kind, Severity = r.Severity, Parameter = r.Parameter ?? "", HasThreshold = r.Threshold is not null,
                Threshold = r.Threshold ?? 0, ClearThreshold = r.ClearThreshold ?? r.Threshold ?? 0, For = r.For.ToString("c"),
                RepeatInterval = r.RepeatInterval.ToString("c"), DailyAt = r.Schedule?.ToString(@"hh\:mm") ?? "",
            };
            rule.Channels.AddRange(r.Channels);
            rule.Stations.AddRange(r.Stations);
            return rule;
        }));
        return Task.FromResult(response);
    }

    public override async Task WatchAlerts(WatchAlertsRequest request, IServerStreamWriter<AlertEventInfo> responseStream, ServerCallContext context)
    {
        EnsureEnabled();
        using var watcher = broadcast.Subscribe(e => (request.Rule.Length == 0 || e.Event.Rule == request.Rule)
                                                     && (request.Subject.Length == 0 || e.Event.Subject == request.Subject));
        await context.WriteResponseHeadersAsync(new Metadata()); // the client sees the stream open before the first event
        try
        {
            await foreach (var e in watcher.Reader.ReadAllAsync(context.CancellationToken))
                await responseStream.WriteAsync(ToApi(e.Event, e.Severity), context.CancellationToken);
        }
        catch (OperationCanceledException) when (context.CancellationToken.IsCancellationRequested)
        {
        }
    }

    string SeverityOf(string rule) => evaluator.Rules.Rules.FirstOrDefault(r => r.Name == rule)?.Severity ?? "";

    static bool Matches(AlertSnapshot a, string rule, string subject) =>
        (rule.Length == 0 || a.Rule == rule) && (subject.Length == 0 || a.Subject == subject);

    static string? Empty(string s) => s.Length == 0 ? null : s;

    static string Time(DateTimeOffset? t) => t is { } v ? ChinaTime.Format(v) : "";

    static AlertInfo ToApi(AlertSnapshot a)
    {
        var info = new AlertInfo
        {
            Rule = a.Rule, Subject = a.Subject, Severity = a.Severity, State = a.State.ToString().ToLowerInvariant(), Value = a.Value, Detail = a.Detail ?? "",
            PendingSince = Time(a.PendingSince), FiredAt = Time(a.FiredAt), ResolvedAt = Time(a.ResolvedAt),
            AcknowledgedBy = a.AcknowledgedBy ?? "", AcknowledgeComment = a.AcknowledgeComment ?? "", AcknowledgedAt = Time(a.AcknowledgedAt),
        };
        info.History.AddRange(a.History.Select(e => ToApi(e, a.Severity)));
        return info;
    }

    internal static AlertEventInfo ToApi(AlertEvent e, string severity) => new()
    {
        Kind = e.Kind.ToString().ToLowerInvariant(), Rule = e.Rule, Subject = e.Subject, Severity = severity, At = ChinaTime.Format(e.At), Value = e.Value,
        Detail = e.Detail ?? "", User = e.User ?? "", Comment = e.Comment ?? "", Silenced = e.Silenced,
    };

    static SilenceInfo ToApi(Silence s) => new()
    {
        Id = s.Id, Rule = s.Rule ?? "", Subject = s.Subject ?? "", Starts = ChinaTime.Format(s.Starts), Ends = ChinaTime.Format(s.Ends),
        CreatedBy = s.CreatedBy, Comment = s.Comment,
    };

    static DateTimeOffset Instant(string text, string field) => QueryApi.Instant(text, field);

    static RpcException Invalid(string field, string message) => QueryApi.Invalid(field, message);
}
