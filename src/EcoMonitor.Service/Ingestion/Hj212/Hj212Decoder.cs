using System.Globalization;
using EcoMonitor.Domain;
using EcoMonitor.Service.Stations;

namespace EcoMonitor.Service.Ingestion.Hj212;

/// <summary>Turns HJ 212-2017 packets into readings and statistics of a known station.
/// - Identity: the MN must be a station's <c>mn</c>; a station with a <c>password</c> accepts only packets with that PW.
/// - CN 2011 (real-time, <c>-Rtd</c>/<c>-Flag</c>) gives readings; 2051/2061/2031 (minute/hourly/daily <c>-Avg</c>,
///   <c>-Min</c>, <c>-Max</c>, <c>-Cou</c>, <c>-Flag</c>) give statistics, stored apart; <c>-SampleTime</c> and
///   <c>-EFlag</c> are not stored. Minute and hourly <c>-Avg</c> values with a valid flag count in the hourly rollup
///   (<see cref="Storage.HourlyRollup"/>); daily values are informational (days are built from hours). A minute or
///   hourly DataTime must be the start of its period and the period must have ended
///   (<see cref="ReadingValidator.CheckPeriod"/>).
/// - 9015 (heartbeat) and every other command are noted in the log and not stored.
/// - DataTime is China local time (UTC+8); statistics carry the start of their period.
/// - Split packets (Flag bit D): each part is decoded on its own and answered with its own QN; a part must carry its
///   own DataTime.</summary>
public sealed class Hj212Decoder(Hj212Settings settings, StationRegistry stations, ReadingValidator validator)
{
    readonly IReadOnlyDictionary<string, string> _codes = settings.EffectiveFactorCodes();

    /// <summary>Decodes one data segment into <paramref name="result"/>. Returns the packet when its sender is a known
    /// station with the right password (so it may be answered), null otherwise.</summary>
    /// <param name="index">The frame's position in the message, used as the reading index in rejections.</param>
    /// <param name="expectedStation">The station named by the MQTT topic; null on TCP.</param>
    public Hj212Packet? Decode(string segment, int index, string? expectedStation, DateTimeOffset now, ProcessedMessage result)
    {
        if (!Hj212Packet.TryParse(segment, out var packet, out var error))
        {
            result.Rejections.Add(new(RejectReason.MalformedPacket, error, index));
            return null;
        }
        if (!stations.TryGetByMn(packet.Mn, out var station))
        {
            result.Rejections.Add(new(RejectReason.UnknownDevice, $"MN {packet.Mn} is not the mn of any station in the stations file", index));
            return null;
        }
        result.StationId ??= station.Id;
        if (expectedStation is not null && station.Id != expectedStation)
        {
            result.Rejections.Add(new(RejectReason.StationMismatch, $"MN {packet.Mn} belongs to station {station.Id}, not to {expectedStation} named by the topic", index));
            return null;
        }
        if (station.Password is not null && packet.Pw != station.Password)
        {
            result.Rejections.Add(new(RejectReason.WrongPassword, $"PW does not match the password of station {station.Id}", index));
            return null;
        }
        switch (packet.Cn)
        {
            case "2011":
                RealTime(packet, station, index, now, result);
                break;
            case "2051":
                Statistics(packet, station, StatisticPeriod.Minute, index, now, result);
                break;
            case "2061":
                Statistics(packet, station, StatisticPeriod.Hour, index, now, result);
                break;
            case "2031":
                Statistics(packet, station, StatisticPeriod.Day, index, now, result);
                break;
            case "9015":
                result.Notes.Add($"heartbeat from {station.Id} (MN {packet.Mn})");
                break;
            default:
                result.Notes.Add($"command CN={packet.Cn} from {station.Id} (MN {packet.Mn}) is not stored");
                break;
        }
        return packet;
    }

    /// <summary>Groups CP fields by factor: a34004-Rtd=35, a34004-Flag=N -> a34004: {Rtd: 35, Flag: N}.</summary>
    static Dictionary<string, Dictionary<string, string>> Factors(Hj212Packet packet)
    {
        var factors = new Dictionary<string, Dictionary<string, string>>(StringComparer.Ordinal);
        foreach (var (key, value) in packet.Cp)
        {
            var dash = key.IndexOf('-');
            if (dash <= 0) continue; // DataTime and other packet-level fields
            var code = key[..dash];
            if (!factors.TryGetValue(code, out var fields)) factors[code] = fields = new(StringComparer.Ordinal);
            fields[key[(dash + 1)..]] = value;
        }
        return factors;
    }

    bool TryTime(Hj212Packet packet, int index, ProcessedMessage result, out DateTimeOffset time)
    {
        var text = packet.CpValue("DataTime");
        if (Hj212Packet.TryParseLocalTime(text, out time)) return true;
        result.Rejections.Add(new(RejectReason.InvalidTimestamp, text is null ? "DataTime is missing" : $"DataTime '{text}' is not yyyyMMddHHmmss", index));
        return false;
    }

    string? ParameterOf(string code, int index, ProcessedMessage result)
    {
        if (_codes.TryGetValue(code, out var parameter)) return parameter;
        result.Rejections.Add(new(RejectReason.UnknownFactorCode, $"factor code {code} maps to no parameter (Hj212:FactorCodes)", index, code));
        return null;
    }

    string? UnitOf(Station station, string parameter) =>
        settings.StationUnits.TryGetValue(station.Id, out var units) && units.TryGetValue(parameter, out var unit) ? unit : null;

    void RealTime(Hj212Packet packet, Station station, int index, DateTimeOffset now, ProcessedMessage result)
    {
        if (!TryTime(packet, index, result, out var time)) return;
        var values = new List<RawValue>();
        foreach (var (code, fields) in Factors(packet))
        {
            if (ParameterOf(code, index, result) is not { } parameter) continue;
            if (!fields.TryGetValue("Rtd", out var text))
            {
                result.Rejections.Add(new(RejectReason.MissingValue, $"{code} has no -Rtd value", index, parameter));
                continue;
            }
            if (Number(text, code, "Rtd", parameter, index, result) is { } value)
                values.Add(new RawValue(parameter, value, UnitOf(station, parameter), fields.GetValueOrDefault("Flag")));
        }
        if (values.Count > 0) validator.Validate(station.Id, station, [new RawReading(index, time, values)], now, result.Accepted, result.Rejections);
    }

    void Statistics(Hj212Packet packet, Station station, StatisticPeriod period, int index, DateTimeOffset now, ProcessedMessage result)
    {
        if (!TryTime(packet, index, result, out var start)) return;
        if (validator.CheckPeriod(start, period, now) is { } timeProblem)
        {
            result.Rejections.Add(new(timeProblem.Reason, timeProblem.Detail, index));
            return;
        }
        foreach (var (code, fields) in Factors(packet))
        {
            if (ParameterOf(code, index, result) is not { } parameter) continue;
            double? Field(string name, out bool bad)
            {
                bad = false;
                if (!fields.TryGetValue(name, out var text)) return null;
                var v = Number(text, code, name, parameter, index, result);
                bad = v is null;
                return v;
            }
            var avg = Field("Avg", out var badAvg);
            var min = Field("Min", out var badMin);
            var max = Field("Max", out var badMax);
            var cou = Field("Cou", out var badCou);
            if (badAvg || badMin || badMax || badCou) continue;
            if (avg is null && min is null && max is null && cou is null)
            {
                result.Rejections.Add(new(RejectReason.MissingValue, $"{code} has none of -Avg, -Min, -Max, -Cou", index, parameter));
                continue;
            }
            var unit = UnitOf(station, parameter);
            var flagText = fields.GetValueOrDefault("Flag");
            double? Canonical(double? raw, out (string Reason, string Detail)? problem, out string flag)
            {
                problem = null;
                flag = DataFlags.Normal;
                if (raw is null)
                {
                    if (flagText is not null && !DataFlags.TryNormalize(flagText, out flag))
                        problem = (RejectReason.InvalidFlag, $"flag '{flagText}' is not an HJ 212 data flag");
                    return null;
                }
                problem = validator.Check(station, new RawValue(parameter, raw.Value, unit, flagText), out _, out var c, out flag);
                return c;
            }
            var cAvg = Canonical(avg, out var pAvg, out var flag);
            var cMin = Canonical(min, out var pMin, out _);
            var cMax = Canonical(max, out var pMax, out _);
            if ((pAvg ?? pMin ?? pMax) is { } problem)
            {
                result.Rejections.Add(new(problem.Reason, problem.Detail, index, parameter));
                continue;
            }
            result.Statistics.Add(new AcceptedStatistic(index, new Statistic(station.Id, parameter, period, start, cAvg, cMin, cMax, cou, flag)));
        }
    }

    static double? Number(string text, string code, string field, string parameter, int index, ProcessedMessage result)
    {
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
        {
            result.Rejections.Add(new(RejectReason.InvalidValue, $"{code}-{field} '{text}' is not a number", index, parameter));
            return null;
        }
        if (!double.IsFinite(value))
        {
            result.Rejections.Add(new(RejectReason.NonFiniteValue, $"{code}-{field} '{text}' is not finite", index, parameter));
            return null;
        }
        return value;
    }
}
