using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using EcoMonitor.DemoGateway;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

// A demo sensor gateway: first (with --backfill-days) each station's hourly means of the past days, so every figure
// has history at once, then live readings for every station of a stations file every --interval seconds, continuing
// the same model (DemoModel). Every --bad-every'th live message carries a deliberately impossible value, to show the
// dead-letter topic at work; on the 12th round and every --episode-every'th after it, VOCs stations report one NMHC
// value over GB 37822's 30 mg/m³ single-value limit, to show an alert firing and resolving. At the top of each hour
// every station also sends its own hourly means of the hour that ended (JSON "period": "hour", like an HJ 212
// CN=2061 frame), which are that hour's official values.
//
//   EcoMonitor.DemoGateway --stations stations.json [--host 127.0.0.1] [--port 1883] [--prefix eco]
//                          [--interval 5] [--bad-every 25] [--episode-every 180] [--count 0]
//                          [--backfill-days 0] [--backfill-previous-year false] [--max-in-flight 64] [--live true]
var options = GatewayOptions.Parse(args);
var stations = JsonDocument.Parse(File.ReadAllText(options.StationsFile)).RootElement.GetProperty("stations")
    .EnumerateArray().Select(s => new DemoStation(s.GetProperty("id").GetString()!, s.GetProperty("kind").GetString()!)).ToList();

var cts = new CancellationTokenSource(); // not disposed: ProcessExit may still cancel it
Console.CancelKeyPress += (_, e) => { e.Cancel = true; cts.Cancel(); };
AppDomain.CurrentDomain.ProcessExit += (_, _) => cts.Cancel();

using var client = new MqttClientFactory().CreateMqttClient();
var mqttOptions = new MqttClientOptionsBuilder()
    .WithTcpServer(options.Host, options.Port)
    .WithProtocolVersion(MqttProtocolVersion.V500)
    .WithClientId($"demo-gateway-{Environment.ProcessId}")
    .WithTimeout(TimeSpan.FromSeconds(60))
    .Build();

if (options.BackfillDays > 0 || options.BackfillPreviousYear)
{
    var (from, to) = Backfill.Span(DateTimeOffset.UtcNow, options.BackfillDays, options.BackfillPreviousYear);
    var china = TimeSpan.FromHours(8);
    Console.WriteLine($"backfill: hourly means of {stations.Count} stations from {from.ToOffset(china):yyyy-MM-dd HH:mm} to {to.ToOffset(china):yyyy-MM-dd HH:mm} (China time), {(int)(to - from).TotalHours} hours each");
    Console.WriteLine($"backfill span: {from.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ} {to.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}");
    var clock = Stopwatch.StartNew();
    while (true)
    {
        try
        {
            var connected = await client.ConnectAsync(mqttOptions, cts.Token);
            // The broker's Receive Maximum bounds the QoS 1 messages a client may have unacknowledged (0: not announced).
            var window = Math.Min(options.MaxInFlight, connected.ReceiveMaximum is null or 0 ? 65535 : (int)connected.ReceiveMaximum);
            var values = await Backfill.PublishAsync(client, window, stations, options.Prefix, from, to, Backfill.ConsoleProgress(), cts.Token);
            Console.WriteLine($"backfill done: {values} hourly values published in {clock.Elapsed.TotalSeconds:0.0} s ({window} messages in flight)");
            break;
        }
        catch (OperationCanceledException)
        {
            return;
        }
        catch (Exception e)
        {
            // Repeating the whole backfill is harmless: the same hours get the same values, stored at the same points.
            Console.WriteLine($"backfill interrupted ({e.Message}); starting it again in 2 s");
            if (client.IsConnected) await client.DisconnectAsync();
            try { await Task.Delay(2000, cts.Token); } catch (OperationCanceledException) { return; }
        }
    }
}
if (!options.Live)
{
    if (client.IsConnected) await client.DisconnectAsync();
    return;
}

Console.WriteLine($"demo gateway: {stations.Count} stations -> mqtt://{options.Host}:{options.Port}/{options.Prefix}/<station>/readings every {options.Interval.TotalSeconds} s");
var generator = new ReadingGenerator(new Random(2020));
long sent = 0, rounds = 0;
DateTimeOffset? lastHour = null;
while (!cts.IsCancellationRequested && (options.Count == 0 || sent < options.Count))
{
    try
    {
        if (!client.IsConnected) await client.ConnectAsync(mqttOptions, cts.Token);
        var now = DateTimeOffset.UtcNow;
        var episode = options.EpisodeEvery > 0 && ++rounds >= 12 && (rounds - 12) % options.EpisodeEvery == 0; // the first a minute in
        foreach (var station in stations)
        {
            sent++;
            var bad = options.BadEvery > 0 && sent % options.BadEvery == 0;
            var payload = generator.Payload(station.Kind, now, bad, episode, station.Id);
            if (episode && station.Kind == "voc") Console.WriteLine($"{now:HH:mm:ss} {station.Id}: an NMHC episode over 30 mg/m³ (watch {options.Prefix}/alerts/#)");
            await client.PublishAsync(new MqttApplicationMessageBuilder()
                .WithTopic($"{options.Prefix}/{station.Id}/readings")
                .WithPayload(payload)
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
                .Build(), cts.Token);
            if (bad) Console.WriteLine($"{now:HH:mm:ss} {station.Id}: sent a deliberately bad reading (watch {options.Prefix}/deadletter/{station.Id})");
        }
        var hour = new DateTimeOffset(now.UtcTicks / TimeSpan.TicksPerHour * TimeSpan.TicksPerHour, TimeSpan.Zero);
        if (lastHour is { } ended && hour > ended)
        {
            foreach (var station in stations)
                await client.PublishAsync(new MqttApplicationMessageBuilder()
                    .WithTopic($"{options.Prefix}/{station.Id}/readings")
                    .WithPayload(generator.HourlyPayload(ended, station.Kind, station.Id))
                    .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
                    .Build(), cts.Token);
            Console.WriteLine($"{now:HH:mm:ss} published the stations' hourly means of {ended.ToOffset(TimeSpan.FromHours(8)):HH}:00");
        }
        lastHour = hour;
        Console.WriteLine($"{now:HH:mm:ss} published readings for {stations.Count} stations ({sent} messages so far)");
        await Task.Delay(options.Interval, cts.Token);
    }
    catch (OperationCanceledException)
    {
        break;
    }
    catch (Exception e)
    {
        Console.WriteLine($"broker not reachable ({e.Message}); retrying in 2 s");
        try { await Task.Delay(2000, cts.Token); } catch (OperationCanceledException) { break; }
    }
}
if (client.IsConnected) await client.DisconnectAsync();

namespace EcoMonitor.DemoGateway
{
    sealed record GatewayOptions(string StationsFile, string Host, int Port, string Prefix, TimeSpan Interval, int BadEvery, int EpisodeEvery, long Count,
        int BackfillDays, bool BackfillPreviousYear, int MaxInFlight, bool Live)
    {
        public static GatewayOptions Parse(string[] args)
        {
            var map = new Dictionary<string, string>();
            for (var i = 0; i + 1 < args.Length; i += 2)
            {
                if (!args[i].StartsWith("--", StringComparison.Ordinal)) throw new ArgumentException($"unexpected argument '{args[i]}'");
                map[args[i][2..]] = args[i + 1];
            }
            string Get(string key, string fallback) => map.GetValueOrDefault(key, fallback);
            return new GatewayOptions(
                Get("stations", "stations.json"),
                Get("host", "127.0.0.1"),
                int.Parse(Get("port", "1883"), CultureInfo.InvariantCulture),
                Get("prefix", "eco"),
                TimeSpan.FromSeconds(double.Parse(Get("interval", "5"), CultureInfo.InvariantCulture)),
                int.Parse(Get("bad-every", "25"), CultureInfo.InvariantCulture),
                int.Parse(Get("episode-every", "180"), CultureInfo.InvariantCulture),
                long.Parse(Get("count", "0"), CultureInfo.InvariantCulture),
                int.Parse(Get("backfill-days", "0"), CultureInfo.InvariantCulture),
                bool.Parse(Get("backfill-previous-year", "false")),
                int.Parse(Get("max-in-flight", "64"), CultureInfo.InvariantCulture),
                bool.Parse(Get("live", "true")));
        }
    }

    /// <summary>Live values: each station's value of the current hour from <see cref="DemoModel"/> with a little
    /// minute-to-minute noise (so live data continue the backfilled history), NO2 sent in ppb as many analysers do.</summary>
    sealed class ReadingGenerator(Random random)
    {
        double Noise(double scale) => (random.NextDouble() - 0.5) * 2 * scale;

        static string V(double v) => v.ToString("0.###", CultureInfo.InvariantCulture);

        static DateTimeOffset HourOf(DateTimeOffset t) => new(t.UtcTicks / TimeSpan.TicksPerHour * TimeSpan.TicksPerHour, TimeSpan.Zero);

        string Values(string station, string kind, DateTimeOffset now)
        {
            var hour = HourOf(now);
            var items = DemoModel.ParametersOf(kind).Select(p =>
            {
                var v = DemoModel.HourlyMean(station, kind, p, hour);
                v = p switch
                {
                    "wdir" => ((v + Noise(12)) % 360 + 360) % 360,
                    "temp" or "wtemp" => v + Noise(0.3),
                    "ph" => v + Noise(0.05),
                    "pressure" => v + Noise(0.03),
                    "rh" => Math.Clamp(v + Noise(2), 0, 100),
                    "no2" => v * (1 + Noise(0.08)) * 24.465 / 46.006, // µg/m³ -> ppb at GB 3095's reference state
                    _ => v * (1 + Noise(0.08)),
                };
                return $"\"{p}\": {V(v)}";
            });
            return string.Join(", ", items);
        }

        /// <summary>A station's own hourly means of the hour starting at <paramref name="hour"/>, as the backfill
        /// sends them.</summary>
        public string HourlyPayload(DateTimeOffset hour, string kind = "air", string? station = null)
        {
            var json = new System.Text.StringBuilder();
            DemoModel.AppendHour(json, station ?? $"demo-{kind}", kind, hour);
            return json.ToString();
        }

        public string Payload(string kind, DateTimeOffset now, bool bad, bool episode = false, string? station = null)
        {
            station ??= $"demo-{kind}";
            var ts = now.ToOffset(TimeSpan.FromHours(8)).ToString("yyyy-MM-ddTHH:mm:sszzz", CultureInfo.InvariantCulture);
            return kind switch
            {
                "air" => bad
                    ? $$$"""{"ts": "{{{ts}}}", "values": {"pm25": -5, "pm10": {{{V(90)}}}}}"""
                    : $$$"""{"ts": "{{{ts}}}", "values": {{{{Values(station, kind, now)}}}}, "units": {"no2": "ppb"}}""",
                "voc" => bad
                    ? $$$"""{"ts": "{{{ts}}}", "values": {"nmhc": 900}}"""
                    : episode
                    ? $$$"""{"ts": "{{{ts}}}", "values": {"nmhc": {{{V(32.5 + Noise(1))}}}}}"""
                    : $$$"""{"ts": "{{{ts}}}", "values": {{{{Values(station, kind, now)}}}}}""",
                _ => bad
                    ? $$$"""{"ts": "{{{ts}}}", "values": {"ph": 15.2}}"""
                    : $$$"""{"ts": "{{{ts}}}", "values": {{{{Values(station, kind, now)}}}}}""",
            };
        }
    }
}
