using System.Text.Json;
using System.Text.Json.Serialization;
using EcoMonitor.Domain;
using EcoMonitor.Domain.Alerting;
using EcoMonitor.Service.Hosting;
using EcoMonitor.Service.Ingestion;
using EcoMonitor.Service.Query;
using EcoMonitor.Service.Stations;
using Microsoft.Extensions.Options;

namespace EcoMonitor.Service.Alerting;

/// <summary>Evaluates the alert rules every Alerting:EvaluationInterval: hourly means of the last complete hour
/// (valid hours only) for the limit rules, minutes since the last valid reading for "silent". Events go through the
/// templates to the rule's channels (fired, reminder, acknowledged, resolved; pending is not sent). The active alerts
/// and their history are saved to Alerting:StateFile after every change, and loaded at start: a restart neither loses
/// a firing alert nor sends it again.</summary>
public sealed class AlertEvaluator : BackgroundService
{
    readonly AlertingSettings _settings;
    readonly StationRegistry _stations;
    readonly ReadingQueries _queries;
    readonly StandardsCatalog _standards;
    readonly NotificationDispatcher _dispatcher;
    readonly TimeProvider _time;
    readonly ILogger<AlertEvaluator> _log;
    readonly AlertTemplates _templates;
    readonly Dictionary<string, INotifier> _channels;
    readonly string _stateFile;
    readonly AlertTracker _tracker = new();
    readonly SemaphoreSlim _gate = new(1, 1);
    bool _loaded;

    static readonly JsonSerializerOptions Json = new() { WriteIndented = true, Converters = { new JsonStringEnumConverter() } };

    public AlertEvaluator(IOptions<AlertingSettings> options, IOptions<IngestionSettings> ingestion, StationRegistry stations, ReadingQueries queries,
        StandardsCatalog standards, NotificationDispatcher dispatcher, MqttConnection mqtt, IHostEnvironment environment, TimeProvider time,
        ILogger<AlertEvaluator> log)
    {
        _settings = options.Value;
        _stations = stations;
        _queries = queries;
        _standards = standards;
        _dispatcher = dispatcher;
        _time = time;
        _log = log;
        _templates = new AlertTemplates(_settings.Language);
        _stateFile = Path.Combine(environment.ContentRootPath, _settings.StateFile);
        var http = new HttpClient { Timeout = TimeSpan.FromSeconds(15) };
        _channels = _settings.Channels.ToDictionary(c => c.Name, c => (INotifier)(c.Type switch
        {
            "webhook" => new WebhookNotifier(http, new Uri(c.Url!)),
            "dingtalk" => new DingTalkNotifier(http, new Uri(c.Url!), c.Secret, c.Mobiles, time),
            "wecom" => new WeComNotifier(http, new Uri(c.Url!), c.Mobiles),
            "email" => new EmailNotifier(c.SmtpHost!, c.SmtpPort, c.SmtpTlsOnConnect, c.SmtpUser, c.Password, c.From!, c.To),
            _ => new MqttAlertNotifier(mqtt, ingestion.Value.TopicPrefix),
        }));
    }

    /// <summary>The active alerts (pending and firing), with their history.</summary>
    public IReadOnlyList<AlertSnapshot> Active
    {
        get
        {
            _gate.Wait();
            try
            {
                Load();
                return _tracker.Snapshot();
            }
            finally
            {
                _gate.Release();
            }
        }
    }

    protected override async Task ExecuteAsync(CancellationToken ct)
    {
        if (!_settings.Enabled) return;
        await _gate.WaitAsync(ct);
        try
        {
            Load();
        }
        finally
        {
            _gate.Release();
        }
        using var timer = new PeriodicTimer(_settings.EvaluationInterval, _time);
        while (await timer.WaitForNextTickAsync(ct))
        {
            try
            {
                await EvaluateOnceAsync(_time.GetUtcNow(), ct);
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                _log.LogError("Alert evaluation failed: {Error}", e.Message);
            }
        }
    }

    /// <summary>One evaluation at <paramref name="now"/> (the loop's clock, or a test's).</summary>
    public async Task<IReadOnlyList<AlertEvent>> EvaluateOnceAsync(DateTimeOffset now, CancellationToken ct)
    {
        await _gate.WaitAsync(ct);
        try
        {
            Load();
            var events = new List<(AlertEvent Event, AlertRuleSettings Rule)>();
            foreach (var rule in _settings.Rules)
            {
                var spec = AlertRuleSpec.Create(rule.Name, rule.Severity, rule.Threshold, rule.ClearThreshold, rule.For, rule.RepeatInterval);
                foreach (var (subject, value) in await ObserveAsync(rule, now, ct))
                    events.AddRange(_tracker.Observe(spec, subject, value, now).Select(e => (e, rule)));
            }
            Save();
            foreach (var (e, rule) in events.Where(x => x.Event.Kind != AlertEventKind.Pending))
                await NotifyAsync(e, rule, ct);
            return [.. events.Select(x => x.Event)];
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>"Seen, handling it": stops the reminders and tells the rule's channels who handles it.</summary>
    public async Task<AlertEvent?> AcknowledgeAsync(string rule, string subject, string user, string comment, CancellationToken ct)
    {
        await _gate.WaitAsync(ct);
        try
        {
            Load();
            var e = _tracker.Acknowledge(rule, subject, user, comment, _time.GetUtcNow());
            if (e is null) return null;
            Save();
            if (_settings.Rules.FirstOrDefault(r => r.Name == rule) is { } settings) await NotifyAsync(e, settings, ct);
            return e;
        }
        finally
        {
            _gate.Release();
        }
    }

    async Task NotifyAsync(AlertEvent e, AlertRuleSettings rule, CancellationToken ct)
    {
        var notification = _templates.Render(e, rule.Severity);
        _log.LogWarning("Alert {Kind}: {Title}", e.Kind, notification.Title);
        await _dispatcher.SendAsync(notification, [.. rule.Channels.Select(c => _channels[c])], ct);
    }

    async Task<List<(string Subject, double Value)>> ObserveAsync(AlertRuleSettings rule, DateTimeOffset now, CancellationToken ct)
    {
        var observations = new List<(string, double)>();
        if (rule.Kind == "silent")
        {
            var watched = _stations.All.Where(s => string.IsNullOrEmpty(rule.StationKind) || s.Kind.ToString().Equals(rule.StationKind, StringComparison.OrdinalIgnoreCase))
                .Select(s => s.Id).Order(StringComparer.Ordinal).ToList();
            if (watched.Count == 0) return observations;
            var since = now.AddDays(-30);
            var last = await _queries.LastValidAsync(watched, since, ct);
            foreach (var id in watched)
                observations.Add((id, (now - (last.TryGetValue(id, out var t) ? t : since)).TotalMinutes));
            return observations;
        }
        var parameter = rule.Kind[..rule.Kind.IndexOf('-')];
        var kind = Parameters.Get(parameter).Kind;
        var ids = _stations.All.Where(s => s.Kind == kind).Select(s => s.Id).Order(StringComparer.Ordinal).ToList();
        if (ids.Count == 0) return observations;
        var hour = new DateTimeOffset(now.UtcTicks / TimeSpan.TicksPerHour * TimeSpan.TicksPerHour, TimeSpan.Zero).AddHours(-1);
        var hourly = await _queries.HourlyAsync(ids, parameter, hour, hour.AddHours(1), ct);
        foreach (var id in ids)
            if (hourly[id].FirstOrDefault(h => h.Minutes >= _standards.Air.MinMinutesPerHour) is { Start: var start } h && start == hour)
                observations.Add((id, h.Mean));
        return observations;
    }

    void Load()
    {
        if (_loaded) return;
        _loaded = true;
        if (!File.Exists(_stateFile)) return;
        var state = JsonSerializer.Deserialize<List<AlertSnapshot>>(File.ReadAllText(_stateFile), Json) ?? [];
        _tracker.Restore(state);
        _log.LogInformation("Alert state restored from {File}: {Count} active alert(s)", _stateFile, state.Count);
    }

    void Save()
    {
        var tmp = _stateFile + ".tmp";
        File.WriteAllText(tmp, JsonSerializer.Serialize(_tracker.Snapshot(), Json));
        File.Move(tmp, _stateFile, overwrite: true);
    }
}
