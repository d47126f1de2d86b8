namespace EcoMonitor.Service.Storage;

/// <summary>Pieces of InfluxQL the queries share. Values always travel as bind parameters.</summary>
public static class InfluxQl
{
    /// <summary>Values whose HJ 212 flag makes them count (N, S).</summary>
    public const string ValidFlags = "(\"flag\" = 'N' OR \"flag\" = 'S')";

    /// <summary>"(tag = $p0 OR tag = $p1 ...)", the values added to <paramref name="bind"/> as p0, p1, ...</summary>
    public static string AnyOf(Dictionary<string, object> bind, string tag, string prefix, IReadOnlyList<string> values)
    {
        for (var i = 0; i < values.Count; i++) bind[$"{prefix}{i}"] = values[i];
        return "(" + string.Join(" OR ", values.Select((_, i) => $"\"{tag}\" = ${prefix}{i}")) + ")";
    }
}
