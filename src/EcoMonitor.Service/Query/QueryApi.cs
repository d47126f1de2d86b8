using System.Globalization;
using EcoMonitor.Api.V1;
using EcoMonitor.Domain;
using EcoMonitor.Domain.Standards;
using EcoMonitor.Service.Stations;
using EcoMonitor.Service.Storage;
using Grpc.Core;
using Microsoft.Extensions.Options;
using DomainStation = EcoMonitor.Domain.Station;
using DomainKind = EcoMonitor.Domain.StationKind;
using Statistic = EcoMonitor.Api.V1.Statistic;

namespace EcoMonitor.Service.Query;

/// <summary>The officers' query API (protos/ecomonitor/v1/query.proto). Arguments are checked first and a bad one is
/// INVALID_ARGUMENT naming its field; an unreachable InfluxDB is UNAVAILABLE.</summary>
public sealed class QueryApi(
    StationRegistry stations,
    ReadingQueries queries,
    IOptions<ApiSettings> api,
    IOptions<VocSettings> voc,
    ReadingBroadcast broadcast,
    HourlyRollup rollup,
    StandardsCatalog standards,
    TargetCalculator target,
    ILogger<QueryApi> log,
    TimeProvider time) : QueryService.QueryServiceBase
{
    readonly Aggregator Aggregator = new(standards.Air);
    readonly AirFigures Figures = new(standards.Air);
    readonly AqiEdition Aqi = standards.Aqi;
    readonly WaterQualityStandard Water = standards.Water;
    const int MaxDays = 3 * 366 + 1;

    public override Task<ListStationsResponse> ListStations(ListStationsRequest request, ServerCallContext context)
    {
        var response = new ListStationsResponse();
        response.Stations.AddRange(stations.All
            .Where(s => request.Kind == Api.V1.StationKind.Unspecified || ApiMapping.ToApi(s.Kind) == request.Kind)
            .Where(s => request.Region.Length == 0 || s.Region == request.Region)
            .OrderBy(s => s.Id, StringComparer.Ordinal)
            .Select(ApiMapping.ToApi));
        return Task.FromResult(response);
    }

    public override Task<Api.V1.Station> GetStation(GetStationRequest request, ServerCallContext context) =>
        Task.FromResult(ApiMapping.ToApi(Known(request.Id, "id")));

    public override async Task<AggregateResponse> Aggregate(AggregateRequest request, ServerCallContext context)
    {
        if (!Parameters.TryFind(request.Parameter, out var parameter) || parameter.Code != request.Parameter)
            throw Invalid("parameter", $"'{Printable(request.Parameter)}' is not a parameter code; known: {string.Join(", ", Parameters.All.Select(p => p.Code))}");
        var period = PeriodOf(request.Period, "period");
        var (from, to) = Range(request.From, request.To);
        // 0: the annual evaluation's percentile of the figure (HJ 663): 90 for O3's daily maximum 8-hour means, else 95.
        var percentile = request.Percentile != 0 ? request.Percentile : request.Statistic == Statistic.O3DailyMax8H ? 90 : 95;
        if (percentile is < 0 or > 100 || !double.IsFinite(percentile)) throw Invalid("percentile", "must be within 0..100");
        var (selected, region) = Select(request.Selection, parameter.Kind);

        if (request.Statistic != Statistic.Mean && parameter.Code != Parameters.O3)
            throw Invalid("statistic", $"{request.Statistic} is a statistic of o3 only");
        if (request.Statistic == Statistic.O38HMoving && period != AggregatePeriod.Hour)
            throw Invalid("statistic", "the O3 8-hour moving mean is hourly: use PERIOD_HOUR");
        if (request.Statistic == Statistic.O3DailyMax8H && period == AggregatePeriod.Hour)
            throw Invalid("statistic", "the O3 daily maximum 8-hour mean is daily: use PERIOD_DAY, PERIOD_MONTH or PERIOD_YEAR");
        if (request.Statistic is not (Statistic.Mean or Statistic.O38HMoving or Statistic.O3DailyMax8H))
            throw Invalid("statistic", "one of STATISTIC_MEAN, STATISTIC_O3_8H_MOVING, STATISTIC_O3_DAILY_MAX_8H");

        // Hours and days are built from the hourly rollup; months and years from the daily one. O3's 8-hour figures
        // are built from the hourly rollup at every period (the moving mean of the first hours reaches back 7 hours).
        var ids = selected.Select(s => s.Id).ToList();
        var aggregator = Aggregator.For(parameter.Code);
        Func<string, IReadOnlyList<BucketValue>> build;
        if (request.Statistic != Statistic.Mean)
        {
            var hourly = await Guarded(() => queries.HourlyAsync(ids, parameter.Code, ChinaTime.StartOf(from).AddHours(-7), ChinaTime.StartOf(to.AddDays(1)), context.CancellationToken));
            build = id =>
            {
                var valid = Figures.ValidHours(hourly[id]);
                return request.Statistic == Statistic.O38HMoving ? Figures.EightHourMoving(valid, from, to)
                    : period == AggregatePeriod.Day ? Figures.DailyMaxEightHours(valid, from, to)
                    : Aggregator.FromDays(Figures.ValidDailyMaxEightHours(valid, from, to), period, from, to, percentile);
            };
        }
        else if (period is AggregatePeriod.Hour or AggregatePeriod.Day)
        {
            var hourly = await Guarded(() => queries.HourlyAsync(ids, parameter.Code, ChinaTime.StartOf(from), ChinaTime.StartOf(to.AddDays(1)), context.CancellationToken));
            build = id => aggregator.Build(hourly[id], period, from, to, percentile);
        }
        else
        {
            var daily = await Guarded(() => queries.DailyAsync(ids, parameter.Code, from, to, context.CancellationToken));
            build = id => aggregator.FromDays(aggregator.ValidDays(daily[id]), period, from, to, percentile);
        }
        var response = new AggregateResponse
        {
            Parameter = parameter.Code,
            Unit = parameter.CanonicalUnit,
            Period = request.Period,
            Standard = Aggregator.Standard.Name,
        };
        var perStation = new List<IReadOnlyList<BucketValue>>();
        foreach (var s in selected)
        {
            var buckets = build(s.Id);
            perStation.Add(buckets);
            response.Stations.Add(ApiMapping.ToApi(s.Id, buckets));
        }
        if (region is not null) response.Region = ApiMapping.ToApi("", aggregator.RegionOf(perStation, selected.Count));
        return response;
    }

    public override async Task<AqiResponse> GetAqi(AqiRequest request, ServerCallContext context)
    {
        var period = PeriodOf(request.Period, "period");
        if (period is not (AggregatePeriod.Hour or AggregatePeriod.Day)) throw Invalid("period", "AQI is hourly or daily");
        var (from, to) = Range(request.From, request.To);
        var (selected, region) = Select(request.Selection, DomainKind.Air);
        var ids = selected.Select(s => s.Id).ToList();
        // The hourly report's moving means reach back 23 hours (PM, SO2 24-hour) and 7 hours (O3 8-hour).
        var start = period == AggregatePeriod.Hour ? ChinaTime.StartOf(from).AddHours(-23) : ChinaTime.StartOf(from);
        var valid = ids.ToDictionary(id => id, _ => new Dictionary<string, Dictionary<DateTimeOffset, double>>());
        foreach (var pollutant in Parameters.CriteriaPollutants)
        {
            var hourly = await Guarded(() => queries.HourlyAsync(ids, pollutant, start, ChinaTime.StartOf(to.AddDays(1)), context.CancellationToken));
            foreach (var id in ids) valid[id][pollutant] = Figures.ValidHours(hourly[id]);
        }
        var buckets = new List<DateTimeOffset>();
        if (period == AggregatePeriod.Hour)
            for (var t = ChinaTime.StartOf(from); t < ChinaTime.StartOf(to.AddDays(1)); t = t.AddHours(1)) buckets.Add(t);
        else
            for (var d = from; d <= to; d = d.AddDays(1)) buckets.Add(ChinaTime.StartOf(d));
        var particulates = standards.HourlyParticulates;
        var concentrations = ids.ToDictionary(id => id, id => buckets.Select(b => period == AggregatePeriod.Hour
            ? Figures.Hour(valid[id], b, particulates)
            : Figures.Day(valid[id], ChinaTime.DateOf(b))).ToList());
        AqiResult? Report(Dictionary<string, double> c) =>
            period == AggregatePeriod.Hour ? AqiReport.Hourly(Aqi, c, particulates) : AqiReport.Daily(Aqi, c);

        var response = new AqiResponse { Edition = Aqi.Name, HourlyParticulates = particulates == HourlyParticulates.HourMean ? "hour-mean" : "moving-24h" };
        foreach (var s in selected)
            response.Stations.Add(AqiSeries(s.Id, buckets, concentrations[s.Id].Select(Report).ToList()));
        if (region is not null)
            response.Region = AqiSeries("", buckets, buckets.Select((_, i) => Report(AirFigures.Region(ids.Select(id => concentrations[id][i])))).ToList());
        return response;
    }

    static AqiSeries AqiSeries(string station, List<DateTimeOffset> buckets, List<AqiResult?> results)
    {
        var series = new AqiSeries { StationId = station };
        for (var i = 0; i < buckets.Count; i++)
            if (results[i] is { } r) series.Values.Add(ApiMapping.ToApi(buckets[i], r)); // no AQI without a valid value
        return series;
    }

    public override async Task<TargetProgressResponse> GetTargetProgress(TargetProgressRequest request, ServerCallContext context)
    {
        var asOf = request.AsOf.Length == 0 ? ChinaTime.DateOf(time.GetUtcNow()).AddDays(-1) : Date(request.AsOf, "as_of");
        var targetPercent = request.TargetPercent == 0 ? api.Value.TargetPercent : request.TargetPercent;
        if (!double.IsFinite(targetPercent) || targetPercent is >= 0 or < -100) throw Invalid("target_percent", "must be a reduction between -100 and 0");
        if (request.PastYears is < 0 or > 10) throw Invalid("past_years", "must be within 0..10");
        var zone = IsEmpty(request.Selection);
        var (selected, region) = zone
            ? (stations.All.Where(s => s.Kind == DomainKind.Air).OrderBy(s => s.Id, StringComparer.Ordinal).ToList(), null)
            : Select(request.Selection!, DomainKind.Air);
        if (selected.Count == 0) throw Invalid("selection", "no air stations");

        var statuses = await Guarded(() => target.ComputeAsync(selected, zone ? "zone" : region is null ? null : $"region:{region}", asOf, targetPercent,
            request.PastYears, context.CancellationToken));
        var response = new TargetProgressResponse { AsOf = asOf.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture) };
        foreach (var status in statuses)
        {
            var item = new YearOverYear
            {
                Scope = status.Scope,
                CurrentDays = status.Current.Days,
                PreviousDays = status.Previous.Days,
                TargetPercent = targetPercent,
                VerdictPolicy = target.Policy == TargetVerdictPolicy.Exact ? "exact" : "rounded-means",
                Note = string.Join("; ", new[] { status.Current.Note, status.Previous.Note }.Where(n => n.Length > 0)),
                FullYear = status.Current.FullYear,
                Valid = status.Progress is not null,
            };
            if (status.Current.Mean is { } c) item.CurrentMean = c;
            if (status.Previous.Mean is { } p) item.PreviousMean = p;
            if (status.Progress is { } progress)
            {
                item.ChangePercent = progress.ChangePercent;
                item.RoundedChangePercent = progress.RoundedChangePercent;
                item.OnTrack = progress.OnTrack;
            }
            if (status.ProjectedAnnualMean is { } projected) item.ProjectedAnnualMean = projected;
            if (status.RequiredRemainingMean is { } required && double.IsFinite(required)) item.RequiredRemainingMean = required;
            response.Progress.Add(item);

            for (var year = asOf.Year - 1; year >= asOf.Year - request.PastYears; year--)
            {
                var annual = Aggregator.Standard.AnnualMean(status.Daily.Where(kv => kv.Key.Year == year).ToDictionary());
                var before = Aggregator.Standard.AnnualMean(status.Daily.Where(kv => kv.Key.Year == year - 1).ToDictionary());
                var figure = new AnnualFigure { Scope = status.Scope, Year = year, Valid = annual.IsValid, ValidDays = annual.ValidDays };
                if (annual.Value is { } a)
                {
                    figure.Mean = a;
                    if (before.Value is { } b && b > 0) figure.ChangePercent = (a - b) / b * 100;
                }
                else figure.Note = Aggregator.AnnualNote(annual);
                response.Years.Add(figure);
            }
        }
        return response;
    }

    /// <summary>HJ 663 evaluation of 1 January .. as_of and of the same span of the previous year. Daily means of
    /// SO2, NO2, CO, PM10, PM2.5 come from the daily rollup (valid with MinHoursPerDay valid hours); O3's daily
    /// maximum 8-hour and 1-hour means from the hourly rollup. A region's or the zone's daily values are the means of
    /// its stations' valid daily values, evaluated like a station's.</summary>
    public override async Task<EvaluateYearResponse> EvaluateYear(EvaluateYearRequest request, ServerCallContext context)
    {
        var today = ChinaTime.DateOf(time.GetUtcNow());
        if (request.Year < 2000 || request.Year > today.Year) throw Invalid("year", $"must be within 2000..{today.Year}");
        DateOnly asOf;
        if (request.AsOf.Length > 0)
        {
            asOf = Date(request.AsOf, "as_of");
            if (asOf.Year != request.Year) throw Invalid("as_of", $"must be a day of {request.Year}");
        }
        else asOf = request.Year < today.Year ? new DateOnly(request.Year, 12, 31) : today.AddDays(-1);
        if (asOf.Year != request.Year) throw Invalid("year", $"{request.Year} has no complete day yet");
        var zone = IsEmpty(request.Selection);
        var (selected, region) = zone
            ? (stations.All.Where(s => s.Kind == DomainKind.Air).OrderBy(s => s.Id, StringComparer.Ordinal).ToList(), null)
            : Select(request.Selection!, DomainKind.Air);
        if (selected.Count == 0) throw Invalid("selection", "no air stations");

        var ids = selected.Select(s => s.Id).ToList();
        var (from, ct) = (new DateOnly(asOf.Year - 1, 1, 1), context.CancellationToken);
        var daily = ids.ToDictionary(id => id, _ => new Dictionary<string, IReadOnlyDictionary<DateOnly, double>>());
        foreach (var pollutant in new[] { Parameters.So2, Parameters.No2, Parameters.Co, Parameters.Pm10, Parameters.Pm25 })
        {
            var days = await Guarded(() => queries.DailyAsync(ids, pollutant, from, asOf, ct));
            foreach (var id in ids) daily[id][pollutant] = Aggregator.ValidDays(days[id]);
        }
        var o3 = await Guarded(() => queries.HourlyAsync(ids, Parameters.O3, ChinaTime.StartOf(from), ChinaTime.StartOf(asOf.AddDays(1)), ct));
        foreach (var id in ids)
        {
            var valid = Figures.ValidHours(o3[id]);
            daily[id][AqiReport.O3EightHours] = Figures.ValidDailyMaxEightHours(valid, from, asOf);
            daily[id][AqiReport.O3OneHour] = AirFigures.DailyMaxOneHour(valid);
        }
        var scopes = ids.Select(id => (Scope: id, Daily: (IReadOnlyDictionary<string, IReadOnlyDictionary<DateOnly, double>>)daily[id])).ToList();
        if (zone || region is not null)
            scopes.Add((zone ? "zone" : $"region:{region}", AnnualEvaluation.Combine([.. ids.Select(id => (IReadOnlyDictionary<string, IReadOnlyDictionary<DateOnly, double>>)daily[id])])));

        var response = new EvaluateYearResponse
        {
            AsOf = asOf.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
            Standard = Aggregator.Standard.Name,
            Edition = Aqi.Name,
        };
        foreach (var (scope, days) in scopes)
        {
            var current = AnnualEvaluation.Evaluate(Aggregator.Standard, Aqi, days, asOf);
            var previous = AnnualEvaluation.Evaluate(Aggregator.Standard, Aqi, days, TargetCalculator.SameDayLastYear(asOf));
            var item = new ScopeEvaluation { Scope = scope, Current = ApiMapping.ToApi(current, previous), Previous = ApiMapping.ToApi(previous, null) };
            if (AnnualEvaluation.ChangePercent(current.CompositeIndex, previous.CompositeIndex) is { } dc) item.CompositeIndexChangePercent = dc;
            if (current.GoodDayShare is { } now && previous.GoodDayShare is { } before) item.GoodDayShareChangePoints = now - before;
            response.Scopes.Add(item);
        }
        return response;
    }

    public override async Task<WaterQualityResponse> GetWaterQuality(WaterQualityRequest request, ServerCallContext context)
    {
        var (from, to) = Range(request.From, request.To);
        var sections = IsEmpty(request.Selection)
            ? stations.All.Where(s => s.Kind == DomainKind.Water).OrderBy(s => s.Id, StringComparer.Ordinal).ToList()
            : Select(request.Selection, DomainKind.Water).Stations;
        var response = new WaterQualityResponse { Standard = Water.Name };
        foreach (var section in sections)
        {
            var means = await Guarded(() => queries.PeriodMeansAsync(section.Id, ChinaTime.StartOf(from), ChinaTime.StartOf(to.AddDays(1)), context.CancellationToken));
            var e = Water.Evaluate(means, section.WaterBody!.Value, section.TargetClass!.Value);
            var quality = new SectionQuality
            {
                StationId = section.Id,
                WaterClass = e.SectionClass?.Roman() ?? "",
                TargetClass = section.TargetClass.Value.Roman(),
            };
            // No evaluable parameter: no class and so no verdict (absent, not false; JSON omits meetsTarget).
            if (e.SectionClass is not null) quality.MeetsTarget = e.MeetsTarget;
            quality.Parameters.AddRange(e.ParameterClasses.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => new ParameterClass
            {
                Parameter = kv.Key,
                Mean = means[kv.Key],
                WaterClass = kv.Value.Roman(),
                FailsTarget = kv.Value > e.Target,
            }));
            quality.FailingParameters.AddRange(e.FailingParameters);
            response.Sections.Add(quality);
        }
        return response;
    }

    public override async Task<LatestResponse> GetLatest(LatestRequest request, ServerCallContext context)
    {
        var hours = request.WithinHours == 0 ? 24 : request.WithinHours;
        if (hours is < 1 or > 24 * 366) throw Invalid("within_hours", "must be within 1..8784");
        var selected = IsEmpty(request.Selection)
            ? stations.All.OrderBy(s => s.Id, StringComparer.Ordinal).ToList()
            : SelectAnyKind(request.Selection);
        var response = new LatestResponse();
        if (selected.Count == 0) return response;
        // Raw readings and the stations' own minute/hourly means: an hourly-only station has latest values too.
        var latest = await Guarded(() => queries.LatestReportedAsync(selected.Select(s => s.Id).ToList(), time.GetUtcNow().AddHours(-hours), context.CancellationToken));
        response.Readings.AddRange(latest.Select(v =>
        {
            var reading = ApiMapping.ToApi(v.Reading);
            reading.Period = v.Period;
            return reading;
        }));
        return response;
    }

    public override async Task<ListReadingsResponse> ListReadings(ListReadingsRequest request, ServerCallContext context)
    {
        var station = Known(request.StationId, "station_id");
        string? parameter = null;
        if (request.Parameter.Length > 0)
        {
            if (!Parameters.TryFind(request.Parameter, out var p) || p.Code != request.Parameter)
                throw Invalid("parameter", $"'{Printable(request.Parameter)}' is not a parameter code");
            parameter = p.Code;
        }
        var from = Instant(request.From, "from");
        var to = Instant(request.To, "to");
        if (to <= from) throw Invalid("to", "must be after from");
        var size = request.PageSize == 0 ? 1000 : request.PageSize;
        if (size is < 1 or > 5000) throw Invalid("page_size", "must be within 1..5000");
        long offset = 0;
        if (request.PageToken.Length > 0 && !long.TryParse(request.PageToken, NumberStyles.None, CultureInfo.InvariantCulture, out offset))
            throw Invalid("page_token", "is not a token this API gave");
        // One more than asked tells whether there is a next page.
        var rows = await Guarded(() => queries.ReadingsAsync(station.Id, parameter, from, to, size + 1, offset, context.CancellationToken));
        var response = new ListReadingsResponse();
        response.Readings.AddRange(rows.Take(size).Select(ApiMapping.ToApi));
        if (rows.Count > size) response.NextPageToken = (offset + size).ToString(CultureInfo.InvariantCulture);
        return response;
    }

    public override async Task Watch(WatchRequest request, IServerStreamWriter<Api.V1.Reading> responseStream, ServerCallContext context)
    {
        var ids = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < request.StationIds.Count; i++) ids.Add(Known(request.StationIds[i], $"station_ids[{i}]").Id);
        DomainKind? kind = request.Kind switch
        {
            Api.V1.StationKind.Unspecified => null,
            Api.V1.StationKind.Air => DomainKind.Air,
            Api.V1.StationKind.Voc => DomainKind.Voc,
            Api.V1.StationKind.Water => DomainKind.Water,
            _ => throw Invalid("kind", "unknown station kind"),
        };
        using var watcher = broadcast.Subscribe(r =>
            (ids.Count == 0 || ids.Contains(r.StationId)) &&
            (kind is null || Parameters.Get(r.Parameter).Kind == kind));
        try
        {
            await foreach (var reading in watcher.Reader.ReadAllAsync(context.CancellationToken))
                await responseStream.WriteAsync(ApiMapping.ToApi(reading), context.CancellationToken);
        }
        catch (OperationCanceledException) when (context.CancellationToken.IsCancellationRequested)
        {
            // the watcher went away
        }
    }

    public override async Task<VocExceedancesResponse> GetVocExceedances(VocExceedancesRequest request, ServerCallContext context)
    {
        var (from, to) = Range(request.From, request.To);
        var selected = IsEmpty(request.Selection)
            ? stations.All.Where(s => s.Kind == DomainKind.Voc).OrderBy(s => s.Id, StringComparer.Ordinal).ToList()
            : Select(request.Selection, DomainKind.Voc).Stations;
        var response = new VocExceedancesResponse();
        foreach (var station in selected)
        {
            var (hourlyLimit, singleLimit) = voc.Value.LimitsFor(station.Id);
            var (start, end) = (ChinaTime.StartOf(from), ChinaTime.StartOf(to.AddDays(1)));
            var hours = await Guarded(() => queries.HourlyAsync([station.Id], Parameters.Nmhc, start, end, context.CancellationToken));
            var singles = await Guarded(() => queries.AboveAsync(station.Id, Parameters.Nmhc, singleLimit, start, end, context.CancellationToken));
            var item = new VocStationExceedances { StationId = station.Id, HourlyLimit = hourlyLimit, SingleLimit = singleLimit };
            // The 1-hour average over the limit (hours with at least 45 minutes of data, as for every hourly mean).
            item.Exceedances.AddRange(hours[station.Id]
                .Where(h => Aggregator.IsValidHour(h) && h.Mean > hourlyLimit)
                .Select(h => new VocExceedance { Time = ChinaTime.Format(h.Start), Value = h.Mean, Limit = hourlyLimit, Kind = "hourly-mean" }));
            item.Exceedances.AddRange(singles.Select(r => new VocExceedance { Time = ChinaTime.Utc(r.Timestamp), Value = r.Value, Limit = singleLimit, Kind = "single-value" }));
            response.Stations.Add(item);
        }
        return response;
    }

    public override async Task<RebuildRollupsResponse> RebuildRollups(RebuildRollupsRequest request, ServerCallContext context)
    {
        var (from, to) = Range(request.From, request.To);
        var started = time.GetTimestamp();
        await Guarded(async () =>
        {
            await rollup.RebuildAsync(ChinaTime.StartOf(from), ChinaTime.StartOf(to.AddDays(1)), context.CancellationToken);
            return true;
        });
        var seconds = time.GetElapsedTime(started).TotalSeconds;
        log.LogInformation("Rollups rebuilt for {From}..{To} in {Seconds:0.0} s", from, to, seconds);
        return new RebuildRollupsResponse { Seconds = seconds };
    }

    // ---- arguments ----

    static bool IsEmpty([System.Diagnostics.CodeAnalysis.NotNullWhen(false)] Selection? selection) =>
        selection is null || (selection.StationIds.Count == 0 && selection.Region.Length == 0);

    List<DomainStation> SelectAnyKind(Selection selection)
    {
        if (selection.StationIds.Count > 0 && selection.Region.Length > 0) throw Invalid("selection", "name station_ids or a region, not both");
        if (selection.Region.Length > 0)
            return [.. stations.All.Where(s => s.Region == selection.Region).OrderBy(s => s.Id, StringComparer.Ordinal)];
        return [.. selection.StationIds.Select((id, i) => Known(id, $"selection.station_ids[{i}]")).Distinct()];
    }

    internal static DateTimeOffset Instant(string text, string field) =>
        DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t) && text.Contains('T')
            ? t.ToUniversalTime() : throw Invalid(field, $"'{Printable(text)}' is not an RFC 3339 instant");

    internal static RpcException Invalid(string field, string message) => new(new Status(StatusCode.InvalidArgument, $"{field}: {message}"));

    /// <summary>Identifiers are echoed in errors only when they are plain; anything else is described, not repeated.</summary>
    static string Printable(string s) => s.Length <= 64 && s.All(c => char.IsLetterOrDigit(c) || c is '-' or '_' or '.') ? s : $"<{s.Length} characters>";

    DomainStation Known(string id, string field)
    {
        if (!DomainStation.IsValidId(id)) throw Invalid(field, $"'{Printable(id)}' is not a station id ({DomainStation.IdPattern})");
        if (!stations.TryGet(id, out var s)) throw Invalid(field, $"no station '{id}'");
        return s;
    }

    (List<DomainStation> Stations, string? Region) Select(Selection? selection, DomainKind kind)
    {
        if (IsEmpty(selection))
            throw Invalid("selection", "name station_ids or a region");
        if (selection.StationIds.Count > 0 && selection.Region.Length > 0)
            throw Invalid("selection", "name station_ids or a region, not both");
        if (selection.Region.Length > 0)
        {
            var inRegion = stations.All.Where(s => s.Region == selection.Region && s.Measures(kind)).OrderBy(s => s.Id, StringComparer.Ordinal).ToList();
            if (inRegion.Count == 0) throw Invalid("selection.region", $"no {kind.ToString().ToLowerInvariant()} station in region '{Printable(selection.Region)}'");
            return (inRegion, selection.Region);
        }
        if (selection.StationIds.Count > 200) throw Invalid("selection.station_ids", "at most 200 stations");
        var list = new List<DomainStation>();
        for (var i = 0; i < selection.StationIds.Count; i++)
        {
            var s = Known(selection.StationIds[i], $"selection.station_ids[{i}]");
            if (!s.Measures(kind)) throw Invalid($"selection.station_ids[{i}]", $"{s.Id} is a {s.Kind.ToString().ToLowerInvariant()} station, not {kind.ToString().ToLowerInvariant()}");
            if (!list.Contains(s)) list.Add(s);
        }
        return (list, null);
    }

    static AggregatePeriod PeriodOf(Period period, string field) => period switch
    {
        Period.Hour => AggregatePeriod.Hour,
        Period.Day => AggregatePeriod.Day,
        Period.Month => AggregatePeriod.Month,
        Period.Year => AggregatePeriod.Year,
        _ => throw Invalid(field, "one of PERIOD_HOUR, PERIOD_DAY, PERIOD_MONTH, PERIOD_YEAR"),
    };

    static DateOnly Date(string text, string field) =>
        DateOnly.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var d)
            ? d : throw Invalid(field, $"'{Printable(text)}' is not a date yyyy-MM-dd");

    static (DateOnly From, DateOnly To) Range(string from, string to)
    {
        var f = Date(from, "from");
        var t = Date(to, "to");
        if (t < f) throw Invalid("to", "is before from");
        if (t.DayNumber - f.DayNumber + 1 > MaxDays) throw Invalid("to", $"at most {MaxDays} days per request");
        return (f, t);
    }

    static async Task<T> Guarded<T>(Func<Task<T>> query)
    {
        try
        {
            return await query();
        }
        catch (Exception e) when (e is HttpRequestException or InfluxException or TaskCanceledException or System.Net.Sockets.SocketException)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, $"the database cannot answer now: {e.Message}"));
        }
    }
}
