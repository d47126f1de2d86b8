using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using EcoMonitor.Service.Hosting;
using Microsoft.Extensions.Options;

namespace EcoMonitor.Service.Ingestion.Hj212;

/// <summary>Accepts HJ 212 dataloggers that connect directly over TCP (Hj212:Tcp). Each connection is read as a
/// stream: frames split across reads are put together, several frames in one read are taken apart, bad frames are
/// dead-lettered and the connection goes on. A frame whose Flag asks for it gets its data response (CN=9014) only once
/// its data is stored or dead-lettered. Idle connections are closed after Hj212:Tcp:IdleTimeout.</summary>
public sealed class Hj212TcpListener(
    IOptions<Hj212Settings> options,
    MessageProcessor processor,
    IngestionPipeline pipeline,
    IngestionMetrics metrics,
    TimeProvider time,
    ILogger<Hj212TcpListener> log) : BackgroundService
{
    readonly Hj212Settings _settings = options.Value;
    readonly TaskCompletionSource<IPEndPoint> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);
    int _connections;

    /// <summary>Where the listener listens, once it does (with Hj212:Tcp:Port = 0, the port it was given).</summary>
    public Task<IPEndPoint> Listening => _listening.Task;

    public int OpenConnections => Volatile.Read(ref _connections);

    protected override async Task ExecuteAsync(CancellationToken ct)
    {
        if (!_settings.Tcp.Enabled)
        {
            _listening.TrySetCanceled(CancellationToken.None);
            return;
        }
        var listener = new TcpListener(IPAddress.Parse(_settings.Tcp.BindAddress), _settings.Tcp.Port);
        try
        {
            listener.Start(512);
        }
        catch (SocketException e)
        {
            _listening.TrySetException(e);
            throw new InvalidOperationException($"Hj212:Tcp: cannot listen on {_settings.Tcp.BindAddress}:{_settings.Tcp.Port}: {e.Message}", e);
        }
        var endpoint = (IPEndPoint)listener.LocalEndpoint;
        log.LogInformation("HJ 212 TCP listener on {Endpoint} (idle timeout {Idle}, at most {Max} connections)", endpoint, _settings.Tcp.IdleTimeout, _settings.Tcp.MaxConnections);
        _listening.TrySetResult(endpoint);
        var handlers = new List<Task>();
        try
        {
            while (!ct.IsCancellationRequested)
            {
                var client = await listener.AcceptTcpClientAsync(ct);
                if (Interlocked.Increment(ref _connections) > _settings.Tcp.MaxConnections)
                {
                    Interlocked.Decrement(ref _connections);
                    log.LogWarning("HJ 212: refused {Remote}: {Max} connections open (Hj212:Tcp:MaxConnections)", client.Client.RemoteEndPoint, _settings.Tcp.MaxConnections);
                    client.Dispose();
                    continue;
                }
                handlers.RemoveAll(t => t.IsCompleted);
                handlers.Add(Task.Run(async () =>
                {
                    try
                    {
                        await HandleAsync(client, ct);
                    }
                    finally
                    {
                        Interlocked.Decrement(ref _connections);
                    }
                }, CancellationToken.None));
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        finally
        {
            listener.Stop();
            await Task.WhenAll(handlers);
        }
    }

    async Task HandleAsync(TcpClient client, CancellationToken ct)
    {
        var remote = client.Client.RemoteEndPoint?.ToString() ?? "unknown";
        var source = $"tcp/{remote}";
        using var _ = client;
        client.NoDelay = true;
        var stream = client.GetStream();
        var writeLock = new SemaphoreSlim(1, 1);
        var reader = new Hj212FrameReader(_settings.MaxSegmentLength);
        var frames = new List<FrameResult>();
        var buffer = new byte[8192];
        log.LogDebug("HJ 212: {Remote} connected", remote);
        try
        {
            while (true)
            {
                int n;
                using (var idle = CancellationTokenSource.CreateLinkedTokenSource(ct))
                {
                    idle.CancelAfter(_settings.Tcp.IdleTimeout);
                    try
                    {
                        n = await stream.ReadAsync(buffer, idle.Token);
                    }
                    catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                    {
                        log.LogInformation("HJ 212: closing {Remote}, idle for {Idle} (Hj212:Tcp:IdleTimeout)", remote, _settings.Tcp.IdleTimeout);
                        break;
                    }
                }
                if (n == 0) break;
                reader.Append(buffer.AsSpan(0, n));
                reader.Read(frames);
                foreach (var frame in frames) await EnqueueAsync(frame, source, stream, writeLock, ct);
                frames.Clear();
            }
            reader.Finish(frames);
            foreach (var frame in frames) await EnqueueAsync(frame, source, stream, writeLock, ct);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            log.LogInformation("HJ 212: connection {Remote} ended: {Reason}", remote, e.Message);
        }
        catch (Exception e) when (e is OperationCanceledException or ChannelClosedException)
        {
            // Stopping: frames not stored are not answered, and the datalogger sends them again.
        }
        log.LogDebug("HJ 212: {Remote} disconnected", remote);
    }

    async Task EnqueueAsync(FrameResult frame, string source, NetworkStream stream, SemaphoreSlim writeLock, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        metrics.MessageReceived(redelivered: false);
        ProcessedMessage result;
        Hj212Packet? packet;
        try
        {
            result = processor.ProcessFrame(frame, source, now, out packet);
        }
        catch (Exception e)
        {
            log.LogError(e, "Processing a frame from {Source} failed", source);
            result = new ProcessedMessage(source, null) { Fatal = new(RejectReason.ProcessingFailed, e.Message) };
            packet = null;
        }
        metrics.ReadingsAccepted(result.Accepted.Count + result.Statistics.Count);
        var response = packet is { WantsAcknowledgement: true } ? packet.DataResponse() : null;
        await pipeline.EnqueueAsync(new InboundMessage(new TcpAcknowledgement(stream, writeLock, response), frame.Raw, result, now), ct);
    }

    /// <summary>Sends the data response on the frame's own connection, if the frame asked for one.</summary>
    sealed class TcpAcknowledgement(NetworkStream stream, SemaphoreSlim writeLock, byte[]? response) : IAcknowledgement
    {
        public bool IsStale => false;

        public async Task<bool> AcknowledgeAsync(CancellationToken ct)
        {
            if (response is null) return true;
            await writeLock.WaitAsync(ct);
            try
            {
                await stream.WriteAsync(response, ct);
                return true;
            }
            catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
            {
                return false; // the datalogger is gone; it sends the data again and the rewrite is harmless
            }
            finally
            {
                writeLock.Release();
            }
        }
    }
}
