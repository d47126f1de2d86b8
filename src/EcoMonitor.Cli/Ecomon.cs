using System.CommandLine;
using System.CommandLine.Invocation;
using EcoMonitor.Api.V1;
using Google.Protobuf;
using Grpc.Core;

namespace EcoMonitor.Cli;

/// <summary>`ecomon`: EcoMonitor's command line for officers and operators (a gRPC client of the query API).
/// Readable tables by default (times in China time, station names beside ids), --json for scripts, --png FILE for a
/// trend with its limit line. A failure prints `error: &lt;StatusCode&gt;: &lt;detail&gt;` (and perhaps a `hint:`) on
/// stderr and exits 1; System.CommandLine's own exception handler is off so no stack trace is ever printed, and its
/// parse errors (unknown option, missing required option, a date not yyyy-MM-dd) print the same one-line form and exit
/// 2 (a usage error, told apart from a failed call).</summary>
public static class Ecomon
{
    internal static readonly Option<string?> Server = new("--server")
    {
        Description = $"gRPC address: host:port, http://host:port or https://host:port (env ECOMON_SERVER; {Connection.DefaultServer})",
        HelpName = "address",
        Recursive = true,
    };

    // No DefaultValueFactory: --help shows an option's default, and a key must never be shown.
    internal static readonly Option<string?> Key = new("--key")
    {
        Description = "API key (env ECOMON_API_KEY)",
        HelpName = "key",
        Recursive = true,
    };

    internal static readonly Option<bool> Json = new("--json") { Description = "print JSON instead of a table", Recursive = true };
    static readonly Option<string[]> Station = new("--station") { Description = "station id (repeatable)", AllowMultipleArgumentsPerToken = true };
    static readonly Option<string?> Region = new("--region") { Description = "all stations of a region" };
    static readonly Option<string> From = DateOption("--from", "first day, yyyy-MM-dd (China date)");
    static readonly Option<string> To = DateOption("--to", "last day, yyyy-MM-dd (China date)");

    /// <summary>A required yyyy-MM-dd date, checked here so that a US or other date is named as typed (exit 2, like
    /// any command line that does not parse) rather than after a call.</summary>
    static Option<string> DateOption(string name, string description)
    {
        var option = new Option<string>(name) { Description = description, Required = true };
        option.Validators.Add(result =>
        {
            var text = result.GetValueOrDefault<string>() ?? "";
            if (!DateOnly.TryParseExact(text, "yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.None, out _))
                result.AddError($"{name}: '{(text.Length <= 40 ? text : text[..40] + "…")}' is not a date yyyy-MM-dd");
        });
        return option;
    }

    public static Task<int> RunAsync(string[] args, TextWriter output, TextWriter error) =>
        RunAsync(args, output, error, TimeProvider.System, Environment.GetEnvironmentVariable);

    internal static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, TimeProvider time, Func<string, string?> environment)
    {
        using var connection = new Connection(output, time, environment);
        var root = new RootCommand("EcoMonitor: query stations, aggregates, AQI, the annual evaluation, the PM2.5 target, water quality and VOCs; handle alerts.");
        root.Options.Add(Server);
        root.Options.Add(Key);
        root.Options.Add(Json);
        foreach (var command in Commands(connection)) root.Subcommands.Add(command);
        // Bare `ecomon` shows the help rather than "Required command was not provided".
        var parse = root.Parse(args.Length == 0 ? ["--help"] : args);
        var configuration = new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false };
        if (parse.Action is ParseErrorAction)
        {
            // A command line that does not parse: the same one-line form, exit 2 (a usage error, told apart from a
            // failed call), and where to look instead of the whole help text.
            await error.WriteLineAsync($"error: {StatusCode.InvalidArgument}: {string.Join("; ", parse.Errors.Select(e => e.Message.TrimEnd('.')))}");
            await error.WriteLineAsync($"hint: ecomon {string.Join(' ', CommandPath(parse.CommandResult.Command, root))} --help".Replace("  ", " ", StringComparison.Ordinal));
            return 2;
        }
        try
        {
            return await parse.InvokeAsync(configuration);
        }
        catch (Exception e) when (e is OperationCanceledException || e is RpcException { StatusCode: StatusCode.Cancelled })
        {
            // Ctrl-C (System.CommandLine cancels the actions' token): `watch` ends quietly, as a shell expects (130).
            return 130;
        }
        catch (Exception e)
        {
            var http1 = Failure.MayBeHttp1(e) && connection.ServerUri is { } uri && await Failure.AnswersHttp1Async(uri);
            var (line, hint) = Failure.Describe(e, connection.ServerText, http1);
            await error.WriteLineAsync(line);
            if (hint is not null) await error.WriteLineAsync(hint);
            return 1;
        }
    }

    static IEnumerable<Command> Commands(Connection c)
    {
        var output = c.Output;
        var kind = new Option<string?>("--kind") { Description = "air | voc | water" };
        var stations = new Command("stations", "list the stations") { kind, Region };
        stations.SetAction(async (p, ct) =>
        {
            var r = await c.Query(p).ListStationsAsync(new ListStationsRequest { Kind = KindOf(p.GetValue(kind)), Region = p.GetValue(Region) ?? "" }, c.Headers(p), cancellationToken: ct);
            if (Print(p, output, r)) return;
            var t = new Table("id", "name", "kind", "region", "lat", "lon", "water", "target", "mn");
            foreach (var s in r.Stations) t.Row(s.Id, s.Name, Short(s.Kind), s.Region, s.Latitude, s.Longitude, s.WaterName, s.TargetClass, s.Mn);
            t.WriteTo(output);
        });
        yield return stations;

        var hours = new Option<int>("--hours") { Description = "look back this many hours (24)", DefaultValueFactory = _ => 24 };
        var latest = new Command("latest", "latest value of each parameter per station") { Station, Region, hours };
        latest.SetAction(async (p, ct) =>
        {
            var request = new LatestRequest { WithinHours = p.GetValue(hours) };
            if (SelectionOf(p, optional: true) is { } sel) request.Selection = sel;
            var r = await c.Query(p).GetLatestAsync(request, c.Headers(p), cancellationToken: ct);
            if (Print(p, output, r)) return;
            var names = await c.NamesAsync(p, ct);
            var t = new Table("station", "name", "parameter", "time (China)", "value", "flag");
            foreach (var x in r.Readings) t.Row(x.StationId, names.Of(x.StationId), x.Parameter, China.Time(x.Time), x.Value, x.Flag);
            t.WriteTo(output);
        });
        yield return latest;

        var parameter = new Option<string>("--parameter") { Description = "pm25, pm10, nmhc, ...", Required = true };
        var period = new Option<string>("--period") { Description = "hour | day | month | year", Required = true };
        var percentile = new Option<double>("--percentile") { Description = "percentile to report (95; 90 with --statistic o3-max-8h)" };
        var png = new Option<FileInfo?>("--png") { Description = "also draw the trend with its limit line into this PNG" };
        var statistic = new Option<string>("--statistic")
        {
            Description = "mean | o3-8h (O3 8-hour moving mean, --period hour) | o3-max-8h (O3 daily maximum 8-hour mean, --period day/month/year)",
            DefaultValueFactory = _ => "mean",
        };
        var aggregate = new Command("aggregate", "means, min, max, count and percentile by GB 3095") { parameter, period, From, To, Station, Region, percentile, statistic, png };
        aggregate.SetAction(async (p, ct) =>
        {
            var request = new AggregateRequest
            {
                Selection = SelectionOf(p)!, Parameter = p.GetValue(parameter)!, Period = PeriodOf(p.GetValue(period)),
                From = p.GetValue(From)!, To = p.GetValue(To)!, Percentile = p.GetValue(percentile), Statistic = StatisticOf(p.GetValue(statistic)),
            };
            var r = await c.Query(p).AggregateAsync(request, c.Headers(p), cancellationToken: ct);
            var names = p.GetValue(png) is not null || !p.GetValue(Json) ? await c.NamesAsync(p, ct) : StationNames.None;
            if (p.GetValue(png) is { } file) Chart.Render(Chart.Model(r, DateOnly.ParseExact(request.From, "yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture), DateOnly.ParseExact(request.To, "yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture), names), file.FullName);
            if (Print(p, output, r)) return;
            var t = new Table("series", "name", "start (China)", "valid", "mean", "min", "max", "p", "count", "note");
            foreach (var s in r.Stations.Append(r.Region).Where(s => s is not null))
                foreach (var b in s.Buckets)
                    t.Row(s.StationId.Length == 0 ? "region" : s.StationId, names.Of(s.StationId), China.Start(b.Start, r.Period), b.Valid, b.HasMean ? b.Mean : null,
                        b.HasMin ? b.Min : null, b.HasMax ? b.Max : null, b.HasPercentile ? b.Percentile : null, $"{b.Count}/{b.Required}", b.Note);
            output.WriteLine($"{r.Parameter} ({r.Unit}), {r.Standard}");
            t.WriteTo(output);
        });
        yield return aggregate;

        var aqiPeriod = new Option<string>("--period") { Description = "hour | day", DefaultValueFactory = _ => "day" };
        var aqi = new Command("aqi", "HJ 633 AQI") { aqiPeriod, From, To, Station, Region };
        aqi.SetAction(async (p, ct) =>
        {
            var r = await c.Query(p).GetAqiAsync(new AqiRequest { Selection = SelectionOf(p)!, Period = PeriodOf(p.GetValue(aqiPeriod)), From = p.GetValue(From)!, To = p.GetValue(To)! }, c.Headers(p), cancellationToken: ct);
            if (Print(p, output, r)) return;
            var names = await c.NamesAsync(p, ct);
            var aqiPeriodValue = PeriodOf(p.GetValue(aqiPeriod));
            output.WriteLine($"{r.Edition}; hourly PM: {r.HourlyParticulates}");
            var t = new Table("series", "name", "start (China)", "AQI", "level", "category", "primary", "SO2", "NO2", "CO", "O3-1h", "O3-8h", "PM10", "PM2.5", "missing");
            object? I(AqiValue v, string item) => v.Iaqi.TryGetValue(item, out var x) ? x : null;
            foreach (var s in r.Stations.Append(r.Region).Where(s => s is not null))
                foreach (var v in s.Values)
                    t.Row(s.StationId.Length == 0 ? "region" : s.StationId, names.Of(s.StationId), China.Start(v.Start, aqiPeriodValue), v.Partial ? $"{v.Aqi} (partial)" : v.Aqi,
                        v.Level, $"{v.CategoryZh} {v.CategoryEn}", string.Join(",", v.PrimaryPollutants), I(v, "so2"), I(v, "no2"), I(v, "co"), I(v, "o3_1h"), I(v, "o3_8h"),
                        I(v, "pm10"), I(v, "pm25"), string.Join(",", v.Missing));
            t.WriteTo(output);
        });
        yield return aqi;

        var asOf = new Option<string?>("--as-of") { Description = "last day counted, yyyy-MM-dd (China date; yesterday)" };
        var pastYears = new Option<int>("--past-years") { Description = "full-year figures for this many past years (2)", DefaultValueFactory = _ => 2 };
        var target = new Command("target", "PM2.5 year-to-date against the reduction target") { asOf, pastYears, Station, Region };
        target.SetAction(async (p, ct) =>
        {
            var request = new TargetProgressRequest { AsOf = p.GetValue(asOf) ?? "", PastYears = p.GetValue(pastYears) };
            if (SelectionOf(p, optional: true) is { } sel) request.Selection = sel;
            var r = await c.Query(p).GetTargetProgressAsync(request, c.Headers(p), cancellationToken: ct);
            if (Print(p, output, r)) return;
            var names = await c.NamesAsync(p, ct);
            output.WriteLine($"PM2.5 from 1 January to {r.AsOf}{(r.AsOf.EndsWith("-12-31", StringComparison.Ordinal) ? " (the full year: 324 valid days, 27 a month, 25 in February)" : "")}, against the same span last year");
            var t = new Table("scope", "name", "this year", "last year", "change %", "rounded %", "target %", "on track", "note");
            foreach (var x in r.Progress)
                t.Row(x.Scope, names.Of(x.Scope), x.HasCurrentMean ? x.CurrentMean : null, x.HasPreviousMean ? x.PreviousMean : null, x.HasChangePercent ? x.ChangePercent : null,
                    x.HasRoundedChangePercent ? x.RoundedChangePercent : null, x.TargetPercent, Table.Verdict(x.HasOnTrack, x.OnTrack), x.Note);
            t.WriteTo(output);
            if (r.Years.Count == 0) return;
            output.WriteLine();
            var y = new Table("scope", "name", "year", "annual mean", "valid", "valid days", "change %", "note");
            foreach (var a in r.Years) y.Row(a.Scope, names.Of(a.Scope), a.Year, a.HasMean ? a.Mean : null, a.Valid, a.ValidDays, a.HasChangePercent ? a.ChangePercent : null, a.Note);
            y.WriteTo(output);
        });
        yield return target;

        var year = new Option<int>("--year") { Description = "the year evaluated", Required = true };
        var zone = new Option<bool>("--zone") { Description = "every air station and the zone (the default without --station or --region)" };
        var evaluateAsOf = new Option<string?>("--as-of") { Description = "last day counted, yyyy-MM-dd (31 December, or yesterday while the year runs)" };
        var evaluate = new Command("evaluate", "HJ 663 annual evaluation: annual statistics, Grade II compliance, composite index, good days") { year, evaluateAsOf, Station, Region, zone };
        evaluate.SetAction(async (p, ct) =>
        {
            var request = new EvaluateYearRequest { Year = p.GetValue(year), AsOf = p.GetValue(evaluateAsOf) ?? "" };
            if (SelectionOf(p, optional: true) is { } sel)
            {
                if (p.GetValue(zone)) throw new RpcException(new Status(StatusCode.InvalidArgument, "--zone: give it alone, not with --station or --region"));
                request.Selection = sel;
            }
            var r = await c.Query(p).EvaluateYearAsync(request, c.Headers(p), cancellationToken: ct);
            if (Print(p, output, r)) return;
            var names = await c.NamesAsync(p, ct);
            output.WriteLine($"{r.Standard} / {r.Edition}, 1 January to {r.AsOf}, against the same span of the year before");
            foreach (var scope in r.Scopes)
            {
                var (cur, b) = (scope.Current, scope.Previous);
                output.WriteLine();
                output.WriteLine($"{names.Label(scope.Scope)}: {cur.From}..{cur.To}{(cur.FullYear ? " (full year)" : " (year to date)")}");
                var t = new Table("pollutant", "unit", "days", "valid", "annual mean", "limit", "pct", "value", "limit", "meets II", "over days", "mean Δ%", "pct Δ%", "note");
                foreach (var x in cur.Pollutants)
                    t.Row(x.Pollutant, x.Unit, x.ValidDays, x.Valid, x.HasAnnualMean ? x.AnnualMean : null, x.HasAnnualLimit ? x.AnnualLimit : null, x.Percentile,
                        x.HasPercentileValue ? x.PercentileValue : null, x.HasPercentileLimit ? x.PercentileLimit : null, Table.Verdict(x.HasMeetsGradeIi, x.MeetsGradeIi),
                        x.OverStandardDays, x.HasAnnualMeanChangePercent ? x.AnnualMeanChangePercent : null, x.HasPercentileChangePercent ? x.PercentileChangePercent : null, x.Note);
                t.WriteTo(output);
                var s = new Table("", "composite index", "meets Grade II", "good days", "AQI days", "good %", "partial days");
                s.Row("this year", cur.HasCompositeIndex ? cur.CompositeIndex : null, Table.Verdict(cur.HasMeetsGradeIi, cur.MeetsGradeIi), cur.GoodDays, cur.AqiDays, cur.HasGoodDayShare ? cur.GoodDayShare : null, cur.PartialAqiDays);
                s.Row("year before", b.HasCompositeIndex ? b.CompositeIndex : null, Table.Verdict(b.HasMeetsGradeIi, b.MeetsGradeIi), b.GoodDays, b.AqiDays, b.HasGoodDayShare ? b.GoodDayShare : null, b.PartialAqiDays);
                s.Row("change", scope.HasCompositeIndexChangePercent ? $"{scope.CompositeIndexChangePercent:0.##} %" : null, null, null, null,
                    scope.HasGoodDayShareChangePoints ? $"{scope.GoodDayShareChangePoints:+0.##;-0.##} points" : null, null);
                s.WriteTo(output);
            }
        });
        yield return evaluate;

        var water = new Command("water", "GB 3838 class of water sections") { From, To, Station, Region };
        water.SetAction(async (p, ct) =>
        {
            var request = new WaterQualityRequest { From = p.GetValue(From)!, To = p.GetValue(To)! };
            if (SelectionOf(p, optional: true) is { } sel) request.Selection = sel;
            var r = await c.Query(p).GetWaterQualityAsync(request, c.Headers(p), cancellationToken: ct);
            if (Print(p, output, r)) return;
            var names = await c.NamesAsync(p, ct);
            var t = new Table("section", "name", "class", "target", "meets", "failing", "parameters");
            foreach (var s in r.Sections)
                t.Row(s.StationId, names.Of(s.StationId), s.WaterClass.Length > 0 ? s.WaterClass : "unknown", s.TargetClass, Table.Verdict(s.HasMeetsTarget, s.MeetsTarget),
                    string.Join(",", s.FailingParameters), s.Parameters.Count == 0 ? "no valid data" : string.Join(" ", s.Parameters.Select(x => $"{x.Parameter}={x.Mean:0.###}({x.WaterClass})")));
            t.WriteTo(output);
        });
        yield return water;

        var voc = new Command("voc", "VOCs (NMHC) exceedances of the limits") { From, To, Station, Region };
        voc.SetAction(async (p, ct) =>
        {
            var request = new VocExceedancesRequest { From = p.GetValue(From)!, To = p.GetValue(To)! };
            if (SelectionOf(p, optional: true) is { } sel) request.Selection = sel;
            var r = await c.Query(p).GetVocExceedancesAsync(request, c.Headers(p), cancellationToken: ct);
            if (Print(p, output, r)) return;
            var names = await c.NamesAsync(p, ct);
            var t = new Table("station", "name", "kind", "time (China)", "value mg/m³", "limit");
            foreach (var s in r.Stations)
                foreach (var e in s.Exceedances) t.Row(s.StationId, names.Of(s.StationId), e.Kind, China.Time(e.Time), e.Value, e.Limit);
            t.WriteTo(output);
        });
        yield return voc;

        var count = new Option<int>("--count") { Description = "stop after this many readings (0: until Ctrl-C)" };
        var watchKind = new Option<string?>("--kind") { Description = "air | voc | water" };
        var watch = new Command("watch", "readings as they are stored (times in China time)") { Station, watchKind, count };
        watch.SetAction(async (p, ct) =>
        {
            var request = new WatchRequest { Kind = KindOf(p.GetValue(watchKind)) };
            request.StationIds.AddRange(p.GetValue(Station) ?? []);
            var names = p.GetValue(Json) ? StationNames.None : await c.NamesAsync(p, ct);
            using var call = c.Query(p).Watch(request, c.Headers(p), cancellationToken: ct);
            var seen = 0;
            var limit = p.GetValue(count);
            while (await call.ResponseStream.MoveNext(ct))
            {
                var x = call.ResponseStream.Current;
                output.WriteLine(p.GetValue(Json) ? JsonFormatter.Default.Format(x)
                    : $"{China.Time(x.Time)}  {x.StationId,-16} {names.Of(x.StationId)}  {x.Parameter,-6} {x.Value,10:0.###}  {x.Flag}");
                await output.FlushAsync(ct);
                if (limit > 0 && ++seen >= limit) break;
            }
        });
        yield return watch;

        yield return AlertCommands.Build(c);
        yield return ImportCommand.Build(output);
    }

    static IEnumerable<string> CommandPath(Command command, RootCommand root)
    {
        var path = new List<string>();
        for (var c = command; c is not null && c != root; c = c.Parents.OfType<Command>().FirstOrDefault()) path.Insert(0, c.Name);
        return path;
    }

    /// <summary>For a command that makes its own client: the key as <see cref="Connection.Headers"/> resolves it
    /// (--key, else ECOMON_API_KEY).</summary>
    internal static Metadata Headers(ParseResult p) => new Connection(TextWriter.Null, TimeProvider.System, Environment.GetEnvironmentVariable).Headers(p);

    /// <summary>For a command that makes its own channel: the server as <see cref="Connection.Server"/> resolves it
    /// (--server, else ECOMON_SERVER, else the default; host:port accepted).</summary>
    internal static Uri ServerUri(ParseResult p) => new Connection(TextWriter.Null, TimeProvider.System, Environment.GetEnvironmentVariable).Server(p);

    internal static bool Print(ParseResult p, TextWriter output, IMessage message)
    {
        if (!p.GetValue(Json)) return false;
        output.WriteLine(JsonFormatter.Default.Format(message));
        return true;
    }

    static Selection? SelectionOf(ParseResult p, bool optional = false)
    {
        var ids = p.GetValue(Station) ?? [];
        var region = p.GetValue(Region);
        if (ids.Length == 0 && string.IsNullOrEmpty(region))
            return optional ? null : throw new RpcException(new Status(StatusCode.InvalidArgument, "give --station (one or more) or --region"));
        var s = new Selection { Region = region ?? "" };
        s.StationIds.AddRange(ids);
        return s;
    }

    static StationKind KindOf(string? kind) => kind?.ToLowerInvariant() switch
    {
        null or "" => StationKind.Unspecified,
        "air" => StationKind.Air,
        "voc" => StationKind.Voc,
        "water" => StationKind.Water,
        _ => throw new RpcException(new Status(StatusCode.InvalidArgument, $"--kind: '{kind}' is not air, voc or water")),
    };

    static Period PeriodOf(string? period) => period?.ToLowerInvariant() switch
    {
        "hour" => Period.Hour,
        "day" => Period.Day,
        "month" => Period.Month,
        "year" => Period.Year,
        _ => throw new RpcException(new Status(StatusCode.InvalidArgument, $"--period: '{period}' is not hour, day, month or year")),
    };

    static Statistic StatisticOf(string? statistic) => statistic?.ToLowerInvariant() switch
    {
        null or "" or "mean" => Statistic.Mean,
        "o3-8h" => Statistic.O38HMoving,
        "o3-max-8h" => Statistic.O3DailyMax8H,
        _ => throw new RpcException(new Status(StatusCode.InvalidArgument, $"--statistic: '{statistic}' is not mean, o3-8h or o3-max-8h")),
    };

    static string Short(StationKind k) => k switch
    {
        StationKind.Air => "air",
        StationKind.Voc => "voc",
        StationKind.Water => "water",
        _ => "",
    };
}
