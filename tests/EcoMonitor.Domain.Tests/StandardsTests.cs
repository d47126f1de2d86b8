using EcoMonitor.Domain.Standards;

namespace EcoMonitor.Domain.Tests;

/// <summary>The standards' numbers and worked examples (shared/STANDARDS.md).</summary>
public sealed class StandardsTests
{
    static readonly AqiEdition Aqi = AqiEdition.Hj633_2012;
    static readonly AirQualityStandard Air = AirQualityStandard.Gb3095_2012;
    static readonly WaterQualityStandard Water = WaterQualityStandard.Gb3838_2002;

    [Theory]
    [InlineData("pm25", 0, 0)]
    [InlineData("pm25", 35, 50)]     // worked check: on a breakpoint, exactly its index
    [InlineData("pm25", 35.1, 51)]   // ceil(50.125)
    [InlineData("pm25", 75, 100)]    // worked check
    [InlineData("pm25", 100, 132)]   // worked check: ceil(131.25)
    [InlineData("pm25", 115, 150)]
    [InlineData("pm25", 500, 500)]
    [InlineData("pm25", 501, 500)]   // beyond the table
    [InlineData("pm10", 160, 105)]   // worked check: ceil(105)
    [InlineData("pm10", 150, 100)]
    [InlineData("pm10", 420, 300)]
    [InlineData("pm10", 700, 500)]
    public void Iaqi_by_HJ_633(string pollutant, double concentration, int expected) =>
        Assert.Equal(expected, Aqi.Iaqi(pollutant, concentration));

    [Theory]
    [InlineData(0, "优", "Excellent")]
    [InlineData(50, "优", "Excellent")]
    [InlineData(51, "良", "Good")]
    [InlineData(100, "良", "Good")]
    [InlineData(101, "轻度污染", "Lightly polluted")]
    [InlineData(200, "中度污染", "Moderately polluted")]
    [InlineData(300, "重度污染", "Heavily polluted")]
    [InlineData(301, "严重污染", "Severely polluted")]
    [InlineData(500, "严重污染", "Severely polluted")]
    public void Aqi_categories(int aqi, string chinese, string english)
    {
        var c = Aqi.CategoryOf(aqi);
        Assert.Equal((chinese, english), (c.Chinese, c.English));
    }

    [Fact]
    public void Aqi_primary_and_over_standard_pollutants()
    {
        var r = Aqi.Evaluate(new Dictionary<string, double> { ["pm25"] = 100, ["pm10"] = 160 });
        Assert.Equal(132, r.Aqi);
        Assert.Equal(["pm25"], r.PrimaryPollutants);
        Assert.Equal(["pm10", "pm25"], r.OverStandardPollutants);
        Assert.Equal("轻度污染", r.Category.Chinese);

        var clean = Aqi.Evaluate(new Dictionary<string, double> { ["pm25"] = 20, ["pm10"] = 40 });
        Assert.Equal(40, clean.Aqi);
        Assert.Empty(clean.PrimaryPollutants); // no primary pollutant at AQI <= 50
        Assert.Empty(clean.OverStandardPollutants);

        var tie = Aqi.Evaluate(new Dictionary<string, double> { ["pm25"] = 75, ["pm10"] = 150 });
        Assert.Equal(["pm10", "pm25"], tie.PrimaryPollutants);
    }

    [Fact]
    public void A_day_needs_20_hourly_means()
    {
        var nineteen = Enumerable.Repeat(40.0, 19).ToList();
        Assert.False(Air.DailyMean(nineteen).IsValid);
        Assert.Equal(19, Air.DailyMean(nineteen).Count);
        var twenty = Enumerable.Range(0, 20).Select(i => 30.0 + i).ToList();
        Assert.Equal(39.5, Air.DailyMean(twenty).Value);
    }

    /// <summary>Valid daily means on <paramref name="count"/> days of the year, the missing days spread so that every
    /// month keeps its minimum (27, February 25) as long as possible.</summary>
    static Dictionary<DateOnly, double> Days(int year, int count, Func<DateOnly, bool>? skip = null)
    {
        var days = new Dictionary<DateOnly, double>();
        var all = Enumerable.Range(0, DateTime.IsLeapYear(year) ? 366 : 365).Select(d => DateOnly.FromDateTime(new DateTime(year, 1, 1).AddDays(d)))
            .Where(d => skip is null || !skip(d)).ToList();
        var drop = all.Count - count;
        foreach (var month in all.GroupBy(d => d.Month))
        {
            var spare = Math.Max(0, month.Count() - Air.MinDaysIn(month.Key));
            var dropHere = Math.Min(spare, drop);
            drop -= dropHere;
            foreach (var d in month.SkipLast(dropHere)) days[d] = 40;
        }
        return days;
    }

    [Fact]
    public void A_year_needs_324_valid_days()
    {
        var d323 = Days(2025, 323);
        var d324 = Days(2025, 324);
        Assert.Equal((323, 324), (d323.Count, d324.Count));
        Assert.False(Air.AnnualMean(d323).IsValid);
        Assert.Empty(Air.AnnualMean(d323).MonthsBelowMinimum);
        Assert.Equal(40, Air.AnnualMean(d324).Value);
    }

    [Fact]
    public void A_month_below_its_minimum_invalidates_the_year_and_the_month()
    {
        // February with 24 days (minimum 25) while the year has far more than 324.
        var days = Days(2025, 365, d => d.Month == 2 && d.Day > 24);
        Assert.True(days.Count > 324);
        var annual = Air.AnnualMean(days);
        Assert.False(annual.IsValid);
        Assert.Equal([2], annual.MonthsBelowMinimum);
        Assert.False(Air.MonthlyMean(2, Enumerable.Repeat(1.0, 24).ToList()).IsValid);
        Assert.True(Air.MonthlyMean(2, Enumerable.Repeat(1.0, 25).ToList()).IsValid);
        Assert.False(Air.MonthlyMean(3, Enumerable.Repeat(1.0, 26).ToList()).IsValid);
        Assert.True(Air.MonthlyMean(3, Enumerable.Repeat(1.0, 27).ToList()).IsValid);
    }

    [Theory]
    [InlineData(new[] { 10.0, 20, 30, 40 }, 50, 25)]
    [InlineData(new[] { 40.0, 10, 30, 20 }, 0, 10)]
    [InlineData(new[] { 40.0, 10, 30, 20 }, 100, 40)]
    [InlineData(new[] { 7.0 }, 95, 7)]
    public void Percentile_by_HJ_663(double[] values, double p, double expected) =>
        Assert.Equal(expected, Hj663.Percentile(values, p), 9);

    [Fact]
    public void The_95th_percentile_of_20_values()
    {
        // k = 1 + 19 * 0.95 = 19.05 -> X19 + (X20 - X19) * 0.05
        Assert.Equal(19.05, Hj663.Percentile(Enumerable.Range(1, 20).Select(i => (double)i), 95), 9);
    }

    [Theory]
    [InlineData(48.55, false)] // -2.9 %
    [InlineData(48.5, true)]   // -3.0 %: the target is met
    [InlineData(48.45, true)]  // -3.1 %
    public void The_3_percent_target_at_its_boundary(double current, bool onTrack)
    {
        var p = new TargetProgress(current, 50, -3, TargetVerdictPolicy.Exact);
        Assert.Equal(onTrack, p.OnTrack);
        Assert.Equal((current - 50) / 50 * 100, p.ChangePercent, 9);
    }

    [Fact]
    public void Rounded_means_can_flip_the_verdict_and_both_figures_are_given()
    {
        // 48.6 vs 50.4: exactly -3.57 %, but published as 49 vs 50: -2 %.
        var exact = new TargetProgress(48.6, 50.4, -3, TargetVerdictPolicy.Exact);
        var rounded = exact with { Policy = TargetVerdictPolicy.RoundedMeans };
        Assert.Equal(-3.571, exact.ChangePercent, 3);
        Assert.Equal(-2.0, exact.RoundedChangePercent, 9);
        Assert.True(exact.OnTrack);
        Assert.False(rounded.OnTrack);
        Assert.Equal(48, Hj663.RoundForPublication(48.5)); // half to even
        Assert.Equal(50, Hj663.RoundForPublication(49.5));
    }

    [Fact]
    public void The_mean_the_rest_of_the_year_must_stay_under()
    {
        // Last year 50, target -3 % -> 48.5 for the year; 100 days at 52 leave 265 days.
        var required = TargetProgress.RequiredRemainingMean(52, 100, 365, 50, -3);
        Assert.Equal((48.5 * 365 - 52 * 100) / 265, required!.Value, 9);
        Assert.Null(TargetProgress.RequiredRemainingMean(52, 365, 365, 50, -3));
    }

    [Fact]
    public void The_projection_keeps_last_years_season_and_scales_it_by_the_year_to_date_ratio()
    {
        // Winter so far 80 against 82.5 last year (-3.03 %); last year's annual mean 45 -> 45 * 80 / 82.5.
        var progress = new TargetProgress(80, 82.5, -3, TargetVerdictPolicy.Exact);
        Assert.Equal(45 * 80 / 82.5, progress.ProjectedAnnualMean(45), 9);
        Assert.Equal(Math.Round((80 - 82.5) / 82.5 * 100, 9), progress.VerdictPercent);
        Assert.True(progress.OnTrack);
    }

    [Theory]
    [InlineData("cod", 15, WaterBody.River, WaterClass.I)]     // equal limits for I and II: the better class
    [InlineData("cod", 15.01, WaterBody.River, WaterClass.III)]
    [InlineData("cod", 40, WaterBody.River, WaterClass.V)]
    [InlineData("cod", 40.1, WaterBody.River, WaterClass.WorseThanV)]
    [InlineData("bod5", 3, WaterBody.River, WaterClass.I)]
    [InlineData("do", 7.5, WaterBody.River, WaterClass.I)]     // at least
    [InlineData("do", 7.49, WaterBody.River, WaterClass.II)]
    [InlineData("do", 1.9, WaterBody.River, WaterClass.WorseThanV)]
    [InlineData("nh3n", 0.15, WaterBody.River, WaterClass.I)]
    [InlineData("nh3n", 1.0, WaterBody.River, WaterClass.III)]
    [InlineData("nh3n", 2.01, WaterBody.River, WaterClass.WorseThanV)]
    [InlineData("codmn", 6, WaterBody.River, WaterClass.III)]
    [InlineData("ph", 7.2, WaterBody.River, WaterClass.I)]
    [InlineData("ph", 9.1, WaterBody.River, WaterClass.WorseThanV)]
    [InlineData("tp", 0.05, WaterBody.River, WaterClass.II)]
    [InlineData("tp", 0.05, WaterBody.Lake, WaterClass.III)]
    [InlineData("tn", 1.2, WaterBody.Lake, WaterClass.IV)]
    public void Single_factor_classes_by_GB_3838(string parameter, double value, WaterBody body, WaterClass expected) =>
        Assert.Equal(expected, Water.ClassOf(parameter, value, body));

    [Fact]
    public void Rivers_are_not_evaluated_on_total_nitrogen()
    {
        Assert.Null(Water.ClassOf("tn", 5, WaterBody.River));
        Assert.Null(Water.ClassOf("cond", 800, WaterBody.River));
    }

    [Fact]
    public void A_section_takes_its_worst_parameter_and_names_what_fails_its_target()
    {
        var means = new Dictionary<string, double> { ["ph"] = 7.6, ["do"] = 5.8, ["codmn"] = 6.5, ["cod"] = 24, ["nh3n"] = 1.6, ["tp"] = 0.18, ["tn"] = 2.4 };
        var e = Water.Evaluate(means, WaterBody.River, WaterClass.IV);
        Assert.Equal(WaterClass.V, e.SectionClass);
        Assert.False(e.MeetsTarget);
        Assert.Equal(["nh3n"], e.FailingParameters);
        Assert.DoesNotContain("tn", e.ParameterClasses.Keys);
        Assert.Equal(WaterClass.IV, e.ParameterClasses["codmn"]);

        var worse = Water.Evaluate(new Dictionary<string, double> { ["nh3n"] = 2.5, ["do"] = 6 }, WaterBody.River, WaterClass.V);
        Assert.Equal(WaterClass.WorseThanV, worse.SectionClass);
        Assert.Equal("劣V", worse.SectionClass!.Value.Roman());
        Assert.Equal(["nh3n"], worse.FailingParameters);

        Assert.True(Water.Evaluate(new Dictionary<string, double> { ["nh3n"] = 1.5 }, WaterBody.River, WaterClass.IV).MeetsTarget);
    }
}
