using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using EcoMonitor.Domain;
using EcoMonitor.Service.Hosting;
using EcoMonitor.Service.Ingestion;
using EcoMonitor.Service.Ingestion.Hj212;
using EcoMonitor.Service.Stations;
using Microsoft.Extensions.Options;

namespace EcoMonitor.Service.Import;

public enum ImportLineFormat { Csv, Hj212 }

/// <summary>What became of one batch of imported lines. Every <see cref="Rejection.Index"/> and
/// <see cref="AcceptedReading.Index"/> is the line's position in the batch.</summary>
public sealed class ImportedLines
{
    public ProcessedMessage Result { get; } = new("import", null);
    /// <summary>Data lines: not blank, not a CSV header or comment.</summary>
    public int Rows { get; set; }
}

/// <summary>Turns imported lines into validated readings and statistics with the live path's own parts: CSV rows become
/// <see cref="RawReading"/>s checked by <see cref="ReadingValidator"/> (a row with a period is a station mean, exactly
/// like a JSON reading with "period"), HJ 212 lines go through <see cref="Hj212FrameReader"/> and
/// <see cref="Hj212Decoder"/>. The only difference from live data is the age limit: the validator here is built with
/// Import:MaxAge in place of Ingestion:MaxAge (every other ingestion setting, ranges and future skew included, is
/// the live one). Unknown stations follow Ingestion:UnknownStations, as live data does.
///
/// CSV layout (README, "Importing history"): <c>station,time,parameter,value[,flag[,unit[,period]]]</c>, RFC 4180
/// quoting allowed. time is <c>yyyy-MM-dd HH:mm[:ss[.fffffff]]</c> (or with 'T'), optionally followed by Z or an
/// offset (+08:00); without one it is local time of the import's time zone (a time that zone skips or repeats at a
/// daylight-saving change is rejected: it names no single instant). Empty flag: N; empty unit: the parameter's
/// canonical unit; period empty (a reading), "minute" or "hour" (the station's mean of the minute or hour that starts
/// at time). A line whose first two fields are "station" and "time" is a header; lines starting with '#' are
/// comments.</summary>
public sealed partial class ImportProcessor
{
    readonly ReadingValidator _validator;
    readonly Hj212Decoder _hj212;
    readonly Hj212Settings _hj212Settings;
    readonly StationRegistry _stations;
    readonly IngestionSettings _ingestion;
    readonly ImportSettings _settings;

    public ImportProcessor(IOptions<IngestionSettings> ingestion, IOptions<Hj212Settings> hj212, IOptions<ImportSettings> import, StationRegistry stations)
    {
        _ingestion = ingestion.Value;
        _settings = import.Value;
        _hj212Settings = hj212.Value;
        _stations = stations;
        // A copy of every ingestion setting, with the import's age limit.
        var limits = new IngestionSettings();
        foreach (var p in typeof(IngestionSettings).GetProperties().Where(p => p.CanWrite && p.CanRead))
            p.SetValue(limits, p.GetValue(_ingestion));
        limits.MaxAge = _settings.MaxAge;
        _validator = new ReadingValidator(limits, "Import:MaxAge");
        _hj212 = new Hj212Decoder(_hj212Settings, stations, _validator);
    }

    /// <summary>The time zone of local CSV times: an IANA id, "" for China Standard Time.</summary>
    public static bool TryFindZone(string id, out TimeZoneInfo zone, out string error)
    {
        error = "";
        if (id is "" or "Asia/Shanghai")
        {
            // China has kept UTC+8 without daylight saving since 1991; no tz database needed.
            zone = TimeZoneInfo.CreateCustomTimeZone("Asia/Shanghai", ChinaTime.Offset, "China Standard Time", "CST");
            return true;
        }
        try
        {
            zone = TimeZoneInfo.FindSystemTimeZoneById(id);
            return true;
        }
        catch (Exception e) when (e is TimeZoneNotFoundException or InvalidTimeZoneException)
        {
            zone = TimeZoneInfo.Utc;
            error = $"time zone '{id}' is not known (an IANA id such as Asia/Shanghai)";
            return false;
        }
    }

    public ImportedLines Process(ImportLineFormat format, TimeZoneInfo zone, IReadOnlyList<ReadOnlyMemory<byte>> lines, DateTimeOffset now)
    {
        var batch = new ImportedLines();
        var result = batch.Result;
        var byStation = new Dictionary<string, (Station? Station, List<RawReading> Readings)>(StringComparer.Ordinal);
        var fields = new List<string>(8);
        for (var i = 0; i < lines.Count; i++)
        {
            var bytes = TrimLineEnd(lines[i].Span);
            // A UTF-8 byte order mark (spreadsheets save CSV "UTF-8" with one) belongs to no field.
            if (bytes.StartsWith(Utf8Bom)) bytes = bytes[Utf8Bom.Length..];
            if (IsBlank(bytes)) continue;
            if (format == ImportLineFormat.Csv && bytes[0] == (byte)'#') continue;
            if (bytes.Length > _settings.MaxLineBytes)
            {
                batch.Rows++;
                result.Rejections.Add(new(RejectReason.PayloadTooLarge, $"the line has {bytes.Length} bytes; at most {_settings.MaxLineBytes} (Import:MaxLineBytes)", i));
                continue;
            }
            if (!System.Text.Unicode.Utf8.IsValid(bytes))
            {
                batch.Rows++;
                result.Rejections.Add(new(RejectReason.InvalidUtf8, "the line is not valid UTF-8", i));
                continue;
            }
            if (format == ImportLineFormat.Hj212)
            {
                batch.Rows++;
                DecodeFrames(bytes, i, now, result);
                continue;
            }
            var text = Encoding.UTF8.GetString(bytes);
            if (!SplitCsv(text, fields))
            {
                batch.Rows++;
                result.Rejections.Add(new(RejectReason.InvalidStructure, "a quoted field is not closed", i));
                continue;
            }
            if (fields.Count >= 2 && fields[0].Trim().Equals("station", StringComparison.OrdinalIgnoreCase) && fields[1].Trim().Equals("time", StringComparison.OrdinalIgnoreCase))
                continue; // header
            batch.Rows++;
            if (DecodeRow(fields, i, zone, result.Rejections, out var stationId) is not { } reading) continue;
            if (!byStation.TryGetValue(stationId, out var entry))
            {
                Station? station = null;
                if (_stations.TryGet(stationId, out var known)) station = known;
                else if (_ingestion.UnknownStations == UnknownStationPolicy.Reject)
                {
                    result.Rejections.Add(new(RejectReason.UnknownStation, $"station '{stationId}' is not in the stations file (Ingestion:UnknownStations = Reject)", i));
                    continue;
                }
                byStation[stationId] = entry = (station, []);
            }
            entry.Readings.Add(reading);
        }
        foreach (var (stationId, (station, readings)) in byStation)
            _validator.Validate(stationId, station, readings, now, result.Accepted, result.Rejections, result.Statistics);
        return batch;
    }

    /// <summary>One line of an HJ 212 log: its frame(s), each decoded as if it had arrived on the TCP listener.</summary>
    void DecodeFrames(ReadOnlySpan<byte> line, int index, DateTimeOffset now, ProcessedMessage result)
    {
        var reader = new Hj212FrameReader(_hj212Settings.MaxSegmentLength);
        reader.Append(line);
        reader.Append("\r\n"u8); // the log's line end was taken off; a frame ends with CR LF
        var frames = new List<FrameResult>(1);
        reader.Read(frames);
        reader.Finish(frames);
        foreach (var frame in frames)
        {
            if (frame.IsFrame) _hj212.Decode(frame.Segment!, index, null, now, result);
            else result.Rejections.Add(new(RejectReason.BadFrame, frame.Error!, index));
        }
        if (frames.Count == 0) result.Rejections.Add(new(RejectReason.BadFrame, "no HJ 212 frame in the line", index));
    }

    RawReading? DecodeRow(List<string> fields, int index, TimeZoneInfo zone, List<Rejection> rejections, out string stationId)
    {
        stationId = "";
        if (fields.Count is < 4 or > 7)
        {
            rejections.Add(new(RejectReason.InvalidStructure, $"{fields.Count} field(s); a row is station,time,parameter,value[,flag[,unit[,period]]]", index));
            return null;
        }
        string Field(int i) => i < fields.Count ? fields[i].Trim() : "";
        stationId = Field(0);
        if (!Station.IsValidId(stationId))
        {
            rejections.Add(new(RejectReason.InvalidStationId, $"'{stationId}' is not a valid station id ({Station.IdPattern})", index));
            return null;
        }
        if (!TryParseTime(Field(1), zone, out var time, out var timeError))
        {
            rejections.Add(new(RejectReason.InvalidTimestamp, timeError, index));
            return null;
        }
        var parameter = Field(2);
        var valueText = Field(3);
        if (!double.TryParse(valueText, NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
        {
            rejections.Add(new(RejectReason.InvalidValue, $"'{valueText}' is not a number", index, parameter));
            return null;
        }
        if (!double.IsFinite(value))
        {
            rejections.Add(new(RejectReason.NonFiniteValue, $"'{valueText}' is not a finite number", index, parameter));
            return null;
        }
        StatisticPeriod? period = null;
        switch (Field(6).ToLowerInvariant())
        {
            case "":
                break;
            case "hour":
                period = StatisticPeriod.Hour;
                break;
            case "minute":
                period = StatisticPeriod.Minute;
                break;
            default:
                rejections.Add(new(RejectReason.InvalidStructure, $"period '{Field(6)}' is not empty, \"hour\" or \"minute\"", index, parameter));
                return null;
        }
        var flag = Field(4);
        var unit = Field(5);
        return new RawReading(index, time, [new RawValue(parameter, value, unit.Length == 0 ? null : unit, flag.Length == 0 ? null : flag)], period);
    }

    // yyyy-MM-dd HH:mm[:ss[.f…]] with 'T' or a space, then optionally Z or ±hh:mm.
    [GeneratedRegex(@"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?\s*([Zz]|[+-]\d{2}:\d{2})?$", RegexOptions.CultureInvariant)]
    private static partial Regex TimePattern();

    /// <summary>A CSV time: zoned (Z, ±hh:mm) as given, local in <paramref name="zone"/> otherwise.</summary>
    public static bool TryParseTime(string text, TimeZoneInfo zone, out DateTimeOffset time, out string error)
    {
        time = default;
        error = "";
        var m = TimePattern().Match(text);
        DateTime local;
        try
        {
            if (!m.Success) throw new FormatException();
            int N(int g) => m.Groups[g].Success ? int.Parse(m.Groups[g].ValueSpan, CultureInfo.InvariantCulture) : 0;
            local = new DateTime(N(1), N(2), N(3), N(4), N(5), N(6), DateTimeKind.Unspecified);
            if (m.Groups[7].Success) local = local.AddTicks(long.Parse(m.Groups[7].Value.PadRight(7, '0'), CultureInfo.InvariantCulture));
        }
        catch (Exception e) when (e is FormatException or ArgumentOutOfRangeException)
        {
            error = $"'{Shorten(text)}' is not a time yyyy-MM-dd HH:mm[:ss] (local) or with Z / ±hh:mm";
            return false;
        }
        if (m.Groups[8].Success)
        {
            var z = m.Groups[8].Value;
            var offset = z is "Z" or "z" ? TimeSpan.Zero
                : (z[0] == '-' ? -1 : 1) * new TimeSpan(int.Parse(z.AsSpan(1, 2), CultureInfo.InvariantCulture), int.Parse(z.AsSpan(4, 2), CultureInfo.InvariantCulture), 0);
            if (offset.Duration() > TimeSpan.FromHours(14) || local.Ticks - offset.Ticks < 0 || local.Ticks - offset.Ticks > DateTime.MaxValue.Ticks)
            {
                error = $"'{text}': offset {z} is out of range";
                return false;
            }
            time = new DateTimeOffset(local, offset).ToUniversalTime();
            return true;
        }
        if (zone.IsInvalidTime(local))
        {
            error = $"'{text}' does not exist in {zone.Id} (skipped at a daylight-saving change); give an offset";
            return false;
        }
        if (zone.IsAmbiguousTime(local))
        {
            error = $"'{text}' occurs twice in {zone.Id} (a daylight-saving change); give an offset";
            return false;
        }
        try
        {
            time = new DateTimeOffset(local, zone.GetUtcOffset(local)).ToUniversalTime();
        }
        catch (ArgumentOutOfRangeException)
        {
            error = $"'{text}' is out of range in {zone.Id}";
            return false;
        }
        return true;
    }

    static string Shorten(string s) => s.Length <= 40 ? s : s[..40] + "…";

    /// <summary>Splits a CSV line at commas; a field may be quoted ("a,b", "" for a quote). False when a quote is not
    /// closed.</summary>
    public static bool SplitCsv(string line, List<string> fields)
    {
        fields.Clear();
        var i = 0;
        while (true)
        {
            if (i < line.Length && line[i] == '"')
            {
                var sb = new StringBuilder();
                i++;
                while (true)
                {
                    if (i >= line.Length) return false;
                    if (line[i] == '"')
                    {
                        if (i + 1 < line.Length && line[i + 1] == '"')
                        {
                            sb.Append('"');
                            i += 2;
                            continue;
                        }
                        i++;
                        break;
                    }
                    sb.Append(line[i++]);
                }
                // Anything between the closing quote and the next comma is kept (lenient, like most spreadsheets).
                var comma = line.IndexOf(',', i);
                sb.Append(comma < 0 ? line.AsSpan(i) : line.AsSpan(i, comma - i));
                fields.Add(sb.ToString());
                if (comma < 0) return true;
                i = comma + 1;
            }
            else
            {
                var comma = line.IndexOf(',', i);
                fields.Add(comma < 0 ? line[i..] : line[i..comma]);
                if (comma < 0) return true;
                i = comma + 1;
            }
        }
    }

    static ReadOnlySpan<byte> Utf8Bom => [0xEF, 0xBB, 0xBF];

    static ReadOnlySpan<byte> TrimLineEnd(ReadOnlySpan<byte> line)
    {
        while (line.Length > 0 && line[^1] is (byte)'\r' or (byte)'\n') line = line[..^1];
        return line;
    }

    static bool IsBlank(ReadOnlySpan<byte> line)
    {
        foreach (var b in line)
            if (b is not ((byte)' ' or (byte)'\t')) return false;
        return true;
    }
}
