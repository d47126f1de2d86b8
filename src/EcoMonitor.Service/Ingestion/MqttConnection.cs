using EcoMonitor.Service.Hosting;
using Microsoft.Extensions.Options;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace EcoMonitor.Service.Ingestion;

/// <summary>Keeps one MQTT 5 connection to the broker: persistent session (clean start off, session expiry from
/// settings, stable client id), reconnect with exponential backoff, subscriptions renewed on every connect.
/// Each connection gets a new <see cref="Generation"/>: an acknowledgement is only sent on the connection that
/// delivered the message (after a reconnect the broker redelivers whatever was not acknowledged).
/// With Mqtt:SharedGroup the readings topics are shared subscriptions: the broker (mosquitto) hands each message to the
/// next member of the group in turn, connected or not; what it gave to a member stays in that member's session (in
/// flight or queued) until the member comes back with its client id, and is never handed to another member.</summary>
public sealed class MqttConnection : IDisposable
{
    readonly MqttSettings _settings;
    readonly ILogger<MqttConnection> _log;
    readonly TimeProvider _time;
    readonly IMqttClient _client;
    readonly MqttClientOptions _options;
    readonly IMqttClient _publisher;
    readonly MqttClientOptions _publisherOptions;
    readonly SemaphoreSlim _publisherLock = new(1, 1);
    int _generation;
    int _subscribedGeneration = -1;
    volatile bool _stopping;
    TaskCompletionSource _disconnected = NewSignal();

    public MqttConnection(IOptions<MqttSettings> options, IOptions<IngestionSettings> ingestion, ILogger<MqttConnection> log, TimeProvider time)
    {
        _settings = options.Value;
        _log = log;
        _time = time;
        Gate = new ReceiveGate(2 * _settings.ReceiveMaximum);
        Gate.Paused += outstanding => _log.LogWarning(
            "The broker sent more messages than Mqtt:ReceiveMaximum ({Max}) allows before their acknowledgement ({Outstanding} held); reading from it pauses until the service has room (see README, \"Flow control\")",
            _settings.ReceiveMaximum, outstanding);
        _client = new MqttClientFactory().CreateMqttClient(Gate.AdapterFactory());
        _options = BuildOptions(_settings, MaximumPacketSize(ingestion.Value.MaxPayloadBytes));
        _publisher = new MqttClientFactory().CreateMqttClient();
        _publisherOptions = BaseOptions(_settings).WithClientId(_settings.ClientId + ".out").WithCleanStart(true)
            .WithKeepAlivePeriod(_settings.KeepAlive).Build();
        _client.DisconnectedAsync += e =>
        {
            if (e.ClientWasConnected && !_stopping)
                _log.LogWarning("MQTT connection to {Host}:{Port} lost: {Reason} {Detail}", _settings.Host, _settings.Port, e.Reason, e.Exception?.Message);
            _disconnected.TrySetResult();
            return Task.CompletedTask;
        };
        _client.ApplicationMessageReceivedAsync += e =>
        {
            e.AutoAcknowledge = false;
            Gate.Handed();
            return MessageReceived is { } handler ? handler(e, Generation) : Task.CompletedTask;
        };
    }

    /// <summary>What bounds the messages read from the broker and not yet acknowledged (<see cref="ReceiveGate"/>).</summary>
    public ReceiveGate Gate { get; }

    /// <summary>Called for every message, in arrival order, with the generation of the connection it came on.
    /// The handler acknowledges it later through <see cref="AcknowledgeAsync"/>.</summary>
    public Func<MqttApplicationMessageReceivedEventArgs, int, Task>? MessageReceived { get; set; }

    public int Generation => Volatile.Read(ref _generation);

    public bool IsConnected => _client.IsConnected;

    /// <summary>Connected and subscribed: readings published from now on reach the service.</summary>
    public bool IsSubscribed => _client.IsConnected && Volatile.Read(ref _subscribedGeneration) == Generation;

    /// <summary>Room in a PUBLISH packet for what is not payload: fixed header, topic, packet id and properties
    /// (content type, user properties). A topic of the contract is well under 200 bytes.</summary>
    public const int PacketHeadroomBytes = 8 * 1024;

    /// <summary>The MQTT 5 Maximum Packet Size announced on CONNECT: Ingestion:MaxPayloadBytes plus
    /// <see cref="PacketHeadroomBytes"/>. The broker must not send a larger packet (MQTT 5.0, 3.1.2.11.4): it drops
    /// the message instead (mosquitto logs it), so an oversized publish never reaches the service's memory, while one
    /// just over Ingestion:MaxPayloadBytes still arrives and is dead-lettered as payload_too_large.</summary>
    public static uint MaximumPacketSize(int maxPayloadBytes) => (uint)maxPayloadBytes + PacketHeadroomBytes;

    internal static MqttClientOptions BuildOptions(MqttSettings s, uint maximumPacketSize) =>
        BaseOptions(s)
            .WithClientId(s.ClientId)
            .WithCleanStart(false)
            .WithSessionExpiryInterval((uint)s.SessionExpiry.TotalSeconds)
            .WithKeepAlivePeriod(s.KeepAlive)
            .WithReceiveMaximum((ushort)s.ReceiveMaximum)
            .WithMaximumPacketSize(maximumPacketSize)
            .Build();

    /// <summary>Broker address, MQTT 5, credentials and TLS of the settings: what every connection of the service
    /// shares (the ingestion connection, the alerting lease's).</summary>
    internal static MqttClientOptionsBuilder BaseOptions(MqttSettings s)
    {
        var builder = new MqttClientOptionsBuilder()
            .WithTcpServer(s.Host, s.Port) // MQTTnet sets TCP_NODELAY on its socket by default
            .WithProtocolVersion(MqttProtocolVersion.V500)
            .WithTimeout(TimeSpan.FromSeconds(10));
        if (!string.IsNullOrEmpty(s.Username)) builder.WithCredentials(s.Username, s.Password);
        if (s.Tls.Enabled)
            builder.WithTlsOptions(t => t.UseTls()
                .WithTargetHost(s.Tls.TargetHost ?? s.Host)
                .WithAllowUntrustedCertificates(s.Tls.AllowUntrustedCertificates)
                .WithIgnoreCertificateChainErrors(s.Tls.AllowUntrustedCertificates));
        return builder;
    }

    /// <summary>Connects, subscribes, and reconnects whenever the connection drops, until <paramref name="ct"/> ends.</summary>
    public async Task RunAsync(IReadOnlyList<string> topicFilters, CancellationToken ct)
    {
        var delay = _settings.ReconnectInitialDelay;
        while (!ct.IsCancellationRequested)
        {
            if (!_client.IsConnected)
            {
                try
                {
                    _disconnected = NewSignal();
                    // A new generation before the broker can deliver anything on the new connection.
                    Interlocked.Increment(ref _generation);
                    var result = await _client.ConnectAsync(_options, ct);
                    if (result.ResultCode != MqttClientConnectResultCode.Success)
                        throw new InvalidOperationException($"the broker refused the connection: {result.ResultCode}{(string.IsNullOrEmpty(result.ReasonString) ? "" : " " + result.ReasonString)}" +
                            (result.ResultCode is MqttClientConnectResultCode.BadUserNameOrPassword or MqttClientConnectResultCode.NotAuthorized
                                ? " (check Mqtt:Username and Mqtt:Password)" : ""));
                    var subscribe = new MqttClientSubscribeOptionsBuilder();
                    var filters = topicFilters.Select(_settings.SubscriptionFilter).ToList();
                    foreach (var filter in filters)
                        subscribe.WithTopicFilter(f => f.WithTopic(filter).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce));
                    using (Gate.AwaitingBroker()) // its SUBACK may arrive behind redelivered messages
                        await _client.SubscribeAsync(subscribe.Build(), ct);
                    Volatile.Write(ref _subscribedGeneration, Generation);
                    _log.LogInformation("MQTT connected to {Host}:{Port} as {ClientId} (session present: {SessionPresent}); subscribed to {Filters}",
                        _settings.Host, _settings.Port, _settings.ClientId, result.IsSessionPresent, filters);
                    delay = _settings.ReconnectInitialDelay;
                }
                catch (OperationCanceledException) when (ct.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception e)
                {
                    _log.LogWarning("MQTT connect to {Host}:{Port} failed: {Reason}; retrying in {Delay}", _settings.Host, _settings.Port, e.Message, delay);
                    try
                    {
                        await Task.Delay(delay, _time, ct);
                    }
                    catch (OperationCanceledException)
                    {
                        return;
                    }
                    delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _settings.ReconnectMaxDelay.Ticks));
                    continue;
                }
            }
            try
            {
                await _disconnected.Task.WaitAsync(_settings.KeepAlive, _time, ct);
            }
            catch (TimeoutException)
            {
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>The acknowledgement of a message received on connection <paramref name="generation"/>.</summary>
    public IAcknowledgement AcknowledgementFor(MqttApplicationMessageReceivedEventArgs message, int generation) =>
        new MqttAcknowledgement(this, message, generation);

    sealed class MqttAcknowledgement(MqttConnection connection, MqttApplicationMessageReceivedEventArgs message, int generation) : IAcknowledgement
    {
        public bool IsStale => generation != connection.Generation;

        public Task<bool> AcknowledgeAsync(CancellationToken ct) => connection.AcknowledgeAsync(message, generation, ct);
    }

    /// <summary>Acknowledges a message if the connection that delivered it is still the current one.</summary>
    async Task<bool> AcknowledgeAsync(MqttApplicationMessageReceivedEventArgs message, int generation, CancellationToken ct)
    {
        if (generation != Generation || !_client.IsConnected) return false;
        try
        {
            await message.AcknowledgeAsync(ct);
            return true;
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            _log.LogDebug("Acknowledgement not sent: {Reason}", e.Message);
            return false;
        }
    }

    /// <summary>Connects the publishing connection (client id {Mqtt:ClientId}.out, clean start, nothing subscribed).
    /// The service publishes (dead letters, the mqtt alert channel) on a connection of its own: on the ingestion
    /// connection a dead letter's PUBACK would arrive behind the messages the broker sends meanwhile, which the
    /// <see cref="ReceiveGate"/> may hold unread while the pipeline waits for that very PUBACK.</summary>
    async Task ConnectPublisherAsync(CancellationToken ct)
    {
        await _publisherLock.WaitAsync(ct);
        try
        {
            if (_publisher.IsConnected) return;
            var result = await _publisher.ConnectAsync(_publisherOptions, ct);
            if (result.ResultCode != MqttClientConnectResultCode.Success)
                throw new InvalidOperationException($"the broker refused the publishing connection: {result.ResultCode} {result.ReasonString}");
        }
        finally
        {
            _publisherLock.Release();
        }
    }

    /// <summary>Publishes a message on the publishing connection (connected on first use, again after it dropped);
    /// says whether the broker took it, refused it, or could not be reached.</summary>
    public async Task<PublishOutcome> PublishAsync(MqttApplicationMessage message, CancellationToken ct)
    {
        try
        {
            if (!_publisher.IsConnected) await ConnectPublisherAsync(ct);
            var result = await _publisher.PublishAsync(message, ct);
            if (result.IsSuccess) return PublishOutcome.Published;
            _log.LogError("Broker refused publish to {Topic}: {Code} {Reason}", message.Topic, result.ReasonCode, result.ReasonString);
            return PublishOutcome.Refused;
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            _log.LogWarning("Publish to {Topic} failed: {Reason}", message.Topic, e.Message);
            return PublishOutcome.Failed;
        }
    }

    public async Task DisconnectAsync()
    {
        _stopping = true;
        foreach (var client in new[] { _client, _publisher })
        {
            if (!client.IsConnected) continue;
            try
            {
                await client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().WithReason(MqttClientDisconnectOptionsReason.NormalDisconnection).Build());
            }
            catch (Exception e)
            {
                _log.LogDebug("MQTT disconnect: {Reason}", e.Message);
            }
        }
    }

    static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Dispose()
    {
        _client.Dispose();
        _publisher.Dispose();
        _publisherLock.Dispose();
    }
}

public enum PublishOutcome { Published, Refused, Failed }
