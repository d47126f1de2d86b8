using EcoMonitor.Domain.Alerting;

namespace EcoMonitor.Domain.Tests;

/// <summary>The alert lifecycle on a clock the test moves.</summary>
public sealed class AlertTrackerTests
{
    static readonly DateTimeOffset T0 = new(2026, 3, 1, 0, 0, 0, TimeSpan.FromHours(8));

    static readonly AlertRuleSpec Pm25 = AlertRuleSpec.Create("pm25-hourly", "warning", 75, 70, TimeSpan.FromMinutes(10), TimeSpan.FromHours(1));

    static List<AlertEventKind> Kinds(IEnumerable<AlertEvent> events) => events.Select(e => e.Kind).ToList();

    [Fact]
    public void A_breach_must_hold_for_the_pending_duration_before_it_fires()
    {
        var t = new AlertTracker();
        Assert.Equal([AlertEventKind.Pending], Kinds(t.Observe(Pm25, "air-1", 80, T0)));
        Assert.Empty(t.Observe(Pm25, "air-1", 82, T0.AddMinutes(9)));
        var fired = t.Observe(Pm25, "air-1", 81, T0.AddMinutes(10));
        Assert.Equal([AlertEventKind.Fired], Kinds(fired));
        Assert.Equal(AlertState.Firing, t.Active.Single().State);
    }

    [Fact]
    public void A_breach_that_ends_while_pending_never_fires()
    {
        var t = new AlertTracker();
        t.Observe(Pm25, "air-1", 80, T0);
        Assert.Empty(t.Observe(Pm25, "air-1", 60, T0.AddMinutes(5)));
        Assert.Empty(t.Active);
        Assert.Equal([AlertEventKind.Pending], Kinds(t.Observe(Pm25, "air-1", 90, T0.AddMinutes(6))));
    }

    [Fact]
    public void Hysteresis_keeps_an_alert_from_flapping_around_its_threshold()
    {
        var t = new AlertTracker();
        var rule = Pm25 with { For = TimeSpan.Zero };
        var events = new List<AlertEvent>();
        var values = new[] { 76.0, 74, 76, 74, 76, 71, 76, 69 };
        for (var i = 0; i < values.Length; i++) events.AddRange(t.Observe(rule, "air-1", values[i], T0.AddMinutes(i)));
        // One notification for the whole episode, resolved only below the clear threshold of 70.
        Assert.Equal([AlertEventKind.Pending, AlertEventKind.Fired, AlertEventKind.Resolved], Kinds(events));
        Assert.Equal(69, events[^1].Value);
    }

    [Fact]
    public void Reminders_repeat_until_someone_acknowledges()
    {
        var t = new AlertTracker();
        var events = new List<AlertEvent>();
        for (var m = 0; m <= 190; m += 10) events.AddRange(t.Observe(Pm25, "air-1", 90, T0.AddMinutes(m)));
        Assert.Equal([AlertEventKind.Pending, AlertEventKind.Fired, AlertEventKind.Reminder, AlertEventKind.Reminder, AlertEventKind.Reminder], Kinds(events));
        Assert.Equal([T0.AddMinutes(10), T0.AddMinutes(70), T0.AddMinutes(130), T0.AddMinutes(190)], events.Skip(1).Select(e => e.At));

        var ack = t.Acknowledge("pm25-hourly", "air-1", "值班员张", "已通知企业", T0.AddMinutes(195));
        Assert.Equal(("值班员张", "已通知企业"), (ack!.User, ack.Comment));
        var after = new List<AlertEvent>();
        for (var m = 200; m <= 400; m += 10) after.AddRange(t.Observe(Pm25, "air-1", 90, T0.AddMinutes(m)));
        Assert.Empty(after);
        var resolved = t.Observe(Pm25, "air-1", 40, T0.AddMinutes(410));
        Assert.Equal([AlertEventKind.Resolved], Kinds(resolved));
        Assert.Null(t.Acknowledge("pm25-hourly", "air-1", "x", "", T0.AddMinutes(411))); // nothing firing to acknowledge
    }

    [Theory]
    [InlineData(-2.9, true)]
    [InlineData(-3.0, false)]
    [InlineData(-3.1, false)]
    public void The_reduction_target_rule_fires_when_the_cut_is_smaller_than_3_percent(double changePercent, bool fires)
    {
        // Value: the year-over-year change in percent; breached when above the target of -3.
        var rule = AlertRuleSpec.Create("pm25-target", "critical", -3, null, TimeSpan.Zero, TimeSpan.FromDays(1));
        var events = new AlertTracker().Observe(rule, "zone", changePercent, T0);
        Assert.Equal(fires, events.Any(e => e.Kind == AlertEventKind.Fired));
    }

    [Fact]
    public void A_clear_threshold_above_the_threshold_is_refused()
    {
        var e = Assert.Throws<ArgumentException>(() => AlertRuleSpec.Create("bad", "warning", 70, 75, TimeSpan.Zero, TimeSpan.FromHours(1)));
        Assert.Contains("bad", e.Message);
    }

    [Fact]
    public void Resolved_alerts_stay_in_the_history_for_the_retention_and_survive_a_restore()
    {
        var t = new AlertTracker { ClosedRetention = TimeSpan.FromDays(1) };
        var instant = AlertRuleSpec.Create("pm25-hourly", "warning", 75, 70, TimeSpan.Zero, TimeSpan.FromHours(1));
        t.Observe(instant, "air-1", 80, T0);
        t.Observe(instant, "air-1", 60, T0.AddHours(1));
        var closed = Assert.Single(t.Closed);
        Assert.Equal((T0.AddHours(1), 3), (closed.ResolvedAt!.Value, closed.History.Count)); // pending, fired, resolved
        var restored = new AlertTracker { ClosedRetention = TimeSpan.FromDays(1) };
        restored.Restore(t.Snapshot(), t.Closed);
        Assert.Single(restored.Closed);
        restored.Observe(instant, "air-2", 80, T0.AddDays(2));
        restored.Observe(instant, "air-2", 60, T0.AddDays(2).AddHours(1)); // air-1's is older than a day now
        Assert.Equal(["air-2"], restored.Closed.Select(c => c.Subject));
    }

    [Fact]
    public void Retiring_a_removed_rule_resolves_its_firing_alerts_and_drops_pending_ones()
    {
        var t = new AlertTracker();
        var slow = AlertRuleSpec.Create("slow", "warning", 75, 75, TimeSpan.FromHours(1), TimeSpan.FromHours(1));
        var instant = AlertRuleSpec.Create("old", "warning", 75, 75, TimeSpan.Zero, TimeSpan.FromHours(1));
        t.Observe(instant, "air-1", 80, T0);
        t.Observe(slow, "air-2", 80, T0);
        var events = t.Retire(new HashSet<string> { "kept" }, T0.AddMinutes(5), "rule removed");
        Assert.Equal([("old", "air-1", AlertEventKind.Resolved, "rule removed")], events.Select(e => (e.Rule, e.Subject, e.Kind, e.Detail)));
        Assert.Empty(t.Active);
        Assert.Equal(["old"], t.Closed.Select(c => c.Rule));
    }

    [Fact]
    public void A_silence_matches_its_rule_subject_and_span_and_a_held_back_event_is_marked_in_the_history()
    {
        var silence = new Silence("s1", "silent-air", null, T0, T0.AddHours(2), "duty", "maintenance");
        Assert.True(silence.Matches("silent-air", "air-3", T0));
        Assert.True(silence.Matches("silent-air", "air-1", T0.AddHours(1)));
        Assert.False(silence.Matches("silent-air", "air-3", T0.AddHours(2)));  // ends exclusive
        Assert.False(silence.Matches("silent-air", "air-3", T0.AddSeconds(-1)));
        Assert.False(silence.Matches("pm25-hourly", "air-3", T0));

        var t = new AlertTracker();
        var instant = AlertRuleSpec.Create("silent-air", "warning", 60, 60, TimeSpan.Zero, TimeSpan.FromHours(1));
        var fired = t.Observe(instant, "air-3", 90, T0).Single(e => e.Kind == AlertEventKind.Fired);
        t.Amend(fired, fired with { Silenced = true });
        Assert.True(t.Active.Single().History.Single(e => e.Kind == AlertEventKind.Fired).Silenced);
    }
}
