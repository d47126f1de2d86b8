using EcoMonitor.Domain.Standards;

namespace EcoMonitor.Domain.Tests;

/// <summary>HJ 633-2012 for the six basic pollutants (shared/STANDARDS.md): every table, the SO2 1-hour and O3 8-hour
/// hand-overs above 800, levels, and the daily and hourly reports. Expected values are worked out by hand in the
/// comments: IAQI = (IAQI_Hi - IAQI_Lo) / (BP_Hi - BP_Lo) * (C - BP_Lo) + IAQI_Lo, rounded up.</summary>
public sealed class AqiReportTests
{
    static readonly AqiEdition Aqi = AqiEdition.Hj633_2012;
    static readonly AirQualityStandard Air = AirQualityStandard.Gb3095_2012;

    [Theory]
    [InlineData("so2_24h", 50, 50)]
    [InlineData("so2_24h", 100, 75)]      // 50/100*50 + 50
    [InlineData("so2_24h", 475, 150)]
    [InlineData("so2_24h", 2620, 500)]
    [InlineData("so2_24h", 3000, 500)]    // beyond a complete table: 500
    [InlineData("so2_1h", 150, 50)]
    [InlineData("so2_1h", 500, 100)]
    [InlineData("so2_1h", 800, 200)]      // the table's last breakpoint still indexes
    [InlineData("no2_24h", 120, 120)]     // 50/100*40 + 100
    [InlineData("no2_1h", 200, 100)]
    [InlineData("no2_1h", 701, 151)]      // 50/500*1 + 150 = 150.1 -> 151
    [InlineData("co_24h", 5, 105)]        // mg/m³: 50/10*1 + 100
    [InlineData("co_24h", 0.5, 13)]       // 50/2*0.5 = 12.5 -> 13
    [InlineData("co_1h", 12, 104)]        // 50/25*2 + 100
    [InlineData("o3_1h", 250, 125)]       // 50/100*50 + 100
    [InlineData("o3_1h", 160, 50)]
    [InlineData("o3_8h", 180, 119)]       // 50/55*20 + 100 = 118.18 -> 119
    [InlineData("o3_8h", 800, 300)]
    [InlineData("pm25_24h", 100, 132)]    // worked check of STANDARDS.md
    [InlineData("pm10", 160, 105)]        // a table named without a period is the 24-hour table
    public void Iaqi_of_every_table(string table, double c, int expected) => Assert.Equal(expected, Aqi.Iaqi(table, c));

    [Theory]
    [InlineData("so2_1h", 800.0001)]
    [InlineData("so2_1h", 900)]
    [InlineData("o3_8h", 850)]
    public void Tables_that_stop_at_800_do_not_index_above_it(string table, double c) => Assert.Null(Aqi.TryIaqi(table, c));

    [Theory]
    [InlineData(50, "一级")]
    [InlineData(51, "二级")]
    [InlineData(100, "二级")]
    [InlineData(101, "三级")]
    [InlineData(150, "三级")]
    [InlineData(151, "四级")]
    [InlineData(200, "四级")]
    [InlineData(201, "五级")]
    [InlineData(300, "五级")]
    [InlineData(301, "六级")]
    public void Levels_beside_the_categories(int aqi, string level) => Assert.Equal(level, Aqi.CategoryOf(aqi).Level);

    static Dictionary<string, double> FullDay() => new()
    {
        ["so2"] = 30,     // 30
        ["no2"] = 60,     // 50/40*20 + 50 = 75
        ["co"] = 5,       // 105 (mg/m³)
        ["pm10"] = 100,   // 50/100*50 + 50 = 75
        ["pm25"] = 60,    // 50/40*25 + 50 = 81.25 -> 82
        ["o3_1h"] = 180,  // 50/40*20 + 50 = 75
        ["o3_8h"] = 120,  // 50/60*20 + 50 = 66.67 -> 67
    };

    [Fact]
    public void Daily_report_of_all_six_pollutants()
    {
        var r = AqiReport.Daily(Aqi, FullDay())!;
        Assert.Equal(105, r.Aqi);
        Assert.Equal(new Dictionary<string, int> { ["so2"] = 30, ["no2"] = 75, ["co"] = 105, ["pm10"] = 75, ["pm25"] = 82, ["o3_1h"] = 75, ["o3_8h"] = 67 },
            r.Iaqi.ToDictionary());
        Assert.Equal(["co"], r.PrimaryPollutants);
        Assert.Equal(["co"], r.OverStandardPollutants);
        Assert.Equal(("轻度污染", "三级", "orange"), (r.Category.Chinese, r.Category.Level, r.Category.Colour));
        Assert.False(r.Partial);
        Assert.Empty(r.Missing);
        var co = r.Items.Single(i => i.Item == "co");
        Assert.Equal(("co_24h", 5.0, "24-hour mean"), (co.Table, co.Concentration, co.Basis));
        Assert.Equal("daily maximum 8-hour mean", r.Items.Single(i => i.Item == "o3_8h").Basis);
    }

    [Fact]
    public void A_station_without_gas_analysers_gets_a_partial_aqi_from_what_it_has()
    {
        var r = AqiReport.Daily(Aqi, new Dictionary<string, double> { ["pm25"] = 100, ["pm10"] = 160 })!;
        Assert.Equal(132, r.Aqi);
        Assert.True(r.Partial);
        Assert.Equal(["co", "no2", "o3_1h", "o3_8h", "so2"], r.Missing);
        Assert.Null(AqiReport.Daily(Aqi, new Dictionary<string, double>()));
    }

    [Fact]
    public void Daily_o3_8h_above_800_takes_the_o3_1h_iaqi()
    {
        // O3 daily max 8-hour 850 is beyond the 8-hour table; the day's max 1-hour 900: 100/200*100 + 300 = 350.
        var c = FullDay();
        c["o3_8h"] = 850;
        c["o3_1h"] = 900;
        var r = AqiReport.Daily(Aqi, c)!;
        var item = r.Items.Single(i => i.Item == "o3_8h");
        Assert.Equal((350, "o3_1h", 900.0), (item.Iaqi, item.Table, item.Concentration));
        Assert.Contains("above the o3_8h table", item.Note);
        Assert.Equal(350, r.Aqi);
        Assert.Equal(["o3_1h", "o3_8h"], r.PrimaryPollutants);
        Assert.Equal(("严重污染", "六级"), (r.Category.Chinese, r.Category.Level));
    }

    static Dictionary<string, double> FullHour() => new()
    {
        ["so2"] = 100,    // so2_1h: 50/150*100 = 33.3 -> 34
        ["so2_24h"] = 200,
        ["no2"] = 150,    // no2_1h: 50/100*50 + 50 = 75
        ["co"] = 12,      // co_1h: 104
        ["o3_1h"] = 250,  // 125
        ["o3_8h"] = 180,  // 119
        ["pm10"] = 60,    // 50/100*10 + 50 = 55
        ["pm25"] = 40,    // 50/40*5 + 50 = 56.25 -> 57
    };

    [Fact]
    public void Hourly_report_indexes_the_1_hour_tables_and_the_8_hour_moving_mean()
    {
        var r = AqiReport.Hourly(Aqi, FullHour(), HourlyParticulates.HourMean)!;
        Assert.Equal(new Dictionary<string, int> { ["so2"] = 34, ["no2"] = 75, ["co"] = 104, ["pm10"] = 55, ["pm25"] = 57, ["o3_1h"] = 125, ["o3_8h"] = 119 },
            r.Iaqi.ToDictionary());
        Assert.Equal(125, r.Aqi);
        Assert.Equal(["o3_1h"], r.PrimaryPollutants);
        Assert.Equal(["co", "o3_1h", "o3_8h"], r.OverStandardPollutants);
        Assert.Equal(("so2_1h", "1-hour mean"), (r.Items.Single(i => i.Item == "so2").Table, r.Items.Single(i => i.Item == "so2").Basis));
        Assert.Equal(("pm25_24h", "1-hour mean"), (r.Items.Single(i => i.Item == "pm25").Table, r.Items.Single(i => i.Item == "pm25").Basis));
        Assert.Equal("24-hour moving mean", AqiReport.Hourly(Aqi, FullHour(), HourlyParticulates.Moving24Hours)!.Items.Single(i => i.Item == "pm25").Basis);
    }

    [Fact]
    public void Hourly_so2_above_800_takes_the_24_hour_iaqi()
    {
        // SO2 1-hour 900: not indexed from the 1-hour table; the 24-hour moving mean 200: 50/325*50 + 100 = 107.69 -> 108.
        var c = FullHour();
        c["so2"] = 900;
        var r = AqiReport.Hourly(Aqi, c, HourlyParticulates.HourMean)!;
        var so2 = r.Items.Single(i => i.Item == "so2");
        Assert.Equal((108, "so2_24h", 200.0, "24-hour moving mean"), (so2.Iaqi, so2.Table, so2.Concentration, so2.Basis));
        Assert.Contains("so2", r.OverStandardPollutants);
        // Exactly 800 stays on the 1-hour table: IAQI 200.
        c["so2"] = 800;
        Assert.Equal(200, AqiReport.Hourly(Aqi, c, HourlyParticulates.HourMean)!.Iaqi["so2"]);
        // Above 800 without a valid 24-hour mean: SO2 is missing and a note says why.
        c["so2"] = 900;
        c.Remove("so2_24h");
        var without = AqiReport.Hourly(Aqi, c, HourlyParticulates.HourMean)!;
        Assert.Equal(["so2"], without.Missing);
        Assert.Contains(without.Notes, n => n.StartsWith("so2: 1-hour mean 900 is above the so2_1h table"));
    }

    [Fact]
    public void The_24_hour_moving_mean_needs_20_valid_hours_of_the_24_ending_with_the_hour()
    {
        var last = ChinaTime.StartOf(new DateOnly(2026, 3, 2)).AddHours(5); // 05:00: hours 06:00 the day before .. 05:00
        var hours = Enumerable.Range(0, 24).ToDictionary(i => last.AddHours(-i), i => (double)i); // 0 (last) .. 23 (first)
        hours[last.AddHours(-24)] = 1000; // the hour before the window does not count
        var m = Air.MovingDayMean(hours, last);
        Assert.Equal((true, 24, 11.5), (m.IsValid, m.Count, m.Value!.Value));
        foreach (var i in new[] { 1, 2, 3, 4 }) hours.Remove(last.AddHours(-i));
        Assert.Equal((true, 20), (Air.MovingDayMean(hours, last).IsValid, Air.MovingDayMean(hours, last).Count));
        hours.Remove(last);
        Assert.Equal((false, 19), (Air.MovingDayMean(hours, last).IsValid, Air.MovingDayMean(hours, last).Count));
    }
}
