using System.Globalization;

namespace EcoMonitor.Service.Ingestion.Hj212;

/// <summary>An HJ 212-2017 data segment: QN=..;ST=..;CN=..;PW=..;MN=..;Flag=..;[PNUM=..;PNO=..;]CP=&amp;&amp;..&amp;&amp;</summary>
public sealed record Hj212Packet(
    string? Qn,
    string? St,
    string Cn,
    string? Pw,
    string Mn,
    int Flag,
    int? PNum,
    int? PNo,
    IReadOnlyList<KeyValuePair<string, string>> Cp)
{
    /// <summary>Flag bit 0 (A): the sender wants a data response (CN=9014).</summary>
    public bool WantsAcknowledgement => (Flag & 1) != 0;

    /// <summary>Flag bit 1 (D): one part of a split packet (PNUM/PNO present).</summary>
    public bool IsSplit => (Flag & 2) != 0;

    /// <summary>Flag bits 2-7: the protocol version, 1 for HJ 212-2017.</summary>
    public int Version => Flag >> 2;

    public string? CpValue(string key) => Cp.FirstOrDefault(kv => kv.Key == key).Value;

    /// <summary>Parses a data segment; a segment it cannot read gives a reason instead.</summary>
    public static bool TryParse(string segment, out Hj212Packet packet, out string error)
    {
        packet = null!;
        var cpAt = segment.IndexOf("CP=&&", StringComparison.Ordinal);
        if (cpAt < 0 || !segment.EndsWith("&&", StringComparison.Ordinal) || segment.Length < cpAt + 7)
        {
            error = "no CP=&&...&& in the data segment";
            return false;
        }
        var header = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var field in segment[..cpAt].Split(';', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = field.IndexOf('=');
            if (eq <= 0)
            {
                error = $"header field '{field}' is not NAME=value";
                return false;
            }
            header[field[..eq]] = field[(eq + 1)..];
        }
        if (!header.TryGetValue("CN", out var cn) || cn.Length == 0)
        {
            error = "CN (command code) is missing";
            return false;
        }
        if (!header.TryGetValue("MN", out var mn) || mn.Length == 0)
        {
            error = "MN (device identity) is missing";
            return false;
        }
        var flag = 0;
        if (header.TryGetValue("Flag", out var flagText) && !int.TryParse(flagText, NumberStyles.None, CultureInfo.InvariantCulture, out flag))
        {
            error = $"Flag '{flagText}' is not a number";
            return false;
        }
        int? Int(string name) => header.TryGetValue(name, out var v) && int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : null;

        var cp = new List<KeyValuePair<string, string>>();
        var body = segment[(cpAt + 5)..^2];
        foreach (var item in body.Split(';', StringSplitOptions.RemoveEmptyEntries))
            foreach (var field in item.Split(',', StringSplitOptions.RemoveEmptyEntries))
            {
                var eq = field.IndexOf('=');
                if (eq <= 0)
                {
                    error = $"CP field '{field}' is not NAME=value";
                    return false;
                }
                cp.Add(new(field[..eq], field[(eq + 1)..]));
            }
        packet = new Hj212Packet(header.GetValueOrDefault("QN"), header.GetValueOrDefault("ST"), cn, header.GetValueOrDefault("PW"), mn,
            flag, Int("PNUM"), Int("PNO"), cp);
        error = "";
        return true;
    }

    /// <summary>The data response (CN=9014) to this packet: QN echoed, ST=91, Flag=4, empty CP.</summary>
    public byte[] DataResponse() => Hj212Frame.Build($"QN={Qn};ST=91;CN=9014;PW={Pw};MN={Mn};Flag=4;CP=&&&&");

    static readonly TimeSpan ChinaOffset = TimeSpan.FromHours(8);

    /// <summary>HJ 212 times (DataTime yyyyMMddHHmmss, QN yyyyMMddHHmmssfff) are China local time, UTC+8.</summary>
    public static bool TryParseLocalTime(string? text, out DateTimeOffset time)
    {
        time = default;
        if (text is null) return false;
        var format = text.Length switch { 14 => "yyyyMMddHHmmss", 17 => "yyyyMMddHHmmssfff", _ => null };
        if (format is null || !DateTime.TryParseExact(text, format, CultureInfo.InvariantCulture, DateTimeStyles.None, out var local)) return false;
        time = new DateTimeOffset(local, ChinaOffset).ToUniversalTime();
        return true;
    }
}
