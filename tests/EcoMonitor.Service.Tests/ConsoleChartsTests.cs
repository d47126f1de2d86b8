using System.Globalization;
using System.Text.Json;
using EcoMonitor.Service.Tests.Support;
using Xunit.Abstractions;

namespace EcoMonitor.Service.Tests;

/// <summary>The console's fixture (<see cref="ConsoleFixture"/>: the real service, broker and InfluxDB, keys of each
/// role, alerting on) with this class's stations and hand-made readings, and one headless chromium shared by its
/// tests. Times are relative to now: the pages show "the last 48 hours", "the last 30 days", "month to date" and
/// "the last 7 days" by default.</summary>
public sealed class ConsoleChartsFixture : ConsoleFixture
{
    public const string Markup = XssName;

    protected override string StationsJson => $$"""
    {
      "stations": [
        { "id": "air-1", "name": "管委会", "kind": "air", "region": "高新区", "latitude": 37.7712, "longitude": 115.7419 },
        { "id": "voc-1", "name": "化工园区厂界", "kind": "voc", "region": "高新区北部", "latitude": 37.8041, "longitude": 115.7704 },
        { "id": "w-1", "name": "滏阳河上游断面", "kind": "water", "region": "高新区", "latitude": 37.7623, "longitude": 115.7105, "waterBody": "river", "waterName": "滏阳河", "targetClass": "IV" },
        { "id": "w-2", "name": "白马沟断面", "kind": "water", "region": "高新区", "latitude": 37.789, "longitude": 115.7456, "waterBody": "river", "waterName": "白马沟", "targetClass": "III" },
        { "id": "w-x", "name": {{JsonSerializer.Serialize(Markup)}}, "kind": "water", "region": "高新区", "latitude": 37.7, "longitude": 115.7, "waterBody": "lake", "waterName": "湖", "targetClass": "II" }
      ]
    }
    """;

    protected override IEnumerable<(string Key, string? Value)> MoreSettings =>
    [
        // GB 37822's special limits at this point (Voc:Stations): the pages must show the service's limits, not 10/30.
        ("Voc:Stations:voc-1:HourlyMeanLimit", "6"),
        ("Voc:Stations:voc-1:SingleValueLimit", "20"),
        // The trend early warning at 5 mg/m³: below the 1-hour limit, so its line is told apart from the limit's.
        ("Alerting:Rules:3:Name", "nmhc-trend"),
        ("Alerting:Rules:3:Kind", "voc-trend"),
        ("Alerting:Rules:3:Parameter", "nmhc"),
        ("Alerting:Rules:3:Threshold", "5"),
    ];

    public ConsoleBrowser Page { get; private set; } = null!;

    /// <summary>The hour that started last (UTC instant of a whole hour) when the data was seeded.</summary>
    public DateTimeOffset CurrentHour { get; private set; }
    public DateOnly Today { get; private set; }

    static readonly TimeSpan China = TimeSpan.FromHours(8);

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        Page = Browser();
    }

    protected override async Task SeedAsync()
    {
        var now = DateTimeOffset.UtcNow;
        CurrentHour = new DateTimeOffset(now.Ticks / TimeSpan.TicksPerHour * TimeSpan.TicksPerHour, TimeSpan.Zero);
        Today = DateOnly.FromDateTime(now.ToOffset(China).DateTime);
        var lines = new List<string>();

        // air-1 PM2.5, the last 47 hours: 45 minutes (valid) at 20 + k µg/m³ in the hour that started k hours before
        // the current one; k = 5 has no data (a gap); k = 7 has 30 minutes at 50 (invalid: 45 are required).
        for (var k = 1; k <= 47; k++)
        {
            var local = HourStart(k).ToOffset(China).DateTime;
            if (k == 5) continue;
            lines.AddRange(k == 7 ? Seed.Hour("air-1", "pm25", local, 30, 50) : Seed.Hour("air-1", "pm25", local, 45, 20 + k));
        }
        // air-1 PM2.5 days (clear of the 47 hours above): 5 days ago valid at 80 µg/m³ (20 hours), 6 days ago 19
        // hours at 90 (invalid: 20 are required), 7 days ago nothing.
        lines.AddRange(Seed.Day("air-1", "pm25", Today.AddDays(-5), 80));
        lines.AddRange(Seed.Day("air-1", "pm25", Today.AddDays(-6), 90, hours: 19));

        // voc-1 NMHC yesterday: 10:00 hour at 12 (over the 1-hour limit 6), 12:00 at 8 (over), 13:00 at 5 (not);
        // single values 35 at 14:05 (over the single value limit 20; its hour has 1 minute, not a valid hour) and 18
        // at 15:07 (not).
        var yesterday = Today.AddDays(-1).ToDateTime(TimeOnly.MinValue);
        lines.AddRange(Seed.Hour("voc-1", "nmhc", yesterday.AddHours(10), 45, 12));
        lines.AddRange(Seed.Hour("voc-1", "nmhc", yesterday.AddHours(12), 45, 8));
        lines.AddRange(Seed.Hour("voc-1", "nmhc", yesterday.AddHours(13), 45, 5));
        lines.Add(Seed.Line("voc-1", "nmhc", new DateTimeOffset(yesterday.AddHours(14).AddMinutes(5), China), 35));
        lines.Add(Seed.Line("voc-1", "nmhc", new DateTimeOffset(yesterday.AddHours(15).AddMinutes(7), China), 18));

        // Water today (month to date includes it): w-1 (river, target IV): CODMn 7 and 9 (mean 8: IV), NH3-N 0.4 (II),
        // DO 6.5 (II), pH 7.4 (I), TP 0.15 (III) -> IV, meets. w-2 (river, target III): CODMn 5 (III), NH3-N 1.8 and
        // 2.4 (mean 2.1: worse than V), DO 4 (IV) -> worse than V, fails on DO and NH3-N. w-x: nothing -> unknown.
        var t0 = new DateTimeOffset(Today.ToDateTime(new TimeOnly(0, 1)), China);
        lines.AddRange([
            Seed.Line("w-1", "codmn", t0, 7), Seed.Line("w-1", "codmn", t0.AddMinutes(1), 9),
            Seed.Line("w-1", "nh3n", t0, 0.4), Seed.Line("w-1", "do", t0, 6.5), Seed.Line("w-1", "ph", t0, 7.4), Seed.Line("w-1", "tp", t0, 0.15),
            Seed.Line("w-2", "codmn", t0, 5), Seed.Line("w-2", "nh3n", t0, 1.8), Seed.Line("w-2", "nh3n", t0.AddMinutes(1), 2.4),
            Seed.Line("w-2", "do", t0, 4),
            // The same two CODMn values three hours back, off the whole minutes above (a point's identity is its
            // time): the mean stays 8 whichever month they fall in, and they are inside the station page's last 48
            // hours at any time of day.
            Seed.Line("w-1", "codmn", HourStart(3).AddSeconds(30), 7), Seed.Line("w-1", "codmn", HourStart(3).AddSeconds(90), 9),
        ]);
        await Seed.WriteAsync(Service.Database, lines);
    }

    public DateTimeOffset HourStart(int hoursBack) => CurrentHour.AddHours(-hoursBack);

    public override async Task DisposeAsync()
    {
        Page?.Dispose();
        await base.DisposeAsync();
    }
}

/// <summary>The console's chart pages in a real browser against the real service: no console errors, the numbers
/// shown equal the API's answers and the hand-computed ones, gaps and invalid buckets are never drawn as values, the
/// standards' limit lines carry their numbers, and a station name that looks like markup is shown as text.</summary>
[Trait("Category", "Integration")]
public sealed class ConsoleChartsTests(ConsoleChartsFixture fixture, ITestOutputHelper output) : IClassFixture<ConsoleChartsFixture>
{
    readonly ConsoleBrowser _browser = fixture.Page;
    int _mark;

    /// <summary>Opens a route ("#/station/air-1"), photographs it and remembers where its browser messages start.</summary>
    Task OpenAsync(string route, string screenshot)
    {
        _mark = _browser.ConsoleMessages().Count;
        _browser.Open(route.TrimStart('#', '/'));
        output.WriteLine($"screenshot: {_browser.Screenshot(screenshot)}");
        return Task.CompletedTask;
    }

    /// <summary>No browser error (failed request, CSP refusal, uncaught exception, console.error) since the page opened.</summary>
    Task NoConsoleErrorsAsync()
    {
        var log = _browser.ConsoleMessages().Skip(_mark).ToList();
        foreach (var e in log) output.WriteLine($"browser {e.Level}: {e.Message}");
        Assert.DoesNotContain(log, e => e.Level == OpenQA.Selenium.LogLevel.Severe);
        return Task.CompletedTask;
    }

    /// <summary>Runs a function body in the page and gives its result as JSON (the page serializes it).</summary>
    Task<JsonElement> ScriptAsync(string body, params object[] args)
    {
        var json = (string)_browser.Script($"return JSON.stringify((function () {{ {body} }}).apply(null, arguments));", args)!;
        return Task.FromResult(JsonDocument.Parse(json).RootElement.Clone());
    }

    Task WaitAsync(string condition, string what)
    {
        _browser.Until(() => _browser.Script(condition) is true ? (object)true : null, TimeSpan.FromSeconds(20), what);
        return Task.CompletedTask;
    }

    /// <summary>The chart's option as ECharts holds it: the mean series' points, its mark areas and mark lines, and
    /// the water readings' points.</summary>
    async Task<ChartOption> ChartAsync(string id)
    {
        var json = await ScriptAsync("""
            const o = echarts.getInstanceByDom(document.getElementById(arguments[0])).getOption();
            const s = o.series[0];
            return {
              points: s.data,
              areas: (s.markArea.data || []).map(a => ({ name: a[0].name || '', x0: a[0].xAxis ?? null, x1: a[1].xAxis ?? null, y0: a[0].yAxis ?? null, y1: a[1].yAxis ?? null })),
              lines: (s.markLine.data || []).map(l => ({ name: l.name || '', y: l.yAxis })),
              connectNulls: s.connectNulls === true,
              readings: (o.series.find(x => x.id === 'readings') || { data: [] }).data,
            };
            """, id);
        return json.Deserialize<ChartOption>(new JsonSerializerOptions(JsonSerializerDefaults.Web))!;
    }

    sealed record ChartOption(List<double?[]> Points, List<Area> Areas, List<Line> Lines, bool ConnectNulls, List<double[]> Readings)
    {
        public double? ValueAt(DateTimeOffset t) =>
            Points.Single(p => p[0] == t.ToUnixTimeMilliseconds())[1];
    }

    sealed record Area(string Name, double? X0, double? X1, double? Y0, double? Y1);

    sealed record Line(string Name, double Y);

    static string Date(DateOnly d) => d.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

    [Fact(Timeout = 90_000)]
    public async Task Hourly_chart_equals_the_api_and_draws_the_gap_and_the_invalid_hour_as_no_value()
    {
        await OpenAsync("#/station/air-1", "charts-station-air");
        var chart = await ChartAsync("sd-hourly-chart");

        Assert.False(chart.ConnectNulls);
        Assert.Equal(48, chart.Points.Count);
        // Hand-computed: 45 minutes at 20 + k in the hour k hours back.
        Assert.Equal(23, chart.ValueAt(fixture.HourStart(3)));
        Assert.Equal(67, chart.ValueAt(fixture.HourStart(47)));
        // The gap hour and the invalid hour (30 minutes at 50) carry no value: never 0, never 50.
        Assert.Null(chart.ValueAt(fixture.HourStart(5)));
        Assert.Null(chart.ValueAt(fixture.HourStart(7)));
        // The invalid hour is marked over its whole hour; the gap hour is not marked (nothing was measured).
        var invalid = Assert.Single(chart.Areas, a => a.X0 is not null);
        Assert.Equal(fixture.HourStart(7).ToUnixTimeMilliseconds(), invalid.X0);
        Assert.Equal(fixture.HourStart(6).ToUnixTimeMilliseconds(), invalid.X1);
        Assert.Contains("30/45", invalid.Name);
        // PM2.5 has no 1-hour limit in GB 3095-2012: no line on the hourly chart.
        Assert.Empty(chart.Lines);

        // Every point equals the API's bucket: the mean when valid, nothing otherwise.
        var from = Date(DateOnly.FromDateTime(fixture.HourStart(48).ToOffset(TimeSpan.FromHours(8)).DateTime));
        var api = await fixture.GetAsync($"/v1/aggregate?selection.stationIds=air-1&parameter=pm25&period=PERIOD_HOUR&from={from}&to={Date(fixture.Today)}");
        var buckets = api.GetProperty("stations")[0].GetProperty("buckets").EnumerateArray()
            .ToDictionary(b => DateTimeOffset.Parse(b.GetProperty("start").GetString()!, CultureInfo.InvariantCulture).ToUnixTimeMilliseconds());
        foreach (var p in chart.Points)
        {
            var b = buckets[(long)p[0]!.Value];
            if (b.GetProperty("valid").GetBoolean()) Assert.Equal(b.GetProperty("mean").GetDouble(), p[1]);
            else Assert.Null(p[1]);
        }
        await NoConsoleErrorsAsync();
    }

    [Fact(Timeout = 90_000)]
    public async Task Daily_chart_has_the_grade_ii_24_hour_limit_and_marks_the_invalid_day()
    {
        await OpenAsync("#/station/air-1", "charts-station-air-daily");
        var chart = await ChartAsync("sd-daily-chart");
        var day = (int n) => new DateTimeOffset(fixture.Today.AddDays(-n).ToDateTime(TimeOnly.MinValue), TimeSpan.FromHours(8));

        Assert.Equal(30, chart.Points.Count);
        Assert.Equal(80, chart.ValueAt(day(5)));
        Assert.Null(chart.ValueAt(day(6)));   // 19 valid hours of 20: invalid, not 90
        Assert.Null(chart.ValueAt(day(7)));   // no data
        var invalid = Assert.Single(chart.Areas, a => a.X0 == day(6).ToUnixTimeMilliseconds());
        Assert.Equal(day(5).ToUnixTimeMilliseconds(), invalid.X1);
        Assert.Contains("19/20", invalid.Name);
        Assert.DoesNotContain(chart.Areas, a => a.X0 == day(7).ToUnixTimeMilliseconds());
        // GB 3095-2012 Grade II 24-hour limit of PM2.5: 75 µg/m³, and only that line.
        var line = Assert.Single(chart.Lines);
        Assert.Equal(75, line.Y);
        Assert.Contains("GB 3095-2012", line.Name);
        await NoConsoleErrorsAsync();

        // PM10's daily chart: 150 µg/m³.
        await ScriptAsync("const s = document.getElementById('sd-parameter'); s.value = 'pm10'; s.dispatchEvent(new Event('change')); return true;");
        await WaitAsync("const o = echarts.getInstanceByDom(document.getElementById('sd-daily-chart')).getOption(); return o.series[0].markLine.data.some(l => l.yAxis === 150);",
            "PM10 daily chart with its 150 line");
        await NoConsoleErrorsAsync();
    }

    [Fact(Timeout = 90_000)]
    public async Task Voc_point_chart_has_its_own_limits_and_the_trend_early_warning_line()
    {
        await OpenAsync("#/station/voc-1", "charts-station-voc");
        var chart = await ChartAsync("sd-hourly-chart");
        var lines = chart.Lines.Select(l => l.Y).Order().ToList();
        // Voc:Stations:voc-1 (6 and 20 mg/m³) and the voc-trend rule's threshold 5.
        Assert.Equal([5, 6, 20], lines);
        var yesterday = new DateTimeOffset(fixture.Today.AddDays(-1).ToDateTime(TimeOnly.MinValue), TimeSpan.FromHours(8));
        Assert.Equal(12, chart.ValueAt(yesterday.AddHours(10)));
        Assert.Null(chart.ValueAt(yesterday.AddHours(14)));   // one reading of 35: not a valid hour
        var limits = (await ScriptAsync("return document.getElementById('sd-voc-limits').textContent;")).GetString()!;
        Assert.Contains(" 6 mg/m³", limits);
        Assert.Contains(" 20 mg/m³", limits);

        // A chosen range: yesterday's 24 hours.
        var day = Date(fixture.Today.AddDays(-1));
        await ScriptAsync("""
            const range = document.getElementById('sd-hour-range');
            range.value = 'custom';
            range.dispatchEvent(new Event('change'));
            document.getElementById('sd-from').value = arguments[0];
            document.getElementById('sd-to').value = arguments[0];
            document.getElementById('sd-apply').click();
            return true;
            """, day);
        await WaitAsync("return echarts.getInstanceByDom(document.getElementById('sd-hourly-chart')).getOption().series[0].data.length === 24;",
            "the hourly chart of one chosen day");
        chart = await ChartAsync("sd-hourly-chart");
        Assert.Equal(yesterday.ToUnixTimeMilliseconds(), chart.Points[0][0]);
        Assert.Equal(8, chart.ValueAt(yesterday.AddHours(12)));
        Assert.Equal([5, 6, 20], chart.Lines.Select(l => l.Y).Order().ToList());
        await NoConsoleErrorsAsync();
    }

    [Fact(Timeout = 90_000)]
    public async Task Water_section_chart_has_the_gb3838_class_bands_and_its_target_line()
    {
        await OpenAsync("#/station/w-1", "charts-station-water");
        var chart = await ChartAsync("sd-daily-chart");
        // CODMn, a river: class limits 2, 4, 6, 10, 15 mg/L; the target class IV at 10.
        var bands = chart.Areas.Where(a => a.Y0 is not null).Select(a => (a.Y0!.Value, a.Y1!.Value)).ToList();
        Assert.Equal([(0, 2), (2, 4), (4, 6), (6, 10), (10, 15)], bands.Take(5).ToList());
        Assert.Equal(15, bands[5].Item1);   // worse than V: from 15 up
        var target = Assert.Single(chart.Lines);
        Assert.Equal(10, target.Y);
        Assert.Contains("IV", target.Name);
        // Two readings in one hour are not a valid hourly mean (45 minutes): no mean drawn, the readings as points.
        var hourly = await ChartAsync("sd-hourly-chart");
        var t = fixture.HourStart(3).AddSeconds(30).ToUnixTimeMilliseconds();
        Assert.Contains(hourly.Readings, r => r[0] == t && r[1] == 7);
        Assert.Contains(hourly.Readings, r => r[0] == t + 60_000 && r[1] == 9);
        Assert.DoesNotContain(hourly.Points, p => p[1] is not null);
        await NoConsoleErrorsAsync();
    }

    [Fact(Timeout = 90_000)]
    public async Task Water_page_shows_each_sections_class_and_verdict_as_the_api()
    {
        await OpenAsync("#/water", "charts-water");
        var from = Date(new DateOnly(fixture.Today.Year, fixture.Today.Month, 1));
        var api = await fixture.GetAsync($"/v1/water?from={from}&to={Date(fixture.Today)}");
        var rows = await ScriptAsync("""
            return [...document.querySelectorAll('#wq-table tbody tr')].map(r => ({
              id: r.dataset.station,
              cls: r.querySelector('.wq-class').dataset.waterClass,
              verdict: r.querySelector('.wq-verdict').dataset.verdict,
              deciding: r.querySelector('.wq-determining').dataset.parameters,
              name: r.querySelector('.wq-name').textContent,
              values: Object.fromEntries([...r.querySelectorAll('.wq-parameters [data-parameter]')].map(v => [v.dataset.parameter, v.textContent])),
            }));
            """);
        var shown = rows.EnumerateArray().ToDictionary(r => r.GetProperty("id").GetString()!);
        // Hand-computed from the readings seeded today.
        Assert.Equal(("IV", "meets", "codmn"), Row(shown["w-1"]));
        Assert.Equal(("劣V", "fails", "do,nh3n"), Row(shown["w-2"]));
        Assert.Equal(("", "unknown", ""), Row(shown["w-x"]));
        // And as the API answered: class, and each parameter's mean (two decimals) and class.
        foreach (var s in api.GetProperty("sections").EnumerateArray())
        {
            var row = shown[s.GetProperty("stationId").GetString()!];
            Assert.Equal(s.GetProperty("waterClass").GetString(), row.GetProperty("cls").GetString());
            foreach (var p in s.GetProperty("parameters").EnumerateArray())
            {
                var text = row.GetProperty("values").GetProperty(p.GetProperty("parameter").GetString()!).GetString()!;
                Assert.Contains($" {Math.Round(p.GetProperty("mean").GetDouble(), 2).ToString(CultureInfo.InvariantCulture)} ", text);
            }
        }
        Assert.Contains(" 8 ", shown["w-1"].GetProperty("values").GetProperty("codmn").GetString());
        Assert.Contains(" 2.1 ", shown["w-2"].GetProperty("values").GetProperty("nh3n").GetString());
        Assert.Equal(ConsoleChartsFixture.Markup, shown["w-x"].GetProperty("name").GetString());
        await NoConsoleErrorsAsync();

        static (string, string, string) Row(JsonElement r) =>
            (r.GetProperty("cls").GetString()!, r.GetProperty("verdict").GetString()!, r.GetProperty("deciding").GetString()!);
    }

    [Fact(Timeout = 90_000)]
    public async Task Voc_page_lists_the_exceedances_newest_first_as_the_api()
    {
        await OpenAsync("#/voc", "charts-voc");
        var rows = await ScriptAsync("""
            const p = document.querySelector('.vx-point[data-station="voc-1"]');
            return { count: p.dataset.count, rows: [...p.querySelectorAll('tbody tr')].map(r => [r.dataset.time, r.dataset.kind,
              r.querySelector('.vx-value').textContent, r.querySelector('.vx-limit').textContent]) };
            """);
        var shown = rows.GetProperty("rows").EnumerateArray()
            .Select(r => (Instant(r[0].GetString()!), r[1].GetString()!, r[2].GetString()!, r[3].GetString()!)).ToList();
        // Hand-computed: single value 35 at 14:05 (limit 20), hourly means 8 at 12:00 and 12 at 10:00 (limit 6).
        var y = new DateTimeOffset(fixture.Today.AddDays(-1).ToDateTime(TimeOnly.MinValue), TimeSpan.FromHours(8));
        Assert.Equal([
            (y.AddHours(14).AddMinutes(5), "single-value", "35", "20"),
            (y.AddHours(12), "hourly-mean", "8", "6"),
            (y.AddHours(10), "hourly-mean", "12", "6"),
        ], shown);
        Assert.Equal("3", rows.GetProperty("count").GetString());

        // As the API answers for the page's default period (the last 7 days).
        var api = await fixture.GetAsync($"/v1/voc/exceedances?from={Date(fixture.Today.AddDays(-6))}&to={Date(fixture.Today)}");
        var point = api.GetProperty("stations").EnumerateArray().Single(s => s.GetProperty("stationId").GetString() == "voc-1");
        var expected = point.GetProperty("exceedances").EnumerateArray()
            .Select(e => (Instant(e.GetProperty("time").GetString()!), e.GetProperty("kind").GetString()!,
                e.GetProperty("value").GetDouble().ToString(CultureInfo.InvariantCulture), e.GetProperty("limit").GetDouble().ToString(CultureInfo.InvariantCulture)))
            .OrderByDescending(e => e.Item1).ToList();
        Assert.Equal(expected, shown);
        await NoConsoleErrorsAsync();

        static DateTimeOffset Instant(string s) => DateTimeOffset.Parse(s, CultureInfo.InvariantCulture);
    }

    [Fact(Timeout = 90_000)]
    public async Task A_station_named_like_markup_is_shown_as_text()
    {
        await OpenAsync("#/station/w-x", "charts-station-markup");
        var page = await ScriptAsync("""
            return { name: document.getElementById('sd-name').textContent, images: document.querySelectorAll('img').length };
            """);
        Assert.Equal(ConsoleChartsFixture.Markup, page.GetProperty("name").GetString());
        Assert.Equal(0, page.GetProperty("images").GetInt32());
        await NoConsoleErrorsAsync();
    }
}
