using System.Net;
using System.Net.Sockets;

namespace EcoMonitor.Service.Tests.Support;

/// <summary>A real TCP proxy in front of InfluxDB, to stage what the database cannot do on demand: go away
/// (<see cref="ProxyMode.Refuse"/>) or process a write and lose the answer (<see cref="ProxyMode.SwallowResponses"/>).</summary>
public sealed class TcpProxy : IAsyncDisposable
{
    readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    readonly Uri _target;
    readonly CancellationTokenSource _stop = new();
    readonly List<TcpClient> _open = [];
    int _swallowed;

    public TcpProxy(Uri target)
    {
        _target = target;
        _listener.Start();
        _ = AcceptLoopAsync();
    }

    public ProxyMode Mode { get; set; } = ProxyMode.Forward;
    public Uri Url => new($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/");
    /// <summary>Responses the proxy received from InfluxDB and did not pass on.</summary>
    public int Swallowed => Volatile.Read(ref _swallowed);

    /// <summary>Closes every open connection (a keep-alive connection would otherwise outlive a mode change).</summary>
    public void DropConnections()
    {
        lock (_open)
        {
            foreach (var c in _open) c.Dispose();
            _open.Clear();
        }
    }

    async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception)
            {
                return;
            }
            if (Mode == ProxyMode.Refuse)
            {
                client.Client.LingerState = new LingerOption(true, 0);
                client.Dispose();
                continue;
            }
            if (Mode == ProxyMode.Answer503)
            {
                _ = Answer503Async(client);
                continue;
            }
            _ = HandleAsync(client);
        }
    }

    static async Task Answer503Async(TcpClient client)
    {
        using (client)
        {
            try
            {
                var stream = client.GetStream();
                _ = await stream.ReadAsync(new byte[64 * 1024]); // the request (or its start): the answer is the same
                await stream.WriteAsync("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: 26\r\nConnection: close\r\n\r\n{\"error\":\"shutting down\"}"u8.ToArray());
            }
            catch (IOException)
            {
            }
        }
    }

    async Task HandleAsync(TcpClient client)
    {
        using var server = new TcpClient();
        lock (_open) _open.Add(client);
        try
        {
            await server.ConnectAsync(_target.Host, _target.Port);
            var up = Pump(client.GetStream(), server.GetStream(), swallow: false);
            var down = Pump(server.GetStream(), client.GetStream(), swallow: true);
            await Task.WhenAny(up, down);
        }
        catch (Exception)
        {
        }
        finally
        {
            client.Dispose();
        }
    }

    async Task Pump(Stream from, Stream to, bool swallow)
    {
        var buffer = new byte[64 * 1024];
        int n;
        while ((n = await from.ReadAsync(buffer, _stop.Token)) > 0)
        {
            if (swallow && Mode == ProxyMode.SwallowResponses)
            {
                Interlocked.Increment(ref _swallowed);
                continue;
            }
            await to.WriteAsync(buffer.AsMemory(0, n), _stop.Token);
        }
    }

    public ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        DropConnections();
        return ValueTask.CompletedTask;
    }
}

public enum ProxyMode { Forward, Refuse, Answer503, SwallowResponses }
