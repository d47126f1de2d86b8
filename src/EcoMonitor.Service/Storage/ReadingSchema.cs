using EcoMonitor.Domain;
using InfluxDB.Client.Api.Domain;
using InfluxDB.Client.Writes;

namespace EcoMonitor.Service.Storage;

/// <summary>How readings are laid out in InfluxDB (README, "Schema in InfluxDB").
/// measurement <c>reading</c>; tags <c>station</c>, <c>parameter</c>; fields <c>value</c> (float, canonical unit),
/// <c>flag</c> (string, HJ 212); time in milliseconds. A point's identity is station + parameter + time, so a
/// reading delivered twice overwrites itself instead of being counted twice. Region and kind are not tags: they come
/// from the stations file, and a changed region must not split one reading into two series.</summary>
public static class ReadingSchema
{
    public const string Measurement = "reading";
    public const string StationTag = "station";
    public const string ParameterTag = "parameter";
    public const string ValueField = "value";
    public const string FlagField = "flag";
    public const WritePrecision Precision = WritePrecision.Ms;

    public static string ToLineProtocol(Reading r) =>
        PointData.Measurement(Measurement)
            .Tag(StationTag, r.StationId)
            .Tag(ParameterTag, r.Parameter)
            .Field(ValueField, r.Value)
            .Field(FlagField, r.Flag)
            .Timestamp(r.Timestamp, Precision)
            .ToLineProtocol();
}

/// <summary>HJ 212 minute, hourly and daily statistics, stored apart from readings (README, "Schema in InfluxDB").
/// measurement <c>stat</c>; tags <c>station</c>, <c>parameter</c>, <c>period</c> (minute | hour | day); fields
/// <c>avg</c>, <c>min</c>, <c>max</c> (float, canonical unit), <c>cou</c> (float, as sent), <c>flag</c>; time = the
/// start of the period. Identity: station + parameter + period + start.</summary>
public static class StatisticSchema
{
    public const string Measurement = "stat";
    public const string PeriodTag = "period";

    public static string PeriodName(StatisticPeriod period) => period switch
    {
        StatisticPeriod.Minute => "minute",
        StatisticPeriod.Hour => "hour",
        _ => "day",
    };

    public static string ToLineProtocol(Statistic s)
    {
        var point = PointData.Measurement(Measurement)
            .Tag(ReadingSchema.StationTag, s.StationId)
            .Tag(ReadingSchema.ParameterTag, s.Parameter)
            .Tag(PeriodTag, PeriodName(s.Period))
            .Field(ReadingSchema.FlagField, s.Flag)
            .Timestamp(s.Start, ReadingSchema.Precision);
        if (s.Avg is { } avg) point = point.Field("avg", avg);
        if (s.Min is { } min) point = point.Field("min", min);
        if (s.Max is { } max) point = point.Field("max", max);
        if (s.Cou is { } cou) point = point.Field("cou", cou);
        return point.ToLineProtocol();
    }
}

/// <summary>Durable dirty marks of the rollup stage (README, "Schema in InfluxDB"): measurement <c>rollup_dirty</c>;
/// tags <c>station</c>, <c>writer</c> (the instance that wrote the batch, new at every start); field <c>keys</c>
/// (string: the batch's touched hours of that station, "parameter@hourStartMs" separated by spaces); time = the
/// batch's sequence (milliseconds, strictly increasing per writer). A batch's marks go in the same /write request as
/// its readings, after them: a batch that is stored has its marks stored. They are deleted once the hours are
/// rolled up (see <see cref="RollupStage"/>).</summary>
public static class RollupMarkSchema
{
    public const string Measurement = "rollup_dirty";
    public const string WriterTag = "writer";
    public const string KeysField = "keys";

    /// <summary>Keys per line: InfluxDB 1.x limits a string field to 64 KB; a longer list (a station's backlog of
    /// many hours in one batch) takes several lines, one millisecond apart.</summary>
    public const int KeysPerLine = 1000;

    /// <summary>How many milliseconds of sequence a batch with these hours takes (its lines' times).</summary>
    public static int Span(IEnumerable<(string StationId, string Parameter, DateTimeOffset Hour)> hours) =>
        Math.Max(1, hours.GroupBy(h => h.StationId).Select(g => (g.Count() + KeysPerLine - 1) / KeysPerLine).DefaultIfEmpty(1).Max());

    /// <summary>The mark lines of one batch: per station, its hours, at <paramref name="sequence"/> (+1 ms per
    /// further line of a station).</summary>
    public static IEnumerable<string> ToLineProtocol(string writer, long sequence, IEnumerable<(string StationId, string Parameter, DateTimeOffset Hour)> hours)
    {
        foreach (var station in hours.GroupBy(h => h.StationId, StringComparer.Ordinal))
        {
            var part = 0;
            foreach (var chunk in station.Chunk(KeysPerLine))
            {
                var keys = string.Join(' ', chunk.Select(h => $"{h.Parameter}@{h.Hour.ToUnixTimeMilliseconds()}"));
                yield return PointData.Measurement(Measurement)
                    .Tag(ReadingSchema.StationTag, station.Key)
                    .Tag(WriterTag, writer)
                    .Field(KeysField, keys)
                    .Timestamp(DateTimeOffset.FromUnixTimeMilliseconds(sequence + part++), ReadingSchema.Precision)
                    .ToLineProtocol();
            }
        }
    }

    /// <summary>The hours of one mark; entries that do not parse are skipped.</summary>
    public static IEnumerable<(string StationId, string Parameter, DateTimeOffset Hour)> Parse(string station, string keys)
    {
        foreach (var entry in keys.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var at = entry.LastIndexOf('@');
            if (at > 0 && long.TryParse(entry.AsSpan(at + 1), System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var ms))
                yield return (station, entry[..at], DateTimeOffset.FromUnixTimeMilliseconds(ms));
        }
    }
}
