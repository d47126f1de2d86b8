using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace EcoMonitor.Service.Tests.Support;

/// <summary>A real HTTP endpoint started by the test: keeps every JSON POST, answers like a chat robot.</summary>
public sealed class HttpReceiver : IAsyncDisposable
{
    readonly WebApplication _app;

    HttpReceiver(WebApplication app) => _app = app;

    public ConcurrentQueue<(string Path, IQueryCollection Query, JsonElement Body)> Requests { get; } = new();

    /// <summary>Answer this many requests with 503 before accepting again.</summary>
    public int FailNext;

    public string Reply { get; set; } = """{"errcode":0,"errmsg":"ok"}""";

    public Uri Address => new(_app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());

    public static async Task<HttpReceiver> StartAsync()
    {
        var builder = WebApplication.CreateBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var receiver = new HttpReceiver(builder.Build());
        receiver._app.MapPost("/{**path}", async (HttpContext ctx) =>
        {
            var body = await JsonDocument.ParseAsync(ctx.Request.Body);
            receiver.Requests.Enqueue((ctx.Request.Path, ctx.Request.Query, body.RootElement.Clone()));
            if (Interlocked.Decrement(ref receiver.FailNext) >= 0) return Results.StatusCode(503);
            return Results.Content(receiver.Reply, "application/json");
        });
        await receiver._app.StartAsync();
        return receiver;
    }

    public ValueTask DisposeAsync() => _app.DisposeAsync();
}
