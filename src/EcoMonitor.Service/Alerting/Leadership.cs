using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using EcoMonitor.Service.Hosting;
using EcoMonitor.Service.Ingestion;
using Microsoft.Extensions.Options;
using MQTTnet;
using MQTTnet.Protocol;

namespace EcoMonitor.Service.Alerting;

/// <summary>Which instance evaluates the alert rules and notifies, when several run (Mqtt:SharedGroup).
///
/// A lease over the broker, on its own MQTT connection (client id {Mqtt:ClientId}.alerting, clean start): the leader
/// publishes a retained claim {"instance": id} on {TopicPrefix}/_cluster/alerting-leader every
/// Alerting:LeaseRenewInterval; its last will is an empty retained message on the same topic, so the broker releases the
/// lease as soon as it sees the connection die (a crash or kill -9: the OS closes the socket at once; a vanished host:
/// the broker's keep-alive, 1.5 × Alerting:LeaseDuration). Every instance subscribes to that topic. A follower claims
/// when the lease is released, or when no claim was seen for Alerting:LeaseDuration; MQTT has no compare-and-set, so
/// a claimant waits Alerting:LeaseSettle for rival claims and the lowest instance id (Mqtt:ClientId, ordinal) wins;
/// the others stand down before they ever evaluate. A leader that sees a claim by a lower id stands down; one that
/// sees a claim by a higher id answers with its own claim at once.
///
/// A leader stops leading when its connection drops (the will has released the lease, someone else may take over)
/// and when no renewal was confirmed (PUBACK) for Alerting:LeaseDuration less Alerting:LeaseRenewInterval, which is
/// before any follower can take the lease over (LeaseDuration after the last renewal it saw, plus LeaseSettle).
///
/// The alert state travels with the lease: the leader publishes it retained on {TopicPrefix}/_cluster/alerting-state
/// after every change and before it notifies (<see cref="PublishStateAsync"/>); followers keep the latest, and a new
/// leader restores it before its first evaluation, so an alert already notified is not notified again.</summary>
public sealed class AlertLeadership : BackgroundService
{
    enum Role { Follower, Candidate, Leader }

    abstract record Signal;
    sealed record Claimed(string Instance, bool Leading) : Signal;
    sealed record Released : Signal;
    sealed record StateSeen(byte[] State) : Signal;
    sealed record ConnectionLost : Signal;

    readonly AlertingSettings _settings;
    readonly MqttSettings _mqtt;
    readonly ILogger<AlertLeadership> _log;
    readonly TimeProvider _time;
    readonly Channel<Signal> _signals = Channel.CreateUnbounded<Signal>(new UnboundedChannelOptions { SingleReader = true });
    readonly SemaphoreSlim _publishing = new(1, 1);
    readonly IMqttClient? _client;
    readonly HashSet<string> _rivals = new(StringComparer.Ordinal);
    string? _leaderSeen;
    volatile Role _role;
    volatile string? _holder;
    volatile byte[]? _latestState;
    byte[]? _publishedState;
    TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    long _holderSeen, _subscribedAt, _candidateSince, _lastRenewSent, _lastConfirmed, _publishedSequence = -1;
    long _takeovers, _standDowns;

    public AlertLeadership(IOptions<AlertingSettings> settings, IOptions<MqttSettings> mqtt, IOptions<IngestionSettings> ingestion, TimeProvider time,
        ILogger<AlertLeadership> log)
    {
        _settings = settings.Value;
        _mqtt = mqtt.Value;
        _log = log;
        _time = time;
        Enabled = _settings.Enabled && (_settings.Leadership == LeadershipMode.Lease
                                        || _settings.Leadership == LeadershipMode.Auto && !string.IsNullOrEmpty(_mqtt.SharedGroup));
        InstanceId = _mqtt.ClientId;
        LeaderTopic = $"{ingestion.Value.TopicPrefix}/_cluster/alerting-leader";
        StateTopic = $"{ingestion.Value.TopicPrefix}/_cluster/alerting-state";
        if (Enabled)
        {
            _client = new MqttClientFactory().CreateMqttClient();
            _client.DisconnectedAsync += e =>
            {
                if (e.ClientWasConnected) _signals.Writer.TryWrite(new ConnectionLost());
                return Task.CompletedTask;
            };
            _client.ApplicationMessageReceivedAsync += e =>
            {
                var m = e.ApplicationMessage;
                var payload = m.Payload.ToArray();
                if (m.Topic == StateTopic)
                {
                    if (payload.Length > 0) _signals.Writer.TryWrite(new StateSeen(payload));
                }
                else if (payload.Length == 0) _signals.Writer.TryWrite(new Released());
                else if (ParseClaim(payload) is { } claim) _signals.Writer.TryWrite(claim);
                else _log.LogWarning("Ignored a claim on {Topic} that is not {{\"instance\": id, \"leading\": true|false}}", m.Topic);
                return Task.CompletedTask;
            };
        }
    }

    /// <summary>A lease decides who leads (Alerting:Leadership); otherwise this instance leads alone.</summary>
    public bool Enabled { get; }

    /// <summary>This instance's id in the lease: Mqtt:ClientId (unique per instance anyway, for its session).</summary>
    public string InstanceId { get; }

    public string LeaderTopic { get; }

    public string StateTopic { get; }

    /// <summary>This instance evaluates and notifies now: it holds the lease, is connected, and its last renewal was
    /// confirmed within LeaseDuration - LeaseRenewInterval (checked here too, so leadership lapses on its own clock
    /// even while the lease loop is busy with a slow claim).</summary>
    public bool IsLeader => !Enabled || _role == Role.Leader && _client!.IsConnected
        && Since(Interlocked.Read(ref _lastConfirmed)) <= _settings.LeaseDuration - _settings.LeaseRenewInterval;

    /// <summary>The instance believed to lead (null: none known).</summary>
    public string? Leader => !Enabled || _role == Role.Leader ? InstanceId : _holder;

    /// <summary>The latest alert state a leader published (null: none seen).</summary>
    public byte[]? LatestState => _latestState;

    public long Takeovers => Interlocked.Read(ref _takeovers);

    /// <summary>Completes at the next change of role or of <see cref="LatestState"/>.</summary>
    public Task NextChangeAsync() => Volatile.Read(ref _changed).Task;

    void Changed() => Interlocked.Exchange(ref _changed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    static Claimed? ParseClaim(byte[] payload)
    {
        try
        {
            using var doc = JsonDocument.Parse(payload);
            var root = doc.RootElement;
            return root.ValueKind == JsonValueKind.Object && root.TryGetProperty("instance", out var i) && i.ValueKind == JsonValueKind.String
                   && i.GetString() is { Length: > 0 } id
                ? new Claimed(id, root.TryGetProperty("leading", out var l) && l.ValueKind == JsonValueKind.True)
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>Lowest ordinal id wins a race.</summary>
    bool Precedes(string other) => string.CompareOrdinal(other, InstanceId) < 0;

    long Now => _time.GetTimestamp();

    TimeSpan Since(long timestamp) => _time.GetElapsedTime(timestamp);

    protected override async Task ExecuteAsync(CancellationToken ct)
    {
        if (!Enabled) return;
        _log.LogInformation("Alerting leadership: a lease on {Topic} as {Instance} (renewed every {Renew}, taken over after {Duration} without renewal, claims settle in {Settle})",
            LeaderTopic, InstanceId, _settings.LeaseRenewInterval, _settings.LeaseDuration, _settings.LeaseSettle);
        var tick = TimeSpan.FromTicks(Math.Max(TimeSpan.FromMilliseconds(50).Ticks, Math.Min(_settings.LeaseRenewInterval.Ticks, _settings.LeaseSettle.Ticks) / 4));
        var delay = _mqtt.ReconnectInitialDelay;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                if (!_client!.IsConnected)
                {
                    // No leading without the connection: the will has released the lease (or will, at the keep-alive).
                    if (_role == Role.Leader) StandDown("its broker connection was lost (the will released the lease)");
                    _role = Role.Follower;
                    try
                    {
                        await ConnectAsync(ct);
                        delay = _mqtt.ReconnectInitialDelay;
                    }
                    catch (Exception e) when (!ct.IsCancellationRequested)
                    {
                        _log.LogWarning("Alerting lease: MQTT connect to {Host}:{Port} failed: {Reason}; retrying in {Delay}", _mqtt.Host, _mqtt.Port, e.Message, delay);
                        await Task.Delay(delay, _time, ct);
                        delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _mqtt.ReconnectMaxDelay.Ticks));
                        continue;
                    }
                }
                using (var wait = CancellationTokenSource.CreateLinkedTokenSource(ct))
                {
                    wait.CancelAfter(tick);
                    try
                    {
                        await _signals.Reader.WaitToReadAsync(wait.Token);
                    }
                    catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                    {
                    }
                }
                while (_signals.Reader.TryRead(out var signal)) await HandleAsync(signal, ct);
                await StepAsync(ct);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    async Task ConnectAsync(CancellationToken ct)
    {
        var options = MqttConnection.BaseOptions(_mqtt)
            .WithClientId(_mqtt.ClientId + ".alerting")
            .WithCleanStart(true)
            .WithKeepAlivePeriod(_settings.LeaseDuration)
            .Build();
        options.WillTopic = LeaderTopic;
        options.WillPayload = [];
        options.WillRetain = true;
        options.WillQualityOfServiceLevel = MqttQualityOfServiceLevel.AtLeastOnce;
        var result = await _client!.ConnectAsync(options, ct);
        if (result.ResultCode != MqttClientConnectResultCode.Success)
            throw new InvalidOperationException($"the broker refused the connection: {result.ResultCode}");
        await _client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder()
            .WithTopicFilter(f => f.WithTopic(LeaderTopic).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce))
            .WithTopicFilter(f => f.WithTopic(StateTopic).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce))
            .Build(), ct);
        // Whoever holds the lease shows in the retained claim, which arrives right after the subscription: nobody
        // claims before LeaseSettle has passed.
        _subscribedAt = Now;
        _role = Role.Follower;
        _holder = null;
        _log.LogInformation("Alerting lease: connected as {ClientId}, watching {Topic}", _mqtt.ClientId + ".alerting", LeaderTopic);
    }

    async Task HandleAsync(Signal signal, CancellationToken ct)
    {
        switch (signal)
        {
            case Claimed { Instance: var id } when id == InstanceId:
                break;
            case Claimed { Instance: var id, Leading: var leading }:
                _holder = id;
                _holderSeen = Now;
                if (_role == Role.Candidate)
                {
                    if (leading) _leaderSeen = id; // a live leader keeps its lease, whatever its id
                    else _rivals.Add(id);
                }
                else if (_role == Role.Leader)
                {
                    // Two leaders (after a partition healed): the lower id keeps the lease. A claimant that thought the
                    // lease free, or a higher leader, hears this leader's claim at once.
                    if (leading && Precedes(id)) StandDown($"{id} leads too and precedes {InstanceId}");
                    else await ClaimAsync(leading: true, ct);
                }
                break;
            case Released:
                if (_role == Role.Leader) await ClaimAsync(leading: true, ct); // a dead claimant's will cleared the record: restate it
                else if (_role == Role.Follower)
                {
                    _log.LogInformation("Alerting lease released by {Holder}", _holder ?? "an instance");
                    _holder = null;
                }
                break;
            case StateSeen { State: var state }:
                if (_role != Role.Leader)
                {
                    _latestState = state;
                    Changed();
                }
                break;
            case ConnectionLost:
                if (_role == Role.Leader) StandDown("its broker connection was lost (the will released the lease)");
                _role = Role.Follower;
                break;
        }
    }

    async Task StepAsync(CancellationToken ct)
    {
        if (!_client!.IsConnected) return;
        switch (_role)
        {
            case Role.Follower:
                if (Since(_subscribedAt) >= _settings.LeaseSettle && (_holder is null || Since(_holderSeen) > _settings.LeaseDuration))
                {
                    _log.LogInformation("Alerting lease {State}: {Instance} claims it", _holder is null ? "free" : $"of {_holder} expired", InstanceId);
                    _rivals.Clear();
                    _leaderSeen = null;
                    _role = Role.Candidate;
                    _candidateSince = Now;
                    if (!await ClaimAsync(leading: false, ct)) _role = Role.Follower;
                }
                break;
            case Role.Candidate:
                if ((_leaderSeen ?? _rivals.Where(Precedes).Order(StringComparer.Ordinal).FirstOrDefault()) is { } winner)
                {
                    _log.LogInformation("Alerting lease: {Winner} {How}; {Instance} stands down", winner, _leaderSeen is null ? "claims it too and precedes" : "leads", InstanceId);
                    _role = Role.Follower;
                    _holder = winner;
                    _holderSeen = Now;
                }
                else if (Since(_candidateSince) >= _settings.LeaseSettle)
                {
                    if (!await ClaimAsync(leading: true, ct))
                    {
                        _role = Role.Follower;
                        break;
                    }
                    _role = Role.Leader;
                    Interlocked.Increment(ref _takeovers);
                    _log.LogWarning("Alerting lease: {Instance} leads alerting now (evaluates the rules and notifies)", InstanceId);
                    Changed();
                }
                break;
            case Role.Leader:
                if (Since(_lastRenewSent) >= _settings.LeaseRenewInterval) await ClaimAsync(leading: true, ct);
                if (_role == Role.Leader && Since(_lastConfirmed) > _settings.LeaseDuration - _settings.LeaseRenewInterval)
                    StandDown($"no renewal was confirmed by the broker for {_settings.LeaseDuration - _settings.LeaseRenewInterval}");
                break;
        }
    }

    void StandDown(string reason)
    {
        _role = Role.Follower;
        Interlocked.Increment(ref _standDowns);
        _log.LogWarning("Alerting lease: {Instance} stops leading alerting: {Reason}", InstanceId, reason);
        Changed();
    }

    /// <summary>Publishes this instance's claim (retained), as a claimant or as the leader; true when the broker
    /// confirmed it within the renew interval (a slower renewal counts as lost: the next one is due).</summary>
    async Task<bool> ClaimAsync(bool leading, CancellationToken ct)
    {
        var sent = Now;
        _lastRenewSent = sent;
        var payload = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { instance = InstanceId, leading }));
        if (!await PublishAsync(LeaderTopic, payload, _settings.LeaseRenewInterval, ct)) return false;
        _lastConfirmed = sent;
        return true;
    }

    async Task<bool> PublishAsync(string topic, byte[] payload, TimeSpan timeout, CancellationToken ct)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        limit.CancelAfter(timeout);
        try
        {
            var result = await _client!.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload)
                .WithRetainFlag().WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build(), limit.Token);
            if (result.IsSuccess) return true;
            _log.LogWarning("Alerting lease: the broker refused a publish to {Topic}: {Code}", topic, result.ReasonCode);
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            _log.LogWarning("Alerting lease: publish to {Topic} failed: {Reason}", topic, e.Message);
        }
        return false;
    }

    /// <summary>Publishes the alert state (retained) for the next leader; states are numbered by the caller and an
    /// older one never overwrites a newer one. True when the broker confirmed it (or no lease is in use).</summary>
    public async Task<bool> PublishStateAsync(long sequence, byte[] state, CancellationToken ct)
    {
        if (!Enabled) return true;
        if (!IsLeader) return false; // an instance that lost the lease never overwrites the new leader's state
        await _publishing.WaitAsync(ct);
        try
        {
            if (sequence <= _publishedSequence) return true;
            // Every evaluation saves the state; an unchanged one is not sent again.
            if (_publishedState is not null && _publishedState.AsSpan().SequenceEqual(state) && _client!.IsConnected) return true;
            if (!_client!.IsConnected || !await PublishAsync(StateTopic, state, TimeSpan.FromSeconds(10), ct)) return false;
            _publishedSequence = sequence;
            _publishedState = state;
            return true;
        }
        finally
        {
            _publishing.Release();
        }
    }

    /// <summary>Times this instance stopped leading (lost connection, unconfirmed renewals, a preceding claim).</summary>
    public long StandDowns => Interlocked.Read(ref _standDowns);

    /// <summary>A leader that stops releases the lease itself (an empty retained claim), so a follower takes over after
    /// LeaseSettle; then a normal disconnect, which sends no will.</summary>
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        if (_client is null) return;
        if (_client.IsConnected)
        {
            if (_role == Role.Leader)
            {
                _role = Role.Follower;
                if (await PublishAsync(LeaderTopic, [], TimeSpan.FromSeconds(2), CancellationToken.None))
                    _log.LogInformation("Alerting lease released by {Instance} (stopping)", InstanceId);
            }
            try
            {
                await _client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().WithReason(MqttClientDisconnectOptionsReason.NormalDisconnection).Build());
            }
            catch (Exception e)
            {
                _log.LogDebug("Alerting lease disconnect: {Reason}", e.Message);
            }
        }
    }

    public override void Dispose()
    {
        _client?.Dispose();
        base.Dispose();
    }
}
