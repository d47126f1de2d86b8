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
}
