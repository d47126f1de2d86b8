using System.Threading.Channels;
using EcoMonitor.Domain;

namespace EcoMonitor.Service.Query;

/// <summary>Readings as they are stored, for live watchers (the Watch RPC). Each watcher has a bounded queue; a
/// watcher that falls more than <see cref="Capacity"/> readings behind loses the oldest ones (counted), never slows
/// ingestion.</summary>
public sealed class ReadingBroadcast
{
    public const int Capacity = 10_000;
    readonly Lock _lock = new();
    readonly List<Watcher> _watchers = [];

    public sealed class Watcher(Func<Reading, bool> filter, ReadingBroadcast owner) : IDisposable
    {
        internal readonly Channel<Reading> Queue = Channel.CreateBounded<Reading>(new BoundedChannelOptions(Capacity)
        {
            FullMode = BoundedChannelFullMode.DropOldest,
            SingleReader = true,
        });

        internal Func<Reading, bool> Filter { get; } = filter;
        internal long Dropped;

        public ChannelReader<Reading> Reader => Queue.Reader;

        /// <summary>Readings dropped because this watcher fell behind.</summary>
        public long DroppedCount => Interlocked.Read(ref Dropped);

        public void Dispose() => owner.Remove(this);
    }

    public Watcher Subscribe(Func<Reading, bool> filter)
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

    public void Publish(IEnumerable<Reading> readings)
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
