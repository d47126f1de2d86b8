using System.Security.Cryptography;
using System.Text;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.Extensions.Options;

namespace EcoMonitor.Service.Query;

/// <summary>API-key authentication with roles for EcoMonitor's gRPC services: no or an unknown key is
/// UNAUTHENTICATED, a key whose role is too low is PERMISSION_DENIED. Keys are compared in constant time and never
/// logged; the caller's name is. Server-streaming calls (the live watches) also take a place from
/// <see cref="WatchLimiter"/> for as long as they run.</summary>
public sealed class ApiKeyInterceptor(IOptions<ApiSettings> options, WatchLimiter watches, ILogger<ApiKeyInterceptor> log) : Interceptor
{
    readonly (byte[] Hash, ApiKey Key)[] _keys = options.Value.Keys.Select(k => (Hash(k.Key), k)).ToArray();

    /// <summary>Methods that need more than the reader role (full gRPC names); everything else needs at least a reader.</summary>
    static readonly IReadOnlyDictionary<string, ApiRole> Required = new Dictionary<string, ApiRole>(StringComparer.Ordinal)
    {
        ["/ecomonitor.v1.QueryService/RebuildRollups"] = ApiRole.Operator,
        ["/ecomonitor.v1.AlertService/AcknowledgeAlert"] = ApiRole.Duty,
        ["/ecomonitor.v1.AlertService/CreateSilence"] = ApiRole.Duty,
        ["/ecomonitor.v1.AlertService/ExpireSilence"] = ApiRole.Duty,
        ["/ecomonitor.v1.AlertService/EvaluateAlerts"] = ApiRole.Operator,
        ["/ecomonitor.v1.ImportService/Import"] = ApiRole.Operator,
    };

    /// <summary>The name of the key a call was made with (for "who acknowledged").</summary>
    public static string CallerOf(ServerCallContext context) => context.UserState.TryGetValue(CallerKey, out var name) ? (string)name : "";

    const string CallerKey = "ecomonitor.caller";

    static byte[] Hash(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));

    ApiKey Authorize(ServerCallContext context)
    {
        var presented = context.RequestHeaders.GetValue("x-api-key");
        var authorization = context.RequestHeaders.GetValue("authorization");
        if (presented is null && authorization is not null && authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            presented = authorization["Bearer ".Length..].Trim();
        if (string.IsNullOrEmpty(presented))
            throw new RpcException(new Status(StatusCode.Unauthenticated, "an API key is required (header x-api-key or authorization: Bearer)"));
        var hash = Hash(presented);
        var match = _keys.FirstOrDefault(k => CryptographicOperations.FixedTimeEquals(k.Hash, hash)).Key;
        if (match is null)
        {
            log.LogWarning("Refused {Method} from {Peer}: unknown API key", context.Method, context.Peer);
            throw new RpcException(new Status(StatusCode.Unauthenticated, "unknown API key"));
        }
        context.UserState[CallerKey] = match.Name; // before the role check: a refused call is logged with its key's name
        if (Required.TryGetValue(context.Method, out var role) && match.Role < role)
            throw new RpcException(new Status(StatusCode.PermissionDenied,
                $"{context.Method} needs the {role.ToString().ToLowerInvariant()} role; {match.Name} has the {match.Role.ToString().ToLowerInvariant()} role"));
        return match;
    }

    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        var caller = Authorize(context);
        using (log.BeginScope(new Dictionary<string, object> { ["Caller"] = caller.Name }))
            return continuation(request, context);
    }

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        var caller = Authorize(context);
        using var place = watches.Acquire(caller.Name);
        await continuation(request, responseStream, context);
    }

    /// <summary>Bidirectional calls (the historical import) are authorized like the others and take no watch place.</summary>
    public override Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Authorize(context);
        return continuation(requestStream, responseStream, context);
    }
}
