using System.CommandLine;
using EcoMonitor.Api.V1;
using Google.Protobuf;
using Grpc.Net.Client;

namespace EcoMonitor.Cli;

/// <summary>`ecomon alerts ...`: what is firing, its history, acknowledge, silence, evaluate on demand, failed
/// notifications, the rules in force, and a live stream of alert events.</summary>
static class AlertCommands
{
    static AlertService.AlertServiceClient Client(ParseResult p) => new(GrpcChannel.ForAddress(p.GetValue(Ecomon.Server)!));

    public static Command Build(TextWriter output)
    {
        var rule = new Option<string?>("--rule") { Description = "rule name" };
        var subject = new Option<string?>("--subject") { Description = "station id or zone" };
        var alerts = new Command("alerts", "alerts for duty staff (list when no subcommand is given)");

        var firing = new Option<bool>("--firing") { Description = "firing alerts only (no pending)" };
        var list = new Command("list", "pending and firing alerts") { rule, subject, firing };
        list.SetAction(async (p, ct) =>
        {
            var r = await Client(p).ListAlertsAsync(new ListAlertsRequest { Rule = p.GetValue(rule) ?? "", Subject = p.GetValue(subject) ?? "", FiringOnly = p.GetValue(firing) },
                Ecomon.Headers(p), cancellationToken: ct);
            PrintAlerts(p, output, r);
        });
        alerts.Subcommands.Add(list);
        alerts.SetAction(async (p, ct) =>
        {
            var r = await Client(p).ListAlertsAsync(new ListAlertsRequest(), Ecomon.Headers(p), cancellationToken: ct);
            PrintAlerts(p, output, r);
        });

        var from = new Option<string?>("--from") { Description = "resolved at or after (RFC 3339; 7 days ago)" };
        var to = new Option<string?>("--to") { Description = "resolved before (RFC 3339; now)" };
        var limit = new Option<int>("--limit") { Description = "at most this many (100)" };
        var history = new Command("history", "resolved alerts, newest first") { rule, subject, from, to, limit };
        history.SetAction(async (p, ct) =>
        {
            var r = await Client(p).GetAlertHistoryAsync(new AlertHistoryRequest
            {
                Rule = p.GetValue(rule) ?? "", Subject = p.GetValue(subject) ?? "", From = p.GetValue(from) ?? "", To = p.GetValue(to) ?? "", Limit = p.GetValue(limit),
            }, Ecomon.Headers(p), cancellationToken: ct);
            PrintAlerts(p, output, r);
        });
        alerts.Subcommands.Add(history);

        var requiredRule = new Option<string>("--rule") { Description = "rule name", Required = true };
        var requiredSubject = new Option<string>("--subject") { Description = "station id or zone", Required = true };
        var user = new Option<string?>("--user") { Description = "who (default: the API key's name)" };
        var comment = new Option<string?>("--comment") { Description = "what is being done" };
        var ack = new Command("ack", "acknowledge a firing alert: seen, handling it") { requiredRule, requiredSubject, user, comment };
        ack.SetAction(async (p, ct) =>
        {
            var r = await Client(p).AcknowledgeAlertAsync(new AcknowledgeAlertRequest
            {
                Rule = p.GetValue(requiredRule)!, Subject = p.GetValue(requiredSubject)!, User = p.GetValue(user) ?? "", Comment = p.GetValue(comment) ?? "",
            }, Ecomon.Headers(p), cancellationToken: ct);
            if (Ecomon.Print(p, output, r)) return;
            output.WriteLine($"acknowledged {r.Rule}/{r.Subject} by {r.AcknowledgedBy} at {r.AcknowledgedAt}");
        });
        alerts.Subcommands.Add(ack);

        var starts = new Option<string?>("--starts") { Description = "RFC 3339 (now); a later start is a maintenance window" };
        var ends = new Option<string?>("--ends") { Description = "RFC 3339" };
        var hours = new Option<double>("--hours") { Description = "instead of --ends: this many hours from the start" };
        var why = new Option<string>("--comment") { Description = "why (shown to the other duty staff)", Required = true };
        var silence = new Command("silence", "hold back notifications of a rule and/or subject for a while") { rule, subject, starts, ends, hours, why, user };
        silence.SetAction(async (p, ct) =>
        {
            var start = p.GetValue(starts);
            var end = p.GetValue(ends);
            if (end is null && p.GetValue(hours) > 0)
            {
                DateTimeOffset from;
                if (start is null) from = DateTimeOffset.Now;
                else if (!(start.EndsWith('Z') || start.Length > 6 && start[^6] is '+' or '-' && start[^3] == ':')
                         || !DateTimeOffset.TryParse(start, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.None, out from))
                    throw new Grpc.Core.RpcException(new Grpc.Core.Status(Grpc.Core.StatusCode.InvalidArgument, $"--starts: '{start}' is not an RFC 3339 time with its offset"));
                end = from.AddHours(p.GetValue(hours)).ToString("yyyy-MM-ddTHH:mm:sszzz", System.Globalization.CultureInfo.InvariantCulture);
            }
            var r = await Client(p).CreateSilenceAsync(new CreateSilenceRequest
            {
                Rule = p.GetValue(rule) ?? "", Subject = p.GetValue(subject) ?? "", Starts = start ?? "", Ends = end ?? "", Comment = p.GetValue(why)!, User = p.GetValue(user) ?? "",
            }, Ecomon.Headers(p), cancellationToken: ct);
            if (Ecomon.Print(p, output, r)) return;
            output.WriteLine($"silence {r.Id}: {Or(r.Rule)}/{Or(r.Subject)} from {r.Starts} to {r.Ends}");
        });
        alerts.Subcommands.Add(silence);

        var silences = new Command("silences", "current and future silences and maintenance windows");
        silences.SetAction(async (p, ct) =>
        {
            var r = await Client(p).ListSilencesAsync(new ListSilencesRequest(), Ecomon.Headers(p), cancellationToken: ct);
            if (Ecomon.Print(p, output, r)) return;
            var t = new Table("id", "rule", "subject", "starts", "ends", "by", "comment");
            foreach (var s in r.Silences) t.Row(s.Id, Or(s.Rule), Or(s.Subject), s.Starts, s.Ends, s.CreatedBy, s.Comment);
            t.WriteTo(output);
        });
        alerts.Subcommands.Add(silences);

        var id = new Argument<string>("id") { Description = "silence id" };
        var unsilence = new Command("unsilence", "end a silence now") { id };
        unsilence.SetAction(async (p, ct) =>
        {
            var r = await Client(p).ExpireSilenceAsync(new ExpireSilenceRequest { Id = p.GetValue(id)! }, Ecomon.Headers(p), cancellationToken: ct);
            if (Ecomon.Print(p, output, r)) return;
            output.WriteLine($"silence {r.Id} ended at {r.Ends}");
        });
        alerts.Subcommands.Add(unsilence);

        var rules = new Option<string[]>("--rule") { Description = "rule name (repeatable; none: all)", AllowMultipleArgumentsPerToken = true };
        var evaluate = new Command("evaluate", "evaluate rules now, whatever their schedule (operator)") { rules };
        evaluate.SetAction(async (p, ct) =>
        {
            var request = new EvaluateAlertsRequest();
            request.Rules.AddRange(p.GetValue(rules) ?? []);
            var r = await Client(p).EvaluateAlertsAsync(request, Ecomon.Headers(p), cancellationToken: ct);
            if (Ecomon.Print(p, output, r)) return;
            PrintEvents(output, r.Events);
        });
        alerts.Subcommands.Add(evaluate);

        var failures = new Command("failures", "notifications that failed after every retry");
        failures.SetAction(async (p, ct) =>
        {
            var r = await Client(p).ListNotificationFailuresAsync(new ListNotificationFailuresRequest(), Ecomon.Headers(p), cancellationToken: ct);
            if (Ecomon.Print(p, output, r)) return;
            var t = new Table("at", "channel", "rule", "subject", "event", "attempts", "error");
            foreach (var f in r.Failures) t.Row(f.At, f.Channel, f.Rule, f.Subject, f.Kind, f.Attempts, f.Error);
            t.WriteTo(output);
        });
        alerts.Subcommands.Add(failures);

        var ruleList = new Command("rules", "the rules in force");
        ruleList.SetAction(async (p, ct) =>
        {
            var r = await Client(p).ListAlertRulesAsync(new ListAlertRulesRequest(), Ecomon.Headers(p), cancellationToken: ct);
            if (Ecomon.Print(p, output, r)) return;
            output.WriteLine($"rules from {r.Source}");
            var t = new Table("name", "kind", "parameter", "threshold", "clear", "for", "repeat", "daily at", "severity", "channels");
            foreach (var x in r.Rules)
                t.Row(x.Name, x.Kind, x.Parameter, x.HasThreshold ? x.Threshold : "standard", x.HasThreshold ? x.ClearThreshold : "", x.For, x.RepeatInterval, x.DailyAt,
                    x.Severity, string.Join(",", x.Channels));
            t.WriteTo(output);
        });
        alerts.Subcommands.Add(ruleList);

        var count = new Option<int>("--count") { Description = "stop after this many events (0: until Ctrl-C)" };
        var watch = new Command("watch", "alert events as they happen") { rule, subject, count };
        watch.SetAction(async (p, ct) =>
        {
            using var call = Client(p).WatchAlerts(new WatchAlertsRequest { Rule = p.GetValue(rule) ?? "", Subject = p.GetValue(subject) ?? "" }, Ecomon.Headers(p), cancellationToken: ct);
            var seen = 0;
            while (await call.ResponseStream.MoveNext(ct))
            {
                var e = call.ResponseStream.Current;
                output.WriteLine(p.GetValue(Ecomon.Json) ? JsonFormatter.Default.Format(e) : Line(e));
                await output.FlushAsync(ct);
                if (p.GetValue(count) > 0 && ++seen >= p.GetValue(count)) break;
            }
        });
        alerts.Subcommands.Add(watch);
        return alerts;
    }

    static string Or(string s) => s.Length == 0 ? "*" : s;

    static string Line(AlertEventInfo e) =>
        $"{e.At}  {e.Kind,-12} {e.Rule,-16} {e.Subject,-14} {e.Value,10:0.###}  {e.Severity}{(e.Silenced ? " (silenced)" : "")}  {e.Detail}{(e.User.Length > 0 ? $" [{e.User}: {e.Comment}]" : "")}";

    static void PrintEvents(TextWriter output, IEnumerable<AlertEventInfo> events)
    {
        foreach (var e in events) output.WriteLine(Line(e));
    }

    static void PrintAlerts(ParseResult p, TextWriter output, ListAlertsResponse r)
    {
        if (Ecomon.Print(p, output, r)) return;
        var t = new Table("rule", "subject", "state", "severity", "value", "since", "acknowledged", "detail");
        foreach (var a in r.Alerts)
            t.Row(a.Rule, a.Subject, a.State, a.Severity, a.Value, a.State == "resolved" ? a.ResolvedAt : a.FiredAt.Length > 0 ? a.FiredAt : a.PendingSince,
                a.AcknowledgedBy.Length > 0 ? $"{a.AcknowledgedBy}: {a.AcknowledgeComment}" : "", a.Detail);
        t.WriteTo(output);
    }
}
