using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;

namespace EcoMonitor.Service.Tests.Support;

/// <summary>mosquitto_sub (the broker project's own C client) watching a topic filter with QoS 1, for tests that count
/// thousands of messages. An MQTTnet subscriber is not used for this: under a burst of thousands of QoS 1 messages with
/// some of 64 KiB and more, it stopped taking messages while connected (dotnet/MQTTnet#2234).</summary>
public sealed class MosquittoSub : IAsyncDisposable
{
    readonly Process _process;
    readonly TaskCompletionSource _subscribed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    MosquittoSub(int port, string filter)
    {
        // -v: "topic payload" per line (JSON payloads never hold a raw newline); -d: protocol lines, to see the SUBACK.
        // stdbuf: line-buffered output through the pipe (the SUBACK line would otherwise wait in stdio's buffer).
        _process = Process.Start(new ProcessStartInfo("stdbuf",
            ["-oL", "mosquitto_sub", "-h", "127.0.0.1", "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-V", "mqttv5", "-q", "1", "-t", filter, "-v", "-d"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = new UTF8Encoding(false),
        })!;
        ChildProcesses.Track(_process);
        var topicStart = filter.TrimEnd('#');
        var logDir = Environment.GetEnvironmentVariable("ECOMON_TEST_SERVICE_LOG_DIR");
        var log = logDir is null ? null : TextWriter.Synchronized(new StreamWriter(Path.Combine(logDir, $"mosquitto_sub-{_process.Id}.log")) { AutoFlush = true });
        _process.OutputDataReceived += (_, e) =>
        {
            log?.WriteLine(e.Data);
            if (e.Data is null) return;
            if (e.Data.StartsWith(topicStart, StringComparison.Ordinal))
            {
                var space = e.Data.IndexOf(' ', StringComparison.Ordinal);
                Received.Enqueue((e.Data[..space], e.Data[(space + 1)..]));
            }
            else if (e.Data.Contains("SUBACK", StringComparison.Ordinal)) _subscribed.TrySetResult();
        };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    /// <summary>Topic and payload (as text) of every message received, in order.</summary>
    public ConcurrentQueue<(string Topic, string Payload)> Received { get; } = new();

    public static async Task<MosquittoSub> StartAsync(int port, string filter)
    {
        var sub = new MosquittoSub(port, filter);
        await sub._subscribed.Task.WaitAsync(TimeSpan.FromSeconds(15));
        return sub;
    }

    public async ValueTask DisposeAsync()
    {
        ChildProcesses.KillQuietly(_process);
        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        ChildProcesses.Untrack(_process);
        _process.Dispose();
    }
}
