using Grpc.Core;

namespace EcoMonitor.Cli;

/// <summary>How a failed command reads: one line `error: &lt;StatusCode&gt;: &lt;detail&gt;` and at most one `hint:` line,
/// never a stack trace. Errors found before any call (a bad --server, --period, ...) use the status the service
/// would give (InvalidArgument); anything unforeseen is Unknown with its message.</summary>
static class Failure
{
    public const string HttpPortHint = "hint: that is the service's HTTP port (Http:Url, 8480 by default); gRPC listens on Grpc:Url (8481 by default)";

    /// <summary>Whether the call failed the way a server that does not speak HTTP/2 makes it fail: the HTTP/2
    /// handshake not completed (Internal), or the connection closed or reset during it (Unavailable). Kestrel
    /// answers HTTP/2 on an HTTP/1.1-only endpoint with a GOAWAY HTTP_1_1_REQUIRED and closes; when it closes with
    /// the client's frames still unread the kernel resets the connection, and the client may see the reset before
    /// the GOAWAY (seen on a loaded machine). Then only asking in HTTP/1.1 tells.</summary>
    public static bool MayBeHttp1(Exception e)
    {
        // A debug exception: a transport failure on this side, not a status the service sent.
        if (e is not RpcException { StatusCode: StatusCode.Internal or StatusCode.Unavailable, Status.DebugException: { } debug }) return false;
        var chain = Chain(debug);
        return !chain.Contains("HTTP_1_1_REQUIRED", StringComparison.Ordinal) && !chain.Contains("refused", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>Whether the server answers a plain HTTP/1.1 request (any status) within 3 s.</summary>
    public static async Task<bool> AnswersHttp1Async(Uri server)
    {
        try
        {
            using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(3) };
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(server, "/healthz"))
            {
                Version = System.Net.HttpVersion.Version11,
                VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            };
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            return response.Version.Major == 1;
        }
        catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException)
        {
            return false;
        }
    }

    /// <summary>The error line and hint of a failure; <paramref name="answersHttp1"/>: the server was found to answer
    /// HTTP/1.1 after the call failed (<see cref="AnswersHttp1Async"/>).</summary>
    public static (string Error, string? Hint) Describe(Exception e, string? server, bool answersHttp1 = false)
    {
        if (e is RpcException r)
        {
            var all = Chain(r.Status.DebugException);
            var detail = OneLine(r.Status.Detail.Length > 0 ? r.Status.Detail : r.Message);
            // Kestrel answers HTTP/2 on an HTTP/1.1-only endpoint with HTTP_1_1_REQUIRED: the HTTP port was given.
            if (all.Contains("HTTP_1_1_REQUIRED", StringComparison.Ordinal) || detail.Contains("HTTP_1_1_REQUIRED", StringComparison.Ordinal))
                return ($"error: {r.StatusCode}: {server} answers HTTP/1.1 only, not gRPC (HTTP/2 error HTTP_1_1_REQUIRED)", HttpPortHint);
            if (answersHttp1)
                return ($"error: {r.StatusCode}: {server} answers HTTP/1.1 only, not gRPC ({detail})", HttpPortHint);
            // The debug exception names what the detail leaves out (connection refused, name not resolved).
            if (r.StatusCode == StatusCode.Unavailable && r.Status.DebugException is { } debug && !detail.Contains(Inner(debug).Message, StringComparison.Ordinal))
                detail = $"{detail} {OneLine(Inner(debug).Message)}";
            var hint = r.StatusCode switch
            {
                StatusCode.Unavailable => $"hint: is the service running and listening for gRPC at {server}? (--server or ECOMON_SERVER)",
                StatusCode.Unauthenticated => "hint: give an API key with --key KEY or the environment variable ECOMON_API_KEY",
                StatusCode.PermissionDenied => "hint: this needs a key with a higher role (Duty: ack, silence; Operator: evaluate, rebuild)",
                _ => null,
            };
            return ($"error: {r.StatusCode}: {detail}", hint);
        }
        if (e is IOException or UnauthorizedAccessException) return ($"error: {StatusCode.Unknown}: {OneLine(e.Message)}", null);
        return ($"error: {StatusCode.Unknown}: {e.GetType().Name}: {OneLine(e.Message)}", null);
    }

    static Exception Inner(Exception e) => e.InnerException is { } i ? Inner(i) : e;

    static string Chain(Exception? e)
    {
        var parts = new List<string>();
        for (; e is not null; e = e.InnerException) parts.Add($"{e.GetType().Name}: {e.Message}");
        return string.Join(" ", parts);
    }

    static string OneLine(string s) => string.Join(' ', s.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
}
