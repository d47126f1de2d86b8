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
