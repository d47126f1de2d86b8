using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;

namespace EcoMonitor.Service.Tests.Support;

/// <summary>The real service for the console's browser tests, started once per test class: keys of each role
/// (ServiceUnderTest's reader, duty and operator keys), alerting on and evaluated only when a test asks
/// (<see cref="EvaluateAsync"/>), and seeded data in the real InfluxDB:
/// - air-1 (管委会): PM2.5 90 µg/m³ every minute of the last complete hour and the hours around it: the critical
///   rule pm25-hourly (hourly mean over 75) fires for it;
/// - air-2 (科技谷): PM2.5 30 over the same hours;
/// - air-1's daily PM2.5 means: 50 every day of last year, 48 every day of this year up to yesterday (the target);
/// - voc-1 and w-fyh-1: a few recent readings (NMHC; pH with flag N and DO with flag D);
/// - rule nmhc-hourly (critical, NMHC hourly mean over Voc:HourlyMeanLimit 10 mg/m³) does not fire at first: a test
///   seeds voc-1 over it to see a new alert arrive;
/// - air-x: a station whose name is markup (<see cref="XssName"/>) and which sends nothing: the silent rule fires.
/// Other pages' tests reuse it: derive and override <see cref="StationsJson"/> / <see cref="SeedAsync"/>.</summary>
public class ConsoleFixture : IAsyncLifetime
{
    public const string XssName = "<img src=x onerror=alert(1)>";

    protected virtual string StationsJson => """
    {
      "stations": [
        { "id": "air-1", "name": "管委会", "kind": "air", "region": "高新区", "latitude": 37.77, "longitude": 115.74, "mn": "AIR0001", "password": "123456" },
        { "id": "air-2", "name": "科技谷", "kind": "air", "region": "高新区", "latitude": 37.78, "longitude": 115.72 },
        { "id": "air-x", "name": "<img src=x onerror=alert(1)>", "kind": "air", "region": "高新区北部", "latitude": 37.81, "longitude": 115.76 },
        { "id": "voc-1", "name": "化工园区厂界", "kind": "voc", "region": "高新区北部", "latitude": 37.80, "longitude": 115.77, "mn": "VOC0001" },
        { "id": "w-fyh-1", "name": "滏阳河上游断面", "kind": "water", "region": "高新区", "latitude": 37.76, "longitude": 115.71, "waterBody": "river", "waterName": "滏阳河", "targetClass": "IV", "mn": "WAT0001" }
      ]
    }
    """;

    readonly string _stationsFile = AlertTestSettings.TempFile("console-stations");
    readonly string _stateFile = AlertTestSettings.TempFile("console-alerts");
    HttpReceiver? _hook;
    ServiceUnderTest? _service;

    public ServiceUnderTest Service => _service ?? throw new InvalidOperationException("not started");

    /// <summary>The HTTP endpoint (Http:Url): the console is at /console/, the JSON API at /v1/.</summary>
    public Uri Http => Service.HttpAddress;

    /// <summary>The start of the last complete UTC hour when the fixture started (the seeded hours are around it).</summary>
    public DateTimeOffset SeededHour { get; private set; }

    /// <summary>air-1's daily PM2.5 this year and last year (the zone's target figures: no other air station has a valid day).</summary>
    public const double CurrentYearPm25 = 48, LastYearPm25 = 50;

    /// <summary>The last day of the target figures (yesterday in China when the fixture seeded).</summary>
    public DateOnly AsOf { get; private set; }

    /// <summary>Settings beyond the fixture's (e.g. Voc limits for a page's test).</summary>
    protected virtual IEnumerable<(string Key, string? Value)> MoreSettings => [];

    public virtual async Task InitializeAsync()
    {
        await File.WriteAllTextAsync(_stationsFile, StationsJson);
        _hook = await HttpReceiver.StartAsync();
        _service = new ServiceUnderTest(AlertTestSettings.For(_hook, _stateFile,
        [
            ("Stations:File", _stationsFile),
            ("Alerting:Rules:0:Name", "pm25-hourly"),
            ("Alerting:Rules:0:Kind", "hourly-mean"),
            ("Alerting:Rules:0:Parameter", "pm25"),
            ("Alerting:Rules:0:Threshold", "75"),
            ("Alerting:Rules:0:Severity", "critical"),
            ("Alerting:Rules:0:Channels:0", "duty"),
            ("Alerting:Rules:1:Name", "silent-air"),
            ("Alerting:Rules:1:Kind", "silent"),
            ("Alerting:Rules:1:StationKind", "air"),
            ("Alerting:Rules:1:Threshold", "60"),
            ("Alerting:Rules:1:Channels:0", "duty"),
            ("Alerting:Rules:2:Name", "nmhc-hourly"),
            ("Alerting:Rules:2:Kind", "hourly-mean"),
            ("Alerting:Rules:2:Parameter", "nmhc"),
            ("Alerting:Rules:2:Severity", "critical"),
            ("Alerting:Rules:2:Channels:0", "duty"),
            .. MoreSettings,
        ]));
        await Service.StartAsync();
        SeededHour = new DateTimeOffset(DateTime.UtcNow.Ticks / TimeSpan.TicksPerHour * TimeSpan.TicksPerHour, TimeSpan.Zero).AddHours(-1);
        await SeedAsync();
        await EvaluateAsync();
    }

    /// <summary>Writes the fixture's readings (see the class summary).</summary>
    protected virtual async Task SeedAsync()
    {
        var h = SeededHour;
        var now = DateTimeOffset.UtcNow;
        await Seed.WriteAsync(Service.Database,
        [
            .. PmHours("air-1", 90),
            .. PmHours("air-2", 30),
            Seed.Line("voc-1", "nmhc", now.AddMinutes(-5), 1.25),
            Seed.Line("w-fyh-1", "ph", now.AddMinutes(-30), 7.4),
            Seed.Line("w-fyh-1", "do", now.AddMinutes(-30), 6.8, "D"),
        ]);

        // The PM2.5 target: air-1's daily means, 50 every day of last year and 48 every day of this year up to
        // yesterday (China dates), written as the daily rollup (reading_1d, 24 valid hours) the target figures read.
        // Yesterday's line replaces whatever the rebuild above made of the seeded hours.
        var yesterday = DateOnly.FromDateTime(now.ToOffset(Seed.China).DateTime).AddDays(-1);
        AsOf = yesterday;
        var days = new List<string>();
        for (var d = new DateOnly(yesterday.Year - 1, 1, 1); d <= yesterday; d = d.AddDays(1))
            days.Add(string.Create(CultureInfo.InvariantCulture,
                $"reading_1d,station=air-1,parameter=pm25 hours=24i,mean={(d.Year == yesterday.Year ? CurrentYearPm25 : LastYearPm25)} {new DateTimeOffset(d.ToDateTime(TimeOnly.MinValue), Seed.China).ToUnixTimeMilliseconds()}"));
        await Seed.WriteRawAsync(Service.Database, days);

        IEnumerable<string> PmHours(string station, double value) =>
            Enumerable.Range(-1, 3).SelectMany(i => Enumerable.Range(0, 45).Select(m => h.AddHours(i).AddMinutes(m)))
                .Where(t => t < now).Select(t => Seed.Line(station, "pm25", t, value));
    }

    /// <summary>Evaluates every rule now (POST /v1/alerts:evaluate with the operator key), as the service's own
    /// schedule would; returns the events.</summary>
    public async Task<JsonElement> EvaluateAsync() =>
        (await PostAsync("/v1/alerts:evaluate", new { }, ServiceUnderTest.OperatorKey)).GetProperty("events");

    public HttpClient Client(string? key)
    {
        var client = new HttpClient { BaseAddress = Http, Timeout = TimeSpan.FromSeconds(30) };
        if (key is not null) client.DefaultRequestHeaders.Add("x-api-key", key);
        return client;
    }

    /// <summary>GET on the JSON API, as the page does it; the answer's JSON.</summary>
    public async Task<JsonElement> GetAsync(string pathAndQuery, string key = ServiceUnderTest.ReaderKey)
    {
        using var client = Client(key);
        using var response = await client.GetAsync(pathAndQuery);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"GET {pathAndQuery}: {(int)response.StatusCode} {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    public async Task<JsonElement> PostAsync(string path, object body, string key)
    {
        using var client = Client(key);
        using var response = await client.PostAsJsonAsync(path, body);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"POST {path}: {(int)response.StatusCode} {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    /// <summary>A browser on this service, logged in with <paramref name="key"/>.</summary>
    public ConsoleBrowser Browser(string key = ServiceUnderTest.ReaderKey)
    {
        var browser = ConsoleBrowser.Start(Http);
        try
        {
            browser.LogIn(key);
            return browser;
        }
        catch
        {
            browser.Dispose();
            throw;
        }
    }

    public virtual async Task DisposeAsync()
    {
        if (_service is not null) await _service.DisposeAsync();
        if (_hook is not null) await _hook.DisposeAsync();
        File.Delete(_stationsFile);
        File.Delete(_stateFile);
    }
}
