using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace EcoMonitor.Service.Tests.Support;

/// <summary>An HJ 212 datalogger on a real loopback socket, for the fault tests: it can connect from another loopback
/// address (127.0.0.2, ...), shrink its receive buffer, send bytes, collect the answers (CN=9014) with the time they
/// arrived, and tell whether the service closed the connection.</summary>
public sealed class TestDatalogger : IAsyncDisposable
{
    readonly Socket _socket;
    readonly List<byte> _received = [];
    readonly NetworkStream _stream;

    TestDatalogger(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
    }

    /// <summary>Answers by QN with the Stopwatch time they arrived (filled by <see cref="StartCollectingAnswers"/>).</summary>
    public ConcurrentQueue<(string Qn, long At, string Frame)> Answers { get; } = new();

    public static async Task<TestDatalogger> ConnectAsync(IPEndPoint endpoint, string? from = null, int? receiveBufferSize = null)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        if (receiveBufferSize is { } size) socket.ReceiveBufferSize = size; // before connecting: it sets the window
        if (from is not null) socket.Bind(new IPEndPoint(IPAddress.Parse(from), 0));
        await socket.ConnectAsync(endpoint);
        return new TestDatalogger(socket);
    }

    public IPEndPoint LocalEndPoint => (IPEndPoint)_socket.LocalEndPoint!;

    public Task SendAsync(string text) => SendAsync(Encoding.ASCII.GetBytes(text));

    public Task SendAsync(byte[] bytes) => _stream.WriteAsync(bytes).AsTask();

    /// <summary>Sends and says whether the connection took the bytes (false once the service closed it).</summary>
    public async Task<bool> TrySendAsync(byte[] bytes)
    {
        try
        {
            await _stream.WriteAsync(bytes);
            return true;
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>Reads until <paramref name="count"/> complete frames have arrived (or the timeout, or the close).</summary>
    public async Task<List<string>> ReadFramesAsync(int count, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var buffer = new byte[4096];
        try
        {
            while (Frames().Count < count)
            {
                var n = await _stream.ReadAsync(buffer, cts.Token);
                if (n == 0) break;
                _received.AddRange(buffer.AsSpan(0, n).ToArray());
            }
        }
        catch (OperationCanceledException)
        {
        }
        return Frames();
    }

    /// <summary>The complete answers received so far: a read may end in the middle of one, which is not an answer
    /// yet (counting it let a test stop reading one chunk early and compare half an answer).</summary>
    List<string> Frames()
    {
        var text = Encoding.ASCII.GetString(_received.ToArray());
        var end = text.LastIndexOf("\r\n", StringComparison.Ordinal);
        return end < 0 ? [] : [.. text[..end].Split("\r\n", StringSplitOptions.RemoveEmptyEntries).Select(f => f + "\r\n")];
    }

    /// <summary>Reads answers in the background until the connection ends, noting when each arrived.</summary>
    public Task StartCollectingAnswers() => Task.Run(async () =>
    {
        var buffer = new byte[4096];
        var text = new StringBuilder();
        try
        {
            while (true)
            {
                var n = await _stream.ReadAsync(buffer);
                if (n == 0) return;
                var at = Stopwatch.GetTimestamp();
                text.Append(Encoding.ASCII.GetString(buffer, 0, n));
                var all = text.ToString();
                var end = all.LastIndexOf("\r\n", StringComparison.Ordinal);
                if (end < 0) continue;
                foreach (var frame in all[..end].Split("\r\n", StringSplitOptions.RemoveEmptyEntries))
                {
                    var qn = frame.IndexOf("QN=", StringComparison.Ordinal) is var q and >= 0 ? frame[(q + 3)..frame.IndexOf(';', q)] : "";
                    Answers.Enqueue((qn, at, frame + "\r\n"));
                }
                text.Clear().Append(all[(end + 2)..]);
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
        }
    });

    /// <summary>True when the service closed the connection (end of stream or reset) within the timeout; data the
    /// service still sends before closing is skipped.</summary>
    public async Task<bool> ClosedByServerAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var buffer = new byte[4096];
        try
        {
            while (await _stream.ReadAsync(buffer, cts.Token) > 0)
            {
            }
            return true;
        }
        catch (IOException)
        {
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    public ValueTask DisposeAsync()
    {
        _stream.Dispose();
        return ValueTask.CompletedTask;
    }
}
