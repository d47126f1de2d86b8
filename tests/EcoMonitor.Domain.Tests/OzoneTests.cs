using EcoMonitor.Domain;
using EcoMonitor.Domain.Standards;

namespace EcoMonitor.Domain.Tests;

/// <summary>O3 8-hour rules of GB 3095-2012 and HJ 663-2013 (shared/STANDARDS.md): an 8-hour mean needs 6 valid hours;
/// the daily maximum is taken over the 17 windows starting 00:00 ... 16:00 local time and needs 14 valid windows,
/// unless the maximum found already exceeds the 160 µg/m³ limit.</summary>
public class OzoneTests
{
    static readonly AirQualityStandard Std = AirQualityStandard.Gb3095_2012;
    static readonly DateOnly Day = new(2026, 7, 1);

    static Dictionary<DateTimeOffset, double> Hours(Func<int, double?> valueOfLocalHour, int fromHour = 0, int toHour = 24)
    {
        var map = new Dictionary<DateTimeOffset, double>();
        for (var h = fromHour; h < toHour; h++)
            if (valueOfLocalHour(h) is { } v) map[ChinaTime.StartOf(Day).AddHours(h)] = v;
        return map;
    }

    [Fact]
    public void Eight_hour_mean_needs_six_valid_hours()
    {
        var start = ChinaTime.StartOf(Day);
        var six = Hours(h => h is 2 or 5 ? null : 10.0 * (h + 1), 0, 8); // hours 1,3,4,6,7,8 x 10 -> 6 values
        var m = Ozone.MeanOf(six, start, Std);
        Assert.True(m.IsValid);
        Assert.Equal(6, m.ValidHours);
        Assert.Equal((10 + 20 + 40 + 50 + 70 + 80) / 6.0, m.Value!.Value, 9);

        var five = Hours(h => h is 2 or 5 or 7 ? null : 100, 0, 8);
        Assert.False(Ozone.MeanOf(five, start, Std).IsValid);
        Assert.Equal(5, Ozone.MeanOf(five, start, Std).ValidHours);
    }

    [Fact]
    public void Moving_mean_of_an_hour_covers_that_hour_and_the_seven_before_it()
    {
        var hours = Hours(h => h, 0, 24);
        var m = Ozone.MovingMeanEndingWith(hours, ChinaTime.StartOf(Day).AddHours(10), Std);
        Assert.Equal(ChinaTime.StartOf(Day).AddHours(3), m.Start);
        Assert.Equal((3 + 4 + 5 + 6 + 7 + 8 + 9 + 10) / 8.0, m.Value!.Value, 9);
    }

    [Fact]
    public void Daily_maximum_uses_only_windows_inside_the_day()
    {
        // The day's last hours are high: the window 16:00-24:00 is the last one inside the day (mean of 16..23).
        var hours = Hours(h => h >= 16 ? 150 : 50);
        // The next day's first hours, higher still, must not count for this day.
        hours[ChinaTime.StartOf(Day.AddDays(1))] = 400;
        hours[ChinaTime.StartOf(Day.AddDays(1)).AddHours(1)] = 400;
        // and the previous evening neither
        hours[ChinaTime.StartOf(Day).AddHours(-1)] = 400;
        var d = Ozone.DailyMax(hours, Day, Std);
        Assert.True(d.IsValid);
        Assert.Equal(17, d.ValidWindows);
        Assert.Equal(150, d.Value!.Value, 9);
    }

    [Fact]
    public void Fourteen_valid_windows_make_the_day_valid_thirteen_do_not()
    {
        // Windows starting s are valid when at least 6 of hours s..s+7 have data. With data for hours 0..19 only,
        // windows 0..14 have >= 6 hours (window 14: hours 14..19 = 6), windows 15, 16 have 5 and 4: 15 valid.
        Assert.Equal(15, Ozone.DailyMax(Hours(_ => 80, 0, 20), Day, Std).ValidWindows);
        // Hours 0..18: windows 0..13 valid (window 13: 13..18 = 6) -> 14 valid: valid day.
        var fourteen = Ozone.DailyMax(Hours(_ => 80, 0, 19), Day, Std);
        Assert.Equal(14, fourteen.ValidWindows);
        Assert.True(fourteen.IsValid);
        Assert.Equal(80, fourteen.Value!.Value, 9);
        // Hours 0..17: 13 valid windows, maximum 80 does not exceed 160: invalid.
        var thirteen = Ozone.DailyMax(Hours(_ => 80, 0, 18), Day, Std);
        Assert.Equal(13, thirteen.ValidWindows);
        Assert.False(thirteen.IsValid);
        Assert.Equal(80, thirteen.Maximum!.Value, 9);
    }

    [Fact]
    public void Fewer_windows_suffice_when_the_maximum_already_exceeds_the_limit()
    {
        var over = Ozone.DailyMax(Hours(_ => 161, 0, 18), Day, Std);
        Assert.Equal(13, over.ValidWindows);
        Assert.True(over.IsValid);
        Assert.True(over.ValidByExceedance);
        Assert.Equal(161, over.Value!.Value, 9);
        // exactly at the limit is not above it
        Assert.False(Ozone.DailyMax(Hours(_ => 160, 0, 18), Day, Std).IsValid);
    }

    [Fact]
    public void The_moving_mean_of_the_days_first_hour_reaches_into_the_evening_before()
    {
        // The hourly report at 00:00 uses hours 17:00 .. 23:00 of the day before and 00:00: (7 * 100 + 20) / 8 = 90.
        var midnight = ChinaTime.StartOf(Day);
        var hours = Enumerable.Range(1, 7).ToDictionary(i => midnight.AddHours(-i), _ => 100.0);
        hours[midnight] = 20;
        var m = Ozone.MovingMeanEndingWith(hours, midnight, Std);
        Assert.Equal((midnight.AddHours(-7), 8, 90.0), (m.Start, m.ValidHours, m.Value!.Value));
        // while the day's maximum 8-hour mean never uses them: only the 00:00 hour is inside the day -> no valid window.
        var d = Ozone.DailyMax(hours, Day, Std);
        Assert.Equal((0, false), (d.ValidWindows, d.IsValid));
        Assert.Null(d.Maximum);
    }

    [Fact]
    public void Limits_of_the_six_basic_items_are_edition_data()
    {
        var l = Std.Limits;
        Assert.Equal(500, l[Parameters.So2].HourlyGradeII);
        Assert.Equal(150, l[Parameters.So2].DailyGradeII);
        Assert.Equal(60, l[Parameters.So2].AnnualGradeII);
        Assert.Equal(200, l[Parameters.No2].HourlyGradeII);
        Assert.Equal(4, l[Parameters.Co].DailyGradeII);
        Assert.Null(l[Parameters.Co].AnnualGradeII);
        Assert.Equal(160, l[Parameters.O3].EightHourGradeII);
        Assert.Equal(200, l[Parameters.O3].HourlyGradeII);
        Assert.Null(l[Parameters.O3].DailyGradeII);
    }
}
