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
    string? WaterName = null,
    string? Mn = null,
    string? Password = null)
{
    /// <summary>Station ids appear in MQTT topics, InfluxDB tags and queries: letters, digits, '-', '_' and '.',
    /// 1-64 characters, so they never need escaping anywhere.</summary>
    public static readonly Regex IdPattern = new("^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", RegexOptions.CultureInvariant);

    public static bool IsValidId(string id) => IdPattern.IsMatch(id);

    /// <summary>Parameters of the station's own kind; air and VOCs stations also send meteorology.</summary>
    public bool Measures(ParameterInfo parameter) => Measures(parameter.Kind);

    /// <summary>Whether the station reports parameters of this kind.</summary>
    public bool Measures(StationKind parameterKind) =>
        parameterKind == Kind || parameterKind == StationKind.Met && Kind is StationKind.Air or StationKind.Voc;

    // The HJ 212 password is a secret: a station printed in a log shows whether it has one, not what it is.
    bool PrintMembers(System.Text.StringBuilder builder)
    {
        builder.Append($"Id = {Id}, Name = {Name}, Kind = {Kind}, Region = {Region}, Mn = {Mn}, Password = {(Password is null ? "not set" : "set")}");
        return true;
    }
}

public enum StatisticPeriod { Minute, Hour, Day }

/// <summary>An HJ 212 minute, hourly or daily statistic of one parameter, as the datalogger computed it. Start is the
/// beginning of the period (UTC). Avg, Min and Max are in the canonical unit; Cou (the cumulative value) is kept as
/// sent.</summary>
public readonly record struct Statistic(string StationId, string Parameter, StatisticPeriod Period, DateTimeOffset Start,
    double? Avg, double? Min, double? Max, double? Cou, string Flag);

/// <summary>A reading after validation: canonical parameter, canonical unit, UTC time, HJ 212 flag.</summary>
public readonly record struct Reading(string StationId, string Parameter, DateTimeOffset Timestamp, double Value, string Flag);
