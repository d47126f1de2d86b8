using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using EcoMonitor.Service.Hosting;
using EcoMonitor.Service.Storage;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;

// The web console's first view with 200 stations on loopback (issue 11's figure: under 1 s). The real service runs in
// this process against the real InfluxDB and broker with 200 stations (150 air in 5 regions, 30 VOCs, 20 water), the
// last complete hour of the six air pollutants, NMHC and water readings, 20 stations silent, and the shipped alert
// rules evaluated once. A headless chromium (the system's, through chromedriver) logs in, then reloads the overview
// and the stations page: the figure is the time from navigation start to the page's "console:page-rendered" mark
// (app.js: every API answer shown, charts drawn), with the HTTP cache warm (revalidated, 304) and cleared (cold).
//   dotnet run --project bench/EcoMonitor.ConsoleBench -c Release -- [--influx URL] [--mqtt-port N] [--runs N]
var influxUrl = Arg("--influx") ?? "http://127.0.0.1:18086";
var mqttPort = Arg("--mqtt-port") ?? "18830";
var runs = int.Parse(Arg("--runs") ?? "10", CultureInfo.InvariantCulture);
var chromium = Environment.GetEnvironmentVariable("ECOMON_TEST_CHROMIUM") ?? "/usr/bin/chromium";
var chromedriver = Environment.GetEnvironmentVariable("ECOMON_TEST_CHROMEDRIVER") ?? "/usr/bin/chromedriver";
const string Key = "console-bench-key-0000000001";
const string OperatorKey = "console-bench-operator-00001";

var tag = $"consolebench{Environment.ProcessId}";
var stationsFile = Path.Combine(Path.GetTempPath(), $"{tag}-stations.json");
var stateFile = Path.Combine(Path.GetTempPath(), $"{tag}-alerts.json");
var regions = new[] { "高新区", "高新区北部", "冀州区", "桃城区", "枣强县" };
var stations = new List<(string Id, string Kind, string Region)>();
for (var i = 0; i < 200; i++)
    stations.Add(i < 150 ? ($"air-{i:000}", "air", regions[i % 5]) : i < 180 ? ($"voc-{i:000}", "voc", regions[i % 5]) : ($"w-{i:000}", "water", regions[i % 5]));
var json = new StringBuilder("{\"stations\":[");
for (var i = 0; i < stations.Count; i++)
{
    var (id, kind, region) = stations[i];
    json.Append(CultureInfo.InvariantCulture, $"{(i > 0 ? "," : "")}{{\"id\":\"{id}\",\"name\":\"站点{i:000}\",\"kind\":\"{kind}\",\"region\":\"{region}\",\"latitude\":{37.6 + i % 20 * 0.02:0.###},\"longitude\":{115.5 + i / 20 * 0.03:0.###}");
    if (kind == "water") json.Append(",\"waterBody\":\"river\",\"waterName\":\"滏阳河\",\"targetClass\":\"III\"");
    json.Append('}');
}
File.WriteAllText(stationsFile, json.Append("]}").ToString());

var settings = new Dictionary<string, string?>
{
    ["Http:Url"] = "http://127.0.0.1:0", ["Grpc:Url"] = "http://127.0.0.1:0",
    ["Api:Keys:0:Name"] = "bench", ["Api:Keys:0:Key"] = Key, ["Api:Keys:0:Role"] = "Duty",
    ["Api:Keys:1:Name"] = "bench-operator", ["Api:Keys:1:Key"] = OperatorKey, ["Api:Keys:1:Role"] = "Operator",
    ["Serilog:MinimumLevel:Default"] = "Warning", ["Stations:File"] = stationsFile,
    ["Mqtt:Host"] = "127.0.0.1", ["Mqtt:Port"] = mqttPort, ["Mqtt:ClientId"] = tag, ["Ingestion:TopicPrefix"] = tag,
    ["Influx:Url"] = influxUrl, ["Influx:Database"] = tag, ["Hj212:Tcp:Enabled"] = "false",
    ["Alerting:Enabled"] = "true", ["Alerting:StateFile"] = stateFile, ["Alerting:EvaluationInterval"] = "01:00:00",
    ["Alerting:RulesFile"] = Path.Combine(AppContext.BaseDirectory, "alert-rules.json"), // the shipped rules
    ["Alerting:Channels:0:Name"] = "broker", ["Alerting:Channels:0:Type"] = "mqtt",
};
var app = EcoMonitorApp.Build([], c => c.AddInMemoryCollection(settings));
await app.StartAsync();
var http = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
using var influxHttp = new HttpClient { BaseAddress = new Uri(influxUrl), Timeout = TimeSpan.FromMinutes(2) };
try
{
    // Seed: the last complete hour (45 minutes) of the six air pollutants at 140 air stations (10 silent), NMHC at
    // 25 VOCs points, a few water readings at 15 sections.
    var hour = new DateTimeOffset(DateTime.UtcNow.Ticks / TimeSpan.TicksPerHour * TimeSpan.TicksPerHour, TimeSpan.Zero).AddHours(-1);
    var lines = new List<string>();
    var air = new[] { ("pm25", 45.0), ("pm10", 80.0), ("so2", 9.0), ("no2", 30.0), ("co", 0.8), ("o3", 70.0) };
    foreach (var (id, kind, _) in stations)
    {
        var n = int.Parse(id[(id.IndexOf('-') + 1)..], CultureInfo.InvariantCulture);
        IEnumerable<(string, double)> values = kind switch
        {
            "air" when n % 15 != 0 => air.Select(a => (a.Item1, a.Item2 * (1 + n % 7 * 0.1))),
            "voc" when n % 6 != 0 => [("nmhc", 1.5 + n % 5)],
            "water" when n % 4 != 0 => [("ph", 7.3), ("do", 6.5), ("nh3n", 0.4)],
            _ => [],
        };
        foreach (var (p, v) in values)
            for (var m = 0; m < 45; m++)
                lines.Add(string.Create(CultureInfo.InvariantCulture, $"reading,station={id},parameter={p} value={v},flag=\"N\" {hour.AddMinutes(m).ToUnixTimeMilliseconds()}"));
    }
    (await influxHttp.PostAsync("query", new FormUrlEncodedContent(new Dictionary<string, string> { ["q"] = $"CREATE DATABASE \"{tag}\"" }))).EnsureSuccessStatusCode();
    foreach (var chunk in lines.Chunk(20000))
        (await influxHttp.PostAsync($"write?db={tag}&precision=ms", new StringContent(string.Join('\n', chunk), Encoding.UTF8))).EnsureSuccessStatusCode();
    using (var influx = new InfluxConnection(Microsoft.Extensions.Options.Options.Create(new InfluxSettings { Url = new Uri(influxUrl), Database = tag, Timeout = TimeSpan.FromMinutes(2) })))
        await new HourlyRollup(influx).RebuildAsync(hour.AddHours(-1), hour.AddHours(2), CancellationToken.None);
    using (var api = new HttpClient { BaseAddress = http })
    {
        api.DefaultRequestHeaders.Add("x-api-key", OperatorKey);
        (await api.PostAsJsonAsync("/v1/alerts:evaluate", new { })).EnsureSuccessStatusCode();
    }
    string active;
    using (var api = new HttpClient { BaseAddress = http })
    {
        api.DefaultRequestHeaders.Add("x-api-key", Key);
        active = (await api.GetFromJsonAsync<System.Text.Json.JsonElement>("/v1/alerts")).GetProperty("alerts").GetArrayLength().ToString(CultureInfo.InvariantCulture);
    }
    Console.WriteLine($"EcoMonitor console load: {stations.Count} stations, {lines.Count:N0} readings seeded, {active} active alerts, {Environment.ProcessorCount} cores, load {File.ReadAllText("/proc/loadavg").Split(' ')[0]}, {DateTime.UtcNow:u}");

    var options = new ChromeOptions { BinaryLocation = chromium };
    options.AddArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1920,1080", "--no-first-run",
        "--disable-extensions", "--disable-background-networking", $"--user-data-dir={Path.Combine(Path.GetTempPath(), tag + "-chromium")}");
    var service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(chromedriver)!, Path.GetFileName(chromedriver));
    service.SuppressInitialDiagnosticInformation = true;
    using var driver = new ChromeDriver(service, options, TimeSpan.FromSeconds(60));
    driver.Navigate().GoToUrl(new Uri(http, "/console/"));
    UntilTrue(() => driver.FindElements(By.Id("api-key")).Count > 0);
    driver.FindElement(By.Id("api-key")).SendKeys(Key);
    driver.FindElement(By.Id("login-submit")).Click();
    UntilTrue(() => driver.FindElements(By.CssSelector("#page-overview[data-loaded='true']")).Count > 0);

    foreach (var route in new[] { "overview", "stations", "alerts" })
    {
        driver.Navigate().GoToUrl(new Uri(http, $"/console/#/{route}"));
        UntilTrue(() => driver.FindElements(By.CssSelector($"#page-{route}[data-loaded='true']")).Count > 0);
        foreach (var cold in new[] { false, true })
        {
            var times = new List<double>();
            for (var i = 0; i < runs; i++)
            {
                if (cold) driver.ExecuteCdpCommand("Network.clearBrowserCache", []);
                driver.Navigate().Refresh();
                times.Add(Until(() => driver.ExecuteScript(
                    "const m = performance.getEntriesByName('console:page-rendered'); return m.length ? m[0].startTime : null;") is { } t ? Convert.ToDouble(t, CultureInfo.InvariantCulture) : (double?)null));
                if (driver.FindElements(By.CssSelector(".page-error")).Count > 0) throw new InvalidOperationException($"{route}: {driver.FindElement(By.CssSelector(".page-error")).Text}");
            }
            times.Sort();
            // The slowest requests of the last load (resource timing): where the time goes.
            var slowest = (IReadOnlyCollection<object>)driver.ExecuteScript(
                "return performance.getEntriesByType('resource').filter(e => e.name.includes('/v1/') && !e.name.includes('/v1/live'))" +
                ".sort((a, b) => b.duration - a.duration).slice(0, 3).map(e => new URL(e.name).pathname + ' ' + Math.round(e.duration) + ' ms');")!;
            Console.WriteLine($"  {route,-9} {(cold ? "cold cache" : "warm cache"),-10}  median {times[times.Count / 2],6:0} ms   max {times[^1],6:0} ms   ({runs} loads); slowest: {string.Join(", ", slowest)}");
        }
    }
    driver.Quit();
}
finally
{
    await app.StopAsync();
    await app.DisposeAsync();
    await influxHttp.PostAsync("query", new FormUrlEncodedContent(new Dictionary<string, string> { ["q"] = $"DROP DATABASE \"{tag}\"" }));
    File.Delete(stationsFile);
    File.Delete(stateFile);
}

string? Arg(string name) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault();

static T Until<T>(Func<T?> probe) where T : struct
{
    var clock = Stopwatch.StartNew();
    while (clock.Elapsed < TimeSpan.FromSeconds(30))
    {
        if (probe() is { } v) return v;
        Thread.Sleep(20);
    }
    throw new TimeoutException("the console did not render within 30 s");
}

static void UntilTrue(Func<bool> probe) => Until(() => probe() ? true : (bool?)null);
