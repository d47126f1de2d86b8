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

    public static AqiValue ToApi(DateTimeOffset start, AqiResult r)
    {
        var value = new AqiValue
        {
            Start = Domain.ChinaTime.Format(start),
            Aqi = r.Aqi,
            CategoryZh = r.Category.Chinese,
            CategoryEn = r.Category.English,
            Colour = r.Category.Colour,
            Level = r.Category.Level,
            Partial = r.Partial,
        };
        foreach (var (item, iaqi) in r.Iaqi) value.Iaqi[item] = iaqi;
        value.PrimaryPollutants.AddRange(r.PrimaryPollutants);
        value.OverStandard.AddRange(r.OverStandardPollutants);
        value.Missing.AddRange(r.Missing);
        value.Notes.AddRange(r.Notes);
        value.Items.AddRange(r.Items.OrderBy(i => i.Item, StringComparer.Ordinal).Select(i => new IaqiDetail
        {
            Item = i.Item, Iaqi = i.Iaqi, Concentration = i.Concentration, Basis = i.Basis, Table = i.Table, Note = i.Note,
        }));
        return value;
    }

    public static SpanEvaluation ToApi(YearEvaluation e, YearEvaluation? previous)
    {
        var span = new SpanEvaluation
        {
            From = new DateOnly(e.Year, 1, 1).ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture),
            To = e.Until.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture),
            FullYear = e.FullYear,
            AqiDays = e.AqiDays,
            GoodDays = e.GoodDays,
            PartialAqiDays = e.PartialAqiDays,
        };
        if (e.CompositeIndex is { } ci) span.CompositeIndex = ci;
        if (e.MeetsGradeII is { } meets) span.MeetsGradeIi = meets;
        if (e.GoodDayShare is { } share) span.GoodDayShare = share;
        foreach (var f in e.Pollutants)
        {
            var before = previous?.Pollutants.FirstOrDefault(p => p.Pollutant == f.Pollutant);
            var item = new PollutantEvaluation
            {
                Pollutant = f.Pollutant,
                Unit = Domain.Parameters.Get(f.Pollutant).CanonicalUnit,
                ValidDays = f.ValidDays,
                Valid = f.Valid,
                Note = f.Note,
                Percentile = f.Percentile,
                OverStandardDays = f.OverStandardDays,
            };
            if (f.Mean is { } m) item.AnnualMean = m;
            if (f.MeanLimit is { } ml) item.AnnualLimit = ml;
            if (f.PercentileValue is { } p) item.PercentileValue = p;
            if (f.PercentileLimit is { } pl) item.PercentileLimit = pl;
            if (f.Meets is { } ok) item.MeetsGradeIi = ok;
            if (AnnualEvaluation.ChangePercent(f.Mean, before?.Mean) is { } dm) item.AnnualMeanChangePercent = dm;
            if (AnnualEvaluation.ChangePercent(f.PercentileValue, before?.PercentileValue) is { } dp) item.PercentileChangePercent = dp;
            span.Pollutants.Add(item);
        }
        return span;
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
