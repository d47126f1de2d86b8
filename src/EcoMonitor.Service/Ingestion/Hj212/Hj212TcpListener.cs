using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading.Channels;
using EcoMonitor.Service.Hosting;
using Microsoft.Extensions.Options;

namespace EcoMonitor.Service.Ingestion.Hj212;

/// <summary>Accepts HJ 212 dataloggers that connect directly over TCP (Hj212:Tcp). Each connection is read as a
/// stream: frames split across reads are put together, several frames in one read are taken apart. A frame whose Flag
/// asks for it gets its data response (CN=9014) only once its data is stored or dead-lettered.
/// <para>Each connection owns its troubles, so that one bad datalogger never stalls the others or the MQTT path:
/// answers go into the connection's own bounded outbox (acknowledging only queues, it never waits for the peer) and a
/// writer of its own sends them with a deadline per write; a write that times out closes the connection. A
/// connection owes at most Hj212:Tcp:OutboxCapacity answers (frames read that asked for one and are not answered
/// yet): at that many its reader stops reading until answers go out, so TCP flow control slows that datalogger down
/// and the outbox never overflows, whatever the size of the pipeline's batches. Consecutive bad frames are
/// dead-lettered as one run; bad input beyond a rate, a frame that does not complete in time, a connection without a
/// complete frame for too long, and connections beyond the global and per-address caps are closed, each logged once
/// and counted by reason.</para></summary>
public sealed class Hj212TcpListener(
    IOptions<Hj212Settings> options,
    MessageProcessor processor,
    IngestionPipeline pipeline,
    IngestionMetrics metrics,
    TimeProvider time,
    ILogger<Hj212TcpListener> log) : BackgroundService
{
    /// <summary>A run of bad frames that no complete frame ends is dead-lettered this long after its first byte (and
    /// the next bad bytes start a new run): a trickle of garbage gives one dead letter per 10 s, not one per byte,
    /// and a single bad frame followed by silence is reported without waiting for the idle timeout.</summary>
    public static readonly TimeSpan BadRunSpan = TimeSpan.FromSeconds(10);

    /// <summary>Refused connections are logged at most once per this interval per limit, with the number held back.</summary>
    public static readonly TimeSpan RefusalLogInterval = TimeSpan.FromSeconds(10);

    /// <summary>How much of a bad run the dead letter's detail shows (printable, the rest escaped as \xNN).</summary>
    public const int PreviewBytes = 64;

    const int ReadBufferBytes = 8192;
    const int WriteBatchBytes = 16 * 1024;

    /// <summary>The socket's send buffer (Linux doubles it): some 430 answers of about 75 bytes. Fixed, so that what
    /// a connection may hold is bounded by the listener and a peer that does not read is noticed after that many
    /// answers, not after the megabytes Linux's autotuning would grant (tcp_wmem, up to 4 MiB per socket). Still some
    /// 1,400 answers a second to a datalogger 300 ms away (a cellular link).</summary>
    public const int SendBufferBytes = 16 * 1024;

    // Close reasons, as counted in ecomonitor_tcp_connections_closed_total (IngestionMetrics.TcpCloseReasons).
    const string Peer = "peer", Idle = "idle", FrameTimeout = "frame_timeout", SlowReader = "slow_reader", BadInput = "bad_input",
        Stalled = "stalled", PerAddressLimit = "per_address_limit", MaxConnectionsReached = "max_connections", Shutdown = "shutdown";

    readonly Hj212Settings _settings = options.Value;
    readonly TaskCompletionSource<IPEndPoint> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);
    readonly Lock _admission = new();
    readonly Dictionary<IPAddress, int> _perAddress = [];
    readonly Throttle _maxConnectionsLog = new(time, RefusalLogInterval);
    readonly Throttle _perAddressLog = new(time, RefusalLogInterval);
    int _connections;

    Hj212TcpSettings Tcp => _settings.Tcp;

    /// <summary>Where the listener listens, once it does (with Hj212:Tcp:Port = 0, the port it was given).</summary>
    public Task<IPEndPoint> Listening => _listening.Task;

    public int OpenConnections => Volatile.Read(ref _connections);

    protected override async Task ExecuteAsync(CancellationToken ct)
    {
        if (!Tcp.Enabled)
        {
            _listening.TrySetCanceled(CancellationToken.None);
            return;
        }
        var listener = new TcpListener(IPAddress.Parse(Tcp.BindAddress), Tcp.Port);
        try
        {
            listener.Start(512);
        }
        catch (SocketException e)
        {
            _listening.TrySetException(e);
            throw new InvalidOperationException($"Hj212:Tcp: cannot listen on {Tcp.BindAddress}:{Tcp.Port}: {e.Message}", e);
        }
        var endpoint = (IPEndPoint)listener.LocalEndpoint;
        log.LogInformation("HJ 212 TCP listener on {Endpoint} (at most {Max} connections, {PerAddress} per address; idle timeout {Idle}, " +
            "frame timeout {FrameTimeout}, write timeout {WriteTimeout}, {Outbox} answers queued per connection, {BadBytes} bad bytes a minute)",
            endpoint, Tcp.MaxConnections, Tcp.MaxConnectionsPerAddress, Tcp.IdleTimeout, Tcp.FrameTimeout, Tcp.WriteTimeout, Tcp.OutboxCapacity, Tcp.MaxBadBytesPerMinute);
        _listening.TrySetResult(endpoint);
        var handlers = new List<Task>();
        try
        {
            while (!ct.IsCancellationRequested)
            {
                Socket socket;
                try
                {
                    socket = await listener.AcceptSocketAsync(ct);
                }
                catch (SocketException e)
                {
                    // Out of file descriptors, or a connection reset before it was accepted: the listener goes on.
                    log.LogWarning("HJ 212: accepting a connection failed: {Reason}", e.Message);
                    await Task.Delay(TimeSpan.FromMilliseconds(100), time, ct);
                    continue;
                }
                IPAddress? address;
                try
                {
                    address = Admit(socket);
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException)
                {
                    Connection.Abort(socket); // reset while being admitted
                    continue;
                }
                if (address is null) continue;
                handlers.RemoveAll(t => t.IsCompleted);
                handlers.Add(Task.Run(() => ServeAsync(socket, address, ct), CancellationToken.None));
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

    /// <summary>Counts the connection in, or closes it at once when Hj212:Tcp:MaxConnections or
    /// Hj212:Tcp:MaxConnectionsPerAddress is reached (logged at most every <see cref="RefusalLogInterval"/>).</summary>
    IPAddress? Admit(Socket socket)
    {
        var remote = socket.RemoteEndPoint as IPEndPoint;
        var address = remote?.Address is { IsIPv4MappedToIPv6: true } mapped ? mapped.MapToIPv4() : remote?.Address ?? IPAddress.None;
        string? refused = null;
        int open, fromAddress;
        lock (_admission)
        {
            open = _connections;
            fromAddress = _perAddress.GetValueOrDefault(address);
            if (open >= Tcp.MaxConnections) refused = MaxConnectionsReached;
            else if (fromAddress >= Tcp.MaxConnectionsPerAddress) refused = PerAddressLimit;
            else
            {
                _connections++;
                _perAddress[address] = fromAddress + 1;
            }
        }
        if (refused is null)
        {
            metrics.TcpConnectionOpened();
            return address;
        }
        metrics.TcpConnectionRefused(refused);
        if (refused == MaxConnectionsReached)
        {
            if (_maxConnectionsLog.TryPass(out var held))
                log.LogWarning("HJ 212: refused {Remote}: {Open} connections are open, the limit Hj212:Tcp:MaxConnections ({Max}){HeldBack:l}",
                    remote, open, Tcp.MaxConnections, HeldBack(held));
        }
        else if (_perAddressLog.TryPass(out var held))
        {
            log.LogWarning("HJ 212: refused {Remote}: {Count} connections from {Address} are open, the limit Hj212:Tcp:MaxConnectionsPerAddress ({Max}){HeldBack:l}",
                remote, fromAddress, address, Tcp.MaxConnectionsPerAddress, HeldBack(held));
        }
        Connection.Abort(socket);
        return null;
    }

    static string HeldBack(int held) =>
        held == 0 ? "" : $"; {held} more refused since the last report (reported at most every {RefusalLogInterval.TotalSeconds:0} s)";

    async Task ServeAsync(Socket socket, IPAddress address, CancellationToken stopping)
    {
        Connection? connection = null;
        try
        {
            connection = new Connection(socket, Tcp.OutboxCapacity, metrics, log, stopping);
            log.LogDebug("HJ 212: {Remote} connected", connection.Remote);
            await ServeAsync(connection, stopping);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException && connection is null)
        {
            // Reset before it could be set up.
            metrics.TcpConnectionClosed(Peer);
            Connection.Abort(socket);
        }
        catch (Exception e)
        {
            log.LogError(e, "HJ 212: serving {Remote} failed", connection?.Remote);
            if (connection is null)
            {
                metrics.TcpConnectionClosed(Peer);
                Connection.Abort(socket);
            }
            else connection.Close(Peer, LogLevel.Information, $"failed: {e.Message}");
        }
        finally
        {
            connection?.Dispose();
            lock (_admission)
            {
                _connections--;
                var left = _perAddress[address] - 1;
                if (left == 0) _perAddress.Remove(address);
                else _perAddress[address] = left;
            }
        }
    }

    /// <summary>Reads and writes until the connection ends; then stores what is left (unanswered) and lets the
    /// writer finish.</summary>
    async Task ServeAsync(Connection connection, CancellationToken stopping)
    {
        var reader = new Hj212FrameReader(_settings.MaxSegmentLength);
        var input = new Input(time.GetUtcNow());
        var results = new List<FrameResult>();
        var writing = WriteAsync(connection);
        var (reason, level, why, takeRest) = await ReadAsync(connection, reader, input, results, stopping);
        connection.Close(reason, level, why);
        if (input.Receiving is { } receiving)
        {
            try
            {
                await receiving; // aborted by the close
            }
            catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
            {
            }
        }
        try
        {
            // What is left is stored or dead-lettered even though the connection is gone (nothing is answered): the
            // frames read but not yet handed over, whole frames behind a truncated one, the run of bad frames in
            // progress. After bad input the rest is not looked at.
            if (takeRest) reader.Finish(results);
            else results.Clear();
            await TakeAsync(connection, input, results, 0, time.GetUtcNow(), final: true, stopping);
            if (input.Run is not null) await FlushRunAsync(connection, input, stopping);
        }
        catch (Exception e) when (e is OperationCanceledException or ChannelClosedException)
        {
            // Stopping: frames not stored are not answered, and the datalogger sends them again.
        }
        await writing;
    }

    /// <summary>Reads until the connection has to end, and says why: the peer closed it, a deadline passed, bad input
    /// went over the limit, or it was closed from elsewhere (its writer, the service stopping).
    /// <c>TakeRest</c>: what <paramref name="results"/> still holds and the frame reader's rest are to be stored.</summary>
    async Task<(string Reason, LogLevel Level, string Why, bool TakeRest)> ReadAsync(
        Connection c, Hj212FrameReader reader, Input input, List<FrameResult> results, CancellationToken stopping)
    {
        var buffer = new byte[ReadBufferBytes];
        (string, LogLevel, string, bool)? Expired(DateTimeOffset now) =>
            input.FrameStartedAt is { } started && now >= started + Tcp.FrameTimeout
                ? (FrameTimeout, LogLevel.Warning, $"a frame begun {Tcp.FrameTimeout} ago is still incomplete ({reader.Pending} bytes so far; Hj212:Tcp:FrameTimeout)", true)
                : now >= input.LastFrameAt + Tcp.IdleTimeout
                    ? (Idle, LogLevel.Information, $"no complete frame for {Tcp.IdleTimeout} (Hj212:Tcp:IdleTimeout)", true)
                    : null;
        try
        {
            while (true)
            {
                var receiving = input.Receiving ??= c.Stream.ReadAsync(buffer, c.Closing).AsTask();
                if (!receiving.IsCompleted)
                {
                    // Wait for bytes no longer than the nearest deadline; the read itself goes on (it is never
                    // cancelled, so no byte is lost).
                    var now = time.GetUtcNow();
                    var due = input.NextDeadline(Tcp);
                    if (due > now)
                    {
                        try
                        {
                            await receiving.WaitAsync(due - now, time, c.Closing);
                        }
                        catch (TimeoutException)
                        {
                        }
                    }
                    if (!receiving.IsCompleted)
                    {
                        now = time.GetUtcNow();
                        if (input.Run is { } run && now >= run.StartedAt + BadRunSpan)
                        {
                            await FlushRunAsync(c, input, c.Closing);
                            continue;
                        }
                        if (Expired(now) is { } expired) return expired;
                        continue;
                    }
                }
                else if (time.GetUtcNow() is var t && t >= input.NextDeadline(Tcp))
                {
                    // Bytes keep coming (a flood of line ends, say): the deadlines hold all the same.
                    if (input.Run is { } run && t >= run.StartedAt + BadRunSpan) await FlushRunAsync(c, input, c.Closing);
                    if (Expired(t) is { } expired) return expired;
                }
                var n = await receiving;
                input.Receiving = null;
                if (n == 0) return (Peer, LogLevel.Debug, "closed by the datalogger", true);

                var consumed = reader.Consumed;
                var pending = reader.Pending;
                var rest = reader.RestOfBadFrameBytes;
                reader.Append(buffer.AsSpan(0, n));
                reader.Read(results);
                var at = time.GetUtcNow();
                // A frame's clock starts with the read that brought its first byte.
                if (reader.Pending == 0) input.FrameStartedAt = null;
                else if (pending == 0 || reader.Consumed != consumed) input.FrameStartedAt = at;
                var stop = await TakeAsync(c, input, results, reader.RestOfBadFrameBytes - rest, at, final: false, c.Closing);
                if (stop is not null) return stop.Value;
                results.Clear();
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ChannelClosedException && (c.IsClosed || stopping.IsCancellationRequested))
        {
            return (Shutdown, LogLevel.Debug, "the service is stopping", false); // or closed already: no-op
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            input.Receiving = null;
            return (Peer, LogLevel.Information, $"the connection failed: {e.Message}", false);
        }
    }

    /// <summary>Hands frames to the pipeline and collects bad ones into the current run. Says why the connection
    /// must close when the bad bytes go over Hj212:Tcp:MaxBadBytesPerMinute or the answers owed do not go down; then
    /// <paramref name="results"/> keeps only what was not taken. Null to go on. <paramref name="final"/>: the
    /// connection is closed already, what is left is taken without limits (and will not be answered).</summary>
    async Task<(string, LogLevel, string, bool)?> TakeAsync(Connection c, Input input, List<FrameResult> results, long restOfBadFrame, DateTimeOffset now, bool final, CancellationToken ct)
    {
        (string, LogLevel, string, bool) OverLimit() =>
            (BadInput, LogLevel.Warning, $"more than {Tcp.MaxBadBytesPerMinute} bytes of bad frames within a minute (Hj212:Tcp:MaxBadBytesPerMinute)", false);
        if (restOfBadFrame > 0)
        {
            // Bytes of a bad frame reported in an earlier read: they come before anything else of this read.
            input.StartRun(now, MaxPayload).AddRest(restOfBadFrame);
            metrics.TcpBadInput(0, restOfBadFrame);
            if (!input.Charge(restOfBadFrame, now, Tcp.MaxBadBytesPerMinute) && !final) return OverLimit();
        }
        for (var i = 0; i < results.Count; i++)
        {
            var result = results[i];
            if (result.IsFrame)
            {
                if (input.Run is not null) await FlushRunAsync(c, input, ct);
                input.LastFrameAt = now;
                if (await EnqueueFrameAsync(c, result, final, ct)) continue;
                results.RemoveRange(0, i + 1);
                return (Stalled, LogLevel.Warning, $"it owes {Tcp.OutboxCapacity} answers (Hj212:Tcp:OutboxCapacity) and none went out for {Tcp.IdleTimeout} (Hj212:Tcp:IdleTimeout)", true);
            }
            input.StartRun(now, MaxPayload).Add(result.Error!, result.Raw);
            metrics.TcpBadInput(1, result.Raw.Length);
            if (!input.Charge(result.Raw.Length, now, Tcp.MaxBadBytesPerMinute) && !final) return OverLimit();
        }
        return null;
    }

    /// <summary>A dead letter carries at most one frame of the largest size of a run's bytes.</summary>
    int MaxPayload => _settings.MaxSegmentLength + Hj212Frame.Overhead;

    /// <summary>Processes a frame and hands it to the pipeline. A frame that asks for an answer first waits until
    /// the connection owes fewer than Hj212:Tcp:OutboxCapacity answers; when that does not happen within
    /// Hj212:Tcp:IdleTimeout it is handed over unanswered and the answer is false: the connection is to close.</summary>
    async Task<bool> EnqueueFrameAsync(Connection c, FrameResult frame, bool final, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        metrics.MessageReceived(redelivered: false);
        ProcessedMessage result;
        Hj212Packet? packet;
        try
        {
            result = processor.ProcessFrame(frame, c.Source, now, out packet);
        }
        catch (Exception e)
        {
            log.LogError(e, "Processing a frame from {Source} failed", c.Source);
            result = new ProcessedMessage(c.Source, null) { Fatal = new(RejectReason.ProcessingFailed, e.Message) };
            packet = null;
        }
        metrics.ReadingsAccepted(result.Accepted.Count + result.Statistics.Count);
        // Once the connection is closed, what is left is stored but can no longer be answered.
        var response = packet is { WantsAcknowledgement: true } && !final ? packet.DataResponse() : null;
        long sequence = 0;
        if (response is not null)
        {
            if (!c.Owed.Wait(0))
            {
                // Answers are not going out (the peer does not read, or the pipeline is behind): read no further.
                using var patience = new CancellationTokenSource(Tcp.IdleTimeout, time);
                using var either = CancellationTokenSource.CreateLinkedTokenSource(patience.Token, ct);
                try
                {
                    await c.Owed.WaitAsync(either.Token);
                }
                catch (OperationCanceledException) when (patience.IsCancellationRequested && !ct.IsCancellationRequested)
                {
                    await pipeline.EnqueueAsync(new InboundMessage(new TcpAcknowledgement(c, 0, null), frame.Raw, result, now), ct);
                    return false;
                }
            }
            sequence = c.NextSequence();
        }
        await pipeline.EnqueueAsync(new InboundMessage(new TcpAcknowledgement(c, sequence, response), frame.Raw, result, now), ct);
        return true;
    }

    /// <summary>One dead letter (bad_frame) for the run of bad frames in progress: how many, how many bytes, the first
    /// and last reason and the first bytes.</summary>
    async Task FlushRunAsync(Connection c, Input input, CancellationToken ct)
    {
        var run = input.Run!;
        var result = new ProcessedMessage(c.Source, null) { Fatal = new(RejectReason.BadFrame, run.Describe()) };
        await pipeline.EnqueueAsync(new InboundMessage(new TcpAcknowledgement(c, 0, null), run.Payload(), result, run.StartedAt), ct);
        input.Run = null;
        metrics.MessageReceived(redelivered: false);
        metrics.TcpBadRun();
    }

    /// <summary>Drains the outbox onto the socket, several answers per write, each write within
    /// Hj212:Tcp:WriteTimeout; a write that takes longer closes the connection (slow_reader).</summary>
    async Task WriteAsync(Connection c)
    {
        var outbox = c.Outbox.Reader;
        var batch = new ArrayBufferWriter<byte>(1024);
        try
        {
            while (await outbox.WaitToReadAsync(c.Closing))
            {
                batch.ResetWrittenCount();
                var answers = 0;
                while (batch.WrittenCount < WriteBatchBytes && outbox.TryRead(out var answer))
                {
                    batch.Write(answer);
                    answers++;
                }
                var write = c.Stream.WriteAsync(batch.WrittenMemory, c.Closing).AsTask();
                try
                {
                    await write.WaitAsync(Tcp.WriteTimeout, time);
                    c.Owed.Release(answers);
                }
                catch (TimeoutException)
                {
                    c.Close(SlowReader, LogLevel.Warning, $"it does not read its answers: a write did not complete within {Tcp.WriteTimeout} (Hj212:Tcp:WriteTimeout)");
                    try
                    {
                        await write; // aborted by the close
                    }
                    catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
                    {
                    }
                    return;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            c.Close(Peer, LogLevel.Information, $"writing failed: {e.Message}");
        }
    }

    /// <summary>One accepted connection: its socket, its outbox of answers and the token that ends its reader and
    /// writer. <see cref="Close"/> may be called from anywhere (the pipeline, the writer, the reader); the first call
    /// decides the reason, which is logged and counted once.</summary>
    sealed class Connection : IDisposable
    {
        readonly Socket _socket;
        readonly CancellationTokenSource _closing;
        readonly int _capacity;
        readonly IngestionMetrics _metrics;
        readonly ILogger _log;
        int _closed;
        long _issued, _settled;

        public Connection(Socket socket, int capacity, IngestionMetrics metrics, ILogger log, CancellationToken stopping)
        {
            _socket = socket;
            _capacity = capacity;
            _metrics = metrics;
            _log = log;
            socket.NoDelay = true;
            socket.SendBufferSize = SendBufferBytes;
            Owed = new SemaphoreSlim(capacity);
            Remote = socket.RemoteEndPoint?.ToString() ?? "unknown";
            Source = $"tcp/{Remote}";
            Stream = new NetworkStream(socket, ownsSocket: true);
            _closing = CancellationTokenSource.CreateLinkedTokenSource(stopping);
            Outbox = Channel.CreateBounded<byte[]>(new BoundedChannelOptions(capacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
        }

        public string Remote { get; }
        public string Source { get; }
        public NetworkStream Stream { get; }
        public Channel<byte[]> Outbox { get; }
        public CancellationToken Closing => _closing.Token;
        public bool IsClosed => Volatile.Read(ref _closed) != 0;

        /// <summary>Free places for answers owed: taken by the reader for each frame that asks for an answer, given
        /// back when the answer is written or when the pipeline passes over the frame without answering it (never
        /// disposed: the pipeline may still settle answers after the connection is gone).</summary>
        public SemaphoreSlim Owed { get; }

        /// <summary>Numbers the frames that ask for an answer, in the order they go to the pipeline (reader only).</summary>
        public long NextSequence() => ++_issued;

        /// <summary>Queues the answer to frame <paramref name="sequence"/> and returns at once. The pipeline
        /// acknowledges in arrival order, so frames numbered between the previous answer and this one were passed over
        /// (their dead letter could not be published): their places are given back. The outbox cannot fill while the
        /// reader keeps to <see cref="Owed"/>; if it does, the datalogger is not reading (slow_reader).</summary>
        public bool Send(long sequence, byte[] answer)
        {
            var passedOver = sequence - _settled - 1;
            _settled = sequence;
            if (passedOver > 0) Owed.Release((int)passedOver);
            if (Outbox.Writer.TryWrite(answer)) return true;
            if (!IsClosed) Close(SlowReader, LogLevel.Warning, $"it does not read its answers: {_capacity} are waiting to be written (Hj212:Tcp:OutboxCapacity)");
            return false;
        }

        public void Close(string reason, LogLevel level, string why)
        {
            if (Interlocked.Exchange(ref _closed, 1) != 0) return;
            _metrics.TcpConnectionClosed(reason);
            _log.Log(level, "HJ 212: closing {Remote} ({Reason}): {Why}", Remote, reason, why);
            Outbox.Writer.TryComplete();
            // A peer that does not read gets a reset: nothing queued for it is worth sending any more.
            if (reason is SlowReader or BadInput) SetAbortive(_socket);
            // The caller may be the pipeline: the reader and writer wake up on other threads, never on its.
            ThreadPool.UnsafeQueueUserWorkItem(static c => c.Teardown(), this, preferLocal: false);
        }

        void Teardown()
        {
            try
            {
                _closing.Cancel();
            }
            catch (ObjectDisposedException)
            {
            }
            Stream.Dispose();
        }

        public void Dispose()
        {
            Stream.Dispose();
            _closing.Dispose();
        }

        static void SetAbortive(Socket socket)
        {
            try
            {
                socket.LingerState = new LingerOption(true, 0);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
            }
        }

        /// <summary>Closes a connection that is not admitted, with a reset.</summary>
        public static void Abort(Socket socket)
        {
            SetAbortive(socket);
            socket.Dispose();
        }
    }

    /// <summary>Sends the data response on the frame's own connection, if the frame asked for one, by queueing it:
    /// the pipeline never waits for a datalogger.</summary>
    sealed class TcpAcknowledgement(Connection connection, long sequence, byte[]? response) : IAcknowledgement
    {
        static readonly Task<bool> Done = Task.FromResult(true);
        static readonly Task<bool> Dropped = Task.FromResult(false);

        public bool IsStale => false;

        public Task<bool> AcknowledgeAsync(CancellationToken ct) =>
            response is null ? Done : connection.Send(sequence, response) ? Done : Dropped;
    }

    /// <summary>The reader's state of one connection: deadlines, the run of bad frames, the bad-input window.</summary>
    sealed class Input(DateTimeOffset connectedAt)
    {
        static readonly TimeSpan Minute = TimeSpan.FromMinutes(1);
        DateTimeOffset _windowStart = DateTimeOffset.MinValue;
        long _windowBytes;

        /// <summary>The read in progress (it outlives a wait that timed out).</summary>
        public Task<int>? Receiving { get; set; }
        public DateTimeOffset LastFrameAt { get; set; } = connectedAt;
        /// <summary>When the read that brought the first byte of the incomplete frame in the reader happened.</summary>
        public DateTimeOffset? FrameStartedAt { get; set; }
        public BadRun? Run { get; set; }

        public BadRun StartRun(DateTimeOffset now, int maxPayload) => Run ??= new BadRun(now, maxPayload);

        public DateTimeOffset NextDeadline(Hj212TcpSettings tcp)
        {
            var due = LastFrameAt + tcp.IdleTimeout;
            if (FrameStartedAt is { } f && f + tcp.FrameTimeout < due) due = f + tcp.FrameTimeout;
            if (Run is { } r && r.StartedAt + BadRunSpan < due) due = r.StartedAt + BadRunSpan;
            return due;
        }

        /// <summary>Counts bad bytes in the minute that began with the first bad byte after the previous minute; false
        /// once they exceed <paramref name="max"/>.</summary>
        public bool Charge(long bytes, DateTimeOffset now, long max)
        {
            if (now >= _windowStart + Minute)
            {
                _windowStart = now;
                _windowBytes = 0;
            }
            _windowBytes += bytes;
            return _windowBytes <= max;
        }
    }

    /// <summary>Consecutive bad frames of one connection, dead-lettered together.</summary>
    sealed class BadRun(DateTimeOffset startedAt, int maxPayload)
    {
        readonly byte[] _head = new byte[maxPayload];
        int _headLength;
        string? _first, _last;

        public DateTimeOffset StartedAt => startedAt;
        public int Frames { get; private set; }
        public long Bytes { get; private set; }

        public void Add(string error, ReadOnlySpan<byte> raw)
        {
            Frames++;
            Bytes += raw.Length;
            _first ??= error;
            _last = error;
            var keep = Math.Min(raw.Length, _head.Length - _headLength);
            raw[..keep].CopyTo(_head.AsSpan(_headLength));
            _headLength += keep;
        }

        public void AddRest(long bytes)
        {
            if (Frames == 0) Add("the rest of a bad frame reported before", []);
            Bytes += bytes;
        }

        public byte[] Payload() => _head.AsSpan(0, _headLength).ToArray();

        /// <summary>E.g. <c>2049 bad frames in a row (2049 bytes); first: length field '####' is not 4 decimal
        /// digits; begins "####..."</c>.</summary>
        public string Describe()
        {
            var sb = new StringBuilder();
            sb.Append(Frames).Append(Frames == 1 ? " bad frame" : " bad frames in a row").Append(" (").Append(Bytes).Append(" bytes); ");
            sb.Append(Frames == 1 ? "" : "first: ").Append(_first);
            if (Frames > 1 && _last != _first) sb.Append("; last: ").Append(_last);
            sb.Append("; begins \"");
            foreach (var b in _head.AsSpan(0, Math.Min(_headLength, PreviewBytes)))
            {
                if (b == '\\') sb.Append(@"\\");
                else if (b == '"') sb.Append("\\\"");
                else if (b is >= 0x20 and < 0x7F) sb.Append((char)b);
                else sb.Append("\\x").Append(b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture));
            }
            if (_headLength > PreviewBytes || Bytes > _headLength) sb.Append("...");
            return sb.Append('"').ToString();
        }
    }

    /// <summary>Lets a log line through at most once per interval and counts the ones held back.</summary>
    sealed class Throttle(TimeProvider time, TimeSpan interval)
    {
        readonly Lock _lock = new();
        DateTimeOffset _next = DateTimeOffset.MinValue;
        int _held;

        public bool TryPass(out int held)
        {
            lock (_lock)
            {
                var now = time.GetUtcNow();
                if (now < _next)
                {
                    _held++;
                    held = 0;
                    return false;
                }
                held = _held;
                _held = 0;
                _next = now + interval;
                return true;
            }
        }
    }
}
