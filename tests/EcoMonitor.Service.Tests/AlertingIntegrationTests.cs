using EcoMonitor.Domain.Alerting;
using EcoMonitor.Service.Alerting;
using EcoMonitor.Service.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace EcoMonitor.Service.Tests;

/// <summary>Rules evaluated over real InfluxDB data on a fake alert clock (FakeTimeProvider) the test moves,
/// notifications at a real HTTP receiver and on the real broker, state kept across a restart.</summary>
[Trait("Category", "Integration")]
public sealed class AlertingIntegrationTests
{
    [Fact]
    public async Task Limits_and_silent_stations_fire_remind_survive_a_restart_and_resolve()
    {
        await using var hook = await HttpReceiver.StartAsync();
        var stateFile = TempFile("alerts");
        Dictionary<string, string?> Settings(string? database = null)
        {
            var s = AlertSettings(hook, stateFile,
                ("Alerting:Rules:0:Name", "pm25-hourly"), ("Alerting:Rules:0:Kind", "hourly-mean"), ("Alerting:Rules:0:Parameter", "pm25"),
                ("Alerting:Rules:0:Threshold", "75"), ("Alerting:Rules:0:ClearThreshold", "70"), ("Alerting:Rules:0:RepeatInterval", "01:00:00"),
                ("Alerting:Rules:0:Channels:0", "duty"),
                ("Alerting:Rules:1:Name", "silent-air"), ("Alerting:Rules:1:Kind", "silent"), ("Alerting:Rules:1:StationKind", "air"),
                ("Alerting:Rules:1:Threshold", "60"), ("Alerting:Rules:1:RepeatInterval", "01:00:00"), ("Alerting:Rules:1:Channels:0", "duty"));
            if (database is not null) s["Influx:Database"] = database;
            return s;
        }

        // A complete hour H with PM2.5 90 at air-1; air-2 reported 5 minutes ago; air-3 never did.
        var h = new DateTimeOffset(DateTime.UtcNow.Ticks / TimeSpan.TicksPerHour * TimeSpan.TicksPerHour, TimeSpan.Zero).AddHours(-1);
        var now = h.AddHours(1).AddMinutes(10);
        var clock = new FakeTimeProvider(now);
        var service = new ServiceUnderTest(Settings(), OnClock(clock));
        await service.StartAsync();
        await Seed.WriteAsync(service.Database, Enumerable.Range(0, 45).Select(m => Seed.Line("air-1", "pm25", h.AddMinutes(m), 90))
            .Append(Seed.Line("air-2", "pm25", now.AddMinutes(-5), 30)));
        var evaluator = service.Services.GetRequiredService<AlertEvaluator>();

        var first = await Evaluate(evaluator, clock, now);
        Assert.Equal([("pm25-hourly", "air-1", AlertEventKind.Fired), ("silent-air", "air-3", AlertEventKind.Fired)],
            first.Where(e => e.Kind != AlertEventKind.Pending).Select(e => (e.Rule, e.Subject, e.Kind)).Order());
        Assert.Equal(2, hook.Requests.Count);
        var pm25 = hook.Requests.Select(r => r.Body).Single(b => b.GetProperty("rule").GetString() == "pm25-hourly");
        Assert.Equal(("fired", "air-1", 90.0, "warning"), (pm25.GetProperty("kind").GetString(), pm25.GetProperty("subject").GetString(),
            pm25.GetProperty("value").GetDouble(), pm25.GetProperty("severity").GetString()));
        Assert.StartsWith("【告警】pm25-hourly：air-1", pm25.GetProperty("title").GetString());

        // Half an hour later: nothing new (no reminder before an hour).
        Assert.DoesNotContain(await Evaluate(evaluator, clock, now.AddMinutes(30)), e => e.Kind != AlertEventKind.Pending);
        Assert.NotNull(await evaluator.AcknowledgeAsync("pm25-hourly", "air-1", "值班员张", "已通知企业", CancellationToken.None));
        Assert.Equal(3, hook.Requests.Count);
        Assert.Equal(now.AddMinutes(30), evaluator.Active.Single(a => a.Rule == "pm25-hourly").AcknowledgedAt); // on the alert clock
        await service.StopAsync();

        // A restart: the firing alerts are still there and are not sent again; only the unacknowledged one reminds.
        var database = service.Database;
        await using var restarted = new ServiceUnderTest(Settings(database), OnClock(clock));
        await restarted.StartAsync();
        var again = restarted.Services.GetRequiredService<AlertEvaluator>();
        await Seed.WriteAsync(database, [Seed.Line("air-1", "pm25", now.AddMinutes(55), 40), Seed.Line("air-2", "pm25", now.AddMinutes(55), 30)]);
        Assert.Equal(2, again.Active.Count(a => a.State == AlertState.Firing));
        var later = await Evaluate(again, clock, now.AddMinutes(61));
        Assert.Equal([("silent-air", "air-3", AlertEventKind.Reminder)], later.Select(e => (e.Rule, e.Subject, e.Kind)));
        Assert.Equal(4, hook.Requests.Count);

        // air-3 reports: the silent alert resolves.
        await Seed.WriteAsync(database, [Seed.Line("air-3", "pm25", now.AddMinutes(70), 20)]);
        var resolved = await Evaluate(again, clock, now.AddMinutes(75));
        Assert.Equal([("silent-air", "air-3", AlertEventKind.Resolved)], resolved.Select(e => (e.Rule, e.Subject, e.Kind)));
        Assert.Equal("resolved", hook.Requests.Last().Body.GetProperty("kind").GetString());
        Assert.DoesNotContain(again.Active, a => a.Subject == "air-3");
        await service.DisposeAsync();
        File.Delete(stateFile);
    }

    static readonly TimeSpan China = TimeSpan.FromHours(8);

    static Dictionary<string, string?> AlertSettings(HttpReceiver hook, string stateFile, params (string Key, string? Value)[] more) =>
        AlertTestSettings.For(hook, stateFile, more);

    /// <summary>The service evaluates alerts on this fake clock (ingestion and notification retries keep the real one).</summary>
    static Action<IServiceCollection> OnClock(FakeTimeProvider clock) => services => services.AddSingleton(new AlertClock(clock));

    /// <summary>Moves the fake clock to <paramref name="at"/> (never back) and evaluates.</summary>
    static Task<IReadOnlyList<AlertEvent>> Evaluate(AlertEvaluator evaluator, FakeTimeProvider clock, DateTimeOffset at, IReadOnlyCollection<string>? onDemand = null)
    {
        clock.SetUtcNow(at);
        return evaluator.EvaluateOnceAsync(CancellationToken.None, onDemand);
    }

    static string TempFile(string name) => AlertTestSettings.TempFile(name);

    static IEnumerable<(string Rule, string Subject, AlertEventKind Kind)> Sent(IEnumerable<AlertEvent> events) =>
        events.Where(e => e.Kind != AlertEventKind.Pending).Select(e => (e.Rule, e.Subject, e.Kind)).Order();

    [Fact]
    public async Task The_target_rule_fires_at_minus_2_9_not_at_minus_3_1_once_a_day_and_on_demand()
    {
        await using var hook = await HttpReceiver.StartAsync();
        var stateFile = TempFile("alerts");
        var night = new DateTimeOffset(2026, 2, 1, 0, 20, 0, China);
        var clock = new FakeTimeProvider(night);
        await using var service = new ServiceUnderTest(AlertSettings(hook, stateFile,
            ("Alerting:Rules:0:Name", "pm25-target"), ("Alerting:Rules:0:Kind", "pm25-target"), ("Alerting:Rules:0:Channels:0", "duty")), OnClock(clock));
        await service.StartAsync();
        // January of both years, every day valid: last year 50; this year -2.9 %, -3.0 % and -3.1 %; the zone -3.0 %.
        var lines = new List<string>();
        foreach (var (station, current) in new[] { ("air-1", 48.55), ("air-2", 48.5), ("air-3", 48.45) })
            for (var d = 1; d <= 31; d++)
            {
                lines.AddRange(Seed.Day(station, "pm25", new DateOnly(2025, 1, d), 50));
                lines.AddRange(Seed.Day(station, "pm25", new DateOnly(2026, 1, d), current));
            }
        await Seed.WriteAsync(service.Database, lines);
        var evaluator = service.Services.GetRequiredService<AlertEvaluator>();

        // 00:20 on 1 February: before the rule's daily time (00:30), nothing is evaluated.
        Assert.Empty(await Evaluate(evaluator, clock, night));
        var first = await Evaluate(evaluator, clock, night.AddMinutes(20));
        Assert.Equal([("pm25-target", "air-1", AlertEventKind.Fired)], Sent(first));
        var fired = first.Single(e => e.Kind == AlertEventKind.Fired);
        Assert.Equal(-2.9, fired.Value, 9);
        var body = Assert.Single(hook.Requests).Body;
        var detail = body.GetProperty("detail").GetString()!;
        Assert.Contains("截至 2026-01-31", detail);
        Assert.Contains("变化 -2.9%（目标 -3%）", detail);
        Assert.Contains("去年年均值无效", detail); // 2025 has January only: no valid annual mean to project from
        Assert.Contains(detail, body.GetProperty("text").GetString());

        // Once a day: later the same night nothing is evaluated again.
        Assert.Empty(await Evaluate(evaluator, clock, night.AddMinutes(50)));

        // A correction of air-1's January (now -3.1 %): the daily run would see it tomorrow; on demand it resolves now.
        await Seed.WriteAsync(service.Database, Enumerable.Range(1, 31).SelectMany(d => Seed.Day("air-1", "pm25", new DateOnly(2026, 1, d), 48.45)));
        Assert.Empty(await Evaluate(evaluator, clock, night.AddMinutes(60)));
        var onDemand = await Evaluate(evaluator, clock, night.AddMinutes(61), ["pm25-target"]);
        Assert.Equal([("pm25-target", "air-1", AlertEventKind.Resolved)], Sent(onDemand));
        Assert.Equal("resolved", hook.Requests.Last().Body.GetProperty("kind").GetString());
        Assert.Equal("air-1", Assert.Single(evaluator.Closed).Subject);
        File.Delete(stateFile);
    }

    [Fact]
    public async Task Pending_duration_hysteresis_and_acknowledgement_over_hourly_data()
    {
        await using var hook = await HttpReceiver.StartAsync();
        var stateFile = TempFile("alerts");
        var b = new DateTimeOffset(DateTime.UtcNow.Ticks / TimeSpan.TicksPerHour * TimeSpan.TicksPerHour, TimeSpan.Zero).AddHours(-30);
        var clock = new FakeTimeProvider(b);
        await using var service = new ServiceUnderTest(AlertSettings(hook, stateFile,
            ("Alerting:Rules:0:Name", "pm25-hourly"), ("Alerting:Rules:0:Kind", "hourly-mean"), ("Alerting:Rules:0:Parameter", "pm25"),
            ("Alerting:Rules:0:Threshold", "75"), ("Alerting:Rules:0:ClearThreshold", "60"), ("Alerting:Rules:0:For", "02:00:00"),
            ("Alerting:Rules:0:RepeatInterval", "01:30:00"), ("Alerting:Rules:0:Channels:0", "duty"),
            ("Alerting:Rules:0:Templates:fired:Title", "【PM2.5 超标】{subject}"),
            ("Alerting:Rules:0:Templates:fired:Text", "{subject} 小时均值 {value} µg/m³，请核查。{detail}")), OnClock(clock));
        await service.StartAsync();
        double[] hourly = [80, 80, 80, 70, 76, 70, 55];
        await Seed.WriteAsync(service.Database, hourly.SelectMany((v, i) => Enumerable.Range(0, 45).Select(m => Seed.Line("air-1", "pm25", b.AddHours(i).AddMinutes(m), v))));
        var evaluator = service.Services.GetRequiredService<AlertEvaluator>();
        async Task<AlertEventKind[]> At(int hour, int minutes = 10) =>
            [.. (await Evaluate(evaluator, clock, b.AddHours(hour + 1).AddMinutes(minutes))).Select(e => e.Kind)];

        Assert.Equal([AlertEventKind.Pending], await At(0));
        Assert.Empty(await At(1));                            // pending for 1 h of the 2 h it must hold
        Assert.Equal([AlertEventKind.Fired], await At(2));
        Assert.Empty(await At(3));                            // 70: under the threshold but above the clear threshold, still firing
        Assert.Equal([AlertEventKind.Reminder], await At(4)); // 76, 2 h after the notification, nobody acknowledged
        Assert.NotNull(await evaluator.AcknowledgeAsync("pm25-hourly", "air-1", "值班员李", "已通知企业", CancellationToken.None));
        Assert.Empty(await At(5, 50));                        // 1 h 40 min after the reminder: acknowledged, so no reminder
        Assert.Equal([AlertEventKind.Resolved], await At(6)); // 55: at or below 60
        Assert.Equal(["fired", "reminder", "acknowledged", "resolved"], hook.Requests.Select(r => r.Body.GetProperty("kind").GetString()));
        var fired = hook.Requests.First().Body; // the rule's own template for "fired"; the default for the others
        Assert.Equal("【PM2.5 超标】air-1", fired.GetProperty("title").GetString());
        Assert.StartsWith("air-1 小时均值 80 µg/m³，请核查。pm25 ", fired.GetProperty("text").GetString());
        Assert.StartsWith("【提醒】pm25-hourly：air-1", hook.Requests.Skip(1).First().Body.GetProperty("title").GetString());
        var history = Assert.Single(evaluator.Closed).History.Select(e => e.Kind);
        Assert.Equal([AlertEventKind.Pending, AlertEventKind.Fired, AlertEventKind.Reminder, AlertEventKind.Acknowledged, AlertEventKind.Resolved], history);
        File.Delete(stateFile);
    }

    [Fact]
    public async Task Daily_means_single_values_trends_water_ph_and_instrument_flags()
    {
        await using var hook = await HttpReceiver.StartAsync();
        var stateFile = TempFile("alerts");
        var h = new DateTimeOffset(DateTime.UtcNow.Ticks / TimeSpan.TicksPerHour * TimeSpan.TicksPerHour, TimeSpan.Zero).AddHours(-48);
        var now = h.AddHours(1).AddMinutes(10); // the last complete hour is h
        var early = now.AddMinutes(-30);
        var clock = new FakeTimeProvider(early);
        (string, string?)[] Rule(int i, string name, string kind, params (string Key, string Value)[] extra) =>
            [($"Alerting:Rules:{i}:Name", name), ($"Alerting:Rules:{i}:Kind", kind), ($"Alerting:Rules:{i}:Channels:0", "duty"),
                .. extra.Select(e => ($"Alerting:Rules:{i}:{e.Key}", (string?)e.Value))];
        await using var service = new ServiceUnderTest(AlertSettings(hook, stateFile,
        [
            .. Rule(0, "pm25-24h", "daily-mean", ("Parameter", "pm25")),          // GB 3095 Grade II: 75
            .. Rule(1, "nmhc-single", "single-value", ("Parameter", "nmhc")),     // GB 37822: 30
            .. Rule(2, "nmhc-trend", "voc-trend"),                                // NMHC, 2 h window, 1 h ahead, limit 10
            .. Rule(3, "water-class", "water-class"),
            .. Rule(4, "ph", "ph-range"),
            .. Rule(5, "flags", "flag-duration", ("Threshold", "60")),
        ]), OnClock(clock));
        await service.StartAsync();
        var lines = new List<string>();
        for (var i = 0; i < 24; i++) // air-1: 24 valid hours at 80; air-2: 19 valid hours at 100 (too few for a 24-hour mean)
        {
            lines.AddRange(Enumerable.Range(0, 45).Select(m => Seed.Line("air-1", "pm25", h.AddHours(-i).AddMinutes(m), 80)));
            if (i < 19) lines.AddRange(Enumerable.Range(0, 45).Select(m => Seed.Line("air-2", "pm25", h.AddHours(-i).AddMinutes(m), 100)));
        }
        // voc-1: NMHC rising 2.5 mg/m³ per hour to 9 at `early` (limit 10 reached in 24 minutes), then one value of 35.
        lines.AddRange(Enumerable.Range(0, 25).Select(k => Seed.Line("voc-1", "nmhc", early.AddMinutes(-120 + 5 * k), 4 + 2.5 * (5 * k) / 60.0)));
        lines.Add(Seed.Line("voc-1", "nmhc", now.AddMinutes(-2), 35));
        // w-fyh-1 (target IV): CODMn 12 (class V) and pH 5.5 over the last hours.
        lines.AddRange(Enumerable.Range(0, 180).Select(m => Seed.Line("w-fyh-1", "codmn", now.AddMinutes(-180 + m), 12)));
        lines.AddRange(Enumerable.Range(0, 180).Select(m => Seed.Line("w-fyh-1", "ph", now.AddMinutes(-180 + m), 5.5)));
        // air-3: normal until 100 minutes ago, then flagged M (maintenance).
        lines.AddRange(Enumerable.Range(0, 30).Select(m => Seed.Line("air-3", "pm25", now.AddMinutes(-130 + m), 30)));
        lines.AddRange(Enumerable.Range(0, 99).Select(m => Seed.Line("air-3", "pm25", now.AddMinutes(-99 + m), 0, "M")));
        await Seed.WriteAsync(service.Database, lines);
        var evaluator = service.Services.GetRequiredService<AlertEvaluator>();

        var before = await Evaluate(evaluator, clock, early);
        var trend = Assert.Single(before, e => e.Rule == "nmhc-trend" && e.Kind == AlertEventKind.Fired);
        Assert.Equal(("voc-1", 11.5), (trend.Subject, Math.Round(trend.Value, 6)));
        Assert.Contains("趋势 +2.5 mg/m³/h", trend.Detail);
        Assert.DoesNotContain(before, e => e.Rule == "nmhc-single" && e.Kind == AlertEventKind.Fired); // 9 is under 30

        var later = await Evaluate(evaluator, clock, now);
        var fired = before.Concat(later).Where(e => e.Kind == AlertEventKind.Fired).ToDictionary(e => e.Rule); // each fires once
        Assert.Contains(later, e => e.Rule == "nmhc-single" && e.Kind == AlertEventKind.Fired);
        Assert.Equal(("air-1", 80.0), (fired["pm25-24h"].Subject, Math.Round(fired["pm25-24h"].Value, 9)));
        Assert.Contains("个有效小时", fired["pm25-24h"].Detail);
        Assert.DoesNotContain(later.Concat(before), e => e.Subject == "air-2"); // 19 valid hours: no 24-hour mean
        Assert.Equal(("voc-1", 35.0), (fired["nmhc-single"].Subject, fired["nmhc-single"].Value));
        Assert.Equal("w-fyh-1", fired["water-class"].Subject);
        Assert.True(fired["water-class"].Value >= 1);
        Assert.Contains("codmn 12（V）", fired["water-class"].Detail);
        Assert.Equal(("w-fyh-1", 0.5), (fired["ph"].Subject, Math.Round(fired["ph"].Value, 9)));
        Assert.Equal("air-3", fired["flags"].Subject);
        Assert.Equal(71, Math.Round(fired["flags"].Value)); // fired at `early`: flagged since the last normal reading 71 minutes before
        Assert.Contains("pm25 标记 M（维护）", fired["flags"].Detail);
        Assert.Contains(hook.Requests, r => r.Body.GetProperty("rule").GetString() == "flags" && r.Body.GetProperty("text").GetString()!.Contains("标记 M"));
        File.Delete(stateFile);
    }

    [Fact]
    public async Task A_rules_file_is_reloaded_when_it_changes_and_a_bad_edit_keeps_the_previous_rules()
    {
        await using var hook = await HttpReceiver.StartAsync();
        var stateFile = TempFile("alerts");
        var rulesFile = TempFile("rules");
        await File.WriteAllTextAsync(rulesFile, """{ "Rules": [ { "Name": "silent-all", "Kind": "silent", "Threshold": 60, "Channels": ["duty"] } ] }""");
        var now = DateTimeOffset.UtcNow;
        var clock = new FakeTimeProvider(now);
        await using var service = new ServiceUnderTest(AlertSettings(hook, stateFile, ("Alerting:RulesFile", rulesFile)), OnClock(clock));
        await service.StartAsync();
        var evaluator = service.Services.GetRequiredService<AlertEvaluator>();
        Assert.Equal(5, (await Evaluate(evaluator, clock, now)).Count(e => e.Kind == AlertEventKind.Fired));

        // A bad edit: refused, the previous rules stay.
        await File.WriteAllTextAsync(rulesFile, """{ "Rules": [ { "Name": "silent-all", "Kind": "quiet", "Threshold": 60 } ] }""");
        Assert.Empty(await Evaluate(evaluator, clock, now.AddMinutes(1)));
        Assert.Equal(["silent-all"], evaluator.Rules.Rules.Select(r => r.Name));

        // A good edit: the new rule set is in force; the removed rule's alerts are closed.
        await File.WriteAllTextAsync(rulesFile, """
            // water sections only, now
            { "Rules": [ { "Name": "silent-water", "Kind": "silent", "StationKind": "water", "Threshold": 60, "Channels": ["duty"] } ] }
            """);
        var events = await Evaluate(evaluator, clock, now.AddMinutes(2));
        Assert.Equal([("silent-water", "w-fyh-1", AlertEventKind.Fired)], Sent(events));
        Assert.Equal(["silent-water"], evaluator.Rules.Rules.Select(r => r.Name));
        Assert.Equal(["silent-water/w-fyh-1"], evaluator.Active.Select(a => $"{a.Rule}/{a.Subject}"));
        Assert.All(evaluator.Closed, c => Assert.Equal(("silent-all", "rule removed"), (c.Rule, c.History[^1].Detail)));
        Assert.Equal(5, evaluator.Closed.Count);
        File.Delete(stateFile);

        // At start, a bad rules file stops the service and names the setting.
        await using var refused = new ServiceUnderTest(AlertSettings(hook, stateFile, ("Alerting:RulesFile", rulesFile + ".missing")));
        var e = await Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(refused.StartAsync);
        Assert.Contains("Alerting:RulesFile", e.Message);
        File.Delete(rulesFile);
    }

    [Fact]
    public async Task The_shipped_rules_file_is_valid_and_its_alerts_reach_the_broker()
    {
        await using var hook = await HttpReceiver.StartAsync();
        var stateFile = TempFile("alerts");
        var shipped = Path.Combine(AppContext.BaseDirectory, "alert-rules.json");
        await using var service = new ServiceUnderTest(AlertSettings(hook, stateFile, ("Alerting:RulesFile", shipped),
            ("Alerting:Channels:1:Name", "broker"), ("Alerting:Channels:1:Type", "mqtt")));
        await service.StartAsync();
        await using var subscriber = await TestMqttClient.ConnectAsync($"{service.Prefix}/alerts/#");
        var evaluator = service.Services.GetRequiredService<AlertEvaluator>();
        Assert.Equal(12, evaluator.Rules.Rules.Count);
        Assert.Equal(TimeSpan.FromMinutes(30), evaluator.Rules.Rules.Single(r => r.Kind == "pm25-target").Schedule);

        // No data at all: every station is silent (water after 300 minutes); nothing else has a value to judge.
        var events = await evaluator.EvaluateOnceAsync(CancellationToken.None); // the real clock
        Assert.Equal(["silent-air/air-1", "silent-air/air-2", "silent-air/air-3", "silent-voc/voc-1", "silent-water/w-fyh-1"],
            Sent(events).Select(e => $"{e.Rule}/{e.Subject}"));
        await TestInfrastructure.EventuallyAsync(() => subscriber.Received.Count >= 5, TimeSpan.FromSeconds(10), "alerts on the broker");
        var (topic, payload) = subscriber.Received.Single(m => m.Topic.EndsWith("/silent-voc/voc-1"));
        Assert.Equal($"{service.Prefix}/alerts/silent-voc/voc-1", topic);
        using var json = System.Text.Json.JsonDocument.Parse(payload);
        Assert.Equal(("fired", "30 天内没有有效数据"), (json.RootElement.GetProperty("kind").GetString(), json.RootElement.GetProperty("detail").GetString()));
        File.Delete(stateFile);
    }

    [Fact]
    public async Task A_flat_trend_spelled_as_an_alias_is_evaluated_without_error()
    {
        await using var hook = await HttpReceiver.StartAsync();
        var stateFile = TempFile("alerts");
        var now = new DateTimeOffset(DateTime.UtcNow.Ticks / TimeSpan.TicksPerMinute * TimeSpan.TicksPerMinute, TimeSpan.Zero).AddHours(-3);
        var clock = new FakeTimeProvider(now);
        await using var service = new ServiceUnderTest(AlertSettings(hook, stateFile, ("Alerting:Rules:0:Name", "trend"), ("Alerting:Rules:0:Kind", "voc-trend"),
            ("Alerting:Rules:0:Parameter", "NMHC"), ("Alerting:Rules:0:Threshold", "0.2"), ("Alerting:Rules:0:Channels:0", "duty")), OnClock(clock));
        await service.StartAsync();
        // Two hours of exactly 0.3: least squares leaves a rounding-noise slope, which must not break the rule.
        await Seed.WriteAsync(service.Database, Enumerable.Range(0, 120).Select(m => Seed.Line("voc-1", "nmhc", now.AddMinutes(-119 + m), 0.3)));
        var evaluator = service.Services.GetRequiredService<AlertEvaluator>();
        var fired = Assert.Single(await Evaluate(evaluator, clock, now), e => e.Kind == AlertEventKind.Fired);
        Assert.Equal(("voc-1", 0.3), (fired.Subject, Math.Round(fired.Value, 6)));
        Assert.Equal(0, evaluator.RuleErrors);
        File.Delete(stateFile);
    }

    [Fact]
    public async Task A_state_file_of_the_earlier_format_is_read_and_alerts_of_removed_rules_are_closed()
    {
        await using var hook = await HttpReceiver.StartAsync();
        var stateFile = TempFile("alerts");
        var at = DateTimeOffset.UtcNow.AddHours(-2);
        var fired = new AlertEvent(AlertEventKind.Fired, "gone", "air-1", at, 90);
        List<AlertSnapshot> earlier = [new("gone", "air-1", "warning", AlertState.Firing, at, at, at, 90, null, null, null, [fired])];
        await File.WriteAllTextAsync(stateFile, System.Text.Json.JsonSerializer.Serialize(earlier,
            new System.Text.Json.JsonSerializerOptions { Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() } }));
        await using var service = new ServiceUnderTest(AlertSettings(hook, stateFile,
            ("Alerting:Rules:0:Name", "silent-air"), ("Alerting:Rules:0:Kind", "silent"), ("Alerting:Rules:0:StationKind", "air"), ("Alerting:Rules:0:Threshold", "60")));
        await service.StartAsync();
        var evaluator = service.Services.GetRequiredService<AlertEvaluator>();
        Assert.Empty(evaluator.Active);
        var closed = Assert.Single(evaluator.Closed);
        Assert.Equal(("gone", "air-1", "rule removed"), (closed.Rule, closed.Subject, closed.History[^1].Detail));
        File.Delete(stateFile);
    }

    [Fact]
    public async Task Bad_rules_stop_start_up_naming_the_setting()
    {
        await using var service = new ServiceUnderTest(new()
        {
            ["Alerting:Rules:0:Name"] = "x",
            ["Alerting:Rules:0:Kind"] = "silent",
            ["Alerting:Rules:0:Threshold"] = "60",
            ["Alerting:Rules:0:Channels:0"] = "nowhere",
            ["Alerting:Rules:1:Name"] = "y",
            ["Alerting:Rules:1:Kind"] = "hourly-mean",
            ["Alerting:Rules:1:Parameter"] = "pm25",
            ["Alerting:Rules:2:Name"] = "z",
            ["Alerting:Rules:2:Kind"] = "pm25-trend",
            ["Alerting:Routes:0:Channels:0"] = "sms",
            ["Alerting:Rules:3:Name"] = "w",
            ["Alerting:Rules:3:Kind"] = "ph-range",
            ["Alerting:Rules:3:Min"] = "9.5",
            ["Alerting:Maintenance:0:Start"] = "2026-12-01T09:00:00",
            ["Alerting:Maintenance:0:End"] = "2026-12-01T17:00:00+08:00",
        });
        var e = await Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(service.StartAsync);
        var failures = string.Join(" ", e.Failures);
        Assert.Contains("Alerting:Rules:0:Channels names 'nowhere'", failures);
        Assert.Contains("Alerting:Rules:1:Threshold is required for hourly-mean of pm25", failures);
        Assert.Contains("Alerting:Rules:2:Kind must be one of", failures);
        Assert.Contains("Alerting:Routes:0:Channels names 'sms'", failures);
        Assert.Contains("Alerting:Rules:3:Min must be below Max", failures);
        Assert.Contains("Alerting:Maintenance:0:Start must be a time with its offset", failures);
    }
}
