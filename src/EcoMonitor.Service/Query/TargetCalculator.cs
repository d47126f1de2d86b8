using EcoMonitor.Domain;
using EcoMonitor.Domain.Standards;
using Microsoft.Extensions.Options;
using DomainStation = EcoMonitor.Domain.Station;

namespace EcoMonitor.Service.Query;

/// <summary>A year-to-date mean: the mean of the valid daily means from 1 January, or null with the reason.
/// <see cref="FullYear"/>: the span is the whole year, judged by the annual rule.</summary>
public sealed record YearToDate(double? Mean, int Days, string Note, bool FullYear = false);

/// <summary>Where one scope (a station, a region, the zone) stands against the PM2.5 reduction target.</summary>
public sealed record TargetStatus(
    string Scope,
    DateOnly AsOf,
    YearToDate Current,
    YearToDate Previous,
    TargetProgress? Progress,
    AnnualMean PreviousYear,
    double? ProjectedAnnualMean,
    double? RequiredRemainingMean,
    IReadOnlyDictionary<DateOnly, double> Daily);

/// <summary>The PM2.5 target's figures, shared by the query API (GetTargetProgress) and the target alert rule:
/// valid daily means by GB 3095, year to date against the same span last year, the projection and what the rest of
/// the year must stay under.</summary>
public sealed class TargetCalculator(ReadingQueries queries, StandardsCatalog standards, IOptions<ApiSettings> api)
{
    readonly Aggregator _aggregator = new(standards.Air);

    public TargetVerdictPolicy Policy => api.Value.TargetVerdictPolicy;

    /// <summary>Each station's status and, when <paramref name="combinedScope"/> is given ("zone", "region:x"), the
    /// combined scope's: its daily mean is the mean of its stations' valid daily means of that day. Reads the daily
    /// rollup from 1 January <paramref name="yearsBack"/> + 1 years before <paramref name="asOf"/>.</summary>
    public async Task<List<TargetStatus>> ComputeAsync(IReadOnlyList<DomainStation> stations, string? combinedScope, DateOnly asOf, double targetPercent,
        int yearsBack, CancellationToken ct)
    {
        var from = new DateOnly(asOf.Year - Math.Max(1, yearsBack) - 1, 1, 1);
        var figures = await queries.DailyAsync([.. stations.Select(s => s.Id)], Parameters.Pm25, from, asOf, ct);
        var daily = stations.ToDictionary(s => s.Id, s => _aggregator.ValidDays(figures[s.Id]));
        var scopes = stations.Select(s => (Scope: s.Id, Daily: daily[s.Id])).ToList();
        if (combinedScope is not null)
            scopes.Add((combinedScope, daily.Values.SelectMany(d => d).GroupBy(kv => kv.Key).ToDictionary(g => g.Key, g => g.Average(kv => kv.Value))));
        return [.. scopes.Select(s => Status(s.Scope, s.Daily, asOf, targetPercent))];
    }

    TargetStatus Status(string scope, Dictionary<DateOnly, double> days, DateOnly asOf, double targetPercent)
    {
        var current = YearToDateOf(days, asOf);
        var previous = YearToDateOf(days, SameDayLastYear(asOf));
        var lastYear = _aggregator.Standard.AnnualMean(days.Where(kv => kv.Key.Year == asOf.Year - 1).ToDictionary());
        TargetProgress? progress = null;
        double? projected = null, required = null;
        if (current.Mean is { } cm && previous.Mean is { } pm && pm > 0)
        {
            progress = new TargetProgress(cm, pm, targetPercent, api.Value.TargetVerdictPolicy);
            if (lastYear.Value is { } annual)
            {
                projected = progress.ProjectedAnnualMean(annual);
                required = TargetProgress.RequiredRemainingMean(cm, asOf.DayOfYear, DateTime.IsLeapYear(asOf.Year) ? 366 : 365, annual, targetPercent);
            }
        }
        return new TargetStatus(scope, asOf, current, previous, progress, lastYear, projected, required, days);
    }

    public static DateOnly SameDayLastYear(DateOnly d) => d.Month == 2 && d.Day == 29 ? new DateOnly(d.Year - 1, 2, 28) : d.AddYears(-1);

    /// <summary>Mean of the valid daily means from 1 January to <paramref name="until"/>, subject to
    /// <see cref="SpanValidity"/>: when the span is the whole year (until = 31 December) the annual rule decides
    /// (MinDaysPerYear valid days and every month's minimum), otherwise every complete month of the span needs its
    /// minimum. An invalid span has no mean, only its days and the reason.</summary>
    YearToDate YearToDateOf(Dictionary<DateOnly, double> daily, DateOnly until)
    {
        var span = daily.Where(kv => kv.Key.Year == until.Year && kv.Key <= until).ToList();
        var validity = SpanValidity.Of(_aggregator.Standard, span.Select(kv => kv.Key), until);
        var label = validity.FullYear ? $"{until.Year} (full year)" : $"{until.Year}";
        return validity.Valid
            ? new(span.Average(kv => kv.Value), span.Count, "", validity.FullYear)
            : new(null, span.Count, $"{label}: {validity.Note}", validity.FullYear);
    }
}
