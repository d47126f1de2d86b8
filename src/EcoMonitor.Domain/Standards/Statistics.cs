namespace EcoMonitor.Domain.Standards;

/// <summary>Statistics as HJ 663 defines them.</summary>
public static class Hj663
{
    /// <summary>The p-th percentile: sort ascending, k = 1 + (n - 1) * p / 100, s = floor(k),
    /// X_p = X_s + (X_{s+1} - X_s) * (k - s), positions counted from 1.</summary>
    public static double Percentile(IEnumerable<double> values, double p)
    {
        if (p is < 0 or > 100) throw new ArgumentOutOfRangeException(nameof(p), p, "a percentile is within 0..100");
        var sorted = values.Order().ToArray();
        if (sorted.Length == 0) throw new ArgumentException("no values", nameof(values));
        var k = 1 + (sorted.Length - 1) * p / 100;
        var s = (int)Math.Floor(k);
        if (s >= sorted.Length) return sorted[^1];
        return sorted[s - 1] + (sorted[s] - sorted[s - 1]) * (k - s);
    }

    /// <summary>Rounding of published concentrations (PM2.5 to whole µg/m³): round half to even, as GB/T 8170's
    /// "四舍六入五成双".</summary>
    public static double RoundForPublication(double value, int decimals = 0) => Math.Round(value, decimals, MidpointRounding.ToEven);
}

/// <summary>How the verdict on the reduction target is reached (HJ 663 rounding can flip it near the boundary).</summary>
public enum TargetVerdictPolicy { Exact, RoundedMeans }

/// <summary>Year-over-year progress of a mean against a reduction target (the zone's PM2.5 -3 %).</summary>
public sealed record TargetProgress(
    double CurrentMean,
    double PreviousMean,
    double TargetPercent,
    TargetVerdictPolicy Policy)
{
    /// <summary>(current - previous) / previous * 100, from the exact means.</summary>
    public double ChangePercent => (CurrentMean - PreviousMean) / PreviousMean * 100;

    /// <summary>The same from the means rounded as published (whole µg/m³).</summary>
    public double RoundedChangePercent
    {
        get
        {
            var previous = Hj663.RoundForPublication(PreviousMean);
            return (Hj663.RoundForPublication(CurrentMean) - previous) / previous * 100;
        }
    }

    /// <summary>On track when the change is at or below the target (-3 % reached by -3.0 %), by the chosen policy.
    /// Compared after rounding the percentage to 1e-9 so that -3.0000000000000004 still counts as -3.</summary>
    public bool OnTrack => VerdictPercent <= TargetPercent;

    /// <summary>The change the verdict is reached on (exact or from rounded means, by the policy).</summary>
    public double VerdictPercent => Math.Round(Policy == TargetVerdictPolicy.Exact ? ChangePercent : RoundedChangePercent, 9);

    /// <summary>The mean the rest of the year must stay under for the full year to meet the target, given the
    /// year-to-date mean over <paramref name="elapsedDays"/> of <paramref name="daysInYear"/> and last year's annual
    /// mean. Null when the year is over.</summary>
    public static double? RequiredRemainingMean(double yearToDateMean, int elapsedDays, int daysInYear, double previousAnnualMean, double targetPercent)
    {
        var remaining = daysInYear - elapsedDays;
        if (remaining <= 0) return null;
        var allowedAnnual = previousAnnualMean * (1 + targetPercent / 100);
        return (allowedAnnual * daysInYear - yearToDateMean * elapsedDays) / remaining;
    }

    /// <summary>The annual mean the year is heading for: last year's annual mean scaled by the year-to-date ratio
    /// (this year's span against the same span last year). It keeps the season's shape, which matters for PM2.5:
    /// a plain year-to-date mean in spring still carries the winter.</summary>
    public double ProjectedAnnualMean(double previousAnnualMean) => previousAnnualMean * CurrentMean / PreviousMean;
}
