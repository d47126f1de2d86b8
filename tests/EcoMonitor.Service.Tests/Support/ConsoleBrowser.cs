using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using OpenQA.Selenium.Support.UI;

namespace EcoMonitor.Service.Tests.Support;

/// <summary>A real headless browser (the system's chromium through chromedriver, 1920x1080) driving the web console
/// of a running service. Collects the browser console's messages (goog:loggingPrefs browser ALL) so that a test can
/// assert there was no error (a CSP violation, a failed request and an uncaught exception all log one), and writes
/// screenshots (PNG) under the test output folder's screenshots/ for a person to look at.
///
/// ECOMON_TEST_CHROMIUM and ECOMON_TEST_CHROMEDRIVER override /usr/bin/chromium and /usr/bin/chromedriver
/// (deploy/local/test.sh installs Debian's chromium and chromium-driver). Every wait is bounded.</summary>
public sealed class ConsoleBrowser : IDisposable
{
    public static readonly TimeSpan DefaultWait = TimeSpan.FromSeconds(15);

    readonly List<LogEntry> _log = [];
    readonly string _profile;

    ConsoleBrowser(Uri service, ChromeDriver driver, string profile)
    {
        Service = service;
        Driver = driver;
        _profile = profile;
    }

    /// <summary>The service's HTTP endpoint (Http:Url).</summary>
    public Uri Service { get; }

    public ChromeDriver Driver { get; }

    /// <summary>The console's address: /console/ on the HTTP endpoint.</summary>
    public Uri ConsoleAddress => new(Service, "/console/");

    public static string ScreenshotFolder => Path.Combine(AppContext.BaseDirectory, "screenshots");

    public static ConsoleBrowser Start(Uri service, string language = "zh-CN")
    {
        var chromium = Environment.GetEnvironmentVariable("ECOMON_TEST_CHROMIUM") ?? "/usr/bin/chromium";
        var chromedriver = Environment.GetEnvironmentVariable("ECOMON_TEST_CHROMEDRIVER") ?? "/usr/bin/chromedriver";
        if (!File.Exists(chromium) || !File.Exists(chromedriver))
            throw new InvalidOperationException($"The console's browser tests need chromium ({chromium}) and chromedriver ({chromedriver}): apt-get install chromium chromium-driver (deploy/local/test.sh does).");
        var profile = Path.Combine(Path.GetTempPath(), $"ecomon-chromium-{Guid.NewGuid():N}");
        var options = new ChromeOptions { BinaryLocation = chromium };
        options.AddArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1920,1080",
            "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
            "--disable-features=Translate,OptimizationHints,MediaRouter", $"--lang={language}", $"--user-data-dir={profile}");
        options.SetLoggingPreference(LogType.Browser, LogLevel.All);
        var driverService = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(chromedriver)!, Path.GetFileName(chromedriver));
        driverService.SuppressInitialDiagnosticInformation = true;
        driverService.HideCommandPromptWindow = true;
        var driver = new ChromeDriver(driverService, options, TimeSpan.FromSeconds(60));
        driver.Manage().Timeouts().PageLoad = TimeSpan.FromSeconds(30);
        driver.Manage().Timeouts().AsynchronousJavaScript = TimeSpan.FromSeconds(15);
        // --window-size counts the window; the wall screen's viewport is 1920x1080.
        driver.ExecuteCdpCommand("Emulation.setDeviceMetricsOverride", new Dictionary<string, object?>
        {
            ["width"] = 1920, ["height"] = 1080, ["deviceScaleFactor"] = 1, ["mobile"] = false,
        });
        return new ConsoleBrowser(service, driver, profile);
    }

    /// <summary>Opens the console (the key prompt when no key is in this session), then logs in with the key.</summary>
    public void LogIn(string key)
    {
        Driver.Navigate().GoToUrl(ConsoleAddress);
        var input = WaitFor("#api-key");
        input.Clear();
        input.SendKeys(key);
        Driver.FindElement(By.CssSelector("#login-submit")).Click();
        WaitFor("#nav a");
    }

    /// <summary>Goes to a route ("overview", "station/air-1") and waits until the page has rendered.</summary>
    public IWebElement Open(string route, TimeSpan? timeout = null)
    {
        var previous = Driver.FindElements(By.CssSelector("section.page")).FirstOrDefault();
        Driver.Navigate().GoToUrl(new Uri(ConsoleAddress, "#/" + route));
        var name = route.Split('/')[0];
        var page = Until(() =>
        {
            var page = Driver.FindElements(By.CssSelector($"#page-{name}[data-loaded='true']")).FirstOrDefault();
            return page is not null && !ReferenceEquals(page, previous) ? page : null;
        }, timeout ?? DefaultWait, $"page {route} rendered");
        // A page that failed says why in .page-error (app.js): fail with that, not with a missing element later.
        if (page.FindElements(By.CssSelector(".page-error")).FirstOrDefault() is { } error)
            throw new InvalidOperationException($"page {route} failed: {error.Text}");
        return page;
    }

    /// <summary>The first element matching the CSS selector, waiting for it.</summary>
    public IWebElement WaitFor(string css, TimeSpan? timeout = null) =>
        Until(() => Driver.FindElements(By.CssSelector(css)).FirstOrDefault(e => e.Displayed), timeout ?? DefaultWait, $"element {css}");

    public IReadOnlyList<IWebElement> All(string css) => Driver.FindElements(By.CssSelector(css));

    /// <summary>Waits until <paramref name="probe"/> gives a value (not null, not false), at most <paramref name="timeout"/>.</summary>
    public T Until<T>(Func<T?> probe, TimeSpan timeout, string what)
    {
        var wait = new WebDriverWait(Driver, timeout) { PollingInterval = TimeSpan.FromMilliseconds(100), Message = $"waiting for {what}" };
        wait.IgnoreExceptionTypes(typeof(StaleElementReferenceException), typeof(NoSuchElementException));
        return (T)wait.Until<object?>(_ => probe() is { } v && v is not false ? v : null)!;
    }

    /// <summary>Every browser console message since the browser started (levels SEVERE, WARNING, INFO, ...).</summary>
    public IReadOnlyList<LogEntry> ConsoleMessages()
    {
        _log.AddRange(Driver.Manage().Logs.GetLog(LogType.Browser));
        return _log;
    }

    /// <summary>The console's errors (SEVERE): CSP violations, failed loads, uncaught exceptions, console.error.</summary>
    public IReadOnlyList<string> ConsoleErrors() =>
        [.. ConsoleMessages().Where(e => e.Level == LogLevel.Severe).Select(e => e.Message)];

    public void AssertNoConsoleErrors()
    {
        var errors = ConsoleErrors();
        Assert.True(errors.Count == 0, "browser console errors:\n" + string.Join("\n", errors));
    }

    /// <summary>Whether a JavaScript alert/confirm/prompt dialog is open.</summary>
    public bool DialogOpen()
    {
        try
        {
            _ = Driver.SwitchTo().Alert().Text;
            return true;
        }
        catch (NoAlertPresentException)
        {
            return false;
        }
    }

    public object? Script(string script, params object[] args) => Driver.ExecuteScript(script, args);

    /// <summary>Sets the page's viewport (CSS pixels), e.g. 1366x768 for a laptop; the browser starts at 1920x1080.</summary>
    public void Viewport(int width, int height) =>
        Driver.ExecuteCdpCommand("Emulation.setDeviceMetricsOverride", new Dictionary<string, object?>
        {
            ["width"] = width, ["height"] = height, ["deviceScaleFactor"] = 1, ["mobile"] = false,
        });

    /// <summary>Writes a PNG of the viewport to screenshots/&lt;name&gt;.png under the test output folder.</summary>
    public string Screenshot(string name)
    {
        Directory.CreateDirectory(ScreenshotFolder);
        var path = Path.Combine(ScreenshotFolder, name + ".png");
        Driver.GetScreenshot().SaveAsFile(path);
        return path;
    }

    public void Dispose()
    {
        try
        {
            Driver.Quit();
        }
        finally
        {
            Driver.Dispose();
            try
            {
                Directory.Delete(_profile, recursive: true);
            }
            catch (IOException)
            {
                // chromium may still hold a file for a moment: the temp folder is cleaned by the system
            }
        }
    }
}
