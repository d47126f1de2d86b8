using System.Net;
using System.Security.Cryptography.X509Certificates;
using MQTTnet;
using MQTTnet.Adapter;
using MQTTnet.Diagnostics.Logger;
using MQTTnet.Formatter;
using MQTTnet.Implementations;
using MQTTnet.Packets;

namespace EcoMonitor.Service.Ingestion;

/// <summary>The service's own bound on what it reads from the broker, whatever the broker sends.
///
/// The service announces Mqtt:ReceiveMaximum on CONNECT, and a broker must not send more QoS 1 messages than that
/// without their acknowledgement (MQTT 5.0, 3.3.4). mosquitto 2.0.11 does not keep to it once it holds a deep queue for
/// the session and acknowledgements keep coming: measured with Receive Maximum 2,000, a subscriber acknowledging 6,000
/// messages a second while a publisher sent faster had 76,559 messages received and not acknowledged (3,415 when the
/// queue stayed short). MQTTnet reads every packet off the socket into an unbounded queue of its own, so the surplus
/// piled up in the service's memory: an un-paced soak grew to 1.2 GB in two minutes.
///
/// So the connection's packets are read through this gate: before reading the next packet it waits while the messages
/// read and not yet through the pipeline (read by MQTTnet and not yet handed to the service, plus those the pipeline
/// holds until their acknowledgement) reach <see cref="Limit"/>. Unread packets then stay in the socket's buffers and
/// TCP flow control holds the broker, which keeps the rest in the session where it belongs. Packets are read one by
/// one in order, so a pause also holds back control packets behind the messages: while the service awaits an answer
/// of its own on this connection (<see cref="AwaitingBroker"/>: a SUBACK) reading does not pause; MQTTnet's
/// keep-alive ping is not covered, so while the pipeline is full (InfluxDB away) and the broker over-sends, a ping may
/// go unanswered for Mqtt:KeepAlive + 10 s and the connection is made again, which redelivers what was not
/// acknowledged (nothing lost).</summary>
public sealed class ReceiveGate(int limit)
{
    long _read, _handed, _pauses;
    int _connection;

    /// <summary>Messages read and not through at which reading pauses: twice Mqtt:ReceiveMaximum (a broker that keeps
    /// to the protocol never reaches it; mosquitto's ordinary overshoot, 1.7x, does not either).</summary>
    public int Limit { get; } = limit;

    /// <summary>Messages the service holds (the pipeline's queue and batches: received, not yet acknowledged).</summary>
    public Func<int> Held { get; set; } = () => 0;

    /// <summary>Messages read off the socket and not yet handed to the service, plus those it holds.</summary>
    public long Outstanding => Math.Max(0, Interlocked.Read(ref _read) - Interlocked.Read(ref _handed)) + Held();

    /// <summary>How often reading paused (the broker sent beyond what the service allows).</summary>
    public long Pauses => Interlocked.Read(ref _pauses);

    /// <summary>Raised the first time a connection's reading pauses.</summary>
    public event Action<long>? Paused;

    /// <summary>A message was handed to the service's handler.</summary>
    public void Handed() => Interlocked.Increment(ref _handed);

    /// <summary>A new connection: what the previous one read and never handed over is gone with it (redelivered).</summary>
    internal void NewConnection()
    {
        Interlocked.Increment(ref _connection);
        Interlocked.Exchange(ref _read, 0);
        Interlocked.Exchange(ref _handed, 0);
    }

    internal int Connection => Volatile.Read(ref _connection);

    internal void PublishRead() => Interlocked.Increment(ref _read);

    int _awaiting;

    /// <summary>While the service waits for the broker's answer to a request of its own on this connection (the
    /// SUBACK after a reconnect, which may sit behind redelivered messages), reading never pauses. The service's
    /// publishes (dead letters, which a batch waits for before its acknowledgements) go over a connection of their
    /// own (<see cref="MqttConnection.PublishAsync"/>) for the same reason.</summary>
    public IDisposable AwaitingBroker()
    {
        Interlocked.Increment(ref _awaiting);
        return new Awaiting(this);
    }

    sealed class Awaiting(ReceiveGate gate) : IDisposable
    {
        int _done;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0) Interlocked.Decrement(ref gate._awaiting);
        }
    }

    internal bool MustWait => Volatile.Read(ref _awaiting) == 0 && Outstanding >= Limit;

    /// <summary>Waits while the service holds too much, or until <paramref name="connection"/> is replaced.</summary>
    internal async ValueTask WaitAsync(int connection, bool firstPause, CancellationToken ct)
    {
        Interlocked.Increment(ref _pauses);
        if (firstPause) Paused?.Invoke(Outstanding);
        while (MustWait && connection == Connection)
            await Task.Delay(5, ct);
    }

    /// <summary>Adapters for the service's MQTT client: MQTTnet's own, read through the gate.</summary>
    public IMqttClientAdapterFactory AdapterFactory() => new Factory(this);

    sealed class Factory(ReceiveGate gate) : IMqttClientAdapterFactory
    {
        readonly MqttClientAdapterFactory _inner = new();

        public IMqttChannelAdapter CreateClientAdapter(MqttClientOptions options, MqttPacketInspector packetInspector, IMqttNetLogger logger)
        {
            gate.NewConnection();
            // MQTTnet's own adapter over its TCP channel (TLS included), with the writes coalesced (CoalescingChannel).
            IMqttChannelAdapter adapter = options.ChannelOptions is MqttClientTcpOptions
                ? new MqttChannelAdapter(new CoalescingChannel(new MqttTcpChannel(options)),
                    new MqttPacketFormatterAdapter(options.ProtocolVersion, new MqttBufferWriter(options.WriterBufferSize, options.WriterBufferSizeMax)), logger)
                {
                    AllowPacketFragmentation = options.AllowPacketFragmentation,
                    PacketInspector = packetInspector,
                }
                : _inner.CreateClientAdapter(options, packetInspector, logger);
            return new GatedAdapter(adapter, gate, gate.Connection);
        }
    }

    sealed class GatedAdapter(IMqttChannelAdapter inner, ReceiveGate gate, int connection) : IMqttChannelAdapter
    {
        bool _paused;
        bool _publishes; // the connection's first message read: CONNACK and SUBACK are never held back

        public long BytesReceived => inner.BytesReceived;
        public long BytesSent => inner.BytesSent;
        public X509Certificate2 ClientCertificate => inner.ClientCertificate;
        public EndPoint RemoteEndPoint => inner.RemoteEndPoint;
        public EndPoint LocalEndPoint => inner.LocalEndPoint;
        public bool IsSecureConnection => inner.IsSecureConnection;
        public MqttPacketFormatterAdapter PacketFormatterAdapter => inner.PacketFormatterAdapter;
        public Task ConnectAsync(CancellationToken cancellationToken) => inner.ConnectAsync(cancellationToken);
        public Task DisconnectAsync(CancellationToken cancellationToken) => inner.DisconnectAsync(cancellationToken);
        public void ResetStatistics() => inner.ResetStatistics();
        public Task SendPacketAsync(MqttPacket packet, CancellationToken cancellationToken) => inner.SendPacketAsync(packet, cancellationToken);
        public void Dispose() => inner.Dispose();

        public async Task<MqttPacket> ReceivePacketAsync(CancellationToken cancellationToken)
        {
            if (_publishes && gate.MustWait)
            {
                await gate.WaitAsync(connection, firstPause: !_paused, cancellationToken);
                _paused = true;
            }
            var packet = await inner.ReceivePacketAsync(cancellationToken);
            if (packet is MqttPublishPacket && connection == gate.Connection)
            {
                gate.PublishRead();
                _publishes = true;
            }
            return packet;
        }
    }
}
