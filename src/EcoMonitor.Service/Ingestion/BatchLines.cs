using EcoMonitor.Domain;
using EcoMonitor.Service.Storage;

namespace EcoMonitor.Service.Ingestion;

/// <summary>One /write request's lines for processed messages: their accepted readings and statistics as line
/// protocol, which message and item each line came from, and, once InfluxDB answered, what it refused recorded as
/// rejections of those items. Lines added after the messages' (the rollup's dirty marks) belong to no message. Used by
/// the live pipeline (a batch of messages) and the import (a batch of lines of a file).</summary>
public sealed class BatchLines
{
    readonly List<(ProcessedMessage Message, int Index, string Parameter)> _owners = [];
    readonly List<(int Line, Reading Reading)> _readings = [];
    readonly List<(int Line, Statistic Statistic)> _statistics = [];

    /// <summary>The request's lines: the messages' first, then whatever the caller appends (dirty marks).</summary>
    public List<string> Lines { get; } = [];

    public IEnumerable<Reading> Readings => _readings.Select(r => r.Reading);

    public IEnumerable<Statistic> Statistics => _statistics.Select(s => s.Statistic);

    public void Add(ProcessedMessage message)
    {
        foreach (var a in message.Accepted)
        {
            _readings.Add((Lines.Count, a.Reading));
            Lines.Add(ReadingSchema.ToLineProtocol(a.Reading));
            _owners.Add((message, a.Index, a.Reading.Parameter));
        }
        foreach (var a in message.Statistics)
        {
            _statistics.Add((Lines.Count, a.Statistic));
            Lines.Add(StatisticSchema.ToLineProtocol(a.Statistic));
            _owners.Add((message, a.Index, a.Statistic.Parameter));
        }
    }

    /// <summary>Records what InfluxDB refused (<see cref="InfluxWriter.WriteAsync"/>) as rejections of their messages'
    /// items; a refused line that belongs to no message is passed to <paramref name="markRefused"/>. Returns the
    /// readings and statistics stored and how many statistics were refused.</summary>
    public (List<Reading> Readings, List<Statistic> Statistics, int RefusedStatistics) Apply(
        IReadOnlyList<(int Index, string Error)> refused, Action<string> markRefused)
    {
        var refusedLines = new HashSet<int>();
        foreach (var (index, error) in refused)
        {
            if (index >= _owners.Count)
            {
                markRefused(error);
                continue;
            }
            refusedLines.Add(index);
            var (message, item, parameter) = _owners[index];
            message.Rejections.Add(new Rejection(RejectReason.RejectedByDatabase, error, item, parameter));
        }
        return ([.. _readings.Where(r => !refusedLines.Contains(r.Line)).Select(r => r.Reading)],
            [.. _statistics.Where(s => !refusedLines.Contains(s.Line)).Select(s => s.Statistic)],
            _statistics.Count(s => refusedLines.Contains(s.Line)));
    }
}
