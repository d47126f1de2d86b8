using System.Text.Json;
using System.Text.Json.Serialization;
using EcoMonitor.Domain;
using EcoMonitor.Domain.Alerting;
using EcoMonitor.Service.Hosting;
using EcoMonitor.Service.Ingestion;
using EcoMonitor.Service.Query;
using Microsoft.Extensions.Options;

namespace EcoMonitor.Service.Alerting;

/// <summary>An alert event with the severity of its rule, as the API and the stream show it.</summary>
public sealed record AlertNotice(AlertEvent Event, string Severity);

/// <summary>The clock alerts are evaluated, acknowledged and silenced on: the system clock, unless replaced (tests
/// register one over a FakeTimeProvider to evaluate real data at chosen times). The evaluation loop's period and the
/// notification retries keep the real clock.</summary>
public sealed class AlertClock(TimeProvider time)
{
    public DateTimeOffset Now => time.GetUtcNow();
}

/// <summary>Evaluates the alert rules every Alerting:EvaluationInterval (rules with a daily schedule once a day after
/// their time, China time; any rule on demand). Events go through the templates to the channels of the rule and of
/// the matching routes (fired, reminder, acknowledged, resolved; pending is not sent) unless a silence or maintenance
/// window holds them back. The active alerts, the resolved ones of the last Alerting:HistoryDays and the silences are
/// saved to Alerting:StateFile after every change and loaded at start: a restart neither loses a firing alert nor
/// sends it again. The rule set is read from Alerting:RulesFile when set, and re-read when that file changes.
/// With several instances only the leader of <see cref="AlertLeadership"/> evaluates and notifies: its state goes to
/// the broker (retained) after every change and before the notifications; a follower shows the leader's latest state
/// (read API) and refuses changes (acknowledge, silence, on-demand evaluation) naming the leader, and a new leader
/// restores that state before its first evaluation.</summary>
public sealed class AlertEvaluator : BackgroundService
{
    readonly AlertingSettings _settings;
    readonly RuleObserver _observer;
    readonly NotificationDispatcher _dispatcher;
    readonly AlertBroadcast _broadcast;
    readonly TimeProvider _time;
    readonly AlertClock _clock;
    readonly CancellationToken _stopping;
    readonly ILogger<AlertEvaluator> _log;
    readonly AlertTemplates _templates;
    readonly Dictionary<string, INotifier> _channels;
    readonly string _stateFile;
    readonly string? _rulesFile;
    readonly AlertTracker _tracker;
    readonly AlertLeadership _leadership;
    readonly List<Silence> _silences = [];
    readonly Dictionary<string, DateOnly> _lastScheduled = new(StringComparer.Ordinal);
    readonly SemaphoreSlim _gate = new(1, 1);        // the state: tracker, silences, rule set
    readonly SemaphoreSlim _evaluation = new(1, 1);  // one evaluation at a time (the loop, on demand)
    AlertRuleSet _rules;
    long _evaluations, _ruleErrors, _reloadFailures, _stateSequence;
    byte[]? _appliedState;
    string? _rulesHash;
    bool _loaded, _handOverTrimmed;

    static readonly JsonSerializerOptions Json = new() { WriteIndented = true, Converters = { new JsonStringEnumConverter() } };
    static readonly JsonSerializerOptions RulesJson = new() { PropertyNameCaseInsensitive = true, ReadCommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };

    public AlertEvaluator(IOptions<AlertingSettings> options, IOptions<IngestionSettings> ingestion, RuleObserver observer, NotificationDispatcher dispatcher,
        AlertBroadcast broadcast, MqttConnection mqtt, IHostEnvironment environment, TimeProvider time, AlertClock clock, IHostApplicationLifetime lifetime,
        AlertLeadership leadership, ILogger<AlertEvaluator> log)
    {
        _leadership = leadership;
        _clock = clock;
        _stopping = lifetime.ApplicationStopping;
        _settings = options.Value;
        _observer = observer;
        _dispatcher = dispatcher;
        _broadcast = broadcast;
        _time = time;
        _log = log;
        _templates = new AlertTemplates(_settings.Language);
        _tracker = new AlertTracker { ClosedRetention = TimeSpan.FromDays(_settings.HistoryDays) };
        _stateFile = Path.Combine(environment.ContentRootPath, _settings.StateFile);
        _rulesFile = _settings.RulesFile is { Length: > 0 } f ? Path.Combine(environment.ContentRootPath, f) : null;
        _rules = _settings.RuleSet;
        if (_settings.Enabled && _rulesFile is not null)
        {
            List<string> errors;
            try
            {
                errors = ApplyRulesFile(ReadRulesBytes());
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                errors = [$"Alerting:RulesFile: '{_rulesFile}' cannot be read: {e.Message}"];
            }
            if (errors.Count > 0) throw new OptionsValidationException(AlertingSettings.Section, typeof(AlertingSettings), errors);
        }
        var http = new HttpClient { Timeout = TimeSpan.FromSeconds(15) };
        _channels = _settings.Channels.ToDictionary(c => c.Name, c => (INotifier)new NamedChannel(c.Name, c.Type switch
        {
            "webhook" => new WebhookNotifier(http, new Uri(c.Url!)),
            "dingtalk" => new DingTalkNotifier(http, new Uri(c.Url!), c.Secret, c.Mobiles, time),
            "wecom" => new WeComNotifier(http, new Uri(c.Url!), c.Mobiles),
            "email" => new EmailNotifier(c.SmtpHost!, c.SmtpPort, c.SmtpTlsOnConnect, c.SmtpUser, c.Password, c.From!, c.To),
            _ => (INotifier)new MqttAlertNotifier(mqtt, ingestion.Value.TopicPrefix),
        }));
    }

    public bool Enabled => _settings.Enabled;

    /// <summary>The rule set in force (from the settings or the last valid version of the rules file).</summary>
    public AlertRuleSet Rules => _rules;

    /// <summary>The active alerts (pending and firing), with their history.</summary>
    public IReadOnlyList<AlertSnapshot> Active => Locked(() => _tracker.Snapshot());

    /// <summary>Resolved alerts (oldest first) kept for Alerting:HistoryDays.</summary>
    public IReadOnlyList<AlertSnapshot> Closed => Locked(() => (IReadOnlyList<AlertSnapshot>)[.. _tracker.Closed]);

    /// <summary>Silences set through the API and the maintenance windows of the rule set, current and future.</summary>
    public IReadOnlyList<Silence> Silences => Locked(() => (IReadOnlyList<Silence>)[.. AllSilences().Where(s => s.Ends > _clock.Now)]);

    /// <summary>Evaluations completed (exported on /metrics, see ServiceInstruments).</summary>
    public long Evaluations => Interlocked.Read(ref _evaluations);

    /// <summary>Rule evaluations that failed (database unreachable, ...).</summary>
    public long RuleErrors => Interlocked.Read(ref _ruleErrors);

    /// <summary>Edits of the rules file that were refused.</summary>
    public long ReloadFailures => Interlocked.Read(ref _reloadFailures);

    /// <summary>Notifications that failed after every retry.</summary>
    public long NotificationFailures => _dispatcher.FailureCount;

    T Locked<T>(Func<T> read)
    {
        _gate.Wait();
        try
        {
            Load();
            return read();
        }
        finally
        {
            _gate.Release();
        }
    }

    protected override async Task ExecuteAsync(CancellationToken ct)
    {
        if (!_settings.Enabled)
        {
            _log.LogInformation("Alerting: off (Alerting:Enabled)");
            return;
        }
        Locked(() =>
        {
            Save(); // a state file that cannot be written shows now, not at the first alert
            return 0;
        });
        _log.LogInformation("Alerting: {Rules} rule(s) from {Source}, {Routes} route(s), every {Interval}; channels {Channels}; state in {StateFile}",
            _rules.Rules.Count, _rulesFile ?? "settings", _rules.Routes.Count, _settings.EvaluationInterval,
            string.Join(", ", _settings.Channels.Select(c => $"{c.Name} ({c.Type})")), _stateFile);
        using var timer = new PeriodicTimer(_settings.EvaluationInterval, _time);
        var tick = timer.WaitForNextTickAsync(ct).AsTask();
        var leading = !_leadership.Enabled;
        while (true)
        {
            var changed = _leadership.NextChangeAsync();
            var due = false;
            if (await Task.WhenAny(tick, changed) == tick)
            {
                if (!await tick) break;
                tick = timer.WaitForNextTickAsync(ct).AsTask();
                due = true;
            }
            if (!_leadership.IsLeader)
            {
                // A follower shows the leader's state; it evaluates nothing.
                leading = false;
                await FollowStateAsync(ct);
                continue;
            }
            if (!leading)
            {
                // Taking over: the previous leader's state first, then an evaluation at once.
                await FollowStateAsync(ct);
                leading = due = true;
            }
            if (!due) continue;
            try
            {
                await EvaluateOnceAsync(ct);
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                _log.LogError("Alert evaluation failed: {Error}", e.Message);
            }
        }
    }

    /// <summary>Takes the latest state the leader published (when it is new) as this instance's state, and keeps it in
    /// the state file too.</summary>
    async Task FollowStateAsync(CancellationToken ct)
    {
        if (_leadership.LatestState is not { } bytes || ReferenceEquals(bytes, _appliedState)) return;
        await LockedAsync(() =>
        {
            SavedState state;
            try
            {
                state = JsonSerializer.Deserialize<SavedState>(Unzip(bytes), Json) ?? new SavedState([], [], []);
            }
            catch (Exception e) when (e is JsonException or InvalidDataException)
            {
                _log.LogError("The alert state on {Topic} cannot be read ({Error}); this instance keeps its own", _leadership.StateTopic, e.Message);
                _appliedState = bytes;
                return 0;
            }
            Apply(state);
            _appliedState = bytes;
            Save();
            // Every change of the leader's state arrives here: logged at Information only when this instance leads now.
            _log.Log(_leadership.IsLeader ? LogLevel.Information : LogLevel.Debug,
                "Alert state taken from the leader's: {Count} active alert(s), {Closed} resolved, {Silences} silence(s)",
                state.Active.Count, state.Closed.Count, state.Silences.Count);
            return 0;
        }, ct);
    }

    void Apply(SavedState state)
    {
        _tracker.Restore(state.Active, state.Closed);
        _silences.Clear();
        _silences.AddRange(state.Silences);
        _lastScheduled.Clear();
        foreach (var (rule, day) in state.LastScheduled ?? new Dictionary<string, DateOnly>()) _lastScheduled[rule] = day;
    }

    /// <summary>Changes of the state are made by the leader only: a follower's would be overwritten by the leader's
    /// next state, and its notifications would be a second sender.</summary>
    void RequireLeader()
    {
        if (!_leadership.IsLeader)
            throw new Grpc.Core.RpcException(new Grpc.Core.Status(Grpc.Core.StatusCode.FailedPrecondition,
                $"this instance ({_leadership.InstanceId}) does not lead alerting; {(_leadership.Leader is { } l ? $"the leader is {l}" : "no leader is known yet")}: ask it"));
    }

    /// <summary>Sends the state saved under <paramref name="sequence"/> to the broker for the next leader. False when
    /// this instance no longer leads: then it must not notify (the new leader does, from its own state).</summary>
    async Task<bool> HandOverAsync(long sequence, byte[]? state)
    {
        if (state is not null && !await _leadership.PublishStateAsync(sequence, state, _stopping))
            _log.LogWarning("The alert state could not be published on {Topic}; a leader taking over now may notify these events again", _leadership.StateTopic);
        if (_leadership.IsLeader) return true;
        _log.LogWarning("Alerting lease lost before notifying; the leader notifies from its own state");
        return false;
    }

    /// <summary>One evaluation, now by the alert clock. With <paramref name="onDemand"/>, only those rules (empty: all)
    /// are evaluated, whatever their schedule. The data is read without holding the state, so the API stays
    /// responsive; the notifications go out after the new state is saved.</summary>
    public async Task<IReadOnlyList<AlertEvent>> EvaluateOnceAsync(CancellationToken ct, IReadOnlyCollection<string>? onDemand = null)
    {
        if (onDemand is not null) RequireLeader();
        List<(AlertEvent Event, AlertRuleSettings Rule)> events;
        AlertRuleSet rules;
        (long Sequence, byte[]? Bytes) saved;
        await _evaluation.WaitAsync(ct);
        try
        {
            var now = _clock.Now;
            await _gate.WaitAsync(ct);
            try
            {
                Load();
                ReloadRulesIfChanged(now);
                rules = _rules;
            }
            finally
            {
                _gate.Release();
            }

            var observed = new List<(AlertRuleSettings Rule, List<Observation> Observations)>();
            foreach (var rule in rules.Rules)
            {
                if (onDemand is not null ? onDemand.Count > 0 && !onDemand.Contains(rule.Name) : !Due(rule, now)) continue;
                try
                {
                    observed.Add((rule, await _observer.ObserveAsync(rule, now, ct)));
                }
                catch (Exception e) when (!ct.IsCancellationRequested)
                {
                    Interlocked.Increment(ref _ruleErrors);
                    _log.LogError("Alert rule {Rule} could not be evaluated: {Error}", rule.Name, e.Message);
                }
            }

            await _gate.WaitAsync(ct);
            try
            {
                events = [];
                // The data was read without the state; the lease may have been lost meanwhile (a slow read): then the
                // new leader judges these observations, not this instance.
                if (!_leadership.IsLeader) return [];
                foreach (var (rule, observations) in observed)
                {
                    // A daily rule's reminder is due at the daily run once RepeatInterval less an hour has passed, so
                    // that runs a few seconds less than a day apart still remind.
                    var repeat = rule.Schedule is null ? rule.RepeatInterval : TimeSpan.FromTicks(Math.Max(TimeSpan.TicksPerMinute, (rule.RepeatInterval - TimeSpan.FromHours(1)).Ticks));
                    foreach (var o in observations)
                    {
                        var spec = AlertRuleSpec.Create(rule.Name, rule.Severity, o.Threshold, o.ClearThreshold, rule.For, repeat);
                        foreach (var e in _tracker.Observe(spec, o.Subject, o.Value, now, o.Detail))
                            events.Add((e.Kind == AlertEventKind.Pending ? Publish(e, rule.Severity) : Hold(e, rule.Severity, now), rule));
                    }
                    if (rule.Schedule is not null && onDemand is null) _lastScheduled[rule.Name] = ChinaTime.DateOf(now); // on demand leaves the daily run alone
                }
                saved = Save();
            }
            finally
            {
                _gate.Release();
            }
            Interlocked.Increment(ref _evaluations);
        }
        finally
        {
            _evaluation.Release();
        }
        // Delivered after the state is saved (and handed to the broker for the next leader) and the next evaluation is
        // free to run, on the service's lifetime (not the caller's: an impatient API client must not cancel
        // notifications of a state already saved).
        if (!await HandOverAsync(saved.Sequence, saved.Bytes)) return [.. events.Select(x => x.Event)];
        await NotifyAllAsync([.. events.Where(x => x.Event.Kind != AlertEventKind.Pending).Select(x => ((AlertRuleSettings?)x.Rule, x.Event))], rules);
        return [.. events.Select(x => x.Event)];
    }

    async Task NotifyAllAsync(IReadOnlyList<(AlertRuleSettings? Rule, AlertEvent Event)> events, AlertRuleSet rules) =>
        await Parallel.ForEachAsync(events, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = _stopping }, async (x, ct) =>
        {
            try
            {
                await NotifyAsync(x.Rule, x.Event, rules, ct);
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                _log.LogError("Notification of {Rule}/{Subject} ({Kind}) could not be sent: {Error}", x.Event.Rule, x.Event.Subject, x.Event.Kind, e.Message);
            }
        });

    /// <summary>A rule with a daily schedule is due once per China-time day, after its time.</summary>
    bool Due(AlertRuleSettings rule, DateTimeOffset now)
    {
        if (rule.Schedule is not { } at) return true;
        var today = ChinaTime.DateOf(now);
        return now >= ChinaTime.StartOf(today) + at && (!_lastScheduled.TryGetValue(rule.Name, out var last) || last < today);
    }

    /// <summary>Marks an event that a silence holds back, and publishes it on the stream either way.</summary>
    AlertEvent Hold(AlertEvent e, string severity, DateTimeOffset now)
    {
        if (AllSilences().FirstOrDefault(s => s.Matches(e.Rule, e.Subject, now)) is { } silence)
        {
            var held = e with { Silenced = true };
            _tracker.Amend(e, held);
            _log.LogInformation("Alert {Kind} of {Rule}/{Subject} held back by silence {Silence}", e.Kind, e.Rule, e.Subject, silence.Id);
            e = held;
        }
        return Publish(e, severity);
    }

    AlertEvent Publish(AlertEvent e, string severity)
    {
        _broadcast.Publish([new AlertNotice(e, severity)]);
        return e;
    }

    /// <summary>"Seen, handling it": stops the reminders and tells the channels who handles it.</summary>
    public async Task<AlertEvent?> AcknowledgeAsync(string rule, string subject, string user, string comment, CancellationToken ct)
    {
        RequireLeader();
        (long Sequence, byte[]? Bytes) saved = default;
        var acknowledged = await LockedAsync<(AlertEvent Event, AlertRuleSettings? Settings, AlertRuleSet Rules)?>(() =>
        {
            RequireLeader();
            var now = _clock.Now;
            if (_tracker.Acknowledge(rule, subject, user, comment, now) is not { } e) return null;
            var settings = _rules.Rules.FirstOrDefault(r => r.Name == rule);
            e = Hold(e, settings?.Severity ?? "warning", now);
            saved = Save();
            return (Event: e, Settings: settings, Rules: _rules);
        }, ct);
        if (acknowledged is not { } a) return null;
        if (await HandOverAsync(saved.Sequence, saved.Bytes)) await NotifyAllAsync([(a.Settings, a.Event)], a.Rules);
        return a.Event;
    }

    public async Task<Silence> SilenceAsync(string? rule, string? subject, DateTimeOffset starts, DateTimeOffset ends, string user, string comment, CancellationToken ct)
    {
        RequireLeader();
        (long Sequence, byte[]? Bytes) saved = default;
        var result = await LockedAsync(() =>
        {
            RequireLeader();
            var silence = new Silence(Guid.NewGuid().ToString("N")[..12], rule, subject, starts, ends, user, comment);
            _silences.Add(silence);
            _silences.RemoveAll(s => s.Ends < _clock.Now - TimeSpan.FromDays(_settings.HistoryDays));
            saved = Save();
            _log.LogInformation("Silence {Id} by {User}: rule {Rule}, subject {Subject}, {Starts} .. {Ends}", silence.Id, user, rule ?? "*", subject ?? "*", starts, ends);
            return silence;
        }, ct);
        await HandOverAsync(saved.Sequence, saved.Bytes);
        return result;
    }

    /// <summary>Ends a silence now; null when there is no such (API) silence.</summary>
    public async Task<Silence?> ExpireSilenceAsync(string id, string user, CancellationToken ct)
    {
        RequireLeader();
        (long Sequence, byte[]? Bytes) saved = default;
        var result = await LockedAsync(() =>
        {
            RequireLeader();
            var i = _silences.FindIndex(s => s.Id == id);
            if (i < 0) return null;
            var now = _clock.Now;
            _silences[i] = _silences[i] with { Ends = now < _silences[i].Ends ? now : _silences[i].Ends, Starts = _silences[i].Starts < now ? _silences[i].Starts : now };
            saved = Save();
            _log.LogInformation("Silence {Id} ended by {User}", id, user);
            return (Silence?)_silences[i];
        }, ct);
        await HandOverAsync(saved.Sequence, saved.Bytes);
        return result;
    }

    /// <summary>Runs <paramref name="change"/> on the loaded state, holding it.</summary>
    async Task<T> LockedAsync<T>(Func<T> change, CancellationToken ct)
    {
        await _gate.WaitAsync(ct);
        try
        {
            Load();
            return change();
        }
        finally
        {
            _gate.Release();
        }
    }

    IEnumerable<Silence> AllSilences() => _silences.Concat(_rules.Maintenance.Select((m, i) =>
        new Silence($"maintenance-{i}", m.Rule, m.Subject, m.StartAt!.Value, m.EndAt!.Value, "rules", m.Comment)));

    async Task NotifyAsync(AlertRuleSettings? rule, AlertEvent e, AlertRuleSet rules, CancellationToken ct)
    {
        if (e.Silenced || rule is null) return;
        var notification = (rule.Templates.Count == 0 ? _templates : new AlertTemplates(_settings.Language, rule.TemplateOverrides)).Render(e, rule.Severity);
        _log.LogWarning("Alert {Kind}: {Title}", e.Kind, notification.Title);
        // The rule's own channels, then every matching route's, each channel once with the routes' recipients added.
        var targets = rule.Channels.Distinct().ToDictionary(c => c, _ => (Mobiles: new List<string>(), To: new List<string>()));
        foreach (var route in rules.Routes.Where(r => r.Matches(rule.Name, rule.Severity)))
            foreach (var c in route.Channels)
            {
                if (!targets.TryGetValue(c, out var recipients)) targets[c] = recipients = ([], []);
                recipients.Mobiles.AddRange(route.Mobiles.Except(recipients.Mobiles));
                recipients.To.AddRange(route.To.Except(recipients.To));
            }
        await Task.WhenAll(targets.Select(t => _dispatcher.SendAsync(notification with { Mobiles = t.Value.Mobiles, To = t.Value.To }, [_channels[t.Key]], ct)));
    }

    /// <summary>The rules file's bytes, or null when it does not exist.</summary>
    byte[]? ReadRulesBytes() => File.Exists(_rulesFile) ? File.ReadAllBytes(_rulesFile!) : null;

    static string Hash(byte[] bytes) => Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(bytes));

    /// <summary>Parses and checks the rules file's content; the rule set changes only when it is valid.</summary>
    List<string> ApplyRulesFile(byte[]? bytes)
    {
        if (bytes is null) return [$"Alerting:RulesFile: '{_rulesFile}' does not exist."];
        _rulesHash = Hash(bytes);
        AlertRuleSet set;
        try
        {
            set = (JsonSerializer.Deserialize<AlertRuleSet>(bytes, RulesJson) ?? new AlertRuleSet()).Normalized();
        }
        catch (JsonException e)
        {
            return [$"Alerting:RulesFile: '{_rulesFile}' cannot be read: {e.Message}"];
        }
        var errors = set.Validate($"Alerting:RulesFile ({Path.GetFileName(_rulesFile)}) ", [.. _settings.Channels.Select(c => c.Name)]).ToList();
        if (errors.Count == 0) _rules = set;
        return errors;
    }

    void ReloadRulesIfChanged(DateTimeOffset now)
    {
        if (_rulesFile is null) return;
        byte[]? bytes;
        try
        {
            bytes = ReadRulesBytes();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return; // being written: the next evaluation reads it
        }
        if (bytes is not null && Hash(bytes) == _rulesHash) return;
        var errors = ApplyRulesFile(bytes);
        if (errors.Count > 0)
        {
            Interlocked.Increment(ref _reloadFailures);
            _log.LogError("The rules file was not reloaded, the previous rules stay: {Errors}", string.Join(" ", errors));
            return;
        }
        _log.LogInformation("Alert rules reloaded from {File}: {Rules} rule(s), {Routes} route(s), {Maintenance} maintenance window(s)",
            _rulesFile, _rules.Rules.Count, _rules.Routes.Count, _rules.Maintenance.Count);
        foreach (var problem in RuleRouting.Describe(_rules, $"Alerting:RulesFile ({Path.GetFileName(_rulesFile)}) "))
            _log.LogWarning("{Problem}", problem);
        foreach (var e in _tracker.Retire(_rules.Rules.Select(r => r.Name).ToHashSet(), now, "rule removed"))
            Publish(e, "warning");
    }

    /// <summary>Reads the state file once (also the format of earlier versions: a plain list of active alerts),
    /// then closes alerts of rules that are no longer in the rule set. A file that cannot be read stops alerting with
    /// the setting named rather than starting empty and overwriting it.</summary>
    void Load()
    {
        if (_loaded) return;
        if (File.Exists(_stateFile))
        {
            SavedState state;
            try
            {
                var text = File.ReadAllText(_stateFile);
                state = text.TrimStart().StartsWith('[')
                    ? new SavedState(JsonSerializer.Deserialize<List<AlertSnapshot>>(text, Json) ?? [], [], [])
                    : JsonSerializer.Deserialize<SavedState>(text, Json) ?? new SavedState([], [], []);
            }
            catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException)
            {
                throw new InvalidOperationException($"Alerting:StateFile: '{_stateFile}' cannot be read ({e.Message}); move it away to start without it.", e);
            }
            Apply(state);
            _log.LogInformation("Alert state restored from {File}: {Count} active alert(s), {Closed} resolved, {Silences} silence(s)",
                _stateFile, state.Active.Count, state.Closed.Count, state.Silences.Count);
        }
        _loaded = true;
        foreach (var e in _tracker.Retire(_rules.Rules.Select(r => r.Name).ToHashSet(), _clock.Now, "rule removed"))
            _log.LogInformation("Alert {Rule}/{Subject} closed: its rule is no longer in the rule set", e.Rule, e.Subject);
    }

    /// <summary>The largest state handed over on the broker (gzip): under the shipped mosquitto's message_size_limit
    /// (260 KiB). A larger state is handed over without the resolved alerts' history, which no notification depends on.</summary>
    public const int MaxHandOverBytes = 200 * 1024;

    /// <summary>Writes the state file; returns the state as handed over to the next leader (gzip; null without a
    /// lease), numbered in the order of the changes (the order they go to the broker in).</summary>
    (long Sequence, byte[]? Bytes) Save()
    {
        var state = new SavedState(_tracker.Snapshot(), _tracker.Closed, _silences, _lastScheduled);
        var bytes = JsonSerializer.SerializeToUtf8Bytes(state, Json);
        var tmp = _stateFile + ".tmp";
        File.WriteAllBytes(tmp, bytes);
        File.Move(tmp, _stateFile, overwrite: true);
        if (!_leadership.Enabled) return (++_stateSequence, null);
        var handOver = Zip(bytes);
        var trimmed = handOver.Length > MaxHandOverBytes;
        if (trimmed)
        {
            if (!_handOverTrimmed)
                _log.LogWarning("The alert state is {Size} bytes compressed, over {Max}: it is handed over to the next leader without the resolved alerts' history",
                    handOver.Length, MaxHandOverBytes);
            handOver = Zip(JsonSerializer.SerializeToUtf8Bytes(state with { Closed = [] }, Json));
        }
        _handOverTrimmed = trimmed;
        return (++_stateSequence, handOver);
    }

    static byte[] Zip(byte[] bytes)
    {
        using var output = new MemoryStream();
        using (var gzip = new System.IO.Compression.GZipStream(output, System.IO.Compression.CompressionLevel.Fastest)) gzip.Write(bytes);
        return output.ToArray();
    }

    /// <summary>A handed-over state: gzip (1f 8b), or plain JSON.</summary>
    static byte[] Unzip(byte[] bytes)
    {
        if (bytes is not [0x1f, 0x8b, ..]) return bytes;
        using var gzip = new System.IO.Compression.GZipStream(new MemoryStream(bytes), System.IO.Compression.CompressionMode.Decompress);
        using var output = new MemoryStream();
        gzip.CopyTo(output);
        return output.ToArray();
    }

    sealed record SavedState(IReadOnlyList<AlertSnapshot> Active, IReadOnlyList<AlertSnapshot> Closed, IReadOnlyList<Silence> Silences,
        IReadOnlyDictionary<string, DateOnly>? LastScheduled = null);
}
