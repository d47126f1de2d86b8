using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using EcoMonitor.Service.Alerting;
using EcoMonitor.Service.Query;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Options;

namespace EcoMonitor.Service.WebConsole;

/// <summary>The web console: static files under /console/ on the HTTP/1.1 endpoint (Http:Url), "/"
/// redirecting there, a Content-Security-Policy on every console response, and the two endpoints the page needs
/// besides the JSON API: /v1/whoami (the calling key's name and role, so the page offers only what the role may do)
/// and /v1/live (server-sent events of readings and alert events). Both authenticate like the API (header x-api-key
/// or authorization: Bearer); the key itself is never echoed or logged.</summary>
public static class ConsoleEndpoints
{
    /// <summary>No inline script or style, nothing from another origin: the page is self-contained (ECharts ships in
    /// vendor/) so the console works on a closed network, and a station name or alert text that looks like markup
    /// can never run. ECharts draws on a canvas and sets element.style from script, which style-src does not govern.
    /// img-src allows data: for ECharts' "save as image" (a data URL).</summary>
    public const string ContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

    /// <summary>How often /v1/live writes a comment line when nothing happened: keeps proxies and the browser from
    /// closing an idle stream and lets the server notice a client that went away.</summary>
    public static readonly TimeSpan KeepAlive = TimeSpan.FromSeconds(15);

    /// <summary>The console's files: wwwroot/console next to the service's assembly (copied there by the build).</summary>
    public static string ConsoleRoot => Path.Combine(AppContext.BaseDirectory, "wwwroot", "console");

    /// <summary>Maps the console; call after the app is built (EcoMonitorApp.Build).</summary>
    public static WebApplication MapConsole(this WebApplication app)
    {
        var keys = new ConsoleKeys(app.Services.GetRequiredService<IOptions<ApiSettings>>(), app.Services.GetRequiredService<ILogger<ConsoleKeys>>());
        app.Use(async (http, next) =>
        {
            var path = http.Request.Path;
            if (path == "/" || path.StartsWithSegments("/console"))
            {
                http.Response.Headers.ContentSecurityPolicy = ContentSecurityPolicy;
                http.Response.Headers.XContentTypeOptions = "nosniff";
                http.Response.Headers["Referrer-Policy"] = "no-referrer";
                if (path == "/" || path == "/console")
                {
                    http.Response.Redirect("/console/");
                    return;
                }
            }
            await next(http);
        });
        var root = ConsoleRoot;
        if (Directory.Exists(root))
        {
            var files = new PhysicalFileProvider(root);
            app.UseDefaultFiles(new DefaultFilesOptions { FileProvider = files, RequestPath = "/console" });
            app.UseStaticFiles(new StaticFileOptions
            {
                FileProvider = files,
                RequestPath = "/console",
                // Files change with the service's version; "no-cache" revalidates (ETag) so an upgrade is seen at once.
                OnPrepareResponse = f => f.Context.Response.Headers.CacheControl = "no-cache",
            });
        }
        else
        {
            app.Logger.LogWarning("The console's files are missing ({Root}): /console/ answers 404", root);
        }

        app.MapGet("/v1/whoami", (HttpContext http) =>
        {
            var key = keys.Authenticate(http.Request, out var refusal);
            return key is null ? refusal! : Results.Json(new { name = key.Name, role = key.Role.ToString() });
        });
        app.MapGet("/v1/live", (HttpContext http, WatchLimiter limiter, ReadingBroadcast readings, AlertBroadcast alerts, AlertEvaluator evaluator,
            IHostApplicationLifetime lifetime, TimeProvider time) => Live(http, keys, limiter, readings, alerts, evaluator, lifetime, time));
        return app;
    }

    /// <summary>Server-sent events: "reading" (a stored reading, as the API's Reading message) and "alert" (an alert
    /// event, as the API's AlertEventInfo), JSON in the proto3 JSON mapping the transcoded API uses. A stream takes a
    /// place from <see cref="WatchLimiter"/> like a gRPC Watch (429 with the reason when the caps are reached) and
    /// lives until the client goes away or the service stops. Query "kinds=reading,alert" chooses the events.</summary>
    static async Task Live(HttpContext http, ConsoleKeys keys, WatchLimiter limiter, ReadingBroadcast readings, AlertBroadcast alerts,
        AlertEvaluator evaluator, IHostApplicationLifetime lifetime, TimeProvider time)
    {
        var key = keys.Authenticate(http.Request, out var refusal);
        if (key is null)
        {
            await refusal!.ExecuteAsync(http);
            return;
        }
        var kinds = (http.Request.Query["kinds"].ToString() is { Length: > 0 } k ? k : "reading,alert").Split(',', StringSplitOptions.TrimEntries);
        if (kinds.Any(x => x is not ("reading" or "alert")))
        {
            await Error(StatusCode.InvalidArgument, "kinds: a comma-separated list of reading, alert").ExecuteAsync(http);
            return;
        }
        IDisposable place;
        try
        {
            place = limiter.Acquire(key.Name);
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.ResourceExhausted)
        {
            await Error(e.StatusCode, e.Status.Detail).ExecuteAsync(http);
            return;
        }
        using var _ = place;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted, lifetime.ApplicationStopping);
        var ct = stop.Token;
        using var readingWatcher = kinds.Contains("reading") ? readings.Subscribe(_ => true) : null;
        using var alertWatcher = kinds.Contains("alert") && evaluator.Enabled ? alerts.Subscribe(_ => true) : null;

        var response = http.Response;
        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-store";
        response.Headers.XContentTypeOptions = "nosniff";
        response.Headers["X-Accel-Buffering"] = "no";
        var gate = new SemaphoreSlim(1, 1);
        async Task Write(string text)
        {
            await gate.WaitAsync(ct);
            try
            {
                await response.WriteAsync(text, ct);
                await response.Body.FlushAsync(ct);
            }
            finally
            {
                gate.Release();
            }
        }

        try
        {
            await Write(": open\n\n"); // the client sees the stream open before the first event
            var pumps = new List<Task> { KeepAlives() };
            if (readingWatcher is not null)
                pumps.Add(Pump(readingWatcher.Reader, r => "event: reading\ndata: " + Json.Format(ApiMapping.ToApi(r)) + "\n\n"));
            if (alertWatcher is not null)
                pumps.Add(Pump(alertWatcher.Reader, n => "event: alert\ndata: " + Json.Format(AlertApi.ToApi(n.Event, n.Severity)) + "\n\n"));
            await await Task.WhenAny(pumps);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // the client went away or the service stops
        }
        finally
        {
            await stop.CancelAsync();
        }

        async Task Pump<T>(System.Threading.Channels.ChannelReader<T> reader, Func<T, string> format)
        {
            await foreach (var item in reader.ReadAllAsync(ct))
                await Write(format(item));
        }

        async Task KeepAlives()
        {
            using var timer = new PeriodicTimer(KeepAlive, time);
            while (await timer.WaitForNextTickAsync(ct))
                await Write(": keep-alive\n\n");
        }
    }

    /// <summary>The JSON the transcoded API writes (proto3 JSON names, default values included).</summary>
    static readonly JsonFormatter Json = new(JsonFormatter.Settings.Default.WithFormatDefaultValues(true));

    /// <summary>An error in the shape of the transcoded API's errors ({"code", "message"}, gRPC status code).</summary>
    internal static IResult Error(StatusCode code, string message) =>
        Results.Json(new { code = (int)code, message, details = Array.Empty<object>() }, statusCode: code switch
        {
            StatusCode.Unauthenticated => StatusCodes.Status401Unauthorized,
            StatusCode.PermissionDenied => StatusCodes.Status403Forbidden,
            StatusCode.ResourceExhausted => StatusCodes.Status429TooManyRequests,
            StatusCode.InvalidArgument => StatusCodes.Status400BadRequest,
            _ => StatusCodes.Status500InternalServerError,
        });
}

/// <summary>API keys for the console's own endpoints, checked as <see cref="ApiKeyInterceptor"/> checks them for
/// the gRPC API: by a SHA-256 of the presented key compared in constant time; unknown keys are logged by the
/// caller's address only.</summary>
public sealed class ConsoleKeys(IOptions<ApiSettings> options, ILogger<ConsoleKeys> log)
{
    readonly (byte[] Hash, ApiKey Key)[] _keys = options.Value.Keys.Select(k => (Hash(k.Key), k)).ToArray();

    static byte[] Hash(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));

    /// <summary>The key the request presents, or null with the refusal to send (401 in the API's error shape).</summary>
    public ApiKey? Authenticate(HttpRequest request, out IResult? refusal)
    {
        string? presented = request.Headers["x-api-key"];
        string? authorization = request.Headers.Authorization;
        if (string.IsNullOrEmpty(presented) && authorization is not null && authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            presented = authorization["Bearer ".Length..].Trim();
        if (string.IsNullOrEmpty(presented))
        {
            refusal = ConsoleEndpoints.Error(StatusCode.Unauthenticated, "an API key is required (header x-api-key or authorization: Bearer)");
            return null;
        }
        var hash = Hash(presented);
        var match = _keys.FirstOrDefault(k => CryptographicOperations.FixedTimeEquals(k.Hash, hash)).Key;
        if (match is null)
        {
            log.LogWarning("Refused {Path} from {Peer}: unknown API key", request.Path.Value, request.HttpContext.Connection.RemoteIpAddress);
            refusal = ConsoleEndpoints.Error(StatusCode.Unauthenticated, "unknown API key");
            return null;
        }
        refusal = null;
        return match;
    }
}
