using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace EcoMonitor.Service.Ingestion;

/// <summary>One reading as the gateway sent it: names, units and flags not yet checked. <see cref="Period"/> is set
/// when the reading declares itself the station's mean of a minute or an hour starting at <see cref="Timestamp"/>.</summary>
public sealed record RawReading(int Index, DateTimeOffset Timestamp, IReadOnlyList<RawValue> Values, Domain.StatisticPeriod? Period = null);

public sealed record RawValue(string Name, double Value, string? Unit, string? Flag);

public sealed record DecodedPayload(IReadOnlyList<RawReading> Readings, IReadOnlyList<Rejection> Rejections, Rejection? Fatal)
{
    public static DecodedPayload Failed(string reason, string detail) => new([], [], new Rejection(reason, detail));
}

/// <summary>Decodes the JSON payload contract: one object or an array of
/// {"ts": RFC 3339 | epoch ms, "values": {...}, "flags": {...}, "units": {...}}. JSON type problems are reported
/// here; what the names and numbers mean is checked by <see cref="ReadingValidator"/>. The optional member
/// "period": "hour" (or "minute") declares the values the station's own means of the hour (minute) that starts at
/// "ts": they count like HJ 212 CN=2061 (2051) -Avg values (stored in <c>stat</c>, the hour built from them).</summary>
public static partial class JsonReadingDecoder
{
    static readonly JsonDocumentOptions DocumentOptions = new() { MaxDepth = 8 };

    // RFC 3339 date-time: a time zone (Z or ±hh:mm) is required, a local time without one is ambiguous.
    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$", RegexOptions.CultureInvariant)]
    private static partial Regex Rfc3339();

    const long MaxEpochMs = 253402300799999; // 9999-12-31T23:59:59.999Z

    public static DecodedPayload Decode(ReadOnlyMemory<byte> payload, int maxReadings)
    {
        // The whole payload up front: System.Text.Json checks UTF-8 only where it transcodes, so a bad byte in an
        // unknown member would be stored silently and one in a property name would throw deep in the decoder.
        if (!System.Text.Unicode.Utf8.IsValid(payload.Span))
            return DecodedPayload.Failed(RejectReason.InvalidUtf8, $"the payload is not valid UTF-8 (first invalid byte at offset {FirstInvalidUtf8(payload.Span)})");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(payload, DocumentOptions);
        }
        catch (JsonException e)
        {
            return DecodedPayload.Failed(RejectReason.MalformedJson, e.Message);
        }
        using (doc)
        {
            var root = doc.RootElement;
            List<JsonElement> items;
            if (root.ValueKind == JsonValueKind.Object) items = [root];
            else if (root.ValueKind == JsonValueKind.Array) items = [.. root.EnumerateArray()];
            else return DecodedPayload.Failed(RejectReason.InvalidStructure, $"the payload must be a JSON object or an array of objects, not {Describe(root)}");
            if (items.Count == 0) return DecodedPayload.Failed(RejectReason.InvalidStructure, "the payload is an empty array");
            if (items.Count > maxReadings)
                return DecodedPayload.Failed(RejectReason.TooManyReadings, $"{items.Count} readings in one message; at most {maxReadings} (Ingestion:MaxReadingsPerMessage)");

            var readings = new List<RawReading>(items.Count);
            var rejections = new List<Rejection>();
            for (var i = 0; i < items.Count; i++)
                DecodeReading(items[i], i, readings, rejections);
            return new DecodedPayload(readings, rejections, null);
        }
    }

    static int FirstInvalidUtf8(ReadOnlySpan<byte> bytes)
    {
        var offset = 0;
        while (offset < bytes.Length && System.Text.Rune.DecodeFromUtf8(bytes[offset..], out _, out var n) == System.Buffers.OperationStatus.Done) offset += n;
        return offset;
    }

    static void DecodeReading(JsonElement item, int index, List<RawReading> readings, List<Rejection> rejections)
    {
        if (item.ValueKind != JsonValueKind.Object)
        {
            rejections.Add(new(RejectReason.InvalidStructure, $"a reading must be a JSON object, not {Describe(item)}", index));
            return;
        }
        if (!item.TryGetProperty("ts", out var tsElement))
        {
            rejections.Add(new(RejectReason.InvalidTimestamp, "\"ts\" is missing", index));
            return;
        }
        if (!TryParseTimestamp(tsElement, out var ts, out var tsError))
        {
            rejections.Add(new(RejectReason.InvalidTimestamp, tsError, index));
            return;
        }
        if (!item.TryGetProperty("values", out var valuesElement) || valuesElement.ValueKind != JsonValueKind.Object)
        {
            rejections.Add(new(RejectReason.InvalidStructure, "\"values\" must be an object of parameter: number", index));
            return;
        }
        if (!TryReadPeriod(item, index, rejections, out var period)) return;
        if (!TryReadStrings(item, "flags", index, rejections, out var flags)) return;
        if (!TryReadStrings(item, "units", index, rejections, out var units)) return;

        var values = new List<RawValue>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var v in valuesElement.EnumerateObject())
        {
            names.Add(v.Name);
            if (v.Value.ValueKind == JsonValueKind.Number)
            {
                if (v.Value.TryGetDouble(out var d) && double.IsFinite(d))
                    values.Add(new RawValue(v.Name, d, units.GetValueOrDefault(v.Name), flags.GetValueOrDefault(v.Name)));
                else
                    rejections.Add(new(RejectReason.NonFiniteValue, $"{v.Value.GetRawText()} is not a finite number", index, v.Name));
            }
            else if (v.Value.ValueKind == JsonValueKind.String && IsNonFiniteWord(v.Value.GetString()!))
                rejections.Add(new(RejectReason.NonFiniteValue, $"\"{v.Value.GetString()}\" is not a finite number", index, v.Name));
            else
                rejections.Add(new(RejectReason.InvalidValue, $"a value must be a JSON number, not {Describe(v.Value)}", index, v.Name));
        }
        if (names.Count == 0)
            rejections.Add(new(RejectReason.InvalidStructure, "\"values\" is empty", index));
        foreach (var f in flags.Keys.Where(k => !names.Contains(k)))
            rejections.Add(new(RejectReason.FlagWithoutValue, $"flag for '{f}' but no value", index, f));
        foreach (var u in units.Keys.Where(k => !names.Contains(k)))
            rejections.Add(new(RejectReason.UnitWithoutValue, $"unit for '{u}' but no value", index, u));
        if (values.Count > 0) readings.Add(new RawReading(index, ts, values, period));
    }

    /// <summary>"period": absent or null for ordinary readings; "hour" or "minute" (case-insensitive) for a station's
    /// own means of the period starting at "ts".</summary>
    static bool TryReadPeriod(JsonElement item, int index, List<Rejection> rejections, out Domain.StatisticPeriod? period)
    {
        period = null;
        if (!item.TryGetProperty("period", out var element) || element.ValueKind == JsonValueKind.Null) return true;
        var text = element.ValueKind == JsonValueKind.String ? element.GetString()!.Trim().ToLowerInvariant() : null;
        period = text switch
        {
            "hour" => Domain.StatisticPeriod.Hour,
            "minute" => Domain.StatisticPeriod.Minute,
            _ => null,
        };
        if (period is not null) return true;
        rejections.Add(new(RejectReason.InvalidStructure, $"\"period\" must be \"hour\" or \"minute\", not {Describe(element)}", index));
        return false;
    }

    static bool TryReadStrings(JsonElement item, string property, int index, List<Rejection> rejections, out Dictionary<string, string> map)
    {
        map = new Dictionary<string, string>(StringComparer.Ordinal);
        if (!item.TryGetProperty(property, out var element) || element.ValueKind == JsonValueKind.Null) return true;
        if (element.ValueKind != JsonValueKind.Object)
        {
            rejections.Add(new(RejectReason.InvalidStructure, $"\"{property}\" must be an object of parameter: string, not {Describe(element)}", index));
            return false;
        }
        foreach (var p in element.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.String)
            {
                rejections.Add(new(RejectReason.InvalidStructure, $"\"{property}.{p.Name}\" must be a string, not {Describe(p.Value)}", index));
                return false;
            }
            map[p.Name] = p.Value.GetString()!;
        }
        return true;
    }

    public static bool TryParseTimestamp(JsonElement element, out DateTimeOffset ts, out string error)
    {
        ts = default;
        error = "";
        switch (element.ValueKind)
        {
            case JsonValueKind.Number:
                if (!element.TryGetInt64(out var ms))
                {
                    error = $"epoch milliseconds must be an integer, got {element.GetRawText()}";
                    return false;
                }
                if (ms is < 0 or > MaxEpochMs)
                {
                    error = $"epoch milliseconds {ms} is outside 1970..9999";
                    return false;
                }
                ts = DateTimeOffset.FromUnixTimeMilliseconds(ms);
                return true;
            case JsonValueKind.String:
                var text = element.GetString()!;
                if (!Rfc3339().IsMatch(text) ||
                    !DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.None, out ts))
                {
                    error = $"\"{text}\" is not an RFC 3339 time with a zone (e.g. 2026-03-01T08:00:00+08:00)";
                    return false;
                }
                ts = ts.ToUniversalTime();
                return true;
            default:
                error = $"\"ts\" must be an RFC 3339 string or epoch milliseconds, not {Describe(element)}";
                return false;
        }
    }

    static bool IsNonFiniteWord(string s) =>
        s.Trim().ToLowerInvariant() is "nan" or "inf" or "+inf" or "-inf" or "infinity" or "+infinity" or "-infinity";

    static string Describe(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => $"the string \"{Truncate(e.GetString()!)}\"",
        JsonValueKind.Number => $"the number {e.GetRawText()}",
        JsonValueKind.True or JsonValueKind.False => $"the boolean {e.GetRawText()}",
        _ => "null",
    };

    static string Truncate(string s) => s.Length <= 40 ? s : s[..40] + "…";
}
