using EcoMonitor.Domain;
using EcoMonitor.Service.Hosting;

namespace EcoMonitor.Service.Ingestion;

/// <summary>Checks what decoded readings mean: known parameter of the station's kind, convertible unit, plausible
/// value, HJ 212 flag, time neither ahead of the clock nor too old. Each problem rejects only the value (or, for the
/// time, the reading) it concerns. A reading that declares a period (JSON "period": "hour" | "minute") is the
/// station's own mean of that period: it becomes a statistic (measurement <c>stat</c>, avg), checked like an HJ 212
/// CN=2061/2051 value (<see cref="CheckPeriod"/>). <paramref name="maxAgeSetting"/> names the setting that
/// <see cref="IngestionSettings.MaxAge"/> came from in rejections (the historical import passes its own limit).</summary>
public sealed class ReadingValidator(IngestionSettings settings, string maxAgeSetting = "Ingestion:MaxAge")
{
    /// <param name="station">null when the station is unknown and the policy accepts it: the kind is not checked.</param>
    /// <param name="statistics">Where readings that declare a period go.</param>
    public void Validate(string stationId, Station? station, IReadOnlyList<RawReading> raw, DateTimeOffset now,
        List<AcceptedReading> accepted, List<Rejection> rejections, List<AcceptedStatistic>? statistics = null)
    {
        foreach (var reading in raw)
        {
            if (reading.Period is { } period)
            {
                if (statistics is null) throw new InvalidOperationException("a reading with a period needs a list of statistics");
                ValidatePeriodMeans(stationId, station, reading, period, now, rejections, statistics);
                continue;
            }
            if (CheckTime(reading.Timestamp, now) is { } timeProblem)
            {
                rejections.Add(new(timeProblem.Reason, timeProblem.Detail, reading.Index));
                continue;
            }
            ValidateValues(station, reading, rejections, (parameter, canonical, flag) =>
                accepted.Add(new AcceptedReading(reading.Index, new Reading(stationId, parameter, reading.Timestamp, canonical, flag))));
        }
    }

    void ValidatePeriodMeans(string stationId, Station? station, RawReading reading, StatisticPeriod period, DateTimeOffset now,
        List<Rejection> rejections, List<AcceptedStatistic> statistics)
    {
        if (CheckPeriod(reading.Timestamp, period, now) is { } timeProblem)
        {
            rejections.Add(new(timeProblem.Reason, timeProblem.Detail, reading.Index));
            return;
        }
        ValidateValues(station, reading, rejections, (parameter, canonical, flag) =>
            statistics.Add(new AcceptedStatistic(reading.Index, new Statistic(stationId, parameter, period, reading.Timestamp, canonical, null, null, null, flag))));
    }

    /// <summary>Checks each value of one reading (a parameter at most once); hands on the good ones.</summary>
    void ValidateValues(Station? station, RawReading reading, List<Rejection> rejections, Action<string, double, string> accept)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var value in reading.Values)
        {
            var rejection = Check(station, value, out var parameter, out var canonical, out var flag);
            if (rejection is null && !seen.Add(parameter!.Code))
                rejection = (RejectReason.DuplicateParameter, $"'{value.Name}' repeats {parameter.Code} in the same reading");
            if (rejection is { } r)
                rejections.Add(new(r.Reason, r.Detail, reading.Index, value.Name));
            else
                accept(parameter!.Code, canonical, flag);
        }
    }

    /// <summary>The start of a statistic's period. Minute and hourly means must start on a whole minute / hour (HJ 212
    /// statistics carry the START of their period; 08:30 is no hour's start, and guessing which hour was meant would
    /// file a value under the wrong hour), must not be older than Ingestion:MaxAge, and their period must have ended
    /// (within Ingestion:MaxFutureSkew): a mean of an hour still running is not the hour's mean. Daily values
    /// (informational: days are built from hours) get the plain time check.</summary>
    public (string Reason, string Detail)? CheckPeriod(DateTimeOffset start, StatisticPeriod period, DateTimeOffset now)
    {
        var (length, name) = period switch
        {
            StatisticPeriod.Hour => (TimeSpan.FromHours(1), "hour"),
            StatisticPeriod.Minute => (TimeSpan.FromMinutes(1), "minute"),
            _ => (TimeSpan.Zero, "day"),
        };
        if (length == TimeSpan.Zero) return CheckTime(start, now);
        if (start.UtcTicks % length.Ticks != 0)
            return (RejectReason.InvalidTimestamp, $"{ChinaTime.Format(start)} is not the start of a{(name == "hour" ? "n" : "")} {name}: {name}ly means carry the start of their {name} (e.g. {ChinaTime.Format(new DateTimeOffset(start.UtcTicks / length.Ticks * length.Ticks, TimeSpan.Zero))})");
        if (start + length > now + settings.MaxFutureSkew)
            return (RejectReason.TimestampInFuture, $"the {name} from {ChinaTime.Format(start)} has not ended by the service clock ({ChinaTime.Format(now)}, Ingestion:MaxFutureSkew {settings.MaxFutureSkew})");
        return CheckTime(start, now);
    }

    /// <summary>A time ahead of the clock by more than Ingestion:MaxFutureSkew or older than Ingestion:MaxAge.</summary>
    public (string Reason, string Detail)? CheckTime(DateTimeOffset time, DateTimeOffset now)
    {
        if (time > now + settings.MaxFutureSkew)
            return (RejectReason.TimestampInFuture, $"{time:O} is more than {settings.MaxFutureSkew} ahead of the service clock ({now:O}); Ingestion:MaxFutureSkew");
        if (time < now - settings.MaxAge)
            return (RejectReason.TimestampTooOld, $"{time:O} is older than {settings.MaxAge} ({maxAgeSetting})");
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
