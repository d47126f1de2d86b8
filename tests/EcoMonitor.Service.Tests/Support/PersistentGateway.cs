using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace EcoMonitor.Service.Tests.Support;

/// <summary>A gateway as the contract asks for one: MQTT 5, QoS 1, a persistent session, and every reading published
/// again until the broker acknowledged it (across broker restarts). A reading whose PUBACK was lost is published twice;
/// it has the same identity (station, parameter, time), so it is still one point.</summary>
public sealed class PersistentGateway : IAsyncDisposable
{
    readonly IMqttClient _client = new MqttClientFactory().CreateMqttClient();
    readonly MqttClientOptions _options;
    int _acknowledged;

    public PersistentGateway(int port)
    {
        _options = new MqttClientOptionsBuilder()
            .WithTcpServer("127.0.0.1", port)
            .WithProtocolVersion(MqttProtocolVersion.V500)
            .WithClientId(TestInfrastructure.UniqueName("gw"))
            .WithCleanStart(false)
            .WithSessionExpiryInterval(3600)
            .WithTimeout(TimeSpan.FromSeconds(5))
            .Build();
    }

    /// <summary>Messages the broker has acknowledged so far.</summary>
    public int Acknowledged => Volatile.Read(ref _acknowledged);

    /// <summary>Publishes every message in order at about <paramref name="perSecond"/> messages a second, each one
    /// again and again until the broker acknowledges it; gives up only after <paramref name="timeout"/>.</summary>
    public Task PublishAllAsync(IReadOnlyList<(string Topic, string Payload)> messages, int perSecond, TimeSpan timeout) => Task.Run(async () =>
    {
        var started = DateTime.UtcNow;
        var giveUp = started + timeout;
        for (var i = 0; i < messages.Count; i++)
        {
            var due = started + TimeSpan.FromSeconds((double)i / perSecond);
            if (due > DateTime.UtcNow) await Task.Delay(due - DateTime.UtcNow);
            var message = new MqttApplicationMessageBuilder().WithTopic(messages[i].Topic).WithPayload(messages[i].Payload)
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build();
            while (true)
            {
                MqttClientPublishResult result;
                try
                {
                    if (!_client.IsConnected) await _client.ConnectAsync(_options);
                    result = await _client.PublishAsync(message);
                }
                catch (Exception) when (DateTime.UtcNow < giveUp)
                {
                    // The broker is away (or the connection is not up yet): reconnect and publish the same message again.
                    await Task.Delay(100);
                    continue;
                }
                if (result.IsSuccess || result.ReasonCode == MqttClientPublishReasonCode.NoMatchingSubscribers) break;
                throw new InvalidOperationException($"the broker refused message {i}: {result.ReasonCode}");
            }
            Interlocked.Increment(ref _acknowledged);
        }
    });

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (_client.IsConnected) await _client.DisconnectAsync();
        }
        catch (Exception e) when (e is MQTTnet.Exceptions.MqttCommunicationException or OperationCanceledException)
        {
        }
        _client.Dispose();
    }
}
