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
        foreach (var problem in Tcp.Validate(MaxSegmentLength)) yield return new(problem, [nameof(Tcp)]);
    }
}

/// <summary>Settings section "Hj212:Tcp": the listener for dataloggers that connect over TCP, and the limits that keep
/// one misbehaving connection from costing the others anything (README, "HJ 212 over TCP: limits").</summary>
public sealed class Hj212TcpSettings
{
    /// <summary>Listen for dataloggers that connect directly over TCP.</summary>
    public bool Enabled { get; set; }
    public string BindAddress { get; set; } = "127.0.0.1";
    /// <summary>0 picks a free port (tests).</summary>
    public int Port { get; set; } = 9212;
    /// <summary>A connection that delivers no complete frame for this long is closed. Only whole frames count: a
    /// trickle of bytes or of garbage does not keep a connection open.</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(5);
    /// <summary>Connections open at once; further ones are closed as soon as they are accepted.</summary>
    public int MaxConnections { get; set; } = 1000;
    /// <summary>Connections open at once from one source address (a datalogger needs one; a few more ride out
    /// reconnects before the old connection times out).</summary>
    public int MaxConnectionsPerAddress { get; set; } = 50;
    /// <summary>Data responses (CN=9014) waiting to be written on one connection. A datalogger that lets this many
    /// answers pile up does not read them; its connection is closed rather than anyone waiting for it.</summary>
    public int OutboxCapacity { get; set; } = 1000;
    /// <summary>Longest time one write of answers may take (the peer's receive window stays shut); then the
    /// connection is closed.</summary>
    public TimeSpan WriteTimeout { get; set; } = TimeSpan.FromSeconds(10);
    /// <summary>Longest time from a frame's first byte to its last. A datalogger sends a frame in one go; a frame
    /// still incomplete after this long (a stalled or deliberately slow sender) closes the connection.</summary>
    public TimeSpan FrameTimeout { get; set; } = TimeSpan.FromSeconds(30);
    /// <summary>Bytes of bad frames (garbage, CRC mismatches, wrong lengths, ...) one connection may send within a
    /// minute, counted from the first bad byte of that minute; one byte more closes it. Bytes rather than frames: a
    /// flood of "#" is thousands of one-byte bad frames a second, random bytes are a few long ones, and both cost
    /// what their bytes cost. The default is 32 frames of the largest size.</summary>
    public int MaxBadBytesPerMinute { get; set; } = 32 * 1024;

    static readonly TimeSpan MaxTimeout = TimeSpan.FromDays(1);

    /// <summary>The problems of these settings, each naming its setting; <paramref name="maxSegmentLength"/> is
    /// Hj212:MaxSegmentLength.</summary>
    public IEnumerable<string> Validate(int maxSegmentLength)
    {
        if (Enabled && !System.Net.IPAddress.TryParse(BindAddress, out _))
            yield return $"Hj212:Tcp:BindAddress '{BindAddress}' is not an IP address.";
        if (Enabled && Port is < 0 or > 65535)
            yield return $"Hj212:Tcp:Port must be 0-65535 (got {Port}).";
        if (IdleTimeout <= TimeSpan.Zero || IdleTimeout > MaxTimeout)
            yield return $"Hj212:Tcp:IdleTimeout must be positive and at most {MaxTimeout} (got {IdleTimeout}).";
        if (MaxConnections < 1)
            yield return "Hj212:Tcp:MaxConnections must be at least 1.";
        if (MaxConnectionsPerAddress < 1)
            yield return "Hj212:Tcp:MaxConnectionsPerAddress must be at least 1.";
        if (OutboxCapacity is < 1 or > 1_000_000)
            yield return $"Hj212:Tcp:OutboxCapacity must be 1-1000000 (got {OutboxCapacity}).";
        if (WriteTimeout <= TimeSpan.Zero || WriteTimeout > MaxTimeout)
            yield return $"Hj212:Tcp:WriteTimeout must be positive and at most {MaxTimeout} (got {WriteTimeout}).";
        if (FrameTimeout <= TimeSpan.Zero || FrameTimeout > MaxTimeout)
            yield return $"Hj212:Tcp:FrameTimeout must be positive and at most {MaxTimeout} (got {FrameTimeout}).";
        // One bad frame of the largest size must never close a connection on its own.
        if (MaxBadBytesPerMinute < maxSegmentLength + Hj212Frame.Overhead)
            yield return $"Hj212:Tcp:MaxBadBytesPerMinute must be at least one frame of the largest size, Hj212:MaxSegmentLength + {Hj212Frame.Overhead} = {maxSegmentLength + Hj212Frame.Overhead} (got {MaxBadBytesPerMinute}).";
    }
}
