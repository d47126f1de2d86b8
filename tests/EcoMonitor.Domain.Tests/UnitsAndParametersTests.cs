using EcoMonitor.Domain;

namespace EcoMonitor.Domain.Tests;

public sealed class UnitsAndParametersTests
{
    [Theory]
    [InlineData("pm25", null, 35.2, 35.2)]
    [InlineData("pm25", "µg/m3", 35.2, 35.2)]
    [InlineData("pm25", "mg/m3", 0.075, 75)]
    [InlineData("pm10", "mg/m³", 0.16, 160)]
    [InlineData("nmhc", "mg/m3", 2.5, 2.5)]
    [InlineData("nmhc", "ug/m3", 2500, 2.5)]
    [InlineData("tvoc", "μg/m³", 800, 0.8)]
    [InlineData("nh3n", "ug/L", 480, 0.48)]
    [InlineData("cond", "mS/cm", 1.2, 1200)]
    [InlineData("wtemp", "℃", 12.5, 12.5)]
    [InlineData("ph", "", 7.1, 7.1)]
    public void Converts_to_the_canonical_unit(string code, string? unit, double value, double expected)
    {
        Assert.True(Units.TryToCanonical(Parameters.Get(code), unit, value, out var canonical));
        Assert.Equal(expected, canonical, 9);
    }

    [Theory]
    [InlineData("pm25", "mg/L")]
    [InlineData("pm25", "ppm")]
    [InlineData("nmhc", "ppb")]
    [InlineData("do", "mg/m3")]
    [InlineData("turb", "FTU")]
    public void Refuses_units_it_cannot_convert(string code, string unit) =>
        Assert.False(Units.TryToCanonical(Parameters.Get(code), unit, 1, out _));

    [Theory]
    [InlineData("pm25", "pm25")]
    [InlineData("PM2.5", "pm25")]
    [InlineData("pm2_5", "pm25")]
    [InlineData("NH3-N", "nh3n")]
    [InlineData("CODMn", "codmn")]
    public void Finds_parameters_by_code_or_alias_ignoring_case(string name, string code)
    {
        Assert.True(Parameters.TryFind(name, out var p));
        Assert.Equal(code, p.Code);
    }

    [Fact]
    public void Every_parameter_has_a_kind_a_convertible_unit_and_a_sane_range()
    {
        Assert.Equal(24, Parameters.All.Count);
        Assert.All(Parameters.All, p =>
        {
            Assert.True(p.DefaultMin < p.DefaultMax);
            Assert.True(Units.TryToCanonical(p, p.CanonicalUnit, 1, out var v) && v == 1);
        });
        Assert.Equal(["co", "no2", "o3", "pm10", "pm25", "so2"], Parameters.All.Where(p => p.Kind == StationKind.Air).Select(p => p.Code).Order());
        Assert.Equal(["pressure", "rh", "temp", "wdir", "wspd"], Parameters.All.Where(p => p.Kind == StationKind.Met).Select(p => p.Code).Order());
        Assert.Equal(["nmhc", "tvoc"], Parameters.All.Where(p => p.Kind == StationKind.Voc).Select(p => p.Code).Order());
    }

    [Theory]
    [InlineData("N", true)]
    [InlineData("S", true)]
    [InlineData("F", false)]
    [InlineData("M", false)]
    [InlineData("D", false)]
    [InlineData("C", false)]
    [InlineData("T", false)]
    [InlineData("B", false)]
    public void Hj212_flags_are_valid_or_not(string flag, bool valid) => Assert.Equal(valid, DataFlags.IsValid(flag));

    [Theory]
    [InlineData("n", "N")]
    [InlineData(" d ", "D")]
    public void Flags_are_normalised(string input, string expected)
    {
        Assert.True(DataFlags.TryNormalize(input, out var f));
        Assert.Equal(expected, f);
    }

    [Theory]
    [InlineData("X")]
    [InlineData("NN")]
    [InlineData("")]
    public void Unknown_flags_are_refused(string flag) => Assert.False(DataFlags.TryNormalize(flag, out _));

    [Theory]
    [InlineData("air-gxq-01", true)]
    [InlineData("w.fyh_2", true)]
    [InlineData("", false)]
    [InlineData("-lead", false)]
    [InlineData("a/b", false)]
    [InlineData("a b", false)]
    [InlineData("x'; DROP", false)]
    [InlineData("滏阳河", false)]
    public void Station_ids_are_safe_identifiers(string id, bool valid) => Assert.Equal(valid, Station.IsValidId(id));

    // GB 3095-2012 (2018 amendment) reference state: µg/m³ = ppb x M / 24.465, mg/m³ = ppm x M / 24.465.
    [Theory]
    [InlineData("so2", 100, "ppb", 261.8680)]   // 100 x 64.066 / 24.465
    [InlineData("no2", 50, "ppb", 94.0241)]     // 50 x 46.006 / 24.465
    [InlineData("o3", 80, "ppb", 156.9524)]     // 80 x 47.998 / 24.465
    [InlineData("o3", 0.08, "ppm", 156.9524)]
    [InlineData("co", 1, "ppm", 1.14490)]       // mg/m³: 28.010 / 24.465
    [InlineData("co", 1000, "ppb", 1.14490)]
    [InlineData("co", 1500, "µg/m3", 1.5)]      // CO's canonical unit is mg/m³
    [InlineData("co", 1.5, "mg/m3", 1.5)]
    [InlineData("pressure", 1013.25, "hPa", 101.325)]
    public void Gases_convert_from_mixing_ratios_at_the_reference_state(string code, double value, string unit, double expected)
    {
        Assert.True(Units.TryToCanonical(Parameters.Get(code), unit, value, out var canonical));
        Assert.Equal(expected, canonical, 4);
    }

    [Theory]
    [InlineData("pm25", "ppb")]   // a particle concentration has no mixing ratio
    [InlineData("nmhc", "ppm")]   // NMHC is a sum of compounds: no single molar mass
    [InlineData("temp", "K")]
    public void Mixing_ratios_are_refused_where_no_molar_mass_applies(string code, string unit) =>
        Assert.False(Units.TryToCanonical(Parameters.Get(code), unit, 1, out _));

    [Fact]
    public void Air_and_voc_stations_take_meteorology_water_sections_do_not()
    {
        var wind = Parameters.Get("wdir");
        Assert.True(new Station("a", "A", StationKind.Air, "r", 0, 0).Measures(wind));
        Assert.True(new Station("v", "V", StationKind.Voc, "r", 0, 0).Measures(wind));
        Assert.False(new Station("w", "W", StationKind.Water, "r", 0, 0).Measures(wind));
        Assert.False(new Station("w", "W", StationKind.Voc, "r", 0, 0).Measures(Parameters.Get("so2")));
    }
}
