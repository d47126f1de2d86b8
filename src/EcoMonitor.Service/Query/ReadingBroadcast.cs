using System.Threading.Channels;
using EcoMonitor.Domain;
using Grpc.Core;
using Microsoft.Extensions.Options;

namespace EcoMonitor.Service.Query;

/// <summary>Readings as they are stored, for live watchers (the Watch RPC).</summary>
public sealed class ReadingBroadcast(IOptions<ApiSettings> options) : Broadcast<Reading>(options.Value.WatchBufferSize);

/// <summary>Alert events as they happen, for the WatchAlerts RPC.</summary>
public sealed class AlertBroadcast(IOptions<ApiSettings> options) : Broadcast<Alerting.AlertNotice>(options.Value.WatchBufferSize);

/// <summary>Items for live watchers. Each watcher has a bounded queue (Api:WatchBufferSize items); a watcher that
/// falls further behind loses the oldest ones (counted, per watcher and in /metrics), never slows the publisher. How
/// many watchers there may be is bounded by <see cref="WatchLimiter"/>.</summary>
public abstract class Broadcast<T>(int capacity)
{
    readonly Lock _lock = new();
    readonly List<Watcher> _watchers = [];
    long _dropped;

    /// <summary>Items a watcher may fall behind before it loses the oldest.</summary>
    public int Capacity { get; } = capacity;

    /// <summary>Items dropped for slow watchers since start, all watchers together.</summary>
    public long DroppedTotal => Interlocked.Read(ref _dropped);

    public sealed class Watcher(Func<T, bool> filter, Broadcast<T> owner) : IDisposable
    {
        internal readonly Channel<T> Queue = Channel.CreateBounded<T>(new BoundedChannelOptions(owner.Capacity)
        {
            FullMode = BoundedChannelFullMode.DropOldest,
            SingleReader = true,
        });

        internal Func<T, bool> Filter { get; } = filter;
        internal long Dropped;

        public ChannelReader<T> Reader => Queue.Reader;

        /// <summary>Items dropped because this watcher fell behind.</summary>
        public long DroppedCount => Interlocked.Read(ref Dropped);

        public void Dispose() => owner.Remove(this);
    }

    public Watcher Subscribe(Func<T, bool> filter)
    {
        var w = new Watcher(filter, this);
        lock (_lock) _watchers.Add(w);
        return w;
    }

    void Remove(Watcher w)
    {
        lock (_lock) _watchers.Remove(w);
        w.Queue.Writer.TryComplete();
    }

    public int Watchers
    {
        get
        {
            lock (_lock) return _watchers.Count;
        }
    }

    public void Publish(IEnumerable<T> readings)
    {
        Watcher[] watchers;
        lock (_lock)
        {
            if (_watchers.Count == 0) return;
            watchers = [.. _watchers];
        }
        foreach (var r in readings)
            foreach (var w in watchers)
                if (w.Filter(r))
                {
                    if (w.Queue.Reader.Count >= Capacity)
                    {
                        Interlocked.Increment(ref w.Dropped);
                        Interlocked.Increment(ref _dropped);
                    }
                    w.Queue.Writer.TryWrite(r);
                }
    }
}

/// <summary>Bounds the live streams (Watch, WatchAlerts: every server-streaming call of the API): at most
/// Api:MaxWatchStreams at once in total and Api:MaxWatchStreamsPerKey per API key. One more is refused with
/// RESOURCE_EXHAUSTED naming the limit; a stream frees its place when it ends (the client cancels or disconnects).
/// With each watcher's buffer bounded too, the memory of live streams is bounded: streams × Api:WatchBufferSize
/// items. <see cref="ApiKeyInterceptor"/> takes the place before the call runs and gives it back after.</summary>
public sealed class WatchLimiter(IOptions<ApiSettings> options)
{
    readonly ApiSettings _settings = options.Value;
    readonly Lock _lock = new();
    readonly Dictionary<string, int> _perKey = new(StringComparer.Ordinal);
    int _total;
    long _refused;

    public int Open
    {
        get
        {
            lock (_lock) return _total;
        }
    }

    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>A place for one stream of <paramref name="caller"/> (the API key's name); dispose to give it back.</summary>
    public IDisposable Acquire(string caller)
    {
        lock (_lock)
        {
            var mine = _perKey.GetValueOrDefault(caller);
            string? refusal = null;
            if (_total >= _settings.MaxWatchStreams)
                refusal = $"{_total} live streams are open, at most {_settings.MaxWatchStreams} (Api:MaxWatchStreams); close one or try later";
            else if (mine >= _settings.MaxWatchStreamsPerKey)
                refusal = $"{caller} has {mine} live streams open, at most {_settings.MaxWatchStreamsPerKey} per API key (Api:MaxWatchStreamsPerKey); close one first";
            if (refusal is not null)
            {
                Interlocked.Increment(ref _refused);
                throw new RpcException(new Status(StatusCode.ResourceExhausted, refusal));
            }
            _perKey[caller] = mine + 1;
            _total++;
        }
        return new Place(this, caller);
    }

    void Release(string caller)
    {
        lock (_lock)
        {
            _total--;
            if (--_perKey[caller] == 0) _perKey.Remove(caller);
        }
    }

    sealed class Place(WatchLimiter owner, string caller) : IDisposable
    {
        int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0) owner.Release(caller);
        }
    }
}
