using System.Collections.Concurrent;
using Serilog.Core;
using Serilog.Events;

namespace EcoMonitor.Service.Tests.Support;

/// <summary>Keeps every log event the service writes, rendered as an operator would read it.</summary>
public sealed class CapturingSink : ILogEventSink
{
    public ConcurrentQueue<string> Lines { get; } = new();

    public void Emit(LogEvent e) =>
        Lines.Enqueue($"{e.Level} {e.RenderMessage()} {string.Join(" ", e.Properties.Select(p => $"{p.Key}={p.Value}"))} {e.Exception}");

    public string All => string.Join("\n", Lines);
}
