namespace EcoMonitor.Domain;

/// <summary>Wind directions (degrees from north, the direction the wind comes from) are angles: their mean is the
/// direction of the mean unit vector, never the mean of the numbers (350° and 10° average to 0°, not 180°).
/// Unit vectors, not speed-weighted: the speed is its own parameter, sent at other times or not at all, and an
/// hour's mean direction must not depend on whether the speed arrived. Each direction counts once.</summary>
public static class WindVector
{
    /// <summary>A resultant shorter than this (of the mean unit vector, 0..1) has no direction: exactly opposite
    /// directions in equal numbers.</summary>
    public const double MinResultant = 1e-9;

    static double Radians(double degrees) => degrees * Math.PI / 180;

    /// <summary>The mean unit vector's components: (mean of sin, mean of cos) of the directions.</summary>
    public static (double Sin, double Cos) Components(IEnumerable<double> degrees)
    {
        var sum = new Sum();
        foreach (var d in degrees) sum.Add(d);
        return sum.Components;
    }

    /// <summary>Directions taken one at a time, in order (the running sums behind <see cref="Components"/>), for
    /// callers that see them as they come.</summary>
    public struct Sum
    {
        double _sin, _cos;

        public int Count { get; private set; }

        public void Add(double degrees)
        {
            _sin += Math.Sin(Radians(degrees));
            _cos += Math.Cos(Radians(degrees));
            Count++;
        }

        /// <summary>(mean of sin, mean of cos); (0, 0) for none.</summary>
        public readonly (double Sin, double Cos) Components => Count == 0 ? (0, 0) : (_sin / Count, _cos / Count);

        /// <summary>As <see cref="WindVector.Mean"/>: null for none, or for directions that cancel out.</summary>
        public readonly double? Mean => Count == 0 ? null : Direction(Components.Sin, Components.Cos);
    }

    /// <summary>The direction of a vector (sin, cos) in degrees, 0 ≤ result &lt; 360; null when the vector is too
    /// short to have one.</summary>
    public static double? Direction(double sin, double cos)
    {
        if (Math.Sqrt(sin * sin + cos * cos) < MinResultant) return null;
        var d = Math.Atan2(sin, cos) * 180 / Math.PI;
        if (d < 0) d += 360;
        // Rounding noise around north (359.9999999999) is north.
        d = Math.Round(d, 9);
        return d >= 360 ? 0 : d;
    }

    /// <summary>The vector mean of directions in degrees (0 ≤ result &lt; 360); null for none, or for directions
    /// that cancel out.</summary>
    public static double? Mean(IEnumerable<double> degrees)
    {
        var sum = new Sum();
        foreach (var d in degrees) sum.Add(d);
        return sum.Mean;
    }

    /// <summary>The 16-point compass name of a direction: N, NNE, NE, ... (English) or 北, 东北偏北, 东北, ... (Chinese,
    /// as in 东北风: the wind comes from the north-east).</summary>
    public static string Compass(double degrees, bool chinese)
    {
        string[] en = ["N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE", "S", "SSW", "SW", "WSW", "W", "WNW", "NW", "NNW"];
        string[] zh = ["北", "北东北", "东北", "东东北", "东", "东东南", "东南", "南东南", "南", "南西南", "西南", "西西南", "西", "西西北", "西北", "北西北"];
        var i = (int)Math.Floor((((degrees % 360) + 360) % 360 + 11.25) / 22.5) % 16;
        return chinese ? zh[i] : en[i];
    }
}
