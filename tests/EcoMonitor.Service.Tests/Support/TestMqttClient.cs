using System.Buffers;
using System.Collections.Concurrent;
using System.Text;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace EcoMonitor.Service.Tests.Support;

/// <summary>A real MQTTnet client playing the gateway (publishing) or the operator watching dead letters.</summary>
public sealed class TestMqttClient : IAsyncDisposable
{
    readonly IMqttClient _client = new MqttClientFactory().CreateMqttClient();
    public ConcurrentQueue<(string Topic, byte[] Payload)> Received { get; } = new();

    public static async Task<TestMqttClient> ConnectAsync(string? subscribeTo = null, int? port = null, Action<MqttClientOptionsBuilder>? customize = null)
    {
        var c = new TestMqttClient();
        c._client.ApplicationMessageReceivedAsync += e =>
        {
            c.Received.Enqueue((e.ApplicationMessage.Topic, e.ApplicationMessage.Payload.ToArray()));
            return Task.CompletedTask;
        };
        var options = new MqttClientOptionsBuilder()
            .WithTcpServer(TestInfrastructure.MqttHost, port ?? TestInfrastructure.MqttPort)
            .WithProtocolVersion(MqttProtocolVersion.V500)
            .WithClientId(TestInfrastructure.UniqueName("gw"));
        customize?.Invoke(options);
        await c._client.ConnectAsync(options.Build());
        if (subscribeTo is not null)
            await c._client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder()
                .WithTopicFilter(f => f.WithTopic(subscribeTo).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)).Build());
        return c;
    }

    public Task PublishAsync(string topic, string payload) => PublishAsync(topic, Encoding.UTF8.GetBytes(payload));

    public async Task PublishAsync(string topic, byte[] payload)
    {
        var result = await _client.PublishAsync(new MqttApplicationMessageBuilder()
            .WithTopic(topic).WithPayload(payload).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
        if (!result.IsSuccess && result.ReasonCode != MqttClientPublishReasonCode.NoMatchingSubscribers)
            throw new InvalidOperationException($"publish to {topic} failed: {result.ReasonCode}");
    }

    public async ValueTask DisposeAsync()
    {
        if (_client.IsConnected) await _client.DisconnectAsync();
        _client.Dispose();
    }
}
