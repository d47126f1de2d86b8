using EcoMonitor.Domain;
using EcoMonitor.Domain.Standards;
using EcoMonitor.Service.Query;

namespace EcoMonitor.Service.Tests;

/// <summary>Wind direction is an angle: days, months, years and regions of it are vector means, never plain means
/// (a plain mean of 350° and 10° is 180°, the opposite wind).</summary>
public class AggregatorDirectionTests
{
    static readonly DateOnly Day = new(2026, 3, 1);

    static List<HourStat> Hours(Func<int, double> direction, int count) =>
        [.. Enumerable.Range(0, count).Select(h => new HourStat(ChinaTime.StartOf(Day).AddHours(h), 60, direction(h), direction(h), direction(h)))];

    static double AngularDistance(double a, double b) => Math.Abs(((a - b) % 360 + 540) % 360 - 180);

    [Fact]
    public void A_day_of_north_winds_either_side_of_north_is_north()
    {
        var aggregator = new Aggregator(AirQualityStandard.Gb3095_2012).For(Parameters.WindDirection);
        var day = aggregator.Build(Hours(h => h % 2 == 0 ? 350 : 10, 24), AggregatePeriod.Day, Day, Day, 95).Single();
        Assert.True(day.Valid);
        Assert.True(AngularDistance(day.Mean!.Value, 0) < 1e-6, $"{day.Mean} is not north");
        Assert.Null(day.Min);
        Assert.Null(day.Percentile);
        // the same hours of wind speed are averaged plainly
        var speed = new Aggregator(AirQualityStandard.Gb3095_2012).For(Parameters.WindSpeed)
            .Build(Hours(h => h % 2 == 0 ? 350 : 10, 24), AggregatePeriod.Day, Day, Day, 95).Single();
        Assert.Equal(180, speed.Mean!.Value, 9);
    }

    [Fact]
    public void Twenty_hours_of_east_and_south_make_a_south_east_day_nineteen_make_none()
    {
        var aggregator = new Aggregator(AirQualityStandard.Gb3095_2012).For(Parameters.WindDirection);
        var day = aggregator.Build(Hours(h => h < 10 ? 90 : 180, 20), AggregatePeriod.Day, Day, Day, 95).Single();
        Assert.Equal(135, day.Mean!.Value, 6);
        Assert.False(aggregator.Build(Hours(h => h < 10 ? 90 : 180, 19), AggregatePeriod.Day, Day, Day, 95).Single().Valid);
    }

    [Fact]
    public void Months_and_regions_of_directions_are_vector_means()
    {
        var aggregator = new Aggregator(AirQualityStandard.Gb3095_2012).For(Parameters.WindDirection);
        var daily = Enumerable.Range(0, 28).ToDictionary(i => Day.AddDays(i), i => i % 2 == 0 ? 340.0 : 20.0);
        var month = aggregator.FromDays(daily, AggregatePeriod.Month, Day, Day.AddDays(27), 95).Single();
        Assert.True(month.Valid);
        Assert.True(AngularDistance(month.Mean!.Value, 0) < 1e-6, $"{month.Mean} is not north");

        IReadOnlyList<BucketValue> Station(double d) => [new BucketValue(ChinaTime.StartOf(Day), true, d, d, d, null, 24, 20)];
        var region = aggregator.RegionOf([Station(270), Station(0)], 2).Single();
        Assert.Equal(315, region.Mean!.Value, 6);
        Assert.Null(region.Min);
        Assert.Equal(135, new Aggregator(AirQualityStandard.Gb3095_2012).RegionOf([Station(270), Station(0)], 2).Single().Mean!.Value, 9);
    }
}
