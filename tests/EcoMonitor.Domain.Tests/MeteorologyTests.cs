using EcoMonitor.Domain;

namespace EcoMonitor.Domain.Tests;

/// <summary>Wind direction is an angle: means of unit vectors, worked by hand.</summary>
public sealed class MeteorologyTests
{
    [Theory]
    [InlineData(new[] { 350.0, 10.0 }, 0.0)]          // a plain mean would say 180 (south): wrong
    [InlineData(new[] { 90.0, 180.0 }, 135.0)]
    [InlineData(new[] { 10.0, 350.0, 0.0 }, 0.0)]
    [InlineData(new[] { 360.0 }, 0.0)]                // 360 is north
    [InlineData(new[] { 270.0, 0.0 }, 315.0)]         // result in 0..360, never negative
    [InlineData(new[] { 40.0, 50.0 }, 45.0)]
    [InlineData(new[] { 0.0, 90.0, 90.0 }, 63.43494882)] // atan2(2/3, 1/3) = atan(2) = 63.4349488°
    public void The_mean_of_directions_is_the_direction_of_the_mean_unit_vector(double[] degrees, double expected)
    {
        var mean = WindVector.Mean(degrees);
        Assert.NotNull(mean);
        Assert.Equal(expected, mean!.Value, 7);
        Assert.InRange(mean.Value, 0, 360);
    }

    [Fact]
    public void Opposite_directions_have_no_mean_and_none_is_none()
    {
        Assert.Null(WindVector.Mean([0.0, 180.0]));
        Assert.Null(WindVector.Mean([90.0, 270.0, 0.0, 180.0]));
        Assert.Null(WindVector.Mean([]));
    }

    [Theory]
    [InlineData(0, "N", "北")]
    [InlineData(11.24, "N", "北")]
    [InlineData(11.25, "NNE", "北东北")]
    [InlineData(45, "NE", "东北")]
    [InlineData(180, "S", "南")]
    [InlineData(225, "SW", "西南")]
    [InlineData(348.75, "N", "北")]
    [InlineData(359.9, "N", "北")]
    public void Compass_points_of_16(double degrees, string english, string chinese)
    {
        Assert.Equal(english, WindVector.Compass(degrees, chinese: false));
        Assert.Equal(chinese, WindVector.Compass(degrees, chinese: true));
    }
}
