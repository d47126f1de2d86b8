using System.ComponentModel.DataAnnotations;
using System.Text.RegularExpressions;
using EcoMonitor.Domain;

namespace EcoMonitor.Service.Ingestion.Hj212;

/// <summary>Settings section "Hj212": factor codes, per-station units, frame limits and the TCP listener.</summary>
public sealed partial class Hj212Settings : IValidatableObject
{
    public const string Section = "Hj212";

    /// <summary>The factor codes of HJ 212-2017 that map to EcoMonitor's parameters. TVOC has no fixed code: add the
    /// one your instruments use under Hj212:FactorCodes (e.g. "Hj212:FactorCodes:a24001": "tvoc").</summary>
    public static readonly IReadOnlyDictionary<string, string> DefaultFactorCodes = new Dictionary<string, string>
    {
        ["a34004"] = Parameters.Pm25,
        ["a34002"] = Parameters.Pm10,
        ["a21026"] = Parameters.So2,
        ["a21004"] = Parameters.No2,
        ["a21005"] = Parameters.Co,
        ["a05024"] = Parameters.O3,
        ["a01001"] = Parameters.Temperature,
        ["a01002"] = Parameters.Humidity,
        ["a01006"] = Parameters.Pressure,
        ["a01007"] = Parameters.WindSpeed,
        ["a01008"] = Parameters.WindDirection,
        ["a24088"] = Parameters.Nmhc,
        ["w01001"] = Parameters.Ph,
        ["w01009"] = Parameters.Do,
        ["w01018"] = Parameters.Cod,
        ["w01019"] = Parameters.CodMn,
        ["w01017"] = Parameters.Bod5,
        ["w21003"] = Parameters.Nh3N,
        ["w21011"] = Parameters.Tp,
        ["w21001"] = Parameters.Tn,
        ["w01010"] = Parameters.WaterTemperature,
        ["w01014"] = Parameters.Conductivity,
        ["w01003"] = Parameters.Turbidity,
    };

    /// <summary>Extra or overriding factor code -> parameter mappings; an empty value removes a default.</summary>
    public Dictionary<string, string> FactorCodes { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Units an instrument sends, by station and parameter (HJ 212 frames carry no units), e.g.
    /// "Hj212:StationUnits:air-gxq-gwh:pm25": "mg/m3". Default: the canonical unit.</summary>
    public Dictionary<string, Dictionary<string, string>> StationUnits { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Largest data segment accepted (the standard's limit is 1024).</summary>
    [Range(64, 9999)] public int MaxSegmentLength { get; set; } = 1024;

    public Hj212TcpSettings Tcp { get; set; } = new();

    [GeneratedRegex("^[a-z][a-z0-9]{2,15}$")]
    private static partial Regex CodePattern();

    /// <summary>The effective factor code map: defaults, then settings.</summary>
    public IReadOnlyDictionary<string, string> EffectiveFactorCodes()
    {
        var map = new Dictionary<string, string>(DefaultFactorCodes, StringComparer.Ordinal);
        foreach (var (code, parameter) in FactorCodes)
            if (string.IsNullOrEmpty(parameter)) map.Remove(code);
            else map[code] = parameter;
        return map;
    }

    public IEnumerable<ValidationResult> Validate(ValidationContext context)
    {
        foreach (var (code, parameter) in FactorCodes)
        {
            if (!CodePattern().IsMatch(code))
                yield return new($"Hj212:FactorCodes:{code}: a factor code is a lower-case letter and 2-15 letters or digits (e.g. a34004).", [nameof(FactorCodes)]);
            if (!string.IsNullOrEmpty(parameter) && !Parameters.All.Any(p => p.Code == parameter))
                yield return new($"Hj212:FactorCodes:{code}: '{parameter}' is not a parameter; known: {string.Join(", ", Parameters.All.Select(p => p.Code))}.", [nameof(FactorCodes)]);
        }
        foreach (var (station, units) in StationUnits)
            foreach (var (parameter, unit) in units)
            {
                if (!Parameters.All.Any(p => p.Code == parameter))
                    yield return new($"Hj212:StationUnits:{station}:{parameter}: '{parameter}' is not a parameter.", [nameof(StationUnits)]);
                else if (!Units.TryToCanonical(Parameters.Get(parameter), unit, 1, out _))
                    yield return new($"Hj212:StationUnits:{station}:{parameter}: unit '{unit}' cannot be converted to {Parameters.Get(parameter).CanonicalUnit}.", [nameof(StationUnits)]);
            }
        if (Tcp.Enabled && !System.Net.IPAddress.TryParse(Tcp.BindAddress, out _))
            yield return new($"Hj212:Tcp:BindAddress '{Tcp.BindAddress}' is not an IP address.", [nameof(Tcp)]);
        if (Tcp.Enabled && Tcp.Port is < 0 or > 65535)
            yield return new($"Hj212:Tcp:Port must be 0-65535 (got {Tcp.Port}).", [nameof(Tcp)]);
        if (Tcp.IdleTimeout <= TimeSpan.Zero)
            yield return new("Hj212:Tcp:IdleTimeout must be positive.", [nameof(Tcp)]);
        if (Tcp.MaxConnections < 1)
            yield return new("Hj212:Tcp:MaxConnections must be at least 1.", [nameof(Tcp)]);
    }
}

public sealed class Hj212TcpSettings
{
    /// <summary>Listen for dataloggers that connect directly over TCP.</summary>
    public bool Enabled { get; set; }
    public string BindAddress { get; set; } = "127.0.0.1";
    /// <summary>0 picks a free port (tests).</summary>
    public int Port { get; set; } = 9212;
    /// <summary>A connection that sends nothing for this long is closed.</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(5);
    public int MaxConnections { get; set; } = 1000;
}
