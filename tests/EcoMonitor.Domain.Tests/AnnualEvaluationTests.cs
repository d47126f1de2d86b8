using EcoMonitor.Domain.Standards;

namespace EcoMonitor.Domain.Tests;

/// <summary>HJ 663-2013 annual evaluation (shared/STANDARDS.md) on a synthetic year whose figures are worked out by
/// hand in the comments.</summary>
public sealed class AnnualEvaluationTests
{
    static readonly AirQualityStandard Air = AirQualityStandard.Gb3095_2012;
    static readonly AqiEdition Aqi = AqiEdition.Hj633_2012;

    static IEnumerable<DateOnly> DaysOf(int year) =>
        Enumerable.Range(0, DateTime.IsLeapYear(year) ? 366 : 365).Select(i => new DateOnly(year, 1, 1).AddDays(i));

    static readonly DateOnly[] So2Gaps = [new(2025, 2, 1), new(2025, 3, 1), new(2025, 4, 1), new(2025, 5, 1), new(2025, 6, 1)];
    static bool HighPm25(DateOnly d) => d.Month == 1 && d.Day is >= 10 and <= 29; // 20 days

    /// <summary>2025: SO2 12 (no value on the 1st of February..June), NO2 30, PM10 63, CO 1.0 mg/m³, O3 daily max
    /// 8-hour 120 and 1-hour 150, PM2.5 30 except 80 on 10..29 January. 2024: the same with PM2.5 40 every day.</summary>
    static Dictionary<string, IReadOnlyDictionary<DateOnly, double>> Synthetic()
    {
        var days = DaysOf(2024).Concat(DaysOf(2025)).ToList();
        Dictionary<DateOnly, double> Each(Func<DateOnly, double?> f) =>
            days.Select(d => (d, v: f(d))).Where(x => x.v is not null).ToDictionary(x => x.d, x => x.v!.Value);
        return new()
        {
            ["so2"] = Each(d => So2Gaps.Contains(d) ? null : 12),
            ["no2"] = Each(_ => 30),
            ["pm10"] = Each(_ => 63),
            ["co"] = Each(_ => 1.0),
            ["o3_8h"] = Each(_ => 120),
            ["o3_1h"] = Each(_ => 150),
            ["pm25"] = Each(d => d.Year == 2024 ? 40 : HighPm25(d) ? 80 : 30),
        };
    }

    [Fact]
    public void A_full_year_by_hand()
    {
        var e = AnnualEvaluation.Evaluate(Air, Aqi, Synthetic(), new DateOnly(2025, 12, 31));
        Assert.True(e.FullYear);
        var f = e.Pollutants.ToDictionary(p => p.Pollutant);
        Assert.Equal(["so2", "no2", "pm10", "pm25", "co", "o3"], e.Pollutants.Select(p => p.Pollutant));

        Assert.Equal((360, true, 12.0, 98.0, 12.0, true), (f["so2"].ValidDays, f["so2"].Valid, f["so2"].Mean!.Value, f["so2"].Percentile, f["so2"].PercentileValue!.Value, f["so2"].Meets!.Value));
        Assert.Equal((60.0, 150.0), (f["so2"].MeanLimit!.Value, f["so2"].PercentileLimit!.Value));
        Assert.Equal((40.0, 80.0), (f["no2"].MeanLimit!.Value, f["no2"].PercentileLimit!.Value));
        // PM2.5: mean (345 * 30 + 20 * 80) / 365 = 11950 / 365; 95th: k = 1 + 364 * 0.95 = 346.8, X346 = X347 = 80.
        Assert.Equal(11950.0 / 365, f["pm25"].Mean!.Value, 9);
        Assert.Equal(80.0, f["pm25"].PercentileValue!.Value, 9);
        Assert.False(f["pm25"].Meets);                    // mean 32.7 <= 35 but 95th 80 > 75
        Assert.Equal(20, f["pm25"].OverStandardDays);      // IAQI of 80: 50/40*5 + 100 = 106.25 -> 107
        // CO and O3 have no annual mean: 95th of CO 1.0 against 4 mg/m³, 90th of O3 120 against 160.
        Assert.Null(f["co"].Mean);
        Assert.Equal((1.0, 4.0, true), (f["co"].PercentileValue!.Value, f["co"].PercentileLimit!.Value, f["co"].Meets!.Value));
        Assert.Equal((90.0, 120.0, 160.0), (f["o3"].Percentile, f["o3"].PercentileValue!.Value, f["o3"].PercentileLimit!.Value));
        Assert.All(e.Pollutants.Where(p => p.Pollutant != "pm25"), p => Assert.Equal(0, p.OverStandardDays));
        Assert.False(e.MeetsGradeII);

        // Composite: 12/60 + 30/40 + 63/70 + (11950/365)/35 + 1.0/4 + 120/160 = 0.2 + 0.75 + 0.9 + 0.93542074 + 0.25 + 0.75.
        Assert.Equal(0.2 + 0.75 + 0.9 + 11950.0 / 365 / 35 + 0.25 + 0.75, e.CompositeIndex!.Value, 9);
        Assert.Equal(3.78542074, e.CompositeIndex!.Value, 8);

        // Daily AQI: SO2 12, NO2 38, PM10 57, PM2.5 43, CO 25, O3 47 and 67: 67 (良); on the 20 PM2.5 days 107.
        // The 5 days without SO2 have a partial AQI and stay out of the share: 340 good of 360 complete days.
        Assert.Equal((360, 340, 5), (e.AqiDays, e.GoodDays, e.PartialAqiDays));
        Assert.Equal(340 * 100.0 / 360, e.GoodDayShare!.Value, 9);
    }

    [Fact]
    public void The_previous_year_and_the_change()
    {
        var days = Synthetic();
        var current = AnnualEvaluation.Evaluate(Air, Aqi, days, new DateOnly(2025, 12, 31));
        var previous = AnnualEvaluation.Evaluate(Air, Aqi, days, new DateOnly(2024, 12, 31));
        // 2024 (366 days): PM2.5 40 every day: mean 40 > 35, composite 0.2 + 0.75 + 0.9 + 40/35 + 0.25 + 0.75.
        Assert.Equal(40.0, previous.Pollutants.Single(p => p.Pollutant == "pm25").Mean!.Value, 9);
        Assert.Equal(2.85 + 40.0 / 35, previous.CompositeIndex!.Value, 9);
        Assert.Equal((366, 366, 100.0), (previous.AqiDays, previous.GoodDays, previous.GoodDayShare!.Value));
        // (11950/365 - 40) / 40 * 100 = -18.150685 %
        Assert.Equal((11950.0 / 365 - 40) / 40 * 100, AnnualEvaluation.ChangePercent(current.Pollutants.Single(p => p.Pollutant == "pm25").Mean, 40.0)!.Value, 9);
        Assert.Equal(-18.150685, AnnualEvaluation.ChangePercent(11950.0 / 365, 40)!.Value, 6);
        Assert.Null(AnnualEvaluation.ChangePercent(30, null));
    }

    [Fact]
    public void A_year_to_date_counts_complete_months_only()
    {
        // To 15 March: January 31 days, February 28; March is not complete, so even 1 valid day of it is fine.
        var e = AnnualEvaluation.Evaluate(Air, Aqi, Synthetic(), new DateOnly(2025, 3, 15));
        Assert.False(e.FullYear);
        var so2 = e.Pollutants.Single(p => p.Pollutant == "so2");
        Assert.Equal((true, 31 + 27 + 14), (so2.Valid, so2.ValidDays)); // 1 February and 1 March missing
        Assert.Equal(12.0, so2.Mean!.Value, 9);
        // PM2.5 to date: (54 * 30 + 20 * 80) / 74
        Assert.Equal((54 * 30 + 20 * 80) / 74.0, e.Pollutants.Single(p => p.Pollutant == "pm25").Mean!.Value, 9);
        Assert.NotNull(e.CompositeIndex);
    }

    [Fact]
    public void An_invalid_pollutant_has_no_figures_and_no_composite_index()
    {
        var days = Synthetic();
        // Only 26 CO days in July 2025: the year is not valid for CO.
        days["co"] = days["co"].Where(kv => !(kv.Key.Year == 2025 && kv.Key.Month == 7 && kv.Key.Day > 26)).ToDictionary();
        var e = AnnualEvaluation.Evaluate(Air, Aqi, days, new DateOnly(2025, 12, 31));
        var co = e.Pollutants.Single(p => p.Pollutant == "co");
        Assert.Equal((false, 360, "months below their minimum: 7"), (co.Valid, co.ValidDays, co.Note));
        Assert.Null(co.PercentileValue);
        Assert.Null(co.Meets);
        Assert.Null(e.CompositeIndex);
        Assert.False(e.MeetsGradeII); // PM2.5 fails whatever CO is
        days["pm25"] = days["pm25"].ToDictionary(kv => kv.Key, _ => 30.0);
        Assert.Null(AnnualEvaluation.Evaluate(Air, Aqi, days, new DateOnly(2025, 12, 31)).MeetsGradeII); // unknown, not "meets"
    }

    [Theory]
    [InlineData(324, 27, 25, true, "")]
    [InlineData(323, 27, 25, false, "323 valid days, 324 required")]
    [InlineData(330, 26, 25, false, "months below their minimum: 7")]
    [InlineData(330, 27, 24, false, "months below their minimum: 2")]
    public void The_annual_rule_324_days_27_a_month_25_in_february(int total, int july, int february, bool valid, string note)
    {
        // Build a 2025 with the given February and July counts and the rest spread over the other months.
        var days = new List<DateOnly>();
        days.AddRange(Enumerable.Range(1, february).Select(d => new DateOnly(2025, 2, d)));
        days.AddRange(Enumerable.Range(1, july).Select(d => new DateOnly(2025, 7, d)));
        var rest = total - february - july;
        var others = Enumerable.Range(1, 12).Where(m => m is not (2 or 7)).ToList();
        foreach (var m in others)
        {
            var n = Math.Min(DateTime.DaysInMonth(2025, m), rest - 27 * (others.Count - 1 - others.IndexOf(m)));
            n = Math.Max(27, Math.Min(n, DateTime.DaysInMonth(2025, m)));
            days.AddRange(Enumerable.Range(1, n).Select(d => new DateOnly(2025, m, d)));
            rest -= n;
        }
        Assert.Equal(total, days.Count);
        var v = SpanValidity.Of(Air, days, new DateOnly(2025, 12, 31));
        Assert.Equal((valid, note, true), (v.Valid, v.Note, v.FullYear));
    }

    [Fact]
    public void Percentile_98_of_365_values_interpolates()
    {
        // k = 1 + 364 * 0.98 = 357.72: X357 + 0.72 * (X358 - X357) = 357.72 for values 1..365.
        Assert.Equal(357.72, Hj663.Percentile(Enumerable.Range(1, 365).Select(i => (double)i).Reverse(), 98), 9);
        // 90th of 10 values 10, 20, ..., 100: k = 1 + 9 * 0.9 = 9.1: 90 + 0.1 * 10 = 91.
        Assert.Equal(91, Hj663.Percentile(Enumerable.Range(1, 10).Select(i => i * 10.0), 90), 9);
    }

    [Fact]
    public void Region_daily_values_are_the_means_of_the_stations_valid_values()
    {
        var d = new DateOnly(2025, 1, 1);
        var a = new Dictionary<string, IReadOnlyDictionary<DateOnly, double>> { ["pm25"] = new Dictionary<DateOnly, double> { [d] = 30, [d.AddDays(1)] = 50 } };
        var b = new Dictionary<string, IReadOnlyDictionary<DateOnly, double>> { ["pm25"] = new Dictionary<DateOnly, double> { [d] = 40 }, ["so2"] = new Dictionary<DateOnly, double> { [d] = 9 } };
        var r = AnnualEvaluation.Combine([a, b]);
        Assert.Equal((35.0, 50.0, 9.0), (r["pm25"][d], r["pm25"][d.AddDays(1)], r["so2"][d]));
    }
}
