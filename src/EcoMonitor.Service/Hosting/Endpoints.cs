using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace EcoMonitor.Service.Hosting;

/// <summary>One listening endpoint and the setting it comes from; <see cref="Certificate"/> when it is https.</summary>
public sealed record ListenEndpoint(string Setting, string Scheme, IPAddress Address, int Port, X509Certificate2? Certificate)
{
    public override string ToString() => Address.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{Address}]:{Port}" : $"{Address}:{Port}";
}

/// <summary>The service's listening endpoints: Http:Url (HTTP/1.1: health, metrics, the JSON API), Grpc:Url (HTTP/2,
/// gRPC) and Hj212:Tcp (dataloggers). An https URL is served with the PKCS#12 certificate of {Http|Grpc}:Tls:
/// CertificatePath / CertificatePassword; without one the start is refused: an https URL served as plain HTTP would
/// send API keys in clear while the operator believes them encrypted. A certificate given for an http URL is refused
/// for the same reason.</summary>
public static class Endpoints
{
    public const string DefaultHttpUrl = "http://127.0.0.1:8480";
    public const string DefaultGrpcUrl = "http://127.0.0.1:8481";

    /// <summary>Both HTTP endpoints, or the problems of their settings (all of them).</summary>
    public static (ListenEndpoint? Http, ListenEndpoint? Grpc, List<string> Problems) Read(IConfiguration config, string contentRoot)
    {
        var problems = new List<string>();
        var http = Read(config, "Http", DefaultHttpUrl, contentRoot, problems);
        var grpc = Read(config, "Grpc", DefaultGrpcUrl, contentRoot, problems);
        if (http is not null && grpc is not null && http.Port != 0 && http.Port == grpc.Port && Overlap(http.Address, grpc.Address))
            problems.Add($"Http:Url and Grpc:Url both use port {http.Port}: they need two ports.");
        if (Hj212(config) is { } hj212 && hj212.Port != 0)
            foreach (var e in new[] { http, grpc })
                if (e is not null && e.Port == hj212.Port && Overlap(e.Address, hj212.Address))
                    problems.Add($"Hj212:Tcp:Port {hj212.Port} is also the port of {e.Setting}.");
        return (http, grpc, problems);
    }

    static bool Overlap(IPAddress a, IPAddress b) => a.Equals(b) || a.Equals(IPAddress.Any) || b.Equals(IPAddress.Any) || a.Equals(IPAddress.IPv6Any) || b.Equals(IPAddress.IPv6Any);

    static ListenEndpoint? Read(IConfiguration config, string name, string defaultUrl, string contentRoot, List<string> problems)
    {
        var url = config[$"{name}:Url"] is { Length: > 0 } u ? u : defaultUrl;
        var setting = $"{name}:Url";
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || uri.AbsolutePath != "/")
        {
            problems.Add($"{setting} must be http(s)://address:port (got '{url}').");
            return null;
        }
        IPAddress? address = uri.Host switch
        {
            "localhost" => IPAddress.Loopback,
            "*" or "+" => IPAddress.Any,
            _ => IPAddress.TryParse(uri.Host.Trim('[', ']'), out var a) ? a : null,
        };
        if (address is null)
        {
            problems.Add($"{setting}: '{uri.Host}' is not an IP address.");
            return null;
        }
        var path = config[$"{name}:Tls:CertificatePath"];
        var password = config[$"{name}:Tls:CertificatePassword"];
        X509Certificate2? certificate = null;
        if (uri.Scheme == "https" && string.IsNullOrEmpty(path))
            problems.Add($"{setting} is https but {name}:Tls:CertificatePath is not set (a PKCS#12 file with the certificate and its key).");
        else if (uri.Scheme == "http" && !string.IsNullOrEmpty(path))
            problems.Add($"{name}:Tls:CertificatePath is set but {setting} is http: write https:// to serve TLS, or remove the certificate.");
        else if (!string.IsNullOrEmpty(path))
            certificate = Load(name, Path.Combine(contentRoot, path), password, problems);
        return new ListenEndpoint(setting, uri.Scheme, address, uri.Port, certificate);
    }

    /// <summary>Opened here rather than by Kestrel so that a wrong password or file shows at start, named, before
    /// anything connects; the message never contains the password.</summary>
    static X509Certificate2? Load(string name, string path, string? password, List<string> problems)
    {
        if (!File.Exists(path))
        {
            problems.Add($"{name}:Tls:CertificatePath: '{path}' does not exist.");
            return null;
        }
        try
        {
            var certificate = X509CertificateLoader.LoadPkcs12FromFile(path, password);
            if (certificate.HasPrivateKey) return certificate;
            problems.Add($"{name}:Tls:CertificatePath: '{path}' holds no private key (a PKCS#12 file with the certificate and its key is needed).");
        }
        catch (CryptographicException e)
        {
            problems.Add($"{name}:Tls:CertificatePath: '{path}' cannot be opened as PKCS#12 with {name}:Tls:CertificatePassword ({e.Message.TrimEnd('.')}).");
        }
        return null;
    }

    /// <summary>The HJ 212 listener's endpoint when it is enabled and its settings parse.</summary>
    public static ListenEndpoint? Hj212(IConfiguration config)
    {
        var tcp = config.GetSection("Hj212:Tcp");
        var defaults = new Ingestion.Hj212.Hj212TcpSettings();
        if (!(bool.TryParse(tcp["Enabled"], out var enabled) ? enabled : defaults.Enabled)) return null;
        var bind = tcp["BindAddress"] is { Length: > 0 } b ? b : defaults.BindAddress;
        var port = int.TryParse(tcp["Port"], System.Globalization.CultureInfo.InvariantCulture, out var p) ? p : defaults.Port;
        return IPAddress.TryParse(bind, out var address) ? new ListenEndpoint("Hj212:Tcp:Port", "tcp", address, port, null) : null;
    }

    /// <summary>The first endpoint whose port another process holds, with a message naming its setting. Each port is
    /// bound for a moment, as Kestrel binds it (address reuse on, so that connections of a previous run in TIME_WAIT
    /// do not count), before anything else starts: a port in use then stops the service before it connects to the
    /// broker or the database.</summary>
    public static string? InUse(IEnumerable<ListenEndpoint?> endpoints)
    {
        foreach (var e in endpoints)
        {
            if (e is null || e.Port == 0) continue;
            using var socket = new Socket(e.Address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
                socket.Bind(new IPEndPoint(e.Address, e.Port));
                socket.Listen(1);
            }
            catch (SocketException x) when (x.SocketErrorCode == SocketError.AddressAlreadyInUse)
            {
                return $"{e.Setting}: {e} is already in use";
            }
            catch (SocketException x)
            {
                return $"{e.Setting}: cannot listen on {e}: {x.Message}";
            }
        }
        return null;
    }
}

/// <summary>The HTTP and gRPC endpoints in effect (for the start-up report).</summary>
public sealed record ServiceEndpoints(ListenEndpoint Http, ListenEndpoint Grpc);
