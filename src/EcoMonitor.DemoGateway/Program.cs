using System.Globalization;
using System.Text.Json;
using EcoMonitor.DemoGateway;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

// A demo sensor gateway: publishes realistic readings for every station of a stations file, so a newcomer sees data
// flowing into EcoMonitor. Every --bad-every'th message carries a deliberately impossible value, to show the
// dead-letter topic at work; on the 12th round and every --episode-every'th after it, VOCs stations report one NMHC value over GB 37822's
// 30 mg/m³ single-value limit, to show an alert firing and resolving. Air stations send the six basic items of
// GB 3095 and meteorology every round, and at the top of each hour the station's own hourly means of the hour that
// ended (JSON "period": "hour", like an HJ 212 CN=2061 frame), which are that hour's official values.
//
//   EcoMonitor.DemoGateway --stations stations.json [--host 127.0.0.1] [--port 1883] [--prefix eco]
//                          [--interval 5] [--bad-every 25] [--episode-every 180] [--count 0]
var options = GatewayOptions.Parse(args);
var stations = JsonDocument.Parse(File.ReadAllText(options.StationsFile)).RootElement.GetProperty("stations")
    .EnumerateArray().Select(s => (Id: s.GetProperty("id").GetString()!, Kind: s.GetProperty("kind").GetString()!)).ToList();
Console.WriteLine($"demo gateway: {stations.Count} stations -> mqtt://{options.Host}:{options.Port}/{options.Prefix}/<station>/readings every {options.Interval.TotalSeconds} s");

using var cts = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) => { e.Cancel = true; cts.Cancel(); };
AppDomain.CurrentDomain.ProcessExit += (_, _) => cts.Cancel();

using var client = new MqttClientFactory().CreateMqttClient();
var mqttOptions = new MqttClientOptionsBuilder()
    .WithTcpServer(options.Host, options.Port)
    .WithProtocolVersion(MqttProtocolVersion.V500)
    .WithClientId($"demo-gateway-{Environment.ProcessId}")
    .Build();
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
        foreach (var (id, kind) in stations)
        {
            sent++;
            var bad = options.BadEvery > 0 && sent % options.BadEvery == 0;
            var payload = generator.Payload(kind, now, bad, episode);
            if (episode && kind == "voc") Console.WriteLine($"{now:HH:mm:ss} {id}: an NMHC episode over 30 mg/m³ (watch {options.Prefix}/alerts/#)");
            await client.PublishAsync(new MqttApplicationMessageBuilder()
                .WithTopic($"{options.Prefix}/{id}/readings")
                .WithPayload(payload)
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
                .Build(), cts.Token);
            if (bad) Console.WriteLine($"{now:HH:mm:ss} {id}: sent a deliberately bad reading (watch {options.Prefix}/deadletter/{id})");
        }
        var hour = new DateTimeOffset(now.UtcTicks / TimeSpan.TicksPerHour * TimeSpan.TicksPerHour, TimeSpan.Zero);
        if (lastHour is { } ended && hour > ended)
        {
            foreach (var (id, _) in stations.Where(s => s.Kind == "air"))
                await client.PublishAsync(new MqttApplicationMessageBuilder()
                    .WithTopic($"{options.Prefix}/{id}/readings")
                    .WithPayload(generator.HourlyPayload(ended))
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
    sealed record GatewayOptions(string StationsFile, string Host, int Port, string Prefix, TimeSpan Interval, int BadEvery, int EpisodeEvery, long Count)
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
                long.Parse(Get("count", "0"), CultureInfo.InvariantCulture));
        }
    }

    /// <summary>Plausible values for the zone: PM2.5 around a winter-ish 50 µg/m³ with a night-time peak, NMHC near
    /// 1 mg/m³ at the plant fence, and a river section around Class IV.</summary>
    sealed class ReadingGenerator(Random random)
    {
        double Noise(double scale) => (random.NextDouble() - 0.5) * 2 * scale;

        static double Diurnal(DateTimeOffset local) => Math.Cos((local.Hour + local.Minute / 60.0 - 2) / 24 * 2 * Math.PI); // peak around 02:00

        static string V(double v) => v.ToString("0.###", CultureInfo.InvariantCulture);

        /// <summary>The six basic items of GB 3095 (CO in mg/m³, NO2 in ppb as many analysers send it).</summary>
        string Pollutants(double diurnal, double noise) =>
            $"\"pm25\": {V(48 + 18 * diurnal + Noise(6 * noise))}, \"pm10\": {V(85 + 25 * diurnal + Noise(10 * noise))}, " +
            $"\"so2\": {V(12 + 4 * diurnal + Noise(2 * noise))}, \"no2\": {V(20 + 8 * diurnal + Noise(3 * noise))}, " +
            $"\"co\": {V(1.1 + 0.4 * diurnal + Noise(0.1 * noise))}, \"o3\": {V(60 - 35 * diurnal + Noise(8 * noise))}";

        /// <summary>Wind from the north-east by day, turning through north by night (a test of vector means).</summary>
        string Meteorology(double diurnal) =>
            $"\"temp\": {V(2 - 4 * diurnal + Noise(0.5))}, \"rh\": {V(55 + 15 * diurnal + Noise(3))}, \"pressure\": {V(102.1 + Noise(0.1))}, " +
            $"\"wspd\": {V(2.5 + Noise(1))}, \"wdir\": {V(((15 - 40 * diurnal + Noise(20)) % 360 + 360) % 360)}";

        /// <summary>An air station's own hourly means of the hour starting at <paramref name="hour"/>.</summary>
        public string HourlyPayload(DateTimeOffset hour)
        {
            var local = hour.ToOffset(TimeSpan.FromHours(8));
            var ts = local.ToString("yyyy-MM-ddTHH:mm:sszzz", CultureInfo.InvariantCulture);
            return $$$"""{"ts": "{{{ts}}}", "period": "hour", "values": {{{{Pollutants(Diurnal(local.AddMinutes(30)), 0.3)}}}}, "units": {"no2": "ppb"}}""";
        }

        public string Payload(string kind, DateTimeOffset now, bool bad, bool episode = false)
        {
            var local = now.ToOffset(TimeSpan.FromHours(8));
            var diurnal = Diurnal(local);
            var ts = local.ToString("yyyy-MM-ddTHH:mm:sszzz", CultureInfo.InvariantCulture);
            return kind switch
            {
                "air" => bad
                    ? $$$"""{"ts": "{{{ts}}}", "values": {"pm25": -5, "pm10": {{{V(90)}}}}}"""
                    : $$$"""{"ts": "{{{ts}}}", "values": {{{{Pollutants(diurnal, 1)}}}, {{{Meteorology(diurnal)}}}}, "units": {"no2": "ppb"}}""",
                "voc" => bad
                    ? $$$"""{"ts": "{{{ts}}}", "values": {"nmhc": 900}}"""
                    : episode
                    ? $$$"""{"ts": "{{{ts}}}", "values": {"nmhc": {{{V(32.5 + Noise(1))}}}}}"""
                    : $$$"""{"ts": "{{{ts}}}", "values": {"nmhc": {{{V(1.1 + 0.4 * diurnal + Noise(0.2))}}}, "tvoc": {{{V(1500 + 500 * diurnal + Noise(200))}}}, {{{Meteorology(diurnal)}}}}, "units": {"tvoc": "ug/m3"}}""",
                _ => bad
                    ? $$$"""{"ts": "{{{ts}}}", "values": {"ph": 15.2}}"""
                    : $$$"""{"ts": "{{{ts}}}", "values": {"ph": {{{V(7.6 + Noise(0.2))}}}, "do": {{{V(5.8 + 0.8 * diurnal + Noise(0.3))}}}, "codmn": {{{V(6.5 + Noise(0.8))}}}, "cod": {{{V(24 + Noise(3))}}}, "nh3n": {{{V(0.9 + Noise(0.2))}}}, "tp": {{{V(0.18 + Noise(0.04))}}}, "tn": {{{V(2.4 + Noise(0.3))}}}, "wtemp": {{{V(14 + Noise(1))}}}, "cond": {{{V(820 + Noise(40))}}}, "turb": {{{V(12 + Noise(3))}}}}}""",
            };
        }
    }
}
