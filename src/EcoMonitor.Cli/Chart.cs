using EcoMonitor.Api.V1;

namespace EcoMonitor.Cli;

/// <summary>Trend pictures (ScottPlot): the valid means of each series, with the standard's limit where there is one.</summary>
static class Chart
{
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

    public static void Trend(AggregateResponse r, string path)
    {
        var plot = new ScottPlot.Plot();
        foreach (var series in r.Stations.Append(r.Region).Where(s => s is not null && s.Buckets.Any(b => b.Valid)))
        {
            var valid = series.Buckets.Where(b => b.Valid).ToList();
            var xs = valid.Select(b => DateTimeOffset.Parse(b.Start, System.Globalization.CultureInfo.InvariantCulture).DateTime.ToOADate()).ToArray();
            var ys = valid.Select(b => b.Mean).ToArray();
            var scatter = plot.Add.Scatter(xs, ys);
            scatter.LegendText = series.StationId.Length == 0 ? "region" : series.StationId;
        }
        if (LimitFor(r.Parameter, r.Period) is { } limit)
        {
            var line = plot.Add.HorizontalLine(limit.Value);
            line.LegendText = limit.Label;
            line.LinePattern = ScottPlot.LinePattern.Dashed;
        }
        plot.Axes.DateTimeTicksBottom();
        plot.Title($"{r.Parameter} ({r.Unit}), {r.Period.ToString().ToLowerInvariant()} means");
        plot.ShowLegend();
        plot.SavePng(path, 900, 450);
    }
}
