using Grpc.Core;
using Grpc.Core.Interceptors;

namespace EcoMonitor.Service.Hosting;

/// <summary>One log line per gRPC call, when it ends: the method, the status code, the duration in milliseconds, the
/// name of the API key (never the key: "-" when none was accepted) and the transport ("grpc", or "json" for a call
/// through the JSON transcoding of the HTTP endpoint, which runs the same interceptors). Registered for every service
/// ahead of the API key check, so refused calls (UNAUTHENTICATED, PERMISSION_DENIED) are logged too.
/// Level: Information, Warning for the statuses that say the service failed (UNKNOWN, INTERNAL, UNAVAILABLE,
/// DATA_LOSS, DEADLINE_EXCEEDED), with the status detail for every status but OK. Successful calls of the gRPC health
/// service are Debug: a load balancer's probe every few seconds would otherwise fill the log.</summary>
public sealed class CallLogging(TimeProvider time, ILogger<CallLogging> log) : Interceptor
{
    const string HealthService = "/grpc.health.v1.Health/";

    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation) =>
        LoggedAsync(context, () => continuation(request, context));

    public override Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream, ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation) =>
        LoggedAsync(context, () => continuation(requestStream, context));

    public override Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation) =>
        LoggedAsync(context, async () => { await continuation(request, responseStream, context); return true; });

    // The historical import (ImportService.Import) streams both ways: logged like the others, refusals included.
    public override Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation) =>
        LoggedAsync(context, async () => { await continuation(requestStream, responseStream, context); return true; });

    /// <summary>Runs the call and logs it when it ends, with the status the client sees.</summary>
    async Task<T> LoggedAsync<T>(ServerCallContext context, Func<Task<T>> call)
    {
        var started = time.GetTimestamp();
        try
        {
            var result = await call();
            Log(context, started, context.Status.StatusCode, context.Status.Detail);
            return result;
        }
        catch (Exception e)
        {
            var (code, detail) = StatusOf(e, context);
            Log(context, started, code, detail);
            throw;
        }
    }

    /// <summary>The status the client sees: an RpcException's own; a cancellation by the client or its deadline as
    /// CANCELLED / DEADLINE_EXCEEDED; anything else UNKNOWN (detailed errors are off).</summary>
    (StatusCode Code, string Detail) StatusOf(Exception e, ServerCallContext context) => e switch
    {
        RpcException r => (r.StatusCode, r.Status.Detail),
        OperationCanceledException when context.CancellationToken.IsCancellationRequested =>
            context.Deadline <= time.GetUtcNow().UtcDateTime ? (StatusCode.DeadlineExceeded, "deadline exceeded") : (StatusCode.Cancelled, "cancelled by the client"),
        _ => (StatusCode.Unknown, e.GetType().Name),
    };

    void Log(ServerCallContext context, long started, StatusCode code, string? detail)
    {
        var elapsed = Math.Round(time.GetElapsedTime(started).TotalMilliseconds, 1);
        var caller = Query.ApiKeyInterceptor.CallerOf(context) is { Length: > 0 } name ? name : "-";
        var transport = context.GetHttpContext().Request.ContentType?.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase) == true ? "grpc" : "json";
        var level = code switch
        {
            StatusCode.OK when context.Method.StartsWith(HealthService, StringComparison.Ordinal) => LogLevel.Debug,
            StatusCode.Unknown or StatusCode.Internal or StatusCode.Unavailable or StatusCode.DataLoss or StatusCode.DeadlineExceeded => LogLevel.Warning,
            _ => LogLevel.Information,
        };
        if (!log.IsEnabled(level)) return;
        if (code == StatusCode.OK)
            log.Log(level, "gRPC {Method} {StatusCode} in {ElapsedMs} ms, key {Caller}, {Transport}", context.Method, code, elapsed, caller, transport);
        else
            log.Log(level, "gRPC {Method} {StatusCode} in {ElapsedMs} ms, key {Caller}, {Transport}: {Detail}", context.Method, code, elapsed, caller, transport, detail);
    }
}
