using EcoMonitor.Domain.Alerting;
using EcoMonitor.Service.Alerting;
using EcoMonitor.Service.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace EcoMonitor.Service.Tests;

/// <summary>Rules evaluated over real InfluxDB data at times the test chooses, notifications at a real HTTP receiver,
/// state kept across a restart.</summary>
[Trait("Category", "Integration")]
public sealed class AlertingIntegrationTests
{
    [Fact]
    public async Task Limits_and_silent_stations_fire_remind_survive_a_restart_and_resolve()
    {
        await using var hook = await HttpReceiver.StartAsync();
        var stateFile = Path.Combine(Path.GetTempPath(), $"alerts-{Guid.NewGuid():N}.json");
        Dictionary<string, string?> Settings(string? database = null)
        {
            var s = new Dictionary<string, string?>
            {
                ["Alerting:Enabled"] = "true",
                ["Alerting:EvaluationInterval"] = "01:00:00", // the test evaluates by itself
                ["Alerting:StateFile"] = stateFile,
                ["Alerting:Channels:0:Name"] = "duty",
                ["Alerting:Channels:0:Type"] = "webhook",
                ["Alerting:Channels:0:Url"] = new Uri(hook.Address, "/duty").ToString(),
                ["Alerting:Rules:0:Name"] = "pm25-hourly",
                ["Alerting:Rules:0:Kind"] = "pm25-hourly",
                ["Alerting:Rules:0:Threshold"] = "75",
                ["Alerting:Rules:0:ClearThreshold"] = "70",
                ["Alerting:Rules:0:RepeatInterval"] = "01:00:00",
                ["Alerting:Rules:0:Channels:0"] = "duty",
                ["Alerting:Rules:1:Name"] = "silent-air",
                ["Alerting:Rules:1:Kind"] = "silent",
                ["Alerting:Rules:1:StationKind"] = "air",
                ["Alerting:Rules:1:Threshold"] = "60",
                ["Alerting:Rules:1:RepeatInterval"] = "01:00:00",
                ["Alerting:Rules:1:Channels:0"] = "duty",
            };
            if (database is not null) s["Influx:Database"] = database;
            return s;
        }

        // A complete hour H with PM2.5 90 at air-1; air-2 reported 5 minutes ago; air-3 never did.
        var h = new DateTimeOffset(DateTime.UtcNow.Ticks / TimeSpan.TicksPerHour * TimeSpan.TicksPerHour, TimeSpan.Zero).AddHours(-1);
        var now = h.AddHours(1).AddMinutes(10);
        var service = new ServiceUnderTest(Settings());
        await service.StartAsync();
        await Seed.WriteAsync(service.Database, Enumerable.Range(0, 45).Select(m => Seed.Line("air-1", "pm25", h.AddMinutes(m), 90))
            .Append(Seed.Line("air-2", "pm25", now.AddMinutes(-5), 30)));
        var evaluator = service.Services.GetRequiredService<AlertEvaluator>();

        var first = await evaluator.EvaluateOnceAsync(now, CancellationToken.None);
        Assert.Equal([("pm25-hourly", "air-1", AlertEventKind.Fired), ("silent-air", "air-3", AlertEventKind.Fired)],
            first.Where(e => e.Kind != AlertEventKind.Pending).Select(e => (e.Rule, e.Subject, e.Kind)).Order());
        Assert.Equal(2, hook.Requests.Count);
        var pm25 = hook.Requests.Select(r => r.Body).Single(b => b.GetProperty("rule").GetString() == "pm25-hourly");
        Assert.Equal(("fired", "air-1", 90.0, "warning"), (pm25.GetProperty("kind").GetString(), pm25.GetProperty("subject").GetString(),
            pm25.GetProperty("value").GetDouble(), pm25.GetProperty("severity").GetString()));
        Assert.StartsWith("【告警】pm25-hourly：air-1", pm25.GetProperty("title").GetString());

        // Half an hour later: nothing new (no reminder before an hour).
        Assert.DoesNotContain(await evaluator.EvaluateOnceAsync(now.AddMinutes(30), CancellationToken.None), e => e.Kind != AlertEventKind.Pending);
        Assert.NotNull(await evaluator.AcknowledgeAsync("pm25-hourly", "air-1", "值班员张", "已通知企业", CancellationToken.None));
        Assert.Equal(3, hook.Requests.Count);
        await service.StopAsync();

        // A restart: the firing alerts are still there and are not sent again; only the unacknowledged one reminds.
        var database = service.Database;
        await using var restarted = new ServiceUnderTest(Settings(database));
        await restarted.StartAsync();
        var again = restarted.Services.GetRequiredService<AlertEvaluator>();
        await Seed.WriteAsync(database, [Seed.Line("air-1", "pm25", now.AddMinutes(55), 40), Seed.Line("air-2", "pm25", now.AddMinutes(55), 30)]);
        Assert.Equal(2, again.Active.Count(a => a.State == AlertState.Firing));
        var later = await again.EvaluateOnceAsync(now.AddMinutes(61), CancellationToken.None);
        Assert.Equal([("silent-air", "air-3", AlertEventKind.Reminder)], later.Select(e => (e.Rule, e.Subject, e.Kind)));
        Assert.Equal(4, hook.Requests.Count);

        // air-3 reports: the silent alert resolves.
        await Seed.WriteAsync(database, [Seed.Line("air-3", "pm25", now.AddMinutes(70), 20)]);
        var resolved = await again.EvaluateOnceAsync(now.AddMinutes(75), CancellationToken.None);
        Assert.Equal([("silent-air", "air-3", AlertEventKind.Resolved)], resolved.Select(e => (e.Rule, e.Subject, e.Kind)));
        Assert.Equal("resolved", hook.Requests.Last().Body.GetProperty("kind").GetString());
        Assert.DoesNotContain(again.Active, a => a.Subject == "air-3");
        await service.DisposeAsync();
        File.Delete(stateFile);
    }

    [Fact]
    public async Task A_rule_naming_an_unknown_channel_stops_start_up_naming_the_setting()
    {
        await using var service = new ServiceUnderTest(new()
        {
            ["Alerting:Rules:0:Name"] = "x",
            ["Alerting:Rules:0:Kind"] = "silent",
            ["Alerting:Rules:0:Threshold"] = "60",
            ["Alerting:Rules:0:Channels:0"] = "nowhere",
        });
        var e = await Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(service.StartAsync);
        Assert.Contains("Alerting:Rules:0:Channels names 'nowhere'", string.Join(" ", e.Failures));
    }
}
