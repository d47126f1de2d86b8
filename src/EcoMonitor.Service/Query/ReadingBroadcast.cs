using System.Threading.Channels;
using EcoMonitor.Domain;

namespace EcoMonitor.Service.Query;

/// <summary>Readings as they are stored, for live watchers (the Watch RPC).</summary>
public sealed class ReadingBroadcast : Broadcast<Reading>;

/// <summary>Alert events as they happen, for the WatchAlerts RPC.</summary>
public sealed class AlertBroadcast : Broadcast<Alerting.AlertNotice>;

/// <summary>Items for live watchers. Each watcher has a bounded queue; a watcher that falls more than
/// <see cref="Capacity"/> items behind loses the oldest ones (counted), never slows the publisher.</summary>
public abstract class Broadcast<T>
{
    public const int Capacity = 10_000;
    readonly Lock _lock = new();
    readonly List<Watcher> _watchers = [];

    public sealed class Watcher(Func<T, bool> filter, Broadcast<T> owner) : IDisposable
    {
        internal readonly Channel<T> Queue = Channel.CreateBounded<T>(new BoundedChannelOptions(Capacity)
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
                    if (w.Queue.Reader.Count >= Capacity) Interlocked.Increment(ref w.Dropped);
                    w.Queue.Writer.TryWrite(r);
                }
    }
}
