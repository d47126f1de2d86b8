using System.Buffers;
using System.Net;
using System.Runtime.ExceptionServices;
using System.Security.Cryptography.X509Certificates;
using MQTTnet.Channel;

namespace EcoMonitor.Service.Ingestion;

/// <summary>The ingestion connection's socket writes, coalesced. MQTTnet writes every packet with a send() of its own;
/// the service acknowledges a stored batch of up to 2,000 messages in one go, so a CPU profile of a dense run had 12-13 %
/// of the service's CPU in one send() per PUBACK. Here a write appends the packet's bytes to a buffer and returns; one
/// flush at a time sends whatever has gathered, in order, with a single write. A PUBACK so completes before its bytes
/// reach the socket, which changes nothing that matters: one in a socket buffer could be lost with the connection just
/// the same, and the broker then delivers the message again (the rewrite is harmless). A failed flush fails every later
/// write (the connection is then dropped and made again); more than 64 KiB waiting makes the writer wait for the flush;
/// a disconnect sends what is waiting first.</summary>
public sealed class CoalescingChannel(IMqttChannel inner) : IMqttChannel
{
    const int MaxPending = 64 * 1024;
    readonly Lock _lock = new();
    ArrayBufferWriter<byte> _pending = new(4096), _spare = new(4096);
    Task _flushing = Task.CompletedTask;
    bool _flushRunning;
    Exception? _failure;
    long _flushes;

    /// <summary>Writes made to the socket (each one or more packets).</summary>
    public long Flushes => Interlocked.Read(ref _flushes);

    public X509Certificate2 ClientCertificate => inner.ClientCertificate;
    public EndPoint RemoteEndPoint => inner.RemoteEndPoint;
    public EndPoint LocalEndPoint => inner.LocalEndPoint;
    public bool IsSecureConnection => inner.IsSecureConnection;

    public Task ConnectAsync(CancellationToken cancellationToken) => inner.ConnectAsync(cancellationToken);

    public Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        inner.ReadAsync(buffer, offset, count, cancellationToken);

    public async Task WriteAsync(ReadOnlySequence<byte> buffer, bool isEndOfPacket, CancellationToken cancellationToken)
    {
        Task? full = null;
        lock (_lock)
        {
            if (_failure is { } failure) ExceptionDispatchInfo.Throw(failure);
            foreach (var segment in buffer) _pending.Write(segment.Span);
            if (!_flushRunning)
            {
                _flushRunning = true;
                _flushing = FlushAsync();
            }
            if (_pending.WrittenCount >= MaxPending) full = _flushing;
        }
        if (full is not null) await full.WaitAsync(cancellationToken);
    }

    async Task FlushAsync()
    {
        await Task.Yield(); // the writer goes on appending; this flush takes what has gathered by then
        while (true)
        {
            ArrayBufferWriter<byte> batch;
            lock (_lock)
            {
                if (_pending.WrittenCount == 0)
                {
                    _flushRunning = false;
                    return;
                }
                (batch, _pending) = (_pending, _spare);
                _spare = batch;
            }
            try
            {
                await inner.WriteAsync(new ReadOnlySequence<byte>(batch.WrittenMemory), true, CancellationToken.None);
                Interlocked.Increment(ref _flushes);
            }
            catch (Exception e)
            {
                lock (_lock)
                {
                    _failure = e;
                    _flushRunning = false;
                }
                return;
            }
            batch.ResetWrittenCount();
        }
    }

    public async Task DisconnectAsync(CancellationToken cancellationToken)
    {
        Task flushing;
        lock (_lock) flushing = _flushing;
        try
        {
            await flushing.WaitAsync(TimeSpan.FromSeconds(5), cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // A failed or stuck flush: the connection is going away anyway.
        }
        await inner.DisconnectAsync(cancellationToken);
    }

    public void Dispose() => inner.Dispose();
}
