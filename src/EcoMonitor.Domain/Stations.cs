using System.Text.RegularExpressions;

namespace EcoMonitor.Domain;

public enum WaterBody { River, Lake }

/// <summary>GB 3838-2002 classes, best to worst; WorseThanV is 劣V.</summary>
public enum WaterClass { I = 1, II, III, IV, V, WorseThanV }

/// <summary>A monitoring station or water cross-section (断面).</summary>
public sealed record Station(
    string Id,
    string Name,
    StationKind Kind,
    string Region,
    double Latitude,
    double Longitude,
    WaterBody? WaterBody = null,
    WaterClass? TargetClass = null,
    string? WaterName = null)
{
    /// <summary>Station ids appear in MQTT topics, InfluxDB tags and queries: letters, digits, '-', '_' and '.',
    /// 1-64 characters, so they never need escaping anywhere.</summary>
    public static readonly Regex IdPattern = new("^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", RegexOptions.CultureInvariant);

    public static bool IsValidId(string id) => IdPattern.IsMatch(id);

    public bool Measures(ParameterInfo parameter) => parameter.Kind == Kind;
}

/// <summary>A reading after validation: canonical parameter, canonical unit, UTC time, HJ 212 flag.</summary>
public readonly record struct Reading(string StationId, string Parameter, DateTimeOffset Timestamp, double Value, string Flag);
