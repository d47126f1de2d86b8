using System.CommandLine;
using System.Text.RegularExpressions;
using EcoMonitor.Api.V1;
using Grpc.Core;
using Grpc.Net.Client;

namespace EcoMonitor.Cli;

/// <summary>What the commands of one invocation share: where the service is and which key to send (the option
/// first, then ECOMON_SERVER / ECOMON_API_KEY; neither ever has a default shown by --help, so a key in the
/// environment is never printed), one channel, the station names for the tables, and the clock.</summary>
sealed partial class Connection(TextWriter output, TimeProvider time, Func<string, string?> environment) : IDisposable
{
    public const string DefaultServer = "http://127.0.0.1:8481";

    GrpcChannel? _channel;
    StationNames? _names;

    public TextWriter Output => output;

    public TimeProvider Time => time;

    /// <summary>The server as given (for messages), once resolved.</summary>
    public string? ServerText { get; private set; }

    /// <summary>The server's address, once resolved.</summary>
    public Uri? ServerUri { get; private set; }

    public Uri Server(ParseResult p)
    {
        var (text, source) = p.GetValue(Ecomon.Server) is { Length: > 0 } s ? (s, "--server")
            : environment("ECOMON_SERVER") is { Length: > 0 } e ? (e, "ECOMON_SERVER")
            : (DefaultServer, "the default server");
        ServerText = text;
        return ServerUri = ParseServer(text, source);
    }

    /// <summary>host:port (plain HTTP/2), http://host:port or https://host:port; a bare host means port 8481.</summary>
    public static Uri ParseServer(string text, string source)
    {
        var t = text.Trim();
        var schemeless = !t.Contains("://", StringComparison.Ordinal);
        if (schemeless) t = "http://" + t;
        if (!Uri.TryCreate(t, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || uri.Host.Length == 0
            || uri.AbsolutePath != "/" || uri.Query.Length > 0 || uri.UserInfo.Length > 0)
            throw new RpcException(new Status(StatusCode.InvalidArgument,
                $"{source}: '{Redact(text)}' is not host:port, http://host:port or https://host:port"));
        if (schemeless && !HasPort().IsMatch(text.Trim())) uri = new UriBuilder(uri) { Port = 8481 }.Uri;
        return uri;
    }

    /// <summary>The server as it may be shown: a user:password@ part is never echoed.</summary>
    public static string Redact(string text) => UserInfo().Replace(text, "//***@");

    [GeneratedRegex(@"//[^/@]*@")]
    private static partial Regex UserInfo();

    [GeneratedRegex(@":\d+/?$")]
    private static partial Regex HasPort();

    GrpcChannel Channel(ParseResult p) => _channel ??= GrpcChannel.ForAddress(Server(p));

    public QueryService.QueryServiceClient Query(ParseResult p) => new(Channel(p));

    public AlertService.AlertServiceClient Alerts(ParseResult p) => new(Channel(p));

    public Metadata Headers(ParseResult p)
    {
        // An explicit --key (even empty) wins over the environment.
        var key = p.GetResult(Ecomon.Key) is not null ? p.GetValue(Ecomon.Key) : environment("ECOMON_API_KEY");
        return key is { Length: > 0 } ? new Metadata { { "x-api-key", key } } : [];
    }

    /// <summary>Station names by id (one ListStations call per invocation), for the tables' "name" column.</summary>
    public async Task<StationNames> NamesAsync(ParseResult p, CancellationToken ct)
    {
        if (_names is not null) return _names;
        var r = await Query(p).ListStationsAsync(new ListStationsRequest(), Headers(p), cancellationToken: ct);
        return _names = new StationNames(r.Stations.ToDictionary(s => s.Id, s => s.Name, StringComparer.Ordinal));
    }

    public void Dispose() => _channel?.Dispose();
}

/// <summary>Station names by id; scopes that are not stations (region series, "zone", "region:…") have none.</summary>
sealed class StationNames(IReadOnlyDictionary<string, string> names)
{
    public static readonly StationNames None = new(new Dictionary<string, string>());

    public string Of(string id) => names.TryGetValue(id, out var name) ? name : "";

    /// <summary>"id name", or the id alone when it is not a station.</summary>
    public string Label(string id) => Of(id) is { Length: > 0 } name ? $"{id} {name}" : id;
}
