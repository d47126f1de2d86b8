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
        // is a larger packet, so the buffer also fills beyond its 64 KiB now and then. The other end reads from the
        // start (1.4 MB would not fit in the socket buffers of a loaded machine).
        var packets = Enumerable.Range(0, 10_000)
            .Select(i => i % 500 == 0 ? Enumerable.Range(0, 70_000).Select(b => (byte)(b + i)).ToArray() : new byte[] { 0x40, 0x02, (byte)(i >> 8), (byte)i })
            .ToList();
        var expected = packets.SelectMany(p => p).ToArray();
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
        foreach (var packet in packets) await channel.WriteAsync(new ReadOnlySequence<byte>(packet), true, CancellationToken.None);
        await channel.DisconnectAsync(CancellationToken.None); // sends what is waiting first
        var bytes = await reading.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(expected, bytes);
        // 10,000 writes would mean no coalescing at all; measured: 21, idle and with three busy loops beside it.
        Assert.True(channel.Flushes is >= 1 and <= 1_000, $"{channel.Flushes} socket writes for 10,000 packets");
    }
}
