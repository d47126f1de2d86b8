namespace EcoMonitor.Domain.Standards;

/// <summary>Whether the valid days of a span from 1 January meet GB 3095's rules: a whole year (to 31 December) by the
/// annual rule (MinDaysPerYear and every month's minimum); a year to date by the monthly minimum of every complete
/// month of the span (the month <c>until</c> falls in counts only when <c>until</c> is its last day).</summary>
public sealed record SpanValidity(bool Valid, int ValidDays, bool FullYear, string Note)
{
    public static SpanValidity Of(AirQualityStandard standard, IEnumerable<DateOnly> validDays, DateOnly until)
    {
        var days = validDays.Where(d => d.Year == until.Year && d <= until).ToList();
        var fullYear = until.Month == 12 && until.Day == 31;
        if (fullYear)
        {
            var annual = standard.AnnualMean(days.ToDictionary(d => d, _ => 0.0));
            return new SpanValidity(annual.IsValid, days.Count, true, AnnualNote(annual));
        }
        var lastComplete = until.AddDays(1).Day == 1 ? until.Month : until.Month - 1;
        var shortMonths = Enumerable.Range(1, Math.Max(0, lastComplete)).Where(m => days.Count(d => d.Month == m) < standard.MinDaysIn(m)).ToList();
        if (days.Count == 0) return new SpanValidity(false, 0, false, "no valid day");
        return shortMonths.Count > 0
            ? new SpanValidity(false, days.Count, false, $"months below their minimum: {string.Join(", ", shortMonths)}")
            : new SpanValidity(true, days.Count, false, "");
    }

    /// <summary>Why an annual mean is not valid: too few valid days, months below their minimum, or both.</summary>
    public static string AnnualNote(AnnualMean annual)
    {
        if (annual.IsValid) return "";
        var parts = new List<string>();
        if (annual.ValidDays < annual.RequiredDays) parts.Add($"{annual.ValidDays} valid days, {annual.RequiredDays} required");
        if (annual.MonthsBelowMinimum.Count > 0) parts.Add($"months below their minimum: {string.Join(", ", annual.MonthsBelowMinimum)}");
        return string.Join("; ", parts);
    }
}

/// <summary>What HJ 663-2013 evaluates for one pollutant: its annual mean (SO2, NO2, PM10, PM2.5) against the annual
/// Grade II limit, and a percentile of its daily values (98th SO2/NO2, 95th PM10/PM2.5/CO of the 24-hour means; 90th
/// of O3's daily maximum 8-hour means) against the 24-hour (O3: 8-hour) Grade II limit.</summary>
public sealed record EvaluatedStatistic(string Pollutant, string DailyKey, bool HasAnnualMean, double Percentile);

/// <summary>One pollutant's figures over a span. <see cref="Mean"/> and <see cref="PercentileValue"/> are null when
/// the span's valid days miss the rule (<see cref="Note"/> says why) or the pollutant has no such statistic;
/// <see cref="Meets"/> is null when not valid.</summary>
public sealed record PollutantFigures(
    string Pollutant,
    int ValidDays,
    bool Valid,
    string Note,
    double? Mean,
    double? MeanLimit,
    double Percentile,
    double? PercentileValue,
    double? PercentileLimit,
    bool? Meets,
    int OverStandardDays);

/// <summary>The HJ 663 evaluation of a span from 1 January to <see cref="Until"/> for one station or a region.</summary>
/// <param name="CompositeIndex">Σ C_i / S_i over the six (annual means of SO2, NO2, PM10, PM2.5; CO 95th and O3 90th
/// percentiles, each over its Grade II limit); null unless all six are valid.</param>
/// <param name="MeetsGradeII">True when all six are valid and meet Grade II; false when any valid one fails; null
/// when none fails but some are not valid.</param>
/// <param name="AqiDays">Days with a complete daily AQI (every pollutant valid: the denominator of the share of good
/// days); <see cref="PartialAqiDays"/> had an AQI from some pollutants only and are left out of the share.</param>
/// <param name="GoodDayShare">Days with AQI ≤ 100 / <see cref="AqiDays"/> × 100; null without any such day.</param>
public sealed record YearEvaluation(
    int Year,
    DateOnly Until,
    bool FullYear,
    IReadOnlyList<PollutantFigures> Pollutants,
    double? CompositeIndex,
    bool? MeetsGradeII,
    int AqiDays,
    int GoodDays,
    int PartialAqiDays,
    double? GoodDayShare);

/// <summary>HJ 663-2013 annual (or year-to-date) evaluation from daily values. Input keys: so2, no2, co, pm10, pm25
/// (valid 24-hour means), o3_8h (valid daily maximum 8-hour means) and o3_1h (the day's largest valid 1-hour mean,
/// for the daily AQI), each local day -> value.</summary>
public static class AnnualEvaluation
{
    public static readonly IReadOnlyList<EvaluatedStatistic> Statistics =
    [
        new(Parameters.So2, Parameters.So2, true, 98),
        new(Parameters.No2, Parameters.No2, true, 98),
        new(Parameters.Pm10, Parameters.Pm10, true, 95),
        new(Parameters.Pm25, Parameters.Pm25, true, 95),
        new(Parameters.Co, Parameters.Co, false, 95),
        new(Parameters.O3, AqiReport.O3EightHours, false, 90),
    ];

    /// <summary>Evaluates 1 January .. <paramref name="until"/> of that year.</summary>
    public static YearEvaluation Evaluate(AirQualityStandard standard, AqiEdition aqi, IReadOnlyDictionary<string, IReadOnlyDictionary<DateOnly, double>> daily, DateOnly until)
    {
        var from = new DateOnly(until.Year, 1, 1);
        IReadOnlyDictionary<DateOnly, double> Span(string key) =>
            daily.TryGetValue(key, out var d) ? d.Where(kv => kv.Key >= from && kv.Key <= until).ToDictionary() : new Dictionary<DateOnly, double>();

        // The daily AQI of every day of the span with any valid value.
        var byDay = new Dictionary<DateOnly, AqiResult>();
        var keys = AqiReport.Items;
        var spans = keys.ToDictionary(k => k, Span);
        foreach (var day in spans.Values.SelectMany(s => s.Keys).Distinct())
        {
            var c = keys.Where(k => spans[k].ContainsKey(day)).ToDictionary(k => k, k => spans[k][day]);
            if (AqiReport.Daily(aqi, c) is { } r) byDay[day] = r;
        }

        var figures = new List<PollutantFigures>();
        foreach (var stat in Statistics)
        {
            var values = spans[stat.DailyKey];
            var validity = SpanValidity.Of(standard, values.Keys, until);
            var limits = standard.Limits.GetValueOrDefault(stat.Pollutant);
            double? meanLimit = stat.HasAnnualMean ? limits?.AnnualGradeII : null;
            var percentileLimit = stat.Pollutant == Parameters.O3 ? limits?.EightHourGradeII : limits?.DailyGradeII;
            double? mean = validity.Valid && stat.HasAnnualMean ? values.Values.Average() : null;
            double? percentile = validity.Valid ? Hj663.Percentile(values.Values, stat.Percentile) : null;
            bool? meets = validity.Valid
                ? (mean is not { } m || meanLimit is not { } ml || m <= ml) && (percentile is not { } p || percentileLimit is not { } pl || p <= pl)
                : null;
            var overDays = byDay.Values.Count(r => r.Items.Any(i => PollutantOf(i.Item) == stat.Pollutant && i.Iaqi > 100));
            figures.Add(new PollutantFigures(stat.Pollutant, values.Count, validity.Valid, validity.Note, mean, meanLimit, stat.Percentile, percentile,
                percentileLimit, meets, overDays));
        }

        double? composite = null;
        if (figures.All(f => f.Valid))
        {
            composite = 0;
            foreach (var f in figures)
            {
                var (c, s) = f.Mean is { } m ? (m, f.MeanLimit) : (f.PercentileValue!.Value, f.PercentileLimit);
                if (s is not { } limit || limit <= 0) { composite = null; break; }
                composite += c / limit;
            }
        }
        bool? meetsAll = figures.Any(f => f.Meets == false) ? false : figures.All(f => f.Meets == true) ? true : null;
        var complete = byDay.Values.Where(r => !r.Partial).ToList();
        var good = complete.Count(r => r.Aqi <= 100);
        return new YearEvaluation(until.Year, until, until is { Month: 12, Day: 31 }, figures, composite, meetsAll,
            complete.Count, good, byDay.Count - complete.Count, complete.Count > 0 ? good * 100.0 / complete.Count : null);
    }

    /// <summary>The pollutant an AQI item belongs to (o3_1h and o3_8h are O3).</summary>
    public static string PollutantOf(string item) => item is AqiReport.O3OneHour or AqiReport.O3EightHours ? Parameters.O3 : item;

    /// <summary>(now - before) / before × 100 when both are given and before is positive.</summary>
    public static double? ChangePercent(double? now, double? before) =>
        now is { } n && before is { } b && b > 0 ? (n - b) / b * 100 : null;

    /// <summary>The region's (or zone's) daily values: for each key and day, the mean of the stations' valid values
    /// of that day (the convention of every region figure).</summary>
    public static Dictionary<string, IReadOnlyDictionary<DateOnly, double>> Combine(IReadOnlyList<IReadOnlyDictionary<string, IReadOnlyDictionary<DateOnly, double>>> stations) =>
        stations.SelectMany(s => s.Keys).Distinct().ToDictionary(k => k, k => (IReadOnlyDictionary<DateOnly, double>)stations
            .Where(s => s.ContainsKey(k)).SelectMany(s => s[k]).GroupBy(kv => kv.Key).ToDictionary(g => g.Key, g => g.Average(kv => kv.Value)));
}
