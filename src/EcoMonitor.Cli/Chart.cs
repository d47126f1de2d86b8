using System.Globalization;
using EcoMonitor.Api.V1;

namespace EcoMonitor.Cli;

/// <summary>Trend pictures (ScottPlot): the valid means of each series, with the standard's limit where there is one.
/// <see cref="Model"/> decides what the picture says (title, message, range, legend, points) and is what tests read;
/// <see cref="Render"/> only draws it.</summary>
static class Chart
{
    /// <summary>What a trend picture shows. X values are China wall-clock times (the axis is labelled in China time).
    /// A series is drawn as runs of consecutive valid buckets: an invalid bucket is a gap, never a zero, and never
    /// bridged by a line.</summary>
    public sealed record Trend(string Title, string? Message, DateTime XMin, DateTime XMax, IReadOnlyList<TrendSeries> Series, (double Value, string Label)? Limit,
        Period Period);

    public sealed record TrendSeries(string Label, IReadOnlyList<IReadOnlyList<(DateTime Start, double Mean)>> Runs);

    /// <summary>GB 3095-2012 Grade II limits (µg/m³): 24-hour for daily buckets, annual for yearly ones; GB 37822
    /// 1-hour NMHC for hourly ones (mg/m³).</summary>
    static (double Value, string Label)? LimitFor(string parameter, Period period) => (parameter, period) switch
    {
        ("pm25", Period.Day) => (75, "GB 3095 Grade II 24-h 75"),
        ("pm25", Period.Year) => (35, "GB 3095 Grade II annual 35"),
        ("pm10", Period.Day) => (150, "GB 3095 Grade II 24-h 150"),
        ("pm10", Period.Year) => (70, "GB 3095 Grade II annual 70"),
        ("nmhc", Period.Hour) => (10, "GB 37822 1-h 10"),
        _ => null,
    };

    /// <summary>The picture of an aggregate over the requested days <paramref name="from"/>..<paramref name="to"/>
    /// (China dates): the axis spans them whatever the data, and says so when no bucket is valid.</summary>
    public static Trend Model(AggregateResponse r, DateOnly from, DateOnly to, StationNames names)
    {
        var series = new List<TrendSeries>();
        var xMin = from.ToDateTime(TimeOnly.MinValue);
        var xMax = to.AddDays(1).ToDateTime(TimeOnly.MinValue);
        foreach (var s in r.Stations.Append(r.Region).Where(s => s is not null))
        {
            var runs = new List<IReadOnlyList<(DateTime, double)>>();
            List<(DateTime, double)>? run = null;
            foreach (var b in s.Buckets)
            {
                if (China.WallClock(b.Start) is not { } start) continue;
                // Month and year buckets start on the 1st, possibly before the first requested day.
                if (start < xMin) xMin = start;
                if (!b.Valid || !b.HasMean)
                {
                    run = null;
                    continue;
                }
                if (run is null) runs.Add(run = []);
                run.Add((start, b.Mean));
            }
            if (runs.Count > 0) series.Add(new TrendSeries(s.StationId.Length == 0 ? "region" : names.Label(s.StationId), runs));
        }
        var span = $"{from:yyyy-MM-dd} to {to:yyyy-MM-dd}";
        var title = $"{r.Parameter} ({r.Unit}), {r.Period.ToString().ToLowerInvariant()} means, {span} (China time)";
        var message = series.Count == 0 ? $"no valid data from {span}" : null;
        return new Trend(title, message, xMin, xMax, series, LimitFor(r.Parameter, r.Period), r.Period);
    }

    /// <summary>Draws <paramref name="trend"/> into a PNG: date ticks yyyy-MM-dd (with HH:mm inside a day), the
    /// legend outside the data area on the right, the "no valid data" message in the middle of an empty plot.
    /// Chinese station names need a CJK font (<see cref="CjkFont"/>); without one the legend shows ids only.</summary>
    public static void Render(Trend trend, string path)
    {
        var plot = new ScottPlot.Plot();
        var font = CjkFont();
        if (font is not null) ScottPlot.Fonts.AddFontFile("ecomon-cjk", font);
        var palette = new ScottPlot.Palettes.Category10();
        for (var i = 0; i < trend.Series.Count; i++)
        {
            var s = trend.Series[i];
            var color = palette.GetColor(i);
            var first = true;
            foreach (var run in s.Runs)
            {
                var scatter = plot.Add.Scatter(run.Select(x => Centre(x.Start, trend.Period).ToOADate()).ToArray(), run.Select(x => x.Mean).ToArray(), color);
                scatter.MarkerSize = 5;
                if (first) scatter.LegendText = font is null ? s.Label.Split(' ')[0] : s.Label;
                first = false;
            }
        }
        if (trend.Limit is { } limit)
        {
            var line = plot.Add.HorizontalLine(limit.Value);
            line.LegendText = limit.Label;
            line.LinePattern = ScottPlot.LinePattern.Dashed;
        }
        var axis = plot.Axes.DateTimeTicksBottom();
        if (axis.TickGenerator is ScottPlot.TickGenerators.DateTimeAutomatic ticks)
            ticks.LabelFormatter = d => d.ToString(d.TimeOfDay == TimeSpan.Zero ? "yyyy-MM-dd" : "yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture);
        plot.Axes.SetLimitsX(trend.XMin.ToOADate(), trend.XMax.ToOADate());
        if (trend.Message is { } message)
        {
            var top = trend.Limit is { } l ? l.Value * 1.5 : 1;
            plot.Axes.SetLimitsY(0, top);
            var text = plot.Add.Text(message, (trend.XMin.ToOADate() + trend.XMax.ToOADate()) / 2, top / 2);
            text.LabelFontSize = 22;
            text.LabelAlignment = ScottPlot.Alignment.MiddleCenter;
            text.LabelFontColor = ScottPlot.Colors.DarkRed;
        }
        else
        {
            plot.Axes.AutoScaleY();
        }
        plot.Title(trend.Title);
        plot.Axes.Left.Label.Text = trend.Title.Split(',')[0];
        if (trend.Series.Count > 0 || trend.Limit is not null)
        {
            var legend = plot.ShowLegend(ScottPlot.Edge.Right);
            if (font is not null) plot.Legend.FontName = "ecomon-cjk";
            _ = legend;
        }
        plot.SavePng(path, 1000, 450);
    }

    /// <summary>Where a bucket's mean is drawn: the middle of its hour, day, month or year, so that a day's point sits
    /// within that day on the axis.</summary>
    static DateTime Centre(DateTime start, Period period) => period switch
    {
        Period.Day => start.AddHours(12),
        Period.Month => start + (start.AddMonths(1) - start) / 2,
        Period.Year => start + (start.AddYears(1) - start) / 2,
        _ => start.AddMinutes(30),
    };

    /// <summary>A font with Chinese glyphs for the legend: ECOMON_CHART_FONT, else the first of the usual Debian
    /// packages' files (fonts-noto-cjk, fonts-wqy-microhei, fonts-wqy-zenhei, fonts-arphic-uming) that exists.</summary>
    static string? CjkFont()
    {
        string?[] candidates =
        [
            Environment.GetEnvironmentVariable("ECOMON_CHART_FONT"),
            "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
            "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
            "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
            "/usr/share/fonts/truetype/arphic/uming.ttc",
        ];
        return candidates.FirstOrDefault(f => !string.IsNullOrEmpty(f) && File.Exists(f));
    }
}
