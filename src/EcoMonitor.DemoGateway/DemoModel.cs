using System.Globalization;
using System.Text;

namespace EcoMonitor.DemoGateway;

/// <summary>The demo's synthetic but plausible monitoring data, as a pure function of (station, parameter, hour):
/// the same hour always gets the same value, whenever and in whatever order it is generated, so a backfill can be
/// repeated (it overwrites itself with identical points), live hourly means agree with the backfill, and the README's
/// figures are reproducible in shape. No <see cref="Random"/> state: every draw is a hash of its key (SplitMix64).
/// <para>Air: the six basic items with a seasonal cycle (PM, SO2, NO2, CO high in winter: heating and inversions;
/// O3 high in summer), a diurnal cycle (PM and gases peak at night and in the morning rush; O3 in the afternoon),
/// regional weather (multi-day episodes that all stations share) and a downward trend of
/// <see cref="AnnualReduction"/> a year for the primary pollutants, so a year-to-date mean is about 4–5 % below the
/// same span of the year before (the zone's −3 % target then has a meaningful "on track" verdict). Meteorology with a
/// continental cycle and a monsoon wind (north-west in winter, south in summer). VOCs points: NMHC around 1 mg/m³,
/// with a few nights a year over the 10 mg/m³ 1-hour limit of GB 37822. Water sections: around their target class
/// (IV, or V for the ditch), with about one month in eight worse (a rainy-season flush or an upstream discharge).</para></summary>
public static class DemoModel
{
    /// <summary>Year-over-year reduction of the primary air pollutants (PM2.5, PM10, SO2, NO2, CO) and VOCs.</summary>
    public const double AnnualReduction = 0.05;

    static readonly TimeSpan China = TimeSpan.FromHours(8);
    static readonly DateTimeOffset Epoch = new(2020, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public static readonly string[] AirPollutants = ["pm25", "pm10", "so2", "no2", "co", "o3"];
    public static readonly string[] Meteorology = ["temp", "rh", "pressure", "wspd", "wdir"];
    public static readonly string[] Voc = ["nmhc", "tvoc"];
    public static readonly string[] Water = ["ph", "do", "codmn", "cod", "nh3n", "tp", "tn", "wtemp", "cond", "turb"];

    /// <summary>The parameters a station of this kind reports every hour, in payload order.</summary>
    public static IReadOnlyList<string> ParametersOf(string kind) => kind switch
    {
        "air" => [.. AirPollutants, .. Meteorology],
        "voc" => [.. Voc, .. Meteorology],
        _ => Water,
    };

    /// <summary>The station's hourly mean of <paramref name="parameter"/> for the hour starting at
    /// <paramref name="hour"/> (canonical units: µg/m³, CO and VOCs mg/m³, water mg/L).</summary>
    public static double HourlyMean(string station, string kind, string parameter, DateTimeOffset hour)
    {
        var local = hour.ToOffset(China).AddMinutes(30);
        var h = local.Hour + 0.5;
        var doy = local.DayOfYear;
        var hourIndex = (long)Math.Floor((hour - Epoch).TotalHours);
        var day = DayNumber(local);
        var s = Hash(station);
        var years = (hour - Epoch).TotalDays / 365.2425;
        var trend = Math.Exp(Math.Log(1 - AnnualReduction) * years);
        var winter = Math.Cos(2 * Math.PI * (doy - 15) / 365.25); // 1 in mid-January, -1 in mid-July
        double Gauss(int salt) => Normal(Mix(s, (ulong)Index(parameter), (ulong)hourIndex, (ulong)salt));
        var siteFactor = 0.92 + 0.16 * Uniform(Mix(s, 7, 7, 7)); // each station a little above or below the others

        if (kind == "water") return WaterValue(station, s, parameter, local, hourIndex);

        switch (parameter)
        {
            case "pm25": return Round(52 * siteFactor * trend * (1 + 0.45 * winter) * Night(h, 0.28) * Weather(day, 1) * Math.Exp(0.16 * Gauss(1)), 1);
            case "pm10":
                var spring = local.Month is >= 3 and <= 5 ? 0.45 : 0; // dust in spring: coarse particles
                return Round(HourlyMean(station, kind, "pm25", hour) * (1.65 + spring) * Math.Exp(0.10 * Gauss(2)), 1);
            case "so2": return Round(9 * siteFactor * trend * (1 + 0.6 * winter) * Night(h, 0.15) * Math.Pow(Weather(day, 1), 0.5) * Math.Exp(0.2 * Gauss(3)), 1);
            case "no2": return Round(31 * siteFactor * trend * (1 + 0.3 * winter) * (Night(h, 0.18) + Rush(h, 0.25)) * Math.Pow(Weather(day, 1), 0.6) * Math.Exp(0.15 * Gauss(4)), 1);
            case "co": return Round(0.85 * siteFactor * trend * (1 + 0.5 * winter) * (Night(h, 0.2) + Rush(h, 0.15)) * Math.Pow(Weather(day, 1), 0.7) * Math.Exp(0.12 * Gauss(5)), 2);
            case "o3":
                var afternoon = 1 + 0.65 * Math.Cos(2 * Math.PI * (h - 15) / 24);
                return Round(Math.Max(2, 62 * siteFactor * (1 - 0.55 * winter) * afternoon * Math.Pow(Weather(day, 2), 0.3) * Math.Exp(0.15 * Gauss(6))), 1);
            case "temp": return Round(13.5 - 15.5 * winter + 5 * Math.Cos(2 * Math.PI * (h - 15) / 24) + 2.5 * WeatherNormal(day, 3) + 0.5 * Gauss(7), 1);
            case "rh": return Round(Math.Clamp(60 - 12 * winter - 15 * Math.Cos(2 * Math.PI * (h - 15) / 24) + 10 * WeatherNormal(day, 4) + 4 * Gauss(8), 12, 100), 0);
            case "pressure": return Round(101.6 + 1.1 * winter + 0.5 * WeatherNormal(day, 5) + 0.05 * Gauss(9), 2);
            case "wspd": return Round(Math.Max(0.1, 2.2 + 0.6 * (local.Month is >= 3 and <= 5 ? 1 : 0) + 0.7 * Math.Cos(2 * Math.PI * (h - 14) / 24) + 0.6 * WeatherNormal(day, 6) + 0.5 * Gauss(10)), 1);
            case "wdir":
                // The monsoon: from the north-west (315°) in winter, the south (170°) in summer; veering by day.
                var direction = 242.5 + 72.5 * winter + 25 * Math.Cos(2 * Math.PI * (h - 3) / 24) + 35 * Gauss(11);
                return Round(((direction % 360) + 360) % 360, 0);
            case "nmhc":
                var leak = Exceedance(s, day, local.Hour);
                var nmhc = 0.95 * trend * Night(h, 0.35) * Math.Pow(Weather(day, 1), 0.4) * Math.Exp(0.25 * Gauss(12));
                return Round(leak > 0 ? leak : nmhc, 2);
            case "tvoc":
                var spike = Exceedance(s, day, local.Hour);
                return Round(spike > 0 ? spike * 1.6 : 1.25 * trend * Night(h, 0.3) * Math.Pow(Weather(day, 1), 0.4) * Math.Exp(0.25 * Gauss(13)), 2);
            default: throw new ArgumentException($"the demo model has no parameter '{parameter}'", nameof(parameter));
        }
    }

    /// <summary>A VOCs point's release: on about 1 day in 50, two night hours (02:00 and 03:00) at 10.5–14 mg/m³ NMHC,
    /// over GB 37822's 1-hour limit of 10; otherwise 0.</summary>
    static double Exceedance(ulong station, long day, int localHour) =>
        localHour is 2 or 3 && Uniform(Mix(station, 101, (ulong)day, 1)) < 0.02 ? 10.5 + 3.5 * Uniform(Mix(station, 102, (ulong)day, (ulong)localHour)) : 0;

    /// <summary>A section's parameter: its class's typical value, seasonal, with about one month in eight worse.</summary>
    static double WaterValue(string station, ulong s, string parameter, DateTimeOffset local, long hourIndex)
    {
        var worse = station.Contains("bmg", StringComparison.Ordinal); // the ditch: Class V target
        var downstream = station.Contains("down", StringComparison.Ordinal) ? 1.08 : 1.0;
        var summer = Math.Cos(2 * Math.PI * (local.DayOfYear - 200) / 365.25); // 1 in mid-July
        var month = local.Year * 12 + local.Month;
        var badMonth = Uniform(Mix(s, 201, (ulong)month, 1)) < 0.125 || (summer > 0.9 && Uniform(Mix(s, 202, (ulong)local.Year, 1)) < 0.5);
        var load = (badMonth ? 1.38 : 1.0) * downstream * Math.Exp(0.07 * Normal(Mix(s, (ulong)Index(parameter), (ulong)hourIndex, 21)));
        var wtemp = 15 + 11 * summer + 0.6 * Normal(Mix(s, 203, (ulong)hourIndex, 1));
        return parameter switch
        {
            "ph" => Round(7.7 - 0.15 * summer + 0.12 * Normal(Mix(s, 204, (ulong)hourIndex, 1)), 2),
            "do" => Round(Math.Max(0.5, (worse ? 3.6 : 5.6) - 1.2 * summer - (badMonth ? 1.3 : 0) + 0.25 * Normal(Mix(s, 205, (ulong)hourIndex, 1))), 2),
            "codmn" => Round((worse ? 11.5 : 7.2) * load, 2),
            "cod" => Round((worse ? 33 : 23.5) * load, 1),
            "nh3n" => Round((worse ? 1.65 : 0.8) * (1 - 0.2 * summer) * load, 3),
            "tp" => Round((worse ? 0.32 : 0.19) * (1 + 0.1 * summer) * load, 3),
            "tn" => Round((worse ? 4.1 : 2.5) * load, 2),
            "wtemp" => Round(wtemp, 1),
            "cond" => Round((worse ? 1150 : 820) * load, 0),
            "turb" => Round((worse ? 24 : 12) * (1 + 0.4 * summer) * load, 1),
            _ => throw new ArgumentException($"the demo model has no parameter '{parameter}'", nameof(parameter)),
        };
    }

    /// <summary>One hour of a station as a JSON reading object with <c>"period": "hour"</c> (the README's payload
    /// contract; the same as an HJ 212 CN=2061 frame's -Avg values).</summary>
    public static void AppendHour(StringBuilder json, string station, string kind, DateTimeOffset hour)
    {
        json.Append("{\"ts\":\"").Append(hour.ToOffset(China).ToString("yyyy-MM-ddTHH:mm:sszzz", CultureInfo.InvariantCulture))
            .Append("\",\"period\":\"hour\",\"values\":{");
        var first = true;
        foreach (var p in ParametersOf(kind))
        {
            if (!first) json.Append(',');
            first = false;
            json.Append('"').Append(p).Append("\":").Append(HourlyMean(station, kind, p, hour).ToString("R", CultureInfo.InvariantCulture));
        }
        json.Append("}}");
    }

    /// <summary>The mean PM2.5 of the model over local dates [from, to], for checking the year-over-year change.</summary>
    public static double MeanPm25(string station, DateOnly from, DateOnly to)
    {
        double sum = 0;
        long n = 0;
        for (var d = from; d <= to; d = d.AddDays(1))
            for (var h = 0; h < 24; h++)
            {
                sum += HourlyMean(station, "air", "pm25", new DateTimeOffset(d.Year, d.Month, d.Day, h, 0, 0, China));
                n++;
            }
        return sum / n;
    }

    // Night-time accumulation under the boundary layer: peak around 23:00, lowest mid-afternoon.
    static double Night(double h, double amplitude) => 1 + amplitude * Math.Cos(2 * Math.PI * (h - 23) / 24);

    // The morning rush hour, around 08:00.
    static double Rush(double h, double amplitude) => amplitude * Math.Exp(-(h - 8) * (h - 8) / 3);

    /// <summary>Regional weather on a local day, shared by all stations: stagnant winter spells and washed-out summer
    /// days as a pattern of the day of the year, smoothed over three days (episodes last days). The same calendar every
    /// year: a part of its own for each year made the year-to-date change swing by several percent (a handful of
    /// winter episodes carry much of a year's mean), and the demo's point is the target's verdict on the trend.</summary>
    static double Weather(long day, int salt) => Math.Exp(0.42 * WeatherNormal(day, salt) - 0.088);

    static double WeatherNormal(long day, int salt)
    {
        double Day(long d) => Normal(Mix(0xC0FFEE, (ulong)salt, (ulong)DayOfYear(d), 3));
        return (0.6 * Day(day) + 0.55 * Day(day - 1) + 0.4 * Day(day - 2)) / Math.Sqrt(0.36 + 0.3025 + 0.16);
    }

    static long DayNumber(DateTimeOffset local) => DateOnly.FromDateTime(local.DateTime).DayNumber;

    static int DayOfYear(long dayNumber) => DateOnly.FromDayNumber((int)dayNumber).DayOfYear;

    static double Round(double v, int digits) => Math.Round(v, digits, MidpointRounding.AwayFromZero);

    static int Index(string parameter)
    {
        var i = Array.IndexOf(AllParameters, parameter);
        return i < 0 ? 99 : i;
    }

    static readonly string[] AllParameters = [.. AirPollutants, .. Meteorology, .. Voc, .. Water];

    /// <summary>FNV-1a of the station id: stable across processes, unlike string.GetHashCode.</summary>
    static ulong Hash(string text)
    {
        var h = 14695981039346656037UL;
        foreach (var c in text)
        {
            h ^= c;
            h *= 1099511628211UL;
        }
        return h;
    }

    static ulong Mix(ulong a, ulong b, ulong c, ulong d) => SplitMix(SplitMix(SplitMix(SplitMix(a) ^ b) ^ c) ^ d);

    static ulong SplitMix(ulong x)
    {
        x += 0x9E3779B97F4A7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }

    /// <summary>Uniform in (0, 1).</summary>
    static double Uniform(ulong key) => ((key >> 11) + 0.5) / (1UL << 53);

    /// <summary>Standard normal (Box–Muller of two uniforms derived from the key).</summary>
    static double Normal(ulong key) => Math.Sqrt(-2 * Math.Log(Uniform(key))) * Math.Cos(2 * Math.PI * Uniform(SplitMix(key ^ 0x5DEECE66DUL)));
}
