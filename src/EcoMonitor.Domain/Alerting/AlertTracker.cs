namespace EcoMonitor.Domain.Alerting;

public enum AlertState { Pending, Firing, Resolved }

/// <summary>How a rule turns observations into alerts: a value above <see cref="Threshold"/> must hold for
/// <see cref="For"/> before the alert fires; it resolves only once the value is at or below
/// <see cref="ClearThreshold"/> (hysteresis: no flapping around the threshold); while it fires and nobody has
/// acknowledged it, a reminder goes out every <see cref="RepeatInterval"/>.</summary>
public sealed record AlertRuleSpec(string Name, string Severity, double Threshold, double ClearThreshold, TimeSpan For, TimeSpan RepeatInterval)
{
    public static AlertRuleSpec Create(string name, string severity, double threshold, double? clearThreshold, TimeSpan @for, TimeSpan repeat)
    {
        if (clearThreshold > threshold) throw new ArgumentException($"{name}: the clear threshold must not be above the threshold", nameof(clearThreshold));
        if (@for < TimeSpan.Zero || repeat <= TimeSpan.Zero) throw new ArgumentException($"{name}: durations must be positive", nameof(repeat));
        return new AlertRuleSpec(name, severity, threshold, clearThreshold ?? threshold, @for, repeat);
    }
}

public enum AlertEventKind { Pending, Fired, Reminder, Acknowledged, Resolved }

/// <summary>Something that happened to an alert. <see cref="Detail"/> is the rule's explanation of the value (the
/// target rule's projection, the failing water parameters, a trend's slope); <see cref="Silenced"/> is set by the
/// evaluator when a silence or maintenance window kept the notification back.</summary>
public sealed record AlertEvent(AlertEventKind Kind, string Rule, string Subject, DateTimeOffset At, double Value, string? User = null, string? Comment = null,
    string? Detail = null, bool Silenced = false);

/// <summary>One alert: a rule breached for a subject (a station, the zone).</summary>
public sealed class Alert(string rule, string subject, string severity)
{
    public string Rule { get; } = rule;
    public string Subject { get; } = subject;
    public string Severity { get; } = severity;
    public AlertState State { get; internal set; } = AlertState.Pending;
    public DateTimeOffset PendingSince { get; internal set; }
    public DateTimeOffset? FiredAt { get; internal set; }
    public DateTimeOffset? LastNotifiedAt { get; internal set; }
    public DateTimeOffset? ResolvedAt { get; internal set; }
    public double Value { get; internal set; }
    public string? Detail { get; internal set; }
    public string? AcknowledgedBy { get; internal set; }
    public string? AcknowledgeComment { get; internal set; }
    public DateTimeOffset? AcknowledgedAt { get; internal set; }
    public List<AlertEvent> History { get; } = [];
}

/// <summary>The lifecycle of every alert: pending -> firing -> resolved, with reminders until acknowledged. Pure:
/// time comes in with each call, so a fake clock drives it in tests and a restored state continues where it was.</summary>
public sealed class AlertTracker
{
    readonly Dictionary<(string Rule, string Subject), Alert> _active = new();
    readonly List<AlertSnapshot> _closed = [];

    /// <summary>How long resolved alerts stay in <see cref="Closed"/>.</summary>
    public TimeSpan ClosedRetention { get; init; } = TimeSpan.FromDays(90);

    public IReadOnlyCollection<Alert> Active => _active.Values;

    /// <summary>Alerts that fired and resolved, oldest first, with their history (kept <see cref="ClosedRetention"/>).</summary>
    public IReadOnlyList<AlertSnapshot> Closed => _closed;

    /// <summary>The active alerts: everything needed to continue after a restart (with <see cref="Closed"/>).</summary>
    public IReadOnlyList<AlertSnapshot> Snapshot() => [.. _active.Values.Select(SnapshotOf)];

    static AlertSnapshot SnapshotOf(Alert a) => new(a.Rule, a.Subject, a.Severity, a.State, a.PendingSince, a.FiredAt, a.LastNotifiedAt, a.Value,
        a.AcknowledgedBy, a.AcknowledgeComment, a.AcknowledgedAt, [.. a.History], a.ResolvedAt, a.Detail);

    public void Restore(IEnumerable<AlertSnapshot> snapshots, IEnumerable<AlertSnapshot>? closed = null)
    {
        _active.Clear();
        foreach (var s in snapshots)
        {
            var a = new Alert(s.Rule, s.Subject, s.Severity)
            {
                State = s.State, PendingSince = s.PendingSince, FiredAt = s.FiredAt, LastNotifiedAt = s.LastNotifiedAt, Value = s.Value,
                AcknowledgedBy = s.AcknowledgedBy, AcknowledgeComment = s.AcknowledgeComment, AcknowledgedAt = s.AcknowledgedAt, Detail = s.Detail,
            };
            a.History.AddRange(s.History);
            _active[(s.Rule, s.Subject)] = a;
        }
        _closed.Clear();
        _closed.AddRange(closed ?? []);
    }

    /// <summary>Feeds one observation of <paramref name="value"/> for a rule and subject; returns what happened.</summary>
    public IReadOnlyList<AlertEvent> Observe(AlertRuleSpec rule, string subject, double value, DateTimeOffset now, string? detail = null)
    {
        var events = new List<AlertEvent>();
        _active.TryGetValue((rule.Name, subject), out var alert);
        var breached = value > rule.Threshold;
        var cleared = value <= rule.ClearThreshold;
        if (alert is null)
        {
            if (!breached) return events;
            alert = new Alert(rule.Name, subject, rule.Severity) { PendingSince = now, Value = value };
            _active[(rule.Name, subject)] = alert;
            Add(alert, events, new AlertEvent(AlertEventKind.Pending, rule.Name, subject, now, value, Detail: detail));
        }
        alert.Value = value;
        alert.Detail = detail;
        switch (alert.State)
        {
            case AlertState.Pending when !breached:
                _active.Remove((rule.Name, subject)); // never fired: nothing to tell anyone
                break;
            case AlertState.Pending when now - alert.PendingSince >= rule.For:
                alert.State = AlertState.Firing;
                alert.FiredAt = now;
                alert.LastNotifiedAt = now;
                Add(alert, events, new AlertEvent(AlertEventKind.Fired, rule.Name, subject, now, value, Detail: detail));
                break;
            case AlertState.Firing when cleared:
                alert.State = AlertState.Resolved;
                alert.ResolvedAt = now;
                _active.Remove((rule.Name, subject));
                Add(alert, events, new AlertEvent(AlertEventKind.Resolved, rule.Name, subject, now, value, Detail: detail));
                _closed.Add(SnapshotOf(alert));
                _closed.RemoveAll(c => c.ResolvedAt < now - ClosedRetention);
                break;
            case AlertState.Firing when alert.AcknowledgedBy is null && now - alert.LastNotifiedAt >= rule.RepeatInterval:
                alert.LastNotifiedAt = now;
                Add(alert, events, new AlertEvent(AlertEventKind.Reminder, rule.Name, subject, now, value, Detail: detail));
                break;
        }
        return events;
    }

    /// <summary>"Seen, handling it": stops the reminders of a firing alert.</summary>
    public AlertEvent? Acknowledge(string rule, string subject, string user, string comment, DateTimeOffset now)
    {
        if (!_active.TryGetValue((rule, subject), out var alert) || alert.State != AlertState.Firing) return null;
        alert.AcknowledgedBy = user;
        alert.AcknowledgeComment = comment;
        alert.AcknowledgedAt = now;
        var e = new AlertEvent(AlertEventKind.Acknowledged, rule, subject, now, alert.Value, user, comment, alert.Detail);
        alert.History.Add(e);
        return e;
    }

    /// <summary>Replaces an event in its alert's history (the evaluator marks events a silence held back).</summary>
    public void Amend(AlertEvent original, AlertEvent amended)
    {
        if (_active.TryGetValue((original.Rule, original.Subject), out var alert))
        {
            var i = alert.History.IndexOf(original);
            if (i >= 0) alert.History[i] = amended;
            return;
        }
        for (var c = _closed.Count - 1; c >= 0; c--)
            if (_closed[c].Rule == original.Rule && _closed[c].Subject == original.Subject && _closed[c].History.Contains(original))
            {
                _closed[c] = _closed[c] with { History = [.. _closed[c].History.Select(e => e == original ? amended : e)] };
                return;
            }
    }

    /// <summary>Ends the alerts of rules that no longer exist (a reloaded rule set): firing ones resolve (returned),
    /// pending ones are dropped.</summary>
    public IReadOnlyList<AlertEvent> Retire(IReadOnlySet<string> rules, DateTimeOffset now, string detail)
    {
        var events = new List<AlertEvent>();
        foreach (var alert in _active.Values.Where(a => !rules.Contains(a.Rule)).ToList())
        {
            _active.Remove((alert.Rule, alert.Subject));
            if (alert.State != AlertState.Firing) continue;
            alert.State = AlertState.Resolved;
            alert.ResolvedAt = now;
            Add(alert, events, new AlertEvent(AlertEventKind.Resolved, alert.Rule, alert.Subject, now, alert.Value, Detail: detail));
            _closed.Add(SnapshotOf(alert));
        }
        return events;
    }

    static void Add(Alert alert, List<AlertEvent> events, AlertEvent e)
    {
        alert.History.Add(e);
        events.Add(e);
    }
}

/// <summary>An active alert as stored between runs.</summary>
public sealed record AlertSnapshot(string Rule, string Subject, string Severity, AlertState State, DateTimeOffset PendingSince,
    DateTimeOffset? FiredAt, DateTimeOffset? LastNotifiedAt, double Value, string? AcknowledgedBy, string? AcknowledgeComment,
    DateTimeOffset? AcknowledgedAt, IReadOnlyList<AlertEvent> History, DateTimeOffset? ResolvedAt = null, string? Detail = null);

/// <summary>"Don't notify about this for a while": notifications for the rule (null: every rule) and subject (null:
/// every subject) are held back from <see cref="Starts"/> until <see cref="Ends"/>. A silence that starts later is a
/// maintenance window. The alerts themselves are still tracked, with the held-back events marked in their history.</summary>
public sealed record Silence(string Id, string? Rule, string? Subject, DateTimeOffset Starts, DateTimeOffset Ends, string CreatedBy, string Comment)
{
    public bool Matches(string rule, string subject, DateTimeOffset at) =>
        (Rule is null || Rule == rule) && (Subject is null || Subject == subject) && Starts <= at && at < Ends;
}
