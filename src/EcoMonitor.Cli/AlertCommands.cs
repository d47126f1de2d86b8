using System.CommandLine;
using EcoMonitor.Api.V1;
using Google.Protobuf;

namespace EcoMonitor.Cli;

/// <summary>`ecomon alerts ...`: what is firing, its history, acknowledge, silence, evaluate on demand, failed
/// notifications, the rules in force, and a live stream of alert events.</summary>
static class AlertCommands
{
    public static Command Build(Connection c)
    {
        var output = c.Output;
        AlertService.AlertServiceClient Client(ParseResult p) => c.Alerts(p);
        var rule = new Option<string?>("--rule") { Description = "rule name" };
        var subject = new Option<string?>("--subject") { Description = "station id or zone" };
        var alerts = new Command("alerts", "alerts for duty staff (list when no subcommand is given)");

        var firing = new Option<bool>("--firing") { Description = "firing alerts only (no pending)" };
        var list = new Command("list", "pending and firing alerts") { rule, subject, firing };
        list.SetAction(async (p, ct) =>
        {
            var r = await Client(p).ListAlertsAsync(new ListAlertsRequest { Rule = p.GetValue(rule) ?? "", Subject = p.GetValue(subject) ?? "", FiringOnly = p.GetValue(firing) },
                c.Headers(p), cancellationToken: ct);
            await PrintAlertsAsync(c, p, r, ct);
        });
        alerts.Subcommands.Add(list);
        alerts.SetAction(async (p, ct) =>
        {
            var r = await Client(p).ListAlertsAsync(new ListAlertsRequest(), c.Headers(p), cancellationToken: ct);
            await PrintAlertsAsync(c, p, r, ct);
        });

        var from = new Option<string?>("--from") { Description = "resolved at or after: yyyy-MM-dd [HH:mm] China time or RFC 3339 (7 days ago)" };
        var to = new Option<string?>("--to") { Description = "resolved before: yyyy-MM-dd [HH:mm] China time or RFC 3339 (now)" };
        var limit = new Option<int>("--limit") { Description = "at most this many (100)" };
        var history = new Command("history", "resolved alerts, newest first") { rule, subject, from, to, limit };
        history.SetAction(async (p, ct) =>
        {
            var r = await Client(p).GetAlertHistoryAsync(new AlertHistoryRequest
            {
                Rule = p.GetValue(rule) ?? "", Subject = p.GetValue(subject) ?? "", From = Instant(p.GetValue(from), "--from"), To = Instant(p.GetValue(to), "--to"),
                Limit = p.GetValue(limit),
            }, c.Headers(p), cancellationToken: ct);
            await PrintAlertsAsync(c, p, r, ct);
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
            }, c.Headers(p), cancellationToken: ct);
            if (Ecomon.Print(p, output, r)) return;
            output.WriteLine($"acknowledged {r.Rule}/{(await c.NamesAsync(p, ct)).Label(r.Subject)} by {r.AcknowledgedBy} at {China.Time(r.AcknowledgedAt)}");
        });
        alerts.Subcommands.Add(ack);

        var starts = new Option<string?>("--starts") { Description = "yyyy-MM-dd [HH:mm] China time or RFC 3339 (now); a later start is a maintenance window" };
        var ends = new Option<string?>("--ends") { Description = "yyyy-MM-dd [HH:mm] China time or RFC 3339" };
        var hours = new Option<double>("--hours") { Description = "instead of --ends: this many hours from the start" };
        var why = new Option<string>("--comment") { Description = "why (shown to the other duty staff)", Required = true };
        var silence = new Command("silence", "hold back notifications of a rule and/or subject for a while") { rule, subject, starts, ends, hours, why, user };
        silence.SetAction(async (p, ct) =>
        {
            var start = p.GetValue(starts) is { } s ? China.Input(s, "--starts") : (DateTimeOffset?)null;
            var end = p.GetValue(ends) is { } e ? China.Input(e, "--ends") : (DateTimeOffset?)null;
            if (end is null && p.GetValue(hours) > 0) end = (start ?? c.Time.GetUtcNow().ToOffset(China.Offset)).AddHours(p.GetValue(hours));
            var r = await Client(p).CreateSilenceAsync(new CreateSilenceRequest
            {
                Rule = p.GetValue(rule) ?? "", Subject = p.GetValue(subject) ?? "", Starts = start is { } a ? China.Rfc3339(a) : "", Ends = end is { } b ? China.Rfc3339(b) : "",
                Comment = p.GetValue(why)!, User = p.GetValue(user) ?? "",
            }, c.Headers(p), cancellationToken: ct);
            if (Ecomon.Print(p, output, r)) return;
            output.WriteLine($"silence {r.Id}: {Or(r.Rule)}/{Or((await c.NamesAsync(p, ct)).Label(r.Subject))} from {China.Time(r.Starts)} to {China.Time(r.Ends)}");
        });
        alerts.Subcommands.Add(silence);

        var silences = new Command("silences", "current and future silences and maintenance windows");
        silences.SetAction(async (p, ct) =>
        {
            var r = await Client(p).ListSilencesAsync(new ListSilencesRequest(), c.Headers(p), cancellationToken: ct);
            if (Ecomon.Print(p, output, r)) return;
            var names = await c.NamesAsync(p, ct);
            var t = new Table("id", "rule", "subject", "name", "starts (China)", "ends (China)", "by", "comment");
            foreach (var s in r.Silences) t.Row(s.Id, Or(s.Rule), Or(s.Subject), names.Of(s.Subject), China.Time(s.Starts), China.Time(s.Ends), s.CreatedBy, s.Comment);
            t.WriteTo(output);
        });
        alerts.Subcommands.Add(silences);

        var id = new Argument<string>("id") { Description = "silence id" };
        var unsilence = new Command("unsilence", "end a silence now") { id };
        unsilence.SetAction(async (p, ct) =>
        {
            var r = await Client(p).ExpireSilenceAsync(new ExpireSilenceRequest { Id = p.GetValue(id)! }, c.Headers(p), cancellationToken: ct);
            if (Ecomon.Print(p, output, r)) return;
            output.WriteLine($"silence {r.Id} ended at {China.Time(r.Ends)}");
        });
        alerts.Subcommands.Add(unsilence);

        var rules = new Option<string[]>("--rule") { Description = "rule name (repeatable; none: all)", AllowMultipleArgumentsPerToken = true };
        var evaluate = new Command("evaluate", "evaluate rules now, whatever their schedule (operator)") { rules };
        evaluate.SetAction(async (p, ct) =>
        {
            var request = new EvaluateAlertsRequest();
            request.Rules.AddRange(p.GetValue(rules) ?? []);
            var r = await Client(p).EvaluateAlertsAsync(request, c.Headers(p), cancellationToken: ct);
            if (Ecomon.Print(p, output, r)) return;
            // Silence would read as "did nothing": say that the rules ran and changed no alert.
            if (r.Events.Count == 0)
                output.WriteLine($"evaluated {(request.Rules.Count == 0 ? "every rule" : string.Join(", ", request.Rules))}: no alert changed state (ecomon alerts lists the active ones)");
            PrintEvents(output, await c.NamesAsync(p, ct), r.Events);
        });
        alerts.Subcommands.Add(evaluate);

        var failures = new Command("failures", "notifications that failed after every retry");
        failures.SetAction(async (p, ct) =>
        {
            var r = await Client(p).ListNotificationFailuresAsync(new ListNotificationFailuresRequest(), c.Headers(p), cancellationToken: ct);
            if (Ecomon.Print(p, output, r)) return;
            var names = await c.NamesAsync(p, ct);
            var t = new Table("at (China)", "channel", "rule", "subject", "name", "event", "attempts", "error");
            foreach (var f in r.Failures) t.Row(China.Time(f.At), f.Channel, f.Rule, f.Subject, names.Of(f.Subject), f.Kind, f.Attempts, f.Error);
            t.WriteTo(output);
        });
        alerts.Subcommands.Add(failures);

        var ruleList = new Command("rules", "the rules in force");
        ruleList.SetAction(async (p, ct) =>
        {
            var r = await Client(p).ListAlertRulesAsync(new ListAlertRulesRequest(), c.Headers(p), cancellationToken: ct);
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
            var names = p.GetValue(Ecomon.Json) ? StationNames.None : await c.NamesAsync(p, ct);
            using var call = Client(p).WatchAlerts(new WatchAlertsRequest { Rule = p.GetValue(rule) ?? "", Subject = p.GetValue(subject) ?? "" }, c.Headers(p), cancellationToken: ct);
            var seen = 0;
            while (await call.ResponseStream.MoveNext(ct))
            {
                var e = call.ResponseStream.Current;
                output.WriteLine(p.GetValue(Ecomon.Json) ? JsonFormatter.Default.Format(e) : Line(names, e));
                await output.FlushAsync(ct);
                if (p.GetValue(count) > 0 && ++seen >= p.GetValue(count)) break;
            }
        });
        alerts.Subcommands.Add(watch);
        return alerts;
    }

    static string Or(string s) => s.Length == 0 ? "*" : s;

    static string Instant(string? value, string option) => value is null ? "" : China.Rfc3339(China.Input(value, option));

    static string Line(StationNames names, AlertEventInfo e) =>
        $"{China.Time(e.At)}  {e.Kind,-12} {e.Rule,-16} {names.Label(e.Subject),-14} {e.Value,10:0.###}  {e.Severity}{(e.Silenced ? " (silenced)" : "")}  {e.Detail}{(e.User.Length > 0 ? $" [{e.User}: {e.Comment}]" : "")}";

    static void PrintEvents(TextWriter output, StationNames names, IEnumerable<AlertEventInfo> events)
    {
        foreach (var e in events) output.WriteLine(Line(names, e));
    }

    static async Task PrintAlertsAsync(Connection c, ParseResult p, ListAlertsResponse r, CancellationToken ct)
    {
        if (Ecomon.Print(p, c.Output, r)) return;
        var names = await c.NamesAsync(p, ct);
        var t = new Table("rule", "subject", "name", "state", "severity", "value", "since (China)", "acknowledged", "detail");
        foreach (var a in r.Alerts)
            t.Row(a.Rule, a.Subject, names.Of(a.Subject), a.State, a.Severity, a.Value,
                China.Time(a.State == "resolved" ? a.ResolvedAt : a.FiredAt.Length > 0 ? a.FiredAt : a.PendingSince),
                a.AcknowledgedBy.Length > 0 ? $"{a.AcknowledgedBy}: {a.AcknowledgeComment}" : "", a.Detail);
        t.WriteTo(c.Output);
    }
}
