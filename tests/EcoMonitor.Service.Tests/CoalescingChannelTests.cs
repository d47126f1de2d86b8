using System.Buffers;
using System.Net;
using System.Net.Sockets;
using EcoMonitor.Service.Ingestion;
using MQTTnet.Implementations;
using Xunit;

namespace EcoMonitor.Service.Tests;

/// <summary>The ingestion connection's coalesced writes over a real loopback TCP connection: every byte arrives, in
/// order, in far fewer socket writes than packets.</summary>
public sealed class CoalescingChannelTests
{
    [Fact]
    public async Task Packets_written_in_a_burst_arrive_in_order_in_few_socket_writes()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, ((IPEndPoint)listener.LocalEndpoint).Port);
        using var server = await listener.AcceptTcpClientAsync();
        var stream = client.GetStream();
        using var channel = new CoalescingChannel(new MqttTcpChannel(stream, client.Client.LocalEndPoint!, client.Client.RemoteEndPoint!, null!));

        // 10,000 PUBACK-like packets (0x40, length 2, packet id), one write each, as MQTTnet writes them; every 500th
        // is a larger packet, so the buffer also fills beyond its 64 KiB now and then.
        var expected = new MemoryStream();
        for (var i = 0; i < 10_000; i++)
        {
            var packet = i % 500 == 0 ? Enumerable.Range(0, 70_000).Select(b => (byte)(b + i)).ToArray() : [0x40, 0x02, (byte)(i >> 8), (byte)i];
            expected.Write(packet);
            await channel.WriteAsync(new ReadOnlySequence<byte>(packet), true, CancellationToken.None);
        }
        var reading = Task.Run(async () =>
        {
            var received = new MemoryStream();
            var buffer = new byte[65536];
            var serverStream = server.GetStream();
            while (received.Length < expected.Length)
            {
                var n = await serverStream.ReadAsync(buffer);
                if (n == 0) break;
                received.Write(buffer, 0, n);
            }
            return received.ToArray();
        });
        await channel.DisconnectAsync(CancellationToken.None); // sends what is waiting first
        var bytes = await reading.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(expected.ToArray(), bytes);
        Assert.InRange(channel.Flushes, 1, 1_000);
    }
}
