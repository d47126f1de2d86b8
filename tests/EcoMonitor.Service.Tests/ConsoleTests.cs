using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using EcoMonitor.Service.Tests.Support;
using OpenQA.Selenium;

namespace EcoMonitor.Service.Tests;

/// <summary>The web console in a real headless chromium against the real service with seeded data in the real broker
/// and InfluxDB (<see cref="ConsoleFixture"/>): pages load without console errors, show the API's figures, act on
/// alerts by role, follow the live channel, render names as text; the console's headers and /v1/live's refusals.
/// Each test writes screenshots under the test output's screenshots/.</summary>
[Trait("Category", "Integration")]
public sealed class ConsoleTests(ConsoleFixture fixture) : IClassFixture<ConsoleFixture>
{
    static readonly TimeSpan China = TimeSpan.FromHours(8);

    static string ChinaMinute(string rfc3339) =>
        DateTimeOffset.Parse(rfc3339, CultureInfo.InvariantCulture).ToOffset(China).ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture);

    static string Today() => DateTimeOffset.UtcNow.ToOffset(China).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

    static string OneDecimal(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble().ToString("0.0", CultureInfo.InvariantCulture) : "—";

    static DateTimeOffset Newest(JsonElement a) =>
        DateTimeOffset.Parse(a.GetProperty("firedAt").GetString() is { Length: > 0 } f ? f : a.GetProperty("pendingSince").GetString()!, CultureInfo.InvariantCulture);

    [Fact(Timeout = 90_000)]
    public async Task Overview_shows_the_apis_target_progress_aqi_and_alert_counts()
    {
        using var browser = fixture.Browser();
        var page = browser.Open("overview");
        var target = await fixture.GetAsync("/v1/target?pastYears=1");
        var aqi = await fixture.GetAsync($"/v1/aqi?period=PERIOD_HOUR&from={Today()}&to={Today()}&selection.stationIds=air-1&selection.stationIds=air-2&selection.stationIds=air-x");
        var alerts = (await fixture.GetAsync("/v1/alerts")).GetProperty("alerts").EnumerateArray().ToList();
        browser.Screenshot("overview");

        // Target progress of the zone: the same means, and the verdict "unknown" when the API gives none.
        var zone = target.GetProperty("progress").EnumerateArray().Single(p => p.GetProperty("scope").GetString() == "zone");
        Assert.Equal(OneDecimal(zone, "currentMean"), page.FindElement(By.Id("target-current")).Text);
        Assert.Equal(OneDecimal(zone, "previousMean"), page.FindElement(By.Id("target-previous")).Text);
        var verdict = zone.TryGetProperty("onTrack", out var onTrack) ? onTrack.GetBoolean() ? "on-track" : "off-track" : "unknown";
        Assert.Equal(verdict, page.FindElement(By.Id("target-verdict")).GetAttribute("data-verdict"));
        // By hand from the seeded daily means (48 this year, 50 last year, every day): change (48 − 50) / 50 = −4.0 %,
        // on track for −3 %; projection 50 × 48 / 50 = 48.0; the remaining days must average
        // (50 × 0.97 × days in year − 48 × elapsed days) / remaining days.
        var asOf = fixture.AsOf;
        var inYear = DateTime.IsLeapYear(asOf.Year) ? 366 : 365;
        var required = asOf.DayOfYear == inYear ? "—"
            : ((ConsoleFixture.LastYearPm25 * 0.97 * inYear - ConsoleFixture.CurrentYearPm25 * asOf.DayOfYear) / (inYear - asOf.DayOfYear)).ToString("0.0", CultureInfo.InvariantCulture);
        // (Early in January a year to date may be too short for GB 3095's validity: then only the API's figures hold.)
        if (asOf.DayOfYear >= 60 || zone.GetProperty("valid").GetBoolean())
            Assert.Equal(("on-track", "48.0", "50.0", "-4.0%", "48.0", required),
                (page.FindElement(By.Id("target-verdict")).GetAttribute("data-verdict"), page.FindElement(By.Id("target-current")).Text, page.FindElement(By.Id("target-previous")).Text,
                 page.FindElement(By.Id("target-change")).Text, page.FindElement(By.Id("target-projection")).Text, page.FindElement(By.Id("target-required")).Text));

        // Alert counts as the API's.
        Assert.Equal(alerts.Count(a => a.GetProperty("state").GetString() == "firing").ToString(CultureInfo.InvariantCulture), page.FindElement(By.Id("count-firing")).Text);
        Assert.Equal(alerts.Count(a => a.GetProperty("state").GetString() == "pending").ToString(CultureInfo.InvariantCulture), page.FindElement(By.Id("count-pending")).Text);
        Assert.True(alerts.Count(a => a.GetProperty("state").GetString() == "firing") >= 2, "the fixture's pm25-hourly (air-1) and silent-air (air-x) alerts fire");

        // Today's latest hourly AQI per air station, as the API's; PM2.5 90 µg/m³ is IAQI 100 + (90 − 75) × 50 / 40 =
        // 118.75 → 119 (HJ 633 table 1, 24-hour breakpoints from the hour's mean), 三级, orange.
        foreach (var id in new[] { "air-1", "air-2", "air-x" })
        {
            var values = aqi.GetProperty("stations").EnumerateArray().Single(s => s.GetProperty("stationId").GetString() == id).GetProperty("values").EnumerateArray().ToList();
            var cell = page.FindElement(By.CssSelector($"tr[data-station='{id}'] .aqi"));
            Assert.Equal(values.Count == 0 ? "" : values[^1].GetProperty("aqi").GetInt32().ToString(CultureInfo.InvariantCulture), cell.GetAttribute("data-aqi"));
            if (values.Count > 0)
            {
                Assert.Contains($"aqi-{values[^1].GetProperty("colour").GetString()}", cell.GetAttribute("class"));
                Assert.Equal(values[^1].GetProperty("level").GetString(), page.FindElement(By.CssSelector($"tr[data-station='{id}'] .aqi-level")).Text);
            }
            if (id == "air-1" && values.Count > 0)
                Assert.Equal((119, "aqi aqi-orange", "三级"), (int.Parse(cell.Text, CultureInfo.InvariantCulture), cell.GetAttribute("class"), values[^1].GetProperty("level").GetString()));
        }

        // Silent now: air-x (no data at all, and the silent rule fires for it).
        Assert.Contains(page.FindElements(By.CssSelector("#silent li")), li => li.GetAttribute("data-station") == "air-x");
        browser.AssertNoConsoleErrors();
    }

    [Fact(Timeout = 90_000)]
    public async Task Alerts_are_listed_newest_first_with_their_explanation_and_a_reader_key_gets_no_acknowledge_button()
    {
        using var browser = fixture.Browser(ServiceUnderTest.ReaderKey);
        var page = browser.Open("alerts");
        var alerts = (await fixture.GetAsync("/v1/alerts")).GetProperty("alerts").EnumerateArray().OrderByDescending(Newest).ToList();
        browser.Screenshot("alerts-reader");

        var cards = page.FindElements(By.CssSelector("#active-list > li.alert"));
        Assert.Equal(alerts.Select(a => (a.GetProperty("rule").GetString(), a.GetProperty("subject").GetString(), a.GetProperty("detail").GetString())),
            cards.Select(c => (c.GetAttribute("data-rule"), c.GetAttribute("data-subject"), (string?)c.FindElement(By.CssSelector(".alert-detail")).Text)));
        Assert.Contains(cards, c => c.GetAttribute("data-severity") == "critical" && c.GetAttribute("class")!.Contains("severity-critical"));
        Assert.Empty(page.FindElements(By.CssSelector("button.ack")));
        Assert.Empty(page.FindElements(By.CssSelector("button.silence")));
        Assert.True(page.FindElement(By.Id("reader-note")).Displayed);
        browser.AssertNoConsoleErrors();
    }

    [Fact(Timeout = 90_000)]
    public async Task Acknowledging_from_the_page_changes_the_alerts_state_in_the_api()
    {
        using var browser = fixture.Browser(ServiceUnderTest.DutyKey);
        var page = browser.Open("alerts");
        // The list is drawn again on every live alert event (the service evaluates on its own schedule too): an element
        // found before may be replaced at any moment, so each step finds it afresh and is retried when it went stale.
        const string Card = "li.alert[data-rule='pm25-hourly'][data-subject='air-1']";
        browser.Until(() =>
        {
            var comment = page.FindElement(By.CssSelector(Card + " input.comment"));
            if (comment.GetAttribute("value") != "已通知现场 <b>核查</b>")
            {
                comment.Clear();
                comment.SendKeys("已通知现场 <b>核查</b>");
            }
            page.FindElement(By.CssSelector(Card + " button.ack")).Click();
            return true;
        }, TimeSpan.FromSeconds(10), "the comment typed and acknowledge clicked");

        var acknowledged = await Eventually(async () =>
        {
            var a = (await fixture.GetAsync("/v1/alerts?rule=pm25-hourly&subject=air-1")).GetProperty("alerts").EnumerateArray().Single();
            return a.GetProperty("acknowledgedBy").GetString() is { Length: > 0 } ? a : (JsonElement?)null;
        }, TimeSpan.FromSeconds(10), "the API shows air-1's alert acknowledged");
        Assert.Equal(("duty-zhang", "已通知现场 <b>核查</b>"), (acknowledged.GetProperty("acknowledgedBy").GetString(), acknowledged.GetProperty("acknowledgeComment").GetString()));

        // The page shows it acknowledged, the comment as typed (text, not markup), and offers no second acknowledgement.
        var shown = browser.Until(() => browser.All(Card + " .acknowledged").FirstOrDefault()?.Text, TimeSpan.FromSeconds(10), "the acknowledgement shown");
        Assert.Contains("已通知现场 <b>核查</b>", shown);
        Assert.Empty(browser.All(Card + " button.ack"));
        Assert.Empty(browser.All("#page-alerts b"));
        browser.Screenshot("alerts-duty-acknowledged");
        browser.AssertNoConsoleErrors();
    }

    [Fact(Timeout = 90_000)]
    public async Task Silencing_from_the_page_creates_the_silence_in_the_api()
    {
        using var browser = fixture.Browser(ServiceUnderTest.DutyKey);
        var page = browser.Open("alerts");
        // As in the acknowledgement: each step finds the card afresh (a live event may draw the list again).
        const string Card = "li.alert[data-rule='silent-air'][data-subject='air-x']";
        var before = DateTimeOffset.UtcNow;
        browser.Until(() =>
        {
            page.FindElement(By.CssSelector(Card + " select.duration option[value='4']")).Click();
            var comment = page.FindElement(By.CssSelector(Card + " input.comment"));
            if (comment.GetAttribute("value") != "更换采样泵")
            {
                comment.Clear();
                comment.SendKeys("更换采样泵");
            }
            page.FindElement(By.CssSelector(Card + " button.silence")).Click();
            return true;
        }, TimeSpan.FromSeconds(10), "duration and comment set and silence clicked");

        var silence = await Eventually(async () => (await fixture.GetAsync("/v1/silences")).GetProperty("silences").EnumerateArray()
            .Where(x => x.GetProperty("rule").GetString() == "silent-air" && x.GetProperty("subject").GetString() == "air-x").Cast<JsonElement?>().FirstOrDefault(),
            TimeSpan.FromSeconds(10), "the silence in the API");
        Assert.Equal(("duty-zhang", "更换采样泵"), (silence.GetProperty("createdBy").GetString(), silence.GetProperty("comment").GetString()));
        var ends = DateTimeOffset.Parse(silence.GetProperty("ends").GetString()!, CultureInfo.InvariantCulture);
        Assert.InRange(ends - before, TimeSpan.FromHours(4) - TimeSpan.FromMinutes(1), TimeSpan.FromHours(4) + TimeSpan.FromMinutes(1));
        browser.WaitFor("#silences tr[data-silence]");
        browser.Screenshot("alerts-duty-silenced");
        browser.AssertNoConsoleErrors();
    }

    [Fact(Timeout = 90_000)]
    public async Task A_reading_published_on_mqtt_updates_the_stations_page_without_a_reload()
    {
        using var browser = fixture.Browser();
        browser.Open("stations");
        browser.Until(() => browser.All("#live-status[data-state='on']").Count > 0 ? true : (bool?)null, TimeSpan.FromSeconds(10), "live channel open");
        browser.Script("window.__sameDocument = 'yes';");
        await using var gateway = await TestMqttClient.ConnectAsync();
        var t = DateTimeOffset.UtcNow;
        await gateway.PublishAsync(fixture.Service.ReadingsTopic("air-2"), $$$"""{"ts": {{{t.ToUnixTimeMilliseconds()}}}, "values": {"pm10": 123.4}}""");
        var value = browser.Until(() => browser.All("tr[data-station='air-2'] .value[data-parameter='pm10']").FirstOrDefault(), TimeSpan.FromSeconds(10), "the new PM10 value");
        Assert.Equal("PM10 123 µg/m³", value.Text);
        Assert.Equal(ChinaMinute(t.ToString("O", CultureInfo.InvariantCulture)), browser.All("tr[data-station='air-2'] .station-last")[0].Text);
        Assert.Equal("yes", browser.Script("return window.__sameDocument;"));
        browser.AssertNoConsoleErrors();
    }

    [Fact(Timeout = 90_000)]
    public async Task A_new_critical_alert_appears_without_a_reload_within_5_seconds_and_raises_the_banner()
    {
        using var browser = fixture.Browser(ServiceUnderTest.ReaderKey);
        browser.Open("alerts");
        browser.Until(() => browser.All("#live-status[data-state='on']").Count > 0 ? true : (bool?)null, TimeSpan.FromSeconds(10), "live channel open");
        browser.Script("window.__sameDocument = 'yes';");
        Assert.Empty(browser.All("li.alert[data-subject='voc-1']"));

        // A new critical alert: NMHC over an hourly rule for voc-1, evaluated now.
        var h = fixture.SeededHour;
        var now = DateTimeOffset.UtcNow;
        await Seed.WriteAsync(fixture.Service.Database, Enumerable.Range(-1, 3).SelectMany(i => Enumerable.Range(0, 45).Select(m => h.AddHours(i).AddMinutes(m)))
            .Where(t => t < now).Select(t => Seed.Line("voc-1", "nmhc", t, 14)));
        var events = await fixture.EvaluateAsync();
        var clock = Stopwatch.StartNew();
        Assert.Contains(events.EnumerateArray(), e => e.GetProperty("rule").GetString() == "nmhc-hourly" && e.GetProperty("subject").GetString() == "voc-1"
                                                      && e.GetProperty("kind").GetString() == "fired");

        var card = browser.Until(() => browser.All("li.alert[data-rule='nmhc-hourly'][data-subject='voc-1']").FirstOrDefault(), TimeSpan.FromSeconds(5), "the new alert on the page");
        var banner = browser.WaitFor("#banner", TimeSpan.FromSeconds(5));
        clock.Stop();
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"shown after {clock.Elapsed}");
        Assert.Contains("fresh", card.GetAttribute("class"));
        Assert.Contains("severity-critical", card.GetAttribute("class"));
        Assert.Contains("voc-1", banner.Text);
        Assert.Equal("yes", browser.Script("return window.__sameDocument;"));
        browser.Screenshot("alerts-new-critical");
        browser.AssertNoConsoleErrors();
    }

    [Fact(Timeout = 90_000)]
    public async Task A_station_named_as_markup_shows_as_those_characters_everywhere()
    {
        using var browser = fixture.Browser();
        foreach (var route in new[] { "stations", "overview", "alerts" })
        {
            var page = browser.Open(route);
            Assert.Equal(true, browser.Script($"return document.getElementById('page-{route}').textContent.includes(arguments[0]);", ConsoleFixture.XssName));
            Assert.Equal(0L, browser.Script("return document.getElementsByTagName('img').length;"));
            Assert.False(browser.DialogOpen());
            browser.Screenshot($"xss-{route}");
        }
        Assert.Equal(ConsoleFixture.XssName, browser.Open("stations").FindElement(By.CssSelector("tr[data-station='air-x'] .station-name a")).Text);
        await Task.Delay(300); // an onerror handler, were there one, would have run by now
        Assert.False(browser.DialogOpen());
        browser.AssertNoConsoleErrors();
    }

    [Fact(Timeout = 90_000)]
    public async Task Stations_show_the_apis_latest_values_times_silence_and_positions()
    {
        using var browser = fixture.Browser();
        var page = browser.Open("stations");
        var latest = (await fixture.GetAsync("/v1/latest?withinHours=24")).GetProperty("readings").EnumerateArray().ToList();
        browser.Screenshot("stations");

        var stations = (await fixture.GetAsync("/v1/stations")).GetProperty("stations").EnumerateArray().ToList();
        Assert.Equal(stations.Count, page.FindElements(By.CssSelector("#stations-table tbody tr")).Count);
        foreach (var s in stations)
        {
            var id = s.GetProperty("id").GetString()!;
            var row = page.FindElement(By.CssSelector($"tr[data-station='{id}']"));
            var mine = latest.Where(r => r.GetProperty("stationId").GetString() == id).ToList();
            var last = mine.Select(r => r.GetProperty("time").GetString()!).OrderBy(t => DateTimeOffset.Parse(t, CultureInfo.InvariantCulture)).LastOrDefault();
            Assert.Equal(last is null ? "—" : ChinaMinute(last), row.FindElement(By.CssSelector(".station-last")).Text);
            var shown = row.FindElements(By.CssSelector(".value")).Select(v => (v.GetAttribute("data-parameter"), double.Parse(v.GetAttribute("data-value")!, CultureInfo.InvariantCulture), v.GetAttribute("data-flag"))).OrderBy(x => x.Item1).ToList();
            Assert.Equal(mine.Select(r => (r.GetProperty("parameter").GetString(), r.GetProperty("value").GetDouble(), r.GetProperty("flag").GetString())).OrderBy(x => x.Item1).ToList(), shown);
        }
        // Units and flags: DO of w-fyh-1 carries flag D (not valid), shown struck through with its flag.
        var dissolvedOxygen = page.FindElement(By.CssSelector("tr[data-station='w-fyh-1'] .value[data-parameter='do']"));
        Assert.StartsWith("DO 6.80 mg/L", dissolvedOxygen.Text);
        Assert.Equal(("D", true), (dissolvedOxygen.FindElement(By.CssSelector(".tag")).Text, dissolvedOxygen.GetAttribute("class")!.Contains("invalid")));
        // (voc-1's NMHC value depends on whether the new-alert test ran before: the unit is what is checked here.)
        Assert.Matches(@"^NMHC \d+\.\d+ mg/m³$", page.FindElement(By.CssSelector("tr[data-station='voc-1'] .value[data-parameter='nmhc']")).Text);
        Assert.Contains("silent", page.FindElement(By.CssSelector("tr[data-station='air-x']")).GetAttribute("class"));
        Assert.DoesNotContain("silent", page.FindElement(By.CssSelector("tr[data-station='air-1']")).GetAttribute("class"));
        // The position plot: an ECharts canvas with one point per station.
        Assert.NotEmpty(page.FindElements(By.CssSelector("#positions-chart canvas")));
        Assert.Equal((long)stations.Count, browser.Script(
            "const c = echarts.getInstanceByDom(document.getElementById('positions-chart')); return c.getOption().series.reduce((n, s) => n + s.data.length, 0);"));
        browser.AssertNoConsoleErrors();
    }

    [Fact(Timeout = 90_000)]
    public async Task A_refused_key_returns_to_the_prompt_with_the_reason_and_english_is_one_click_away()
    {
        await Task.Yield();
        using var browser = ConsoleBrowser.Start(fixture.Http);
        browser.Driver.Navigate().GoToUrl(browser.ConsoleAddress);
        browser.WaitFor("#api-key").SendKeys("not-a-key-of-this-service");
        browser.Driver.FindElement(By.Id("login-submit")).Click();
        var error = browser.Until(() => browser.All("#login-error").FirstOrDefault(e => e.Text.Length > 0), TimeSpan.FromSeconds(10), "the refusal");
        Assert.Contains("unknown API key", error.Text);
        Assert.Empty(browser.All("#nav a"));

        browser.LogIn(ServiceUnderTest.ReaderKey);
        Assert.Equal("总览", browser.Driver.FindElement(By.Id("nav-overview")).Text);
        browser.Driver.FindElement(By.Id("lang")).Click();
        browser.Until(() => browser.Driver.FindElement(By.Id("nav-overview")).Text == "Overview" ? true : (bool?)null, TimeSpan.FromSeconds(5), "English navigation");
        Assert.Equal(6, browser.All("#nav a").Count);
        Assert.Equal("Overview", browser.WaitFor("#page-overview[data-loaded='true'] h1").Text);
        Assert.Equal("PM2.5 target progress (zone)", browser.Driver.FindElement(By.CssSelector("#target h2")).Text);
        browser.Screenshot("english-overview");
        browser.Driver.FindElement(By.Id("logout")).Click();
        browser.WaitFor("#api-key");
        Assert.Equal("", browser.Script("return sessionStorage.getItem('ecomonitor.apiKey') || '';"));
    }

    [Fact(Timeout = 60_000)]
    public async Task Console_responses_carry_the_csp_and_the_live_channel_refuses_missing_or_wrong_keys()
    {
        using var anonymous = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = fixture.Http, Timeout = TimeSpan.FromSeconds(20) };
        foreach (var path in new[] { "/", "/console/", "/console/js/app.js", "/console/css/console.css", "/console/vendor/echarts.min.js" })
        {
            using var response = await anonymous.GetAsync(path);
            Assert.Equal(path == "/" ? HttpStatusCode.Redirect : HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(
                "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
                Assert.Single(response.Headers.GetValues("Content-Security-Policy")));
            Assert.Equal("nosniff", Assert.Single(response.Headers.GetValues("X-Content-Type-Options")));
        }
        using (var root = await anonymous.GetAsync("/")) Assert.Equal("/console/", root.Headers.Location!.OriginalString);

        foreach (var key in new[] { null, "wrong-key-000000000000" })
        {
            using var client = fixture.Client(key);
            using var live = await client.GetAsync("/v1/live", HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(HttpStatusCode.Unauthorized, live.StatusCode);
            using var whoami = await client.GetAsync("/v1/whoami");
            Assert.Equal(HttpStatusCode.Unauthorized, whoami.StatusCode);
        }
        Assert.Equal("""{"name":"officer","role":"Reader"}""", (await fixture.GetAsync("/v1/whoami")).GetRawText());

        // A good key gets the stream; the per-key cap (Api:MaxWatchStreamsPerKey, 8) holds for it like for gRPC watches.
        using var operatorClient = fixture.Client(ServiceUnderTest.OperatorKey);
        var open = new List<HttpResponseMessage>();
        try
        {
            for (var i = 0; i < 8; i++)
            {
                var r = await operatorClient.GetAsync("/v1/live", HttpCompletionOption.ResponseHeadersRead);
                open.Add(r);
                Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            }
            Assert.Equal("text/event-stream", open[0].Content.Headers.ContentType!.MediaType);
            var stream = await open[0].Content.ReadAsStreamAsync();
            var buffer = new byte[8];
            using var read = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await stream.ReadExactlyAsync(buffer, read.Token);
            Assert.Equal(": open\n\n", System.Text.Encoding.UTF8.GetString(buffer));
            using var ninth = await operatorClient.GetAsync("/v1/live", HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(HttpStatusCode.TooManyRequests, ninth.StatusCode);
            Assert.Contains("Api:MaxWatchStreamsPerKey", await ninth.Content.ReadAsStringAsync());
        }
        finally
        {
            foreach (var r in open) r.Dispose();
        }
    }

    [Fact(Timeout = 60_000)]
    public async Task The_consoles_redirect_and_404s_carry_the_csp_too()
    {
        using var anonymous = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = fixture.Http, Timeout = TimeSpan.FromSeconds(20) };
        foreach (var (path, status) in new[] { ("/console", HttpStatusCode.Redirect), ("/console/no-such-page.html", HttpStatusCode.NotFound), ("/console/js/pages/nope.js", HttpStatusCode.NotFound) })
        {
            using var response = await anonymous.GetAsync(path);
            Assert.Equal(status, response.StatusCode);
            Assert.Equal(ConsoleCsp, Assert.Single(response.Headers.GetValues("Content-Security-Policy")));
            Assert.Equal("nosniff", Assert.Single(response.Headers.GetValues("X-Content-Type-Options")));
        }
    }

    const string ConsoleCsp =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

    /// <summary>A live stream whose client goes away gives its WatchLimiter place back: with all 8 of a key's places
    /// taken and the clients gone, the key gets 8 new streams (a ninth is refused, so the places are counted).</summary>
    [Fact(Timeout = 60_000)]
    public async Task A_live_stream_gives_its_place_back_when_the_client_disconnects()
    {
        using var first = fixture.Client(ServiceUnderTest.OperatorKey);
        var streams = new List<HttpResponseMessage>();
        try
        {
            await Eventually(async () => await TryOpen(first, streams, 8) ? true : (bool?)null, TimeSpan.FromSeconds(15), "8 streams for the key");
            foreach (var r in streams) r.Dispose(); // the clients go away without a word
            streams.Clear();
            first.Dispose();
            using var second = fixture.Client(ServiceUnderTest.OperatorKey);
            await Eventually(async () => await TryOpen(second, streams, 8) ? true : (bool?)null, TimeSpan.FromSeconds(15), "the places given back");
            using var ninth = await second.GetAsync("/v1/live", HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(HttpStatusCode.TooManyRequests, ninth.StatusCode);
        }
        finally
        {
            foreach (var r in streams) r.Dispose();
        }

        // Opens streams until there are n open; false (streams closed again) when one is refused.
        static async Task<bool> TryOpen(HttpClient client, List<HttpResponseMessage> open, int n)
        {
            while (open.Count < n)
            {
                var r = await client.GetAsync("/v1/live", HttpCompletionOption.ResponseHeadersRead);
                if (r.StatusCode != HttpStatusCode.OK)
                {
                    Assert.Equal(HttpStatusCode.TooManyRequests, r.StatusCode);
                    r.Dispose();
                    foreach (var o in open) o.Dispose();
                    open.Clear();
                    return false;
                }
                open.Add(r);
                // The stream is open on the server (its place taken) once its first line arrives.
                var buffer = new byte[8];
                using var read = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                await (await r.Content.ReadAsStreamAsync(read.Token)).ReadExactlyAsync(buffer, read.Token);
                Assert.Equal(": open\n\n", System.Text.Encoding.UTF8.GetString(buffer));
            }
            return true;
        }
    }

    /// <summary>The server, not only the hidden button, keeps a reader from acknowledging: the page's own post()
    /// (app.js, with the session's key) gets 403 PERMISSION_DENIED, the alert stays unacknowledged, and the reader stays
    /// logged in (a refused call is not a refused key).</summary>
    [Fact(Timeout = 90_000)]
    public async Task A_reader_acknowledging_through_the_pages_own_fetch_is_refused_by_the_server()
    {
        var target = (await fixture.GetAsync("/v1/alerts")).GetProperty("alerts").EnumerateArray()
            .First(a => a.GetProperty("state").GetString() == "firing");
        var (rule, subject) = (target.GetProperty("rule").GetString()!, target.GetProperty("subject").GetString()!);
        var acknowledgedBefore = target.GetProperty("acknowledgedBy").GetString();
        using var browser = fixture.Browser(ServiceUnderTest.ReaderKey);
        browser.Open("alerts");
        Assert.Empty(browser.All("button.ack, button.silence, button.expire"));

        var answer = (string)browser.Driver.ExecuteAsyncScript("""
            const done = arguments[arguments.length - 1];
            import('/console/js/app.js')
              .then((m) => m.post('/v1/alerts:acknowledge', { rule: arguments[0], subject: arguments[1], comment: 'reader' }))
              .then(() => done('accepted'), (e) => done(`${e.status} ${e.code} ${e.message}`));
            """, rule, subject)!;
        Assert.StartsWith("403 7 ", answer); // HTTP 403, gRPC PERMISSION_DENIED
        Assert.Contains("duty role", answer);
        var silence = (string)browser.Driver.ExecuteAsyncScript("""
            const done = arguments[arguments.length - 1];
            import('/console/js/app.js')
              .then((m) => m.post('/v1/silences', { rule: arguments[0], subject: arguments[1], ends: new Date(Date.now() + 3600000).toISOString(), comment: 'reader' }))
              .then(() => done('accepted'), (e) => done(String(e.status)));
            """, rule, subject)!;
        Assert.Equal("403", silence);

        var after = (await fixture.GetAsync("/v1/alerts")).GetProperty("alerts").EnumerateArray()
            .Single(a => a.GetProperty("rule").GetString() == rule && a.GetProperty("subject").GetString() == subject);
        Assert.Equal(acknowledgedBefore, after.GetProperty("acknowledgedBy").GetString());
        Assert.DoesNotContain((await fixture.GetAsync("/v1/silences")).GetProperty("silences").EnumerateArray(), s => s.GetProperty("comment").GetString() == "reader");
        Assert.Equal(ServiceUnderTest.ReaderKey, browser.Script("return sessionStorage.getItem('ecomonitor.apiKey');"));
        Assert.NotEmpty(browser.All("#nav a"));
        Assert.Empty(browser.All("#api-key"));
    }

    /// <summary>Every page in both languages on a 1366x768 laptop: nothing wider than the screen (no sideways
    /// scrolling), no translation key shown instead of its text, no browser error. Screenshots laptop-&lt;lang&gt;-&lt;page&gt;.</summary>
    [Fact(Timeout = 150_000)]
    public async Task Every_page_fits_a_laptop_screen_in_both_languages_with_no_untranslated_key()
    {
        var air = (await fixture.GetAsync("/v1/stations")).GetProperty("stations").EnumerateArray()
            .First(s => s.GetProperty("kind").GetString() == "STATION_KIND_AIR").GetProperty("id").GetString();
        using var browser = fixture.Browser(ServiceUnderTest.DutyKey);
        browser.Viewport(1366, 768);
        var keyPattern = new System.Text.RegularExpressions.Regex(@"\b(?:al|app|banner|ev|kind|lang|live|login|nav|ov|page|role|sd|selection|sev|st|state|vx|wq)\.[a-zA-Z][a-zA-Z0-9.]*\b");
        foreach (var lang in new[] { "zh", "en" })
        {
            if (lang == "en") browser.Driver.FindElement(By.Id("lang")).Click();
            foreach (var route in new[] { "overview", "alerts", "stations", $"station/{air}", "water", "voc" })
            {
                browser.Open(route);
                browser.Screenshot($"laptop-{lang}-{route.Replace('/', '-')}");
                var width = Convert.ToInt64(browser.Script("return document.documentElement.scrollWidth;"), CultureInfo.InvariantCulture);
                Assert.True(width <= 1366, $"{lang} {route}: the page is {width} px wide on a 1366 px screen");
                var text = (string)browser.Script("return document.body.innerText;")!;
                Assert.DoesNotMatch(keyPattern, text);
                Assert.Equal(lang == "en" ? "en" : "zh-CN", browser.Script("return document.documentElement.lang;"));
            }
        }
        browser.AssertNoConsoleErrors();
    }

    static async Task<T> Eventually<T>(Func<Task<T?>> probe, TimeSpan timeout, string what) where T : struct
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (await probe() is { } v) return v;
            if (clock.Elapsed > timeout) throw new TimeoutException($"waited {timeout} for {what}");
            await Task.Delay(100);
        }
    }
}
