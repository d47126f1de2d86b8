using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace EcoMonitor.Service.Tests.Support;

/// <summary>A real headless chromium driven by the system's chromedriver over the W3C WebDriver protocol (plain
/// HTTP, no client package): enough for the console's chart pages to be loaded, read through JavaScript and
/// photographed. Every command has a deadline, so a stuck browser fails the test instead of hanging the run.</summary>
public sealed class ChartsBrowser : IAsyncDisposable
{
    readonly Process _driver;
    readonly HttpClient _http;
    readonly string _session;

    ChartsBrowser(Process driver, HttpClient http, string session) => (_driver, _http, _session) = (driver, http, session);

    public static string ChromeDriver => Environment.GetEnvironmentVariable("ECOMON_TEST_CHROMEDRIVER") ?? "/usr/bin/chromedriver";
    public static string Chromium => Environment.GetEnvironmentVariable("ECOMON_TEST_CHROMIUM") ?? "/usr/bin/chromium";

    /// <summary>Where screenshots go: ECOMON_TEST_SCREENSHOTS, else screenshots/ beside the test assembly (not in git).</summary>
    public static string ScreenshotDirectory =>
        Environment.GetEnvironmentVariable("ECOMON_TEST_SCREENSHOTS") ?? Path.Combine(AppContext.BaseDirectory, "screenshots");

    public static async Task<ChartsBrowser> StartAsync()
    {
        if (!File.Exists(ChromeDriver) || !File.Exists(Chromium))
            throw new InvalidOperationException($"chromium ({Chromium}) and chromedriver ({ChromeDriver}) are needed: deploy/local/test.sh installs them (apt-get install chromium chromium-driver).");
        var port = FreePort();
        var driver = Process.Start(new ProcessStartInfo(ChromeDriver, $"--port={port}")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        })!;
        driver.OutputDataReceived += (_, _) => { };
        driver.ErrorDataReceived += (_, _) => { };
        driver.BeginOutputReadLine();
        driver.BeginErrorReadLine();
        var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromSeconds(60) };
        try
        {
            await TestInfrastructure.EventuallyAsync(async () =>
            {
                try { return (await http.GetAsync("status")).IsSuccessStatusCode; }
                catch (HttpRequestException) { return false; }
            }, TimeSpan.FromSeconds(20), "chromedriver answering");
            var capabilities = new JsonObject
            {
                ["capabilities"] = new JsonObject
                {
                    ["alwaysMatch"] = new JsonObject
                    {
                        ["browserName"] = "chrome",
                        ["goog:chromeOptions"] = new JsonObject
                        {
                            ["binary"] = Chromium,
                            ["args"] = new JsonArray("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                                "--window-size=1920,1080", "--lang=zh-CN"),
                        },
                        ["goog:loggingPrefs"] = new JsonObject { ["browser"] = "ALL" },
                        ["timeouts"] = new JsonObject { ["script"] = 30000, ["pageLoad"] = 30000 },
                    },
                },
            };
            var created = await Send(http, HttpMethod.Post, "session", capabilities);
            return new ChartsBrowser(driver, http, created.GetProperty("sessionId").GetString()!);
        }
        catch
        {
            http.Dispose();
            driver.Kill(entireProcessTree: true);
            driver.Dispose();
            throw;
        }
    }

    static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    static async Task<JsonElement> Send(HttpClient http, HttpMethod method, string path, JsonNode? body)
    {
        using var request = new HttpRequestMessage(method, path);
        // A sized body: chromedriver's HTTP server does not read chunked requests.
        if (body is not null || method == HttpMethod.Post)
            request.Content = new StringContent((body ?? new JsonObject()).ToJsonString(), System.Text.Encoding.UTF8, "application/json");
        using var response = await http.SendAsync(request);
        var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
        var value = json.GetProperty("value");
        if (!response.IsSuccessStatusCode)
            throw new InvalidOperationException($"WebDriver {method} {path}: {(value.TryGetProperty("message", out var m) ? m.GetString() : value.ToString())}");
        return value;
    }

    Task<JsonElement> Command(HttpMethod method, string path, JsonNode? body = null) => Send(_http, method, $"session/{_session}/{path}", body);

    public Task GoAsync(Uri url) => Command(HttpMethod.Post, "url", new JsonObject { ["url"] = url.ToString() });

    public Task RefreshAsync() => Command(HttpMethod.Post, "refresh");

    /// <summary>Runs a function body in the page (`return ...;`) and gives its JSON-able result.</summary>
    public Task<JsonElement> ScriptAsync(string body, params JsonNode?[] args) =>
        Command(HttpMethod.Post, "execute/sync", new JsonObject { ["script"] = body, ["args"] = new JsonArray(args) });

    /// <summary>Opens a console route with the API key in the session, as a person who typed it once would, and
    /// waits until the page says it has loaded. The key is put into the session storage from another page of the
    /// same origin (/healthz), so the console loads straight into the route and no other page runs first; the
    /// browser log of what came before is drained (and returned) so that the next read covers this page only.</summary>
    public async Task<List<(string Level, string Message)>> OpenAsync(Uri service, string key, string route, string lang = "zh")
    {
        await GoAsync(new Uri(service, "/healthz"));
        await ScriptAsync("sessionStorage.setItem('ecomonitor.apiKey', arguments[0]); localStorage.setItem('ecomonitor.lang', arguments[1]); return true;", key, lang);
        var before = await ConsoleLogAsync();
        await GoAsync(new Uri(new Uri(service, "/console/"), route));
        await WaitAsync("const p = document.querySelector('.page'); return !!p && p.dataset.loaded === 'true';", $"page {route} loaded");
        return before;
    }

    public async Task WaitAsync(string condition, string what, TimeSpan? timeout = null) =>
        await TestInfrastructure.EventuallyAsync(async () => (await ScriptAsync(condition)).ValueKind == JsonValueKind.True,
            timeout ?? TimeSpan.FromSeconds(20), what);

    public async Task<string> ScreenshotAsync(string name)
    {
        var png = await Command(HttpMethod.Get, "screenshot");
        Directory.CreateDirectory(ScreenshotDirectory);
        var path = Path.Combine(ScreenshotDirectory, $"{name}.png");
        await File.WriteAllBytesAsync(path, Convert.FromBase64String(png.GetString()!));
        return path;
    }

    /// <summary>The browser console's entries since the last call (chromedriver's log endpoint), as (level, message).</summary>
    public async Task<List<(string Level, string Message)>> ConsoleLogAsync()
    {
        var entries = await Command(HttpMethod.Post, "se/log", new JsonObject { ["type"] = "browser" });
        return [.. entries.EnumerateArray().Select(e => (e.GetProperty("level").GetString()!, e.GetProperty("message").GetString()!))];
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await _http.DeleteAsync($"session/{_session}", cts.Token);
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException)
        {
            // the browser is going away anyway
        }
        _http.Dispose();
        if (!_driver.HasExited) _driver.Kill(entireProcessTree: true);
        await _driver.WaitForExitAsync();
        _driver.Dispose();
    }
}
