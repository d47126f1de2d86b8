using EcoMonitor.Domain;
using EcoMonitor.Service.Hosting;

namespace EcoMonitor.Service.Ingestion;

/// <summary>Checks what decoded readings mean: known parameter of the station's kind, convertible unit, plausible
/// value, HJ 212 flag, time neither ahead of the clock nor too old. Each problem rejects only the value (or, for the
/// time, the reading) it concerns.</summary>
public sealed class ReadingValidator(IngestionSettings settings)
{
    /// <param name="station">null when the station is unknown and the policy accepts it: the kind is not checked.</param>
    public void Validate(string stationId, Station? station, IReadOnlyList<RawReading> raw, DateTimeOffset now,
        List<AcceptedReading> accepted, List<Rejection> rejections)
    {
        foreach (var reading in raw)
        {
            if (CheckTime(reading.Timestamp, now) is { } timeProblem)
            {
                rejections.Add(new(timeProblem.Reason, timeProblem.Detail, reading.Index));
                continue;
            }
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var value in reading.Values)
            {
                var rejection = Check(station, value, out var parameter, out var canonical, out var flag);
                if (rejection is null && !seen.Add(parameter!.Code))
                    rejection = (RejectReason.DuplicateParameter, $"'{value.Name}' repeats {parameter.Code} in the same reading");
                if (rejection is { } r)
                    rejections.Add(new(r.Reason, r.Detail, reading.Index, value.Name));
                else
                    accepted.Add(new AcceptedReading(reading.Index, new Reading(stationId, parameter!.Code, reading.Timestamp, canonical, flag)));
            }
        }
    }

    /// <summary>A time ahead of the clock by more than Ingestion:MaxFutureSkew or older than Ingestion:MaxAge.</summary>
    public (string Reason, string Detail)? CheckTime(DateTimeOffset time, DateTimeOffset now)
    {
        if (time > now + settings.MaxFutureSkew)
            return (RejectReason.TimestampInFuture, $"{time:O} is more than {settings.MaxFutureSkew} ahead of the service clock ({now:O}); Ingestion:MaxFutureSkew");
        if (time < now - settings.MaxAge)
            return (RejectReason.TimestampTooOld, $"{time:O} is older than {settings.MaxAge} (Ingestion:MaxAge)");
        return null;
    }

    /// <summary>Checks one value: parameter, station kind, unit, flag, range. On success gives the canonical value and
    /// the normalised flag.</summary>
    public (string Reason, string Detail)? Check(Station? station, RawValue value, out ParameterInfo? parameter, out double canonical, out string flag)
    {
        canonical = 0;
        flag = DataFlags.Normal;
        if (!Parameters.TryFind(value.Name, out parameter!))
            return (RejectReason.UnknownParameter, $"'{value.Name}' is not a known parameter; known: {string.Join(", ", Parameters.All.Select(p => p.Code))}");
        if (station is not null && !station.Measures(parameter))
            return (RejectReason.ParameterNotForStationKind, $"{parameter.Code} is a {parameter.Kind.ToString().ToLowerInvariant()} parameter; station {station.Id} is a {station.Kind.ToString().ToLowerInvariant()} station");
        if (!Units.TryToCanonical(parameter, value.Unit, value.Value, out canonical))
            return (RejectReason.UnknownUnit, $"unit '{value.Unit}' cannot be converted to {parameter.CanonicalUnit}; accepted: {string.Join(", ", Units.AcceptedSpellings(parameter).Where(s => s.Length > 0))}");
        if (value.Flag is not null && !DataFlags.TryNormalize(value.Flag, out flag))
            return (RejectReason.InvalidFlag, $"flag '{value.Flag}' is not an HJ 212 data flag ({string.Join(", ", DataFlags.All)})");
        var (min, max) = settings.RangeOf(parameter);
        if (canonical < 0 && min >= 0)
            return (RejectReason.NegativeValue, $"{parameter.Code} = {value.Value} is negative");
        if (canonical < min || canonical > max)
            return (RejectReason.OutOfRange, $"{parameter.Code} = {canonical} {parameter.CanonicalUnit} is outside the plausible range {min}..{max} (Ingestion:Ranges:{parameter.Code})");
        return null;
    }
}

/// <summary>A validated reading and its position in the payload (for dead letters about it).</summary>
public readonly record struct AcceptedReading(int Index, Reading Reading);

/// <summary>A validated statistic and its position in the payload.</summary>
public readonly record struct AcceptedStatistic(int Index, Statistic Statistic);
