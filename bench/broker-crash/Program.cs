using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

// How much a mosquitto crash (kill -9) loses of what it had already acknowledged, and what its persistence settings
// cost. For each autosave setting, on a mosquitto made from deploy/mosquitto/mosquitto.conf.template:
//   crash: a persistent subscriber (the service) is offline; a gateway publishes QoS 1 as fast as the broker takes it;
//          at a random moment the broker is killed with SIGKILL and started again; the subscriber comes back and
//          counts which PUBACKed messages survived. The window is how long before the crash the oldest lost message
//          had been acknowledged. The publish rate during the trial is the cost while a backlog builds up.
//   throughput: subscriber online, the gateway publishes --messages QoS 1 messages; messages/s until the subscriber
//          has all of them, as a ratio against the shipped setting of the same run.
// Every setting saves with an fsync; with autosave_interval N it saves when more than N seconds have passed (so every
// N + 1 s), with autosave_on_changes when N messages were queued for offline or busy subscribers (a message going
// straight out to an online subscriber is not counted).
//   bench/broker-crash/run.sh [--trials N] [--messages N] [--backlog N] [--only "autosave_interval 1"]
var trials = 3;
var messages = 20_000;
var backlog = 1_000_000;
string? only = null;
for (var i = 0; i + 1 < args.Length; i += 2)
{
    if (args[i] == "--trials") trials = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
    else if (args[i] == "--messages") messages = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
    else if (args[i] == "--backlog") backlog = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
    else if (args[i] == "--only") only = args[i + 1];
    else throw new ArgumentException($"unknown option {args[i]} (--trials N, --messages N, --backlog N, --only SETTING)");
}

var settings = new (string Name, string Lines)[]
{
    ("autosave_interval 10", "autosave_interval 10"),
    ("autosave_interval 1", "autosave_interval 1"),
    ("autosave_on_changes, 1000 changes", "autosave_on_changes true\nautosave_interval 1000"),
    ("autosave_on_changes, 100 changes", "autosave_on_changes true\nautosave_interval 100"),
};
if (only is not null) settings = [.. settings.Where(s => s.Name == only)];
if (settings.Length == 0) throw new ArgumentException($"--only: no setting named '{only}'");
var random = new Random();
await Probe.ThroughputAsync(settings[0].Lines, messages); // warm-up: JIT, page cache
Console.WriteLine($"mosquitto crash probe: {trials} crash trials and {messages} messages of throughput per setting, {Environment.ProcessorCount} cores, {DateTime.UtcNow:u}");
var results = new List<string>();
double? reference = null;
foreach (var (name, lines) in settings)
{
    // The better of two runs: the machine is shared, a run can be slowed by something else.
    var throughput = Math.Max(await Probe.ThroughputAsync(lines, messages), await Probe.ThroughputAsync(lines, messages));
    reference ??= throughput;
    var crashes = new List<Probe.Crash>();
    for (var t = 0; t < trials; t++)
    {
        // A random moment: somewhere in the first 11 s of publishing (the shipped 10 s interval and a bit).
        var crash = await Probe.CrashAsync(lines, TimeSpan.FromMilliseconds(random.Next(1000, 12_000)));
        Console.WriteLine($"  {name}: killed after {crash.KilledAfter.TotalSeconds:F1} s, {crash.Acknowledged} acknowledged ({crash.PublishRate:F0}/s), {crash.Lost} lost, window {crash.Window.TotalSeconds:F1} s");
        crashes.Add(crash);
    }
    results.Add($"| {name} | {crashes.Sum(c => c.Lost)} of {crashes.Sum(c => c.Acknowledged)} | {crashes.Max(c => c.Window.TotalSeconds):F1} s " +
        $"| {crashes.Average(c => c.PublishRate):F0}/s | {throughput:F0}/s ({throughput / reference * 100:F0} %) |");
}
// The cost while the service is away for long: the whole database is rewritten at every save, so a backlog makes
// each save longer (mosquitto saves in its main loop and serves nobody meanwhile). Interval settings only: with
// autosave_on_changes the number of saves grows with the backlog too, and a million messages take hours.
var backlogs = new List<string>();
foreach (var (name, lines) in settings.Where(s => backlog > 0 && !s.Lines.Contains("on_changes", StringComparison.Ordinal)))
{
    var b = await Probe.BacklogAsync(lines, backlog);
    backlogs.Add($"| {name} | {backlog} | {b.Overall:F0}/s | {b.LastTenth:F0}/s | {b.DatabaseBytes / 1048576.0:F0} MiB |");
}
if (backlogs.Count > 0)
{
    Console.WriteLine();
    Console.WriteLine("| setting | messages queued for an offline subscriber | publish rate | rate of the last tenth | database size |");
    Console.WriteLine("|---|---|---|---|---|");
    foreach (var r in backlogs) Console.WriteLine(r);
}
Console.WriteLine();
Console.WriteLine("| setting | acknowledged but lost by kill -9 | longest window | publish rate, subscriber offline | throughput, subscriber online (vs autosave_interval 10) |");
Console.WriteLine("|---|---|---|---|---|");
foreach (var r in results) Console.WriteLine(r);

static class Probe
{
    const string Topic = "probe/readings";
    const string SubscriberId = "probe-service";
    const int InFlight = 100; // PUBLISHes in flight, like a fleet of gateways

    public sealed record Crash(int Acknowledged, int Lost, TimeSpan KilledAfter, TimeSpan Window, double PublishRate);

    static byte[] Payload(int seq) => Encoding.ASCII.GetBytes($"{seq} " + new string('x', 150));

    public static async Task<Crash> CrashAsync(string autosave, TimeSpan killAfter)
    {
        using var broker = new Broker(autosave);
        await broker.StartAsync();
        // The service's session: subscribed once, then offline; a clean restart makes sure the broker saved it.
        await Subscriber.SubscribeOnlyAsync(broker.Port);
        await broker.StopAsync();
        await broker.StartAsync();

        var acked = new ConcurrentDictionary<int, long>();
        var clock = Stopwatch.StartNew();
        using var client = await ConnectAsync(broker.Port);
        var killed = 0;
        long killedAt = 0;
        var killer = Task.Run(async () =>
        {
            await Task.Delay(killAfter);
            Volatile.Write(ref killed, 1);
            broker.Kill();
            killedAt = clock.ElapsedTicks; // every PUBACK counted came before this
        });
        using var window = new SemaphoreSlim(InFlight);
        var inFlight = new List<Task>();
        for (var seq = 0; Volatile.Read(ref killed) == 0; seq++)
        {
            await window.WaitAsync();
            var s = seq;
            inFlight.Add(Task.Run(async () =>
            {
                try
                {
                    var r = await client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(Topic).WithPayload(Payload(s))
                        .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
                    if (r.IsSuccess) acked[s] = clock.ElapsedTicks;
                }
                catch (Exception)
                {
                    // the broker is gone: not acknowledged
                }
                finally
                {
                    window.Release();
                }
            }));
        }
        await killer;
        await Task.WhenAll(inFlight).WaitAsync(TimeSpan.FromSeconds(30));

        await broker.StartAsync();
        var survived = await Subscriber.DrainAsync(broker.Port);
        var lost = acked.Where(a => !survived.Contains(a.Key)).ToList();
        var windowTicks = lost.Count == 0 ? 0 : killedAt - lost.Min(l => l.Value);
        return new(acked.Count, lost.Count, TimeSpan.FromTicks(killedAt * TimeSpan.TicksPerSecond / Stopwatch.Frequency),
            TimeSpan.FromTicks(windowTicks * TimeSpan.TicksPerSecond / Stopwatch.Frequency), acked.Count / (killedAt / (double)Stopwatch.Frequency));
    }

    /// <summary>Publishes <paramref name="count"/> messages for an offline persistent subscriber.</summary>
    public static async Task<(double Overall, double LastTenth, long DatabaseBytes)> BacklogAsync(string autosave, int count)
    {
        using var broker = new Broker(autosave);
        await broker.StartAsync();
        await Subscriber.SubscribeOnlyAsync(broker.Port);
        using var client = await ConnectAsync(broker.Port);
        var clock = Stopwatch.StartNew();
        var lastTenthFrom = TimeSpan.Zero;
        using var window = new SemaphoreSlim(InFlight);
        var inFlight = new List<Task>(count);
        for (var seq = 0; seq < count; seq++)
        {
            if (seq == count - count / 10) lastTenthFrom = clock.Elapsed;
            await window.WaitAsync();
            var s = seq;
            inFlight.Add(Task.Run(async () =>
            {
                try
                {
                    var r = await client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(Topic).WithPayload(Payload(s))
                        .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
                    if (!r.IsSuccess) throw new InvalidOperationException($"publish refused: {r.ReasonCode}");
                }
                finally
                {
                    window.Release();
                }
            }));
        }
        await Task.WhenAll(inFlight);
        var elapsed = clock.Elapsed;
        await broker.StopAsync(); // saves the database: its size is what every autosave writes
        return (count / elapsed.TotalSeconds, count / 10 / (elapsed - lastTenthFrom).TotalSeconds, broker.DatabaseBytes);
    }

    public static async Task<double> ThroughputAsync(string autosave, int count)
    {
        using var broker = new Broker(autosave);
        await broker.StartAsync();
        await using var subscriber = await Subscriber.OnlineAsync(broker.Port);
        using var client = await ConnectAsync(broker.Port);
        var clock = Stopwatch.StartNew();
        using var window = new SemaphoreSlim(InFlight);
        var inFlight = new List<Task>(count);
        for (var seq = 0; seq < count; seq++)
        {
            await window.WaitAsync();
            var s = seq;
            inFlight.Add(Task.Run(async () =>
            {
                try
                {
                    var r = await client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(Topic).WithPayload(Payload(s))
                        .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
                    if (!r.IsSuccess) throw new InvalidOperationException($"publish refused: {r.ReasonCode}");
                }
                finally
                {
                    window.Release();
                }
            }));
        }
        await Task.WhenAll(inFlight);
        var until = DateTime.UtcNow.AddSeconds(120);
        while (subscriber.Count < count && DateTime.UtcNow < until) await Task.Delay(10);
        if (subscriber.Count < count) throw new TimeoutException($"the subscriber received {subscriber.Count} of {count}");
        return count / clock.Elapsed.TotalSeconds;
    }

    static async Task<IMqttClient> ConnectAsync(int port)
    {
        var client = new MqttClientFactory().CreateMqttClient();
        await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port)
            .WithProtocolVersion(MqttProtocolVersion.V500).WithClientId($"probe-gw-{Guid.NewGuid():N}"[..20]).Build());
        return client;
    }
}

/// <summary>The subscriber, played by mosquitto_sub (one line per message: the payload, whose first word is the
/// sequence number).</summary>
sealed class Subscriber : IAsyncDisposable
{
    readonly Process _process;
    readonly ConcurrentDictionary<int, byte> _seen = new();
    readonly TaskCompletionSource _subscribed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    long _lastLineTicks = DateTime.UtcNow.Ticks;

    Subscriber(int port, bool persistent)
    {
        string[] session = persistent ? ["-c", "-i", "probe-service", "-x", "86400"] : [];
        // stdbuf: line-buffered through the pipe; -d prints the SUBACK so that we know when the subscription holds.
        _process = Process.Start(new ProcessStartInfo("stdbuf",
            ["-oL", "mosquitto_sub", "-h", "127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture), "-V", "mqttv5", "-q", "1", "-t", "probe/#", "-d", .. session])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        _process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            Interlocked.Exchange(ref _lastLineTicks, DateTime.UtcNow.Ticks);
            var space = e.Data.IndexOf(' ', StringComparison.Ordinal);
            if (space > 0 && int.TryParse(e.Data.AsSpan(0, space), NumberStyles.None, CultureInfo.InvariantCulture, out var seq)) _seen[seq] = 0;
            else if (e.Data.Contains("SUBACK", StringComparison.Ordinal)) _subscribed.TrySetResult();
        };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public int Count => _seen.Count;

    public static async Task<Subscriber> OnlineAsync(int port)
    {
        var s = new Subscriber(port, persistent: false);
        await s._subscribed.Task.WaitAsync(TimeSpan.FromSeconds(15));
        return s;
    }

    /// <summary>Creates the persistent session and its subscription, then goes offline.</summary>
    public static async Task SubscribeOnlyAsync(int port)
    {
        await using var s = new Subscriber(port, persistent: true);
        await s._subscribed.Task.WaitAsync(TimeSpan.FromSeconds(15));
    }

    /// <summary>Comes back to the persistent session and takes what the broker kept, until 3 s pass without a message.</summary>
    public static async Task<HashSet<int>> DrainAsync(int port)
    {
        await using var s = new Subscriber(port, persistent: true);
        await s._subscribed.Task.WaitAsync(TimeSpan.FromSeconds(15));
        while (DateTime.UtcNow.Ticks - Interlocked.Read(ref s._lastLineTicks) < TimeSpan.FromSeconds(3).Ticks) await Task.Delay(100);
        return [.. s._seen.Keys];
    }

    public async ValueTask DisposeAsync()
    {
        // SIGTERM: mosquitto_sub disconnects cleanly, the persistent session stays.
        using (var kill = Process.Start("kill", $"-TERM {_process.Id}")) await kill.WaitForExitAsync();
        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        _process.Dispose();
    }
}

/// <summary>A mosquitto of the probe's own, configured from the project's template with the autosave lines replaced.</summary>
sealed class Broker : IDisposable
{
    readonly string _dir = Path.Combine("/tmp", $"ecomon-broker-crash-{Guid.NewGuid():N}"[..32]);
    Process? _process;

    public Broker(string autosave)
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        Port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        Directory.CreateDirectory(Path.Combine(_dir, "data"));
        var template = File.ReadAllLines(Path.Combine(RepoRoot(), "deploy", "mosquitto", "mosquitto.conf.template"))
            .Where(l => !l.StartsWith("autosave_", StringComparison.Ordinal))
            .Select(l => l.Replace("@PORT@", Port.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)
                .Replace("@DATA@", Path.Combine(_dir, "data") + "/", StringComparison.Ordinal));
        File.WriteAllText(Path.Combine(_dir, "mosquitto.conf"), string.Join('\n', template) + "\n" + autosave + "\n");
        // mosquitto started as root drops to its own user: its data folder must belong to it.
        Run("chmod", $"755 {_dir}");
        Run("chown", $"-R mosquitto: {Path.Combine(_dir, "data")}");
    }

    public int Port { get; }

    public long DatabaseBytes => new FileInfo(Path.Combine(_dir, "data", "mosquitto.db")).Length;

    public async Task StartAsync()
    {
        _process = Process.Start(new ProcessStartInfo("mosquitto", ["-c", Path.Combine(_dir, "mosquitto.conf")])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        })!;
        _process.ErrorDataReceived += (_, _) => { };
        _process.OutputDataReceived += (_, _) => { };
        _process.BeginErrorReadLine();
        _process.BeginOutputReadLine();
        for (var i = 0; i < 300; i++)
        {
            using var tcp = new TcpClient();
            try
            {
                await tcp.ConnectAsync(IPAddress.Loopback, Port);
                return;
            }
            catch (SocketException)
            {
                await Task.Delay(50);
            }
        }
        throw new TimeoutException($"mosquitto did not listen on {Port}");
    }

    /// <summary>SIGTERM: mosquitto saves its database and exits.</summary>
    public async Task StopAsync()
    {
        Run("kill", $"-TERM {_process!.Id}");
        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        _process.Dispose();
        _process = null;
    }

    /// <summary>SIGKILL: a crash; nothing is saved.</summary>
    public void Kill()
    {
        Run("kill", $"-KILL {_process!.Id}");
        _process.WaitForExit();
        _process.Dispose();
        _process = null;
    }

    public void Dispose()
    {
        if (_process is { HasExited: false }) _process.Kill();
        _process?.Dispose();
        try
        {
            Directory.Delete(_dir, true);
        }
        catch (IOException)
        {
        }
    }

    static void Run(string file, string args)
    {
        using var p = Process.Start(file, args);
        p.WaitForExit();
    }

    static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "EcoMonitor.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("EcoMonitor.sln not found above the probe's binaries");
    }
}
