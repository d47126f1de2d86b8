using EcoMonitor.Api.V1;
using EcoMonitor.Domain.Standards;
using DomainKind = EcoMonitor.Domain.StationKind;

namespace EcoMonitor.Service.Query;

/// <summary>Between domain types and protobuf messages, in one place.</summary>
public static class ApiMapping
{
    public static StationKind ToApi(DomainKind kind) => kind switch
    {
        DomainKind.Air => StationKind.Air,
        DomainKind.Voc => StationKind.Voc,
        _ => StationKind.Water,
    };

    public static Api.V1.Station ToApi(Domain.Station s) => new()
    {
        Id = s.Id,
        Name = s.Name,
        Kind = ToApi(s.Kind),
        Region = s.Region,
        Latitude = s.Latitude,
        Longitude = s.Longitude,
        WaterBody = s.WaterBody?.ToString().ToLowerInvariant() ?? "",
        WaterName = s.WaterName ?? "",
        TargetClass = s.TargetClass?.Roman() ?? "",
        Mn = s.Mn ?? "",
    };

    public static Series ToApi(string station, IReadOnlyList<BucketValue> buckets)
    {
        var series = new Series { StationId = station };
        foreach (var b in buckets)
        {
            var bucket = new Bucket { Start = Domain.ChinaTime.Format(b.Start), Valid = b.Valid, Count = b.Count, Required = b.Required, Note = b.Note };
            if (b.Mean is { } mean) bucket.Mean = mean;
            if (b.Min is { } min) bucket.Min = min;
            if (b.Max is { } max) bucket.Max = max;
            if (b.Percentile is { } p) bucket.Percentile = p;
            series.Buckets.Add(bucket);
        }
        return series;
    }


    public static Reading ToApi(Domain.Reading r) => new()
    {
        StationId = r.StationId,
        Parameter = r.Parameter,
        Time = Domain.ChinaTime.Utc(r.Timestamp),
        Value = r.Value,
        Flag = r.Flag,
        Valid = Domain.DataFlags.IsValid(r.Flag),
    };
}
