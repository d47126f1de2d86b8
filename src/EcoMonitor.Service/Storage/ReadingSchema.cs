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
