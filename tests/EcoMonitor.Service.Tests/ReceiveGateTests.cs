using System.Collections.Concurrent;
using EcoMonitor.Service.Hosting;
using EcoMonitor.Service.Ingestion;
using EcoMonitor.Service.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;
using Xunit;

namespace EcoMonitor.Service.Tests;

/// <summary>The service's own bound on what it reads from the broker (<see cref="ReceiveGate"/>), against the real
/// mosquitto: a publisher faster than the service acknowledges builds a deep queue in the session, and mosquitto 2.0
/// then sends far beyond the Receive Maximum; the service's connection must still hold no more than its limit, and the
/// service's own requests on that connection (dead letters) must still get their answers.</summary>
public sealed class ReceiveGateTests
{
    [Fact]
    public async Task A_broker_sending_beyond_the_receive_maximum_is_held_at_the_limit_and_nothing_is_lost()
    {
        await TestInfrastructure.RequireAsync();
        const int receiveMaximum = 200, count = 20_000;
        var prefix = TestInfrastructure.UniqueName("gate");
        var settings = new MqttSettings
        {
            Host = TestInfrastructure.MqttHost, Port = TestInfrastructure.MqttPort, ClientId = prefix + "-svc", ReceiveMaximum = receiveMaximum,
        };
        using var connection = new MqttConnection(Options.Create(settings), Options.Create(new IngestionSettings()), NullLogger<MqttConnection>.Instance, TimeProvider.System);
        var held = new ConcurrentQueue<IAcknowledgement>();
        long handed = 0, acknowledged = 0, mostOutstanding = 0;
        var bodies = new ConcurrentDictionary<string, int>();
        connection.Gate.Held = () => held.Count;
        connection.MessageReceived = (e, generation) =>
        {
            held.Enqueue(connection.AcknowledgementFor(e, generation));
            Interlocked.Increment(ref handed);
            bodies.AddOrUpdate(e.ApplicationMessage.ConvertPayloadToString(), 1, (_, n) => n + 1);
            var outstanding = connection.Gate.Outstanding;
            if (outstanding > Interlocked.Read(ref mostOutstanding)) Interlocked.Exchange(ref mostOutstanding, outstanding);
            return Task.CompletedTask;
        };
        using var stop = new CancellationTokenSource();
        var running = connection.RunAsync([$"{prefix}/+/readings"], stop.Token);
        for (var i = 0; !connection.IsSubscribed; i++)
        {
            Assert.True(i < 200, "not subscribed within 10 s");
            await Task.Delay(50);
        }

        // The service's side: acknowledges 100 messages every 20 ms, slower than the publisher sends; every tenth
        // round it first publishes a dead letter and waits for the broker's PUBACK, as the pipeline does before it
        // acknowledges a batch with rejections. That PUBACK arrives behind the messages the broker floods in: the
        // connection must read on while it waits, or the dead letter and everything held behind it would stall.
        var deadLetters = new List<(PublishOutcome Outcome, TimeSpan Took)>();
        var acking = Task.Run(async () =>
        {
            for (var round = 0; Interlocked.Read(ref acknowledged) < count && !stop.IsCancellationRequested; round++)
            {
                await Task.Delay(20);
                if (round % 10 == 5)
                {
                    var sw = System.Diagnostics.Stopwatch.StartNew();
                    var outcome = await connection.PublishAsync(new MqttApplicationMessageBuilder().WithTopic($"{prefix}/deadletter/s")
                        .WithPayload($"dl{round}").WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build(), CancellationToken.None);
                    deadLetters.Add((outcome, sw.Elapsed));
                }
                for (var i = 0; i < 100 && held.TryDequeue(out var ack); i++)
                    if (await ack.AcknowledgeAsync(CancellationToken.None)) Interlocked.Increment(ref acknowledged);
            }
        });

        using (var publisher = new MqttClientFactory().CreateMqttClient())
        {
            await publisher.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer(TestInfrastructure.MqttHost, TestInfrastructure.MqttPort)
                .WithProtocolVersion(MqttProtocolVersion.V500).WithClientId(prefix + "-pub").Build());
            using var window = new SemaphoreSlim(200);
            var sends = new List<Task>();
            for (var i = 0; i < count; i++)
            {
                await window.WaitAsync();
                sends.Add(publisher.PublishAsync(new MqttApplicationMessageBuilder().WithTopic($"{prefix}/s/readings").WithPayload($"m{i}")
                    .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build()).ContinueWith(_ => window.Release()));
            }
            await Task.WhenAll(sends);
        }
        await acking.WaitAsync(TimeSpan.FromSeconds(60));
        stop.Cancel();
        await running;

        Assert.Equal(count, Interlocked.Read(ref acknowledged));
        Assert.Equal(count, bodies.Count); // every message, none twice (no reconnect happened)
        Assert.All(bodies.Values, n => Assert.Equal(1, n));
        // The broker did send beyond what the service allows (else this test proves nothing)...
        Assert.True(connection.Gate.Pauses > 0, "the broker never sent beyond twice the Receive Maximum: the gate was not exercised");
        // ...and the service never held more than its limit (plus the message read just before a pause).
        Assert.InRange(Interlocked.Read(ref mostOutstanding), 1, connection.Gate.Limit + 1);
        // Every dead letter was taken by the broker, none waited for MQTTnet's 10 s request timeout.
        Assert.NotEmpty(deadLetters);
        Assert.All(deadLetters, d => Assert.Equal(PublishOutcome.Published, d.Outcome));
        Assert.True(deadLetters.Max(d => d.Took) < TimeSpan.FromSeconds(5), $"slowest dead letter {deadLetters.Max(d => d.Took)}");
    }
}
