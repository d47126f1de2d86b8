namespace EcoMonitor.Domain.Standards;

/// <summary>An edition of the surface water standard (GB 3838): per-parameter class limits and which parameters a
/// river or a lake is evaluated on. Data, not code.</summary>
public sealed record WaterQualityStandard(string Name, IReadOnlyList<WaterLimit> Limits)
{
    /// <summary>GB 3838-2002 (mg/L; pH dimensionless). Rivers are evaluated without TN; TP has river and lake limits.</summary>
    public static readonly WaterQualityStandard Gb3838_2002 = new("GB 3838-2002",
    [
        new(Parameters.Ph, WaterLimitKind.Range, [6, 6, 6, 6, 6], [9, 9, 9, 9, 9]),
        new(Parameters.Do, WaterLimitKind.AtLeast, [7.5, 6, 5, 3, 2]),
        new(Parameters.CodMn, WaterLimitKind.AtMost, [2, 4, 6, 10, 15]),
        new(Parameters.Cod, WaterLimitKind.AtMost, [15, 15, 20, 30, 40]),
        new(Parameters.Bod5, WaterLimitKind.AtMost, [3, 3, 4, 6, 10]),
        new(Parameters.Nh3N, WaterLimitKind.AtMost, [0.15, 0.5, 1.0, 1.5, 2.0]),
        new(Parameters.Tp, WaterLimitKind.AtMost, [0.02, 0.1, 0.2, 0.3, 0.4], AppliesTo: WaterBody.River),
        new(Parameters.Tp, WaterLimitKind.AtMost, [0.01, 0.025, 0.05, 0.1, 0.2], AppliesTo: WaterBody.Lake),
        new(Parameters.Tn, WaterLimitKind.AtMost, [0.2, 0.5, 1.0, 1.5, 2.0], AppliesTo: WaterBody.Lake),
    ]);

    public IEnumerable<WaterLimit> LimitsFor(WaterBody body) => Limits.Where(l => l.AppliesTo is null || l.AppliesTo == body);

    /// <summary>Single-factor class of one parameter: the best class whose limit the value meets (equal limits resolve
    /// to the better class); worse than V is 劣V. Null when the parameter is not evaluated for this water body.</summary>
    public WaterClass? ClassOf(string parameter, double value, WaterBody body)
    {
        var limit = LimitsFor(body).FirstOrDefault(l => l.Parameter == parameter);
        if (limit is null) return null;
        for (var i = 0; i < 5; i++)
            if (limit.Meets(i, value)) return (WaterClass)(i + 1);
        return WaterClass.WorseThanV;
    }

    /// <summary>A section's class: the worst single-factor class of its evaluated parameters; which parameters miss
    /// the target class.</summary>
    public WaterEvaluation Evaluate(IReadOnlyDictionary<string, double> means, WaterBody body, WaterClass target)
    {
        var classes = new Dictionary<string, WaterClass>();
        foreach (var (parameter, value) in means)
            if (ClassOf(parameter, value, body) is { } c) classes[parameter] = c;
        if (classes.Count == 0) return new WaterEvaluation(null, classes, target, false, []);
        var worst = classes.Values.Max();
        var failing = classes.Where(kv => kv.Value > target).Select(kv => kv.Key).Order().ToList();
        return new WaterEvaluation(worst, classes, target, worst <= target, failing);
    }
}

public enum WaterLimitKind { AtMost, AtLeast, Range }

/// <summary>Limits of one parameter for classes I..V (index 0..4). For Range, <see cref="Values"/> are the lower and
/// <see cref="Upper"/> the upper bounds.</summary>
public sealed record WaterLimit(string Parameter, WaterLimitKind Kind, double[] Values, double[]? Upper = null, WaterBody? AppliesTo = null)
{
    public bool Meets(int classIndex, double value) => Kind switch
    {
        WaterLimitKind.AtMost => value <= Values[classIndex],
        WaterLimitKind.AtLeast => value >= Values[classIndex],
        _ => value >= Values[classIndex] && value <= Upper![classIndex],
    };
}

public sealed record WaterEvaluation(WaterClass? SectionClass, IReadOnlyDictionary<string, WaterClass> ParameterClasses,
    WaterClass Target, bool MeetsTarget, IReadOnlyList<string> FailingParameters);

public static class WaterClassNames
{
    public static string Roman(this WaterClass c) => c switch
    {
        WaterClass.I => "I",
        WaterClass.II => "II",
        WaterClass.III => "III",
        WaterClass.IV => "IV",
        WaterClass.V => "V",
        _ => "劣V",
    };
}
