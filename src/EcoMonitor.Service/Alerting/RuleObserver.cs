using System.Globalization;
using EcoMonitor.Domain;
using EcoMonitor.Domain.Standards;
using EcoMonitor.Service.Query;
using EcoMonitor.Service.Stations;
using Microsoft.Extensions.Options;

namespace EcoMonitor.Service.Alerting;

/// <summary>One observation of a rule: the subject (a station, "zone"), its value, the threshold and clear threshold
/// that apply to it (per station for VOC limits), and a sentence that explains the value.</summary>
public sealed record Observation(string Subject, double Value, double Threshold, double ClearThreshold, string Detail);

/// <summary>Turns a rule into observations over the stored data, by the standards' validity rules: hourly means need
/// GB 3095's 45 valid minutes, 24-hour means 20 valid hours, the target rule works on valid daily means and the
/// year-to-date validity of the query API. A station without data for a value rule gives no observation (its alert,
/// if any, stays as it is; the silent rule is the one that watches for missing data).</summary>
public sealed class RuleObserver(
    StationRegistry stations,
    ReadingQueries queries,
    StandardsCatalog standards,
    TargetCalculator target,
    IOptions<VocSettings> voc,
    IOptions<ApiSettings> api,
    IOptions<AlertingSettings> alerting)
{
    readonly bool _zh = alerting.Value.Language == AlertLanguage.Chinese;
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    string T(string zh, string en) => _zh ? zh : en;

    static string N(double v, string format = "0.###") => v.ToString(format, Inv);

    public async Task<List<Observation>> ObserveAsync(AlertRuleSettings rule, DateTimeOffset now, CancellationToken ct) => rule.Kind switch
    {
        "hourly-mean" => await HourlyMeanAsync(rule, now, ct),
        "daily-mean" => await DailyMeanAsync(rule, now, ct),
        "single-value" => await SingleValueAsync(rule, now, ct),
        "voc-trend" => await TrendAsync(rule, now, ct),
        "water-class" => await WaterClassAsync(rule, now, ct),
        "ph-range" => await PhRangeAsync(rule, now, ct),
        "flag-duration" => await FlagDurationAsync(rule, now, ct),
        "silent" => await SilentAsync(rule, now, ct),
        "pm25-target" => await TargetAsync(rule, now, ct),
        _ => throw new InvalidOperationException($"unknown rule kind '{rule.Kind}'"),
    };

    List<Station> Watched(AlertRuleSettings rule, StationKind? kind) => [.. stations.All
        .Where(s => kind is null || s.Kind == kind)
        .Where(s => rule.Stations.Count == 0 || rule.Stations.Contains(s.Id))
        .OrderBy(s => s.Id, StringComparer.Ordinal)];

    /// <summary>A parameter by code or any accepted spelling (validated at start).</summary>
    static ParameterInfo ParameterOf(string name) =>
        Parameters.TryFind(name, out var p) ? p : throw new InvalidOperationException($"unknown parameter '{name}'");

    static StationKind? KindOf(AlertRuleSettings rule) =>
        rule.StationKind is { } k ? Enum.Parse<StationKind>(k, ignoreCase: true) : null;

    /// <summary>The rule's threshold, or the standard's limit for this station.</summary>
    (double Threshold, double Clear) Limits(AlertRuleSettings rule, string parameter, string station)
    {
        var threshold = rule.Threshold ?? (rule.Kind, parameter) switch
        {
            ("daily-mean", _) => standards.Air.Limits.TryGetValue(parameter, out var l) && l.DailyGradeII is { } daily ? daily
                : throw new InvalidOperationException($"{standards.Air.Name} sets no 24-hour limit for {parameter}: give the rule a threshold"),
            ("single-value", _) => voc.Value.LimitsFor(station).Single,
            _ => voc.Value.LimitsFor(station).Hourly,
        };
        return (threshold, ClearOf(rule, threshold));
    }

    /// <summary>The rule's clear threshold, never above the threshold that applies (a per-station limit may be lower).</summary>
    static double ClearOf(AlertRuleSettings rule, double threshold) => Math.Min(rule.ClearThreshold ?? threshold, threshold);

    static DateTimeOffset LastCompleteHour(DateTimeOffset now) =>
        new DateTimeOffset(now.UtcTicks / TimeSpan.TicksPerHour * TimeSpan.TicksPerHour, TimeSpan.Zero).AddHours(-1);

    static string Local(DateTimeOffset t, string format = "MM-dd HH:mm") => t.ToOffset(TimeSpan.FromHours(8)).ToString(format, Inv);

    /// <summary>"东北风 2.3 m/s" / "wind 2.3 m/s from 45° (NE)": the wind at a VOCs point while the rule looked, so duty
    /// staff see at once where the plume came from. Empty when the station has no recent wind data.</summary>
    string WindText(Wind? wind)
    {
        if (wind is not { } w) return "";
        var speed = w.Speed is { } s ? $"{N(s, "0.0")} m/s" : "";
        if (w.Direction is not { } d) return T($"；风速 {speed}", $"; wind {speed}");
        return T($"；{WindVector.Compass(d, true)}风{(speed.Length > 0 ? " " + speed : "")}",
            $"; wind {(speed.Length > 0 ? speed + " " : "")}from {N(d, "0")}° ({WindVector.Compass(d, false)})");
    }

    /// <summary>The wind of the watched VOCs stations over [from, to); nothing for other kinds of parameter.</summary>
    async Task<Dictionary<string, Wind>> WindOfAsync(ParameterInfo parameter, List<Station> watched, DateTimeOffset from, DateTimeOffset to, CancellationToken ct) =>
        parameter.Kind == StationKind.Voc ? await queries.WindAsync([.. watched.Select(s => s.Id)], from, to, ct) : [];

    static Wind? At(Dictionary<string, Wind> wind, string station) => wind.TryGetValue(station, out var w) ? w : null;

    async Task<List<Observation>> HourlyMeanAsync(AlertRuleSettings rule, DateTimeOffset now, CancellationToken ct)
    {
        var parameter = ParameterOf(rule.Parameter!);
        var watched = Watched(rule, parameter.Kind);
        var list = new List<Observation>();
        if (watched.Count == 0) return list;
        var hour = LastCompleteHour(now);
        var hourly = await queries.HourlyAsync([.. watched.Select(s => s.Id)], parameter.Code, hour, hour.AddHours(1), ct);
        var wind = await WindOfAsync(parameter, watched, hour, hour.AddHours(1), ct);
        foreach (var s in watched)
            if (hourly[s.Id].FirstOrDefault(h => h.Start == hour && h.Minutes >= standards.Air.MinMinutesPerHour) is { Minutes: > 0 } h)
            {
                var (threshold, clear) = Limits(rule, parameter.Code, s.Id);
                list.Add(new(s.Id, h.Mean, threshold, clear, T(
                    $"{parameter.Code} {Local(hour, "MM-dd HH")}时小时均值 {N(h.Mean)} {parameter.CanonicalUnit}（限值 {N(threshold)}）",
                    $"{parameter.Code} hourly mean of {Local(hour, "MM-dd HH")}:00 is {N(h.Mean)} {parameter.CanonicalUnit} (limit {N(threshold)})") + WindText(At(wind, s.Id))));
            }
        return list;
    }

    async Task<List<Observation>> DailyMeanAsync(AlertRuleSettings rule, DateTimeOffset now, CancellationToken ct)
    {
        var parameter = ParameterOf(rule.Parameter!);
        var watched = Watched(rule, parameter.Kind);
        var list = new List<Observation>();
        if (watched.Count == 0) return list;
        var last = LastCompleteHour(now);
        var from = last.AddHours(-23);
        var hourly = await queries.HourlyAsync([.. watched.Select(s => s.Id)], parameter.Code, from, last.AddHours(1), ct);
        foreach (var s in watched)
        {
            var valid = hourly[s.Id].Where(h => h.Minutes >= standards.Air.MinMinutesPerHour).Select(h => h.Mean).ToList();
            if (standards.Air.DailyMean(valid).Value is not { } mean) continue;
            var (threshold, clear) = Limits(rule, parameter.Code, s.Id);
            list.Add(new(s.Id, mean, threshold, clear, T(
                $"{parameter.Code} 24小时滑动均值 {N(mean, "0.#")} {parameter.CanonicalUnit}（{Local(from)} 起 {valid.Count} 个有效小时，限值 {N(threshold)}）",
                $"{parameter.Code} 24-hour mean {N(mean, "0.#")} {parameter.CanonicalUnit} ({valid.Count} valid hours from {Local(from)}, limit {N(threshold)})")));
        }
        return list;
    }

    async Task<List<Observation>> SingleValueAsync(AlertRuleSettings rule, DateTimeOffset now, CancellationToken ct)
    {
        var parameter = ParameterOf(rule.Parameter!);
        var watched = Watched(rule, parameter.Kind);
        var list = new List<Observation>();
        if (watched.Count == 0) return list;
        var window = rule.Window ?? TimeSpan.FromMinutes(5);
        var values = await queries.ValidValuesAsync([.. watched.Select(s => s.Id)], parameter.Code, now - window, now.AddTicks(1), ct);
        var wind = await WindOfAsync(parameter, watched, now - window, now.AddTicks(1), ct);
        foreach (var s in watched)
        {
            if (values[s.Id].Count == 0) continue;
            var max = values[s.Id].MaxBy(v => v.Value);
            var (threshold, clear) = Limits(rule, parameter.Code, s.Id);
            list.Add(new(s.Id, max.Value, threshold, clear, T(
                $"{parameter.Code} 单次值 {N(max.Value)} {parameter.CanonicalUnit}（{Local(max.Time)}，限值 {N(threshold)}）",
                $"{parameter.Code} single value {N(max.Value)} {parameter.CanonicalUnit} at {Local(max.Time)} (limit {N(threshold)})") + WindText(At(wind, s.Id))));
        }
        return list;
    }

    /// <summary>Least squares over the window's valid readings; the value is where the line is after the horizon when
    /// it rises, else where it is now. At least 6 readings spread over half the window are needed.</summary>
    async Task<List<Observation>> TrendAsync(AlertRuleSettings rule, DateTimeOffset now, CancellationToken ct)
    {
        var parameter = ParameterOf(rule.Parameter ?? Parameters.Nmhc);
        var watched = Watched(rule, parameter.Kind);
        var list = new List<Observation>();
        if (watched.Count == 0) return list;
        var window = rule.Window ?? TimeSpan.FromHours(2);
        var horizon = rule.Horizon ?? TimeSpan.FromHours(1);
        var values = await queries.ValidValuesAsync([.. watched.Select(s => s.Id)], parameter.Code, now - window, now.AddTicks(1), ct);
        // The wind now: the last 10 minutes (the trend looks ahead from now).
        var wind = await WindOfAsync(parameter, watched, now.AddMinutes(-10), now.AddTicks(1), ct);
        foreach (var s in watched)
        {
            var points = values[s.Id];
            if (points.Count < 6 || points[^1].Time - points[0].Time < window / 2) continue;
            var xs = points.Select(p => (p.Time - now).TotalHours).ToArray();
            var ys = points.Select(p => p.Value).ToArray();
            var (mx, my) = (xs.Average(), ys.Average());
            var sxx = xs.Sum(x => (x - mx) * (x - mx));
            var slope = sxx == 0 ? 0 : xs.Zip(ys).Sum(p => (p.First - mx) * (p.Second - my)) / sxx; // per hour
            var current = my - slope * mx; // the line at x = 0 (now)
            var projected = current + slope * horizon.TotalHours;
            var value = slope > 0 ? projected : current;
            var (threshold, clear) = Limits(rule, parameter.Code, s.Id);
            // When the limit is reached, if that is within two days (flat data leaves a rounding-noise slope: no time).
            var hoursToLimit = slope > 0 && current < threshold ? (threshold - current) / slope : double.NaN;
            var crossing = double.IsFinite(hoursToLimit) && hoursToLimit <= 48 ? now.AddHours(hoursToLimit) : (DateTimeOffset?)null;
            list.Add(new(s.Id, value, threshold, clear, T(
                $"{parameter.Code} 近 {N(window.TotalHours, "0.#")} 小时趋势 {N(slope, "+0.###;-0.###")} {parameter.CanonicalUnit}/h，当前 {N(current, "0.##")}，" +
                $"{N(horizon.TotalHours, "0.#")} 小时后预计 {N(projected, "0.##")}（限值 {N(threshold)}{(crossing is { } c ? $"，约 {Local(c, "HH:mm")} 达到" : "")}）",
                $"{parameter.Code} trend over {N(window.TotalHours, "0.#")} h is {N(slope, "+0.###;-0.###")} {parameter.CanonicalUnit}/h, now {N(current, "0.##")}, " +
                $"{N(projected, "0.##")} expected in {N(horizon.TotalHours, "0.#")} h (limit {N(threshold)}{(crossing is { } c2 ? $", reached about {Local(c2, "HH:mm")}" : "")})") + WindText(At(wind, s.Id))));
        }
        return list;
    }

    async Task<List<Observation>> WaterClassAsync(AlertRuleSettings rule, DateTimeOffset now, CancellationToken ct)
    {
        var list = new List<Observation>();
        var window = rule.Window ?? TimeSpan.FromHours(24);
        var threshold = rule.Threshold ?? 0;
        foreach (var s in Watched(rule, StationKind.Water).Where(s => s.WaterBody is not null && s.TargetClass is not null))
        {
            var means = await queries.PeriodMeansAsync(s.Id, now - window, now, ct);
            var e = standards.Water.Evaluate(means, s.WaterBody!.Value, s.TargetClass!.Value);
            if (e.SectionClass is not { } cls) continue;
            var failing = string.Join(T("、", ", "), e.FailingParameters.Select(p => $"{p} {N(means[p])}（{e.ParameterClasses[p].Roman()}）"));
            list.Add(new(s.Id, (int)cls - (int)e.Target, threshold, ClearOf(rule, threshold), T(
                $"近 {N(window.TotalHours, "0.#")} 小时水质 {cls.Roman()} 类，目标 {e.Target.Roman()} 类" + (failing.Length > 0 ? $"；超标因子：{failing}" : ""),
                $"water class {cls.Roman()} over the last {N(window.TotalHours, "0.#")} h, target {e.Target.Roman()}" + (failing.Length > 0 ? $"; failing: {failing}" : ""))));
        }
        return list;
    }

    /// <summary>The mean of the valid pH readings within the window (water analysers often measure every 4 hours:
    /// give those sections a window that holds one cycle).</summary>
    async Task<List<Observation>> PhRangeAsync(AlertRuleSettings rule, DateTimeOffset now, CancellationToken ct)
    {
        var watched = Watched(rule, StationKind.Water);
        var list = new List<Observation>();
        if (watched.Count == 0) return list;
        var (min, max) = rule.Range;
        var threshold = rule.Threshold ?? 0;
        var window = rule.Window ?? TimeSpan.FromHours(1);
        var values = await queries.ValidValuesAsync([.. watched.Select(s => s.Id)], Parameters.Ph, now - window, now.AddTicks(1), ct);
        foreach (var s in watched)
        {
            if (values[s.Id].Count == 0) continue;
            var ph = values[s.Id].Average(v => v.Value);
            list.Add(new(s.Id, Math.Max(0, Math.Max(min - ph, ph - max)), threshold, ClearOf(rule, threshold), T(
                $"pH 近 {N(window.TotalHours, "0.#")} 小时均值 {N(ph, "0.##")}（{values[s.Id].Count} 个有效值，允许 {N(min)}–{N(max)}）",
                $"pH mean of the last {N(window.TotalHours, "0.#")} h is {N(ph, "0.##")} ({values[s.Id].Count} valid values, allowed {N(min)}-{N(max)})")));
        }
        return list;
    }

    async Task<List<Observation>> FlagDurationAsync(AlertRuleSettings rule, DateTimeOffset now, CancellationToken ct)
    {
        var watched = Watched(rule, KindOf(rule));
        var list = new List<Observation>();
        if (watched.Count == 0) return list;
        var flags = rule.Flags.Count > 0 ? rule.Flags : ["D", "M", "C"];
        var since = now.AddDays(-7);
        var ids = watched.Select(s => s.Id).ToList();
        var latest = await queries.LatestAsync(ids, since, ct, now);
        var unflagged = await queries.LastWithoutFlagsAsync(ids, flags, since, now, ct);
        var threshold = rule.Threshold!.Value;
        foreach (var s in watched)
        {
            var flagged = latest.Where(r => r.StationId == s.Id && flags.Contains(r.Flag))
                .Select(r => (r.Parameter, r.Flag, Minutes: (now - (unflagged.TryGetValue((s.Id, r.Parameter), out var ok) ? ok : since)).TotalMinutes))
                .OrderByDescending(x => x.Minutes).ToList();
            var longest = flagged.FirstOrDefault();
            list.Add(new(s.Id, flagged.Count == 0 ? 0 : longest.Minutes, threshold, ClearOf(rule, threshold), flagged.Count == 0
                ? T("仪器标记已恢复正常", "instrument flags are back to normal")
                : T($"{string.Join("、", flagged.Select(f => $"{f.Parameter} 标记 {f.Flag}（{FlagName(f.Flag)}）已 {N(f.Minutes, "0")} 分钟"))}",
                    $"{string.Join(", ", flagged.Select(f => $"{f.Parameter} flagged {f.Flag} ({FlagName(f.Flag)}) for {N(f.Minutes, "0")} min"))}")));
        }
        return list;
    }

    string FlagName(string flag) => flag switch
    {
        "D" => T("故障", "fault"),
        "M" => T("维护", "maintenance"),
        "C" => T("校准", "calibration"),
        "F" => T("停运", "stopped"),
        "T" => T("超测定上限", "over range"),
        "B" => T("通讯异常", "communication fault"),
        _ => flag,
    };

    async Task<List<Observation>> SilentAsync(AlertRuleSettings rule, DateTimeOffset now, CancellationToken ct)
    {
        var watched = Watched(rule, KindOf(rule));
        var list = new List<Observation>();
        if (watched.Count == 0) return list;
        var since = now.AddDays(-30);
        var last = await queries.LastValidAsync([.. watched.Select(s => s.Id)], since, ct, now);
        var threshold = rule.Threshold!.Value;
        foreach (var s in watched)
        {
            var seen = last.TryGetValue(s.Id, out var t);
            list.Add(new(s.Id, (now - (seen ? t : since)).TotalMinutes, threshold, ClearOf(rule, threshold), seen
                ? T($"最后一条有效数据 {Local(t)}", $"last valid reading at {Local(t)}")
                : T("30 天内没有有效数据", "no valid reading in 30 days")));
        }
        return list;
    }

    /// <summary>Yesterday (China time) is the last complete day: the year to date runs to it, against the same span
    /// last year, per station and for the zone (the mean of the stations' valid daily means).</summary>
    async Task<List<Observation>> TargetAsync(AlertRuleSettings rule, DateTimeOffset now, CancellationToken ct)
    {
        var watched = Watched(rule, StationKind.Air);
        var list = new List<Observation>();
        if (watched.Count == 0) return list;
        var targetPercent = rule.Threshold ?? api.Value.TargetPercent;
        var clear = ClearOf(rule, targetPercent);
        var asOf = ChinaTime.DateOf(now).AddDays(-1);
        var statuses = await target.ComputeAsync(watched, rule.Stations.Count == 0 ? "zone" : null, asOf, targetPercent, 1, ct);
        foreach (var s in statuses)
        {
            if (s.Progress is not { } p) continue;
            var daysLeft = (DateTime.IsLeapYear(asOf.Year) ? 366 : 365) - asOf.DayOfYear;
            var outlook = s.ProjectedAnnualMean is { } projected
                ? T($"；预计全年均值 {N(projected, "0.0")}（去年 {N(s.PreviousYear.Value!.Value, "0.0")}）" +
                    (s.RequiredRemainingMean is { } req ? $"；余下 {daysLeft} 天均值需不高于 {N(req, "0.0")} 才能完成目标" : ""),
                    $"; projected annual mean {N(projected, "0.0")} (last year {N(s.PreviousYear.Value!.Value, "0.0")})" +
                    (s.RequiredRemainingMean is { } req2 ? $"; the remaining {daysLeft} days must average at most {N(req2, "0.0")} to meet the target" : ""))
                : T("；去年年均值无效，无法预计全年", "; last year's annual mean is not valid, so no projection");
            list.Add(new(s.Scope, p.VerdictPercent, targetPercent, clear, T(
                $"截至 {asOf:yyyy-MM-dd}，PM2.5 年初至今均值 {N(p.CurrentMean, "0.0")} µg/m³，去年同期 {N(p.PreviousMean, "0.0")}，" +
                $"变化 {N(p.VerdictPercent, "+0.0#;-0.0#")}%（目标 {N(targetPercent)}%）",
                $"as of {asOf:yyyy-MM-dd}, PM2.5 year to date {N(p.CurrentMean, "0.0")} µg/m³ against {N(p.PreviousMean, "0.0")} last year, " +
                $"change {N(p.VerdictPercent, "+0.0#;-0.0#")} % (target {N(targetPercent)} %)") + outlook));
        }
        return list;
    }
}
