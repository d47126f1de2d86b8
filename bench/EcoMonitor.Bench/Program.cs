using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using EcoMonitor.Domain;
using EcoMonitor.Service.Hosting;
using EcoMonitor.Service.Ingestion;
using EcoMonitor.Service.Stations;
using EcoMonitor.Service.Query;
using EcoMonitor.Service.Storage;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

// EcoMonitor's benchmark. Every figure is a ratio against a reference measured in the same run, on the same machine,
// so a shared, noisy machine changes both sides alike.
//   1. decode + validate vs. parsing the same JSON alone (the floor for any JSON consumer);
//   2. end to end (MQTT -> validation -> InfluxDB -> acknowledgement) vs. a bare MQTTnet subscriber that only
//      acknowledges, on a tuned broker and on a stock one (TCP_NODELAY off);
//   3. the service's points/s vs. writing the same points straight to InfluxDB;
//   4. reading aggregates from the rollups vs. a plain hourly GROUP BY over the raw minutes;
//   5. one evaluation of the shipped alert rules for a zone vs. one plain query over the same day of raw minutes.
//   6. the rollup stage: rollup lag p50/p99 at steady load and after a burst, 2,000 air stations (RollupLag.cs).
var options = BenchOptions.Parse(args);
Console.WriteLine($"EcoMonitor benchmark: {options.Messages} messages, InfluxDB {options.InfluxUrl}, {Environment.ProcessorCount} cores, {DateTime.UtcNow:u}");

var payloads = Payloads.Build(1000);
Micro(payloads);
await EndToEndAsync(options, tcpNoDelay: true);
await EndToEndAsync(options, tcpNoDelay: false);
await QueryAsync(options);
await AlertsAsync(options);
await RollupLag.RunAsync(options.InfluxUrl);

static void Micro(IReadOnlyList<(string Station, byte[] Payload)> payloads)
{
    var stations = new StationRegistry(Payloads.Stations);
    var processor = new MessageProcessor(Options.Create(new IngestionSettings()), Options.Create(new EcoMonitor.Service.Ingestion.Hj212.Hj212Settings()), stations);
    var now = DateTimeOffset.UtcNow;
    const int n = 200_000; // per round, whatever --messages says: long enough for tiered JIT to settle

    double Run(Action<(string Station, byte[] Payload)> body, out long allocated)
    {
        for (var i = 0; i < 100_000; i++) body(payloads[i % payloads.Count]);
        var best = double.MaxValue;
        allocated = 0;
        for (var round = 0; round < 5; round++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            var sw = Stopwatch.StartNew();
            for (var i = 0; i < n; i++) body(payloads[i % payloads.Count]);
            best = Math.Min(best, sw.Elapsed.TotalSeconds);
            allocated = (GC.GetAllocatedBytesForCurrentThread() - before) / n;
        }
        return n / best;
    }

    var reference = Run(p => { using var d = JsonDocument.Parse(p.Payload); }, out var refAlloc);
    var service = Run(p => processor.Process($"eco/{p.Station}/readings", p.Payload, now), out var alloc);
    Console.WriteLine();
    Console.WriteLine("1. decode + validate (one core)");
    Console.WriteLine($"   reference JsonDocument.Parse      {reference,12:N0} msg/s  {refAlloc,6:N0} B/msg");
    Console.WriteLine($"   EcoMonitor MessageProcessor      {service,12:N0} msg/s  {alloc,6:N0} B/msg");
    Console.WriteLine($"   ratio                             {service / reference,12:P0} of the parse-only speed, {(double)alloc / refAlloc:N1}x its allocations");
}

static async Task EndToEndAsync(BenchOptions options, bool tcpNoDelay)
{
    await using var broker = await Broker.StartAsync(tcpNoDelay);
    var prefix = $"bench{Guid.NewGuid():N}"[..14];
    var payloads = Payloads.Build(options.Messages);

    // Reference: a bare subscriber on a persistent session that acknowledges on receipt.
    var bare = await BareSubscriberAsync(broker.Port, prefix, payloads, options);

    // EcoMonitor, in-process, as Program.cs builds it.
    var database = $"bench_{Guid.NewGuid():N}"[..20];
    var stationsFile = Path.GetTempFileName();
    await File.WriteAllTextAsync(stationsFile, JsonSerializer.Serialize(new
    {
        stations = Payloads.Stations.Select(s => new
        {
            id = s.Id, name = s.Name, kind = s.Kind.ToString().ToLowerInvariant(), region = s.Region, latitude = s.Latitude, longitude = s.Longitude,
            waterBody = s.WaterBody?.ToString().ToLowerInvariant(), targetClass = s.TargetClass?.ToString(),
        }),
    }, new JsonSerializerOptions { DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull }));
    var app = EcoMonitorApp.Build([], c => c.AddInMemoryCollection(new Dictionary<string, string?>
    {
        ["Http:Url"] = "http://127.0.0.1:0",
        ["Grpc:Url"] = "http://127.0.0.1:0",
        ["Serilog:MinimumLevel:Default"] = "Warning",
        ["Stations:File"] = stationsFile,
        ["Mqtt:Port"] = broker.Port.ToString(CultureInfo.InvariantCulture),
        ["Mqtt:ClientId"] = prefix + "-svc",
        ["Ingestion:TopicPrefix"] = prefix,
        ["Influx:Url"] = options.InfluxUrl,
        ["Influx:Database"] = database,
    }));
    await app.StartAsync();
    var mqtt = app.Services.GetRequiredService<MqttConnection>();
    while (!mqtt.IsSubscribed) await Task.Delay(20);
    var metrics = app.Services.GetRequiredService<IngestionMetrics>();
    var gcBefore = GC.CollectionCount(0);
    var allocBefore = GC.GetTotalAllocatedBytes();
    var sw = Stopwatch.StartNew();
    await PublishAsync(broker.Port, prefix, payloads);
    while (metrics.Acknowledgements < payloads.Count)
    {
        if (sw.Elapsed > TimeSpan.FromMinutes(5)) throw new TimeoutException($"only {metrics.Acknowledgements} of {payloads.Count} acknowledged");
        await Task.Delay(5);
    }
    var serviceSeconds = sw.Elapsed.TotalSeconds;
    var allocPerMessage = (GC.GetTotalAllocatedBytes() - allocBefore) / payloads.Count;
    var points = metrics.Written;
    var peak = Process.GetCurrentProcess().PeakWorkingSet64;
    await app.StopAsync();
    await app.DisposeAsync();
    File.Delete(stationsFile);

    // Reference for the database side: the same number of points written straight to InfluxDB in batches of 5000.
    using var influx = new InfluxConnection(Options.Create(new InfluxSettings { Url = new Uri(options.InfluxUrl), Database = database + "d" }));
    using var http = influx.Http;
    await influx.QueryAsync($"CREATE DATABASE \"{database}d\"", post: true);
    var lines = Enumerable.Range(0, (int)points).Select(i => ReadingSchemaLine(i)).ToList();
    var dsw = Stopwatch.StartNew();
    for (var i = 0; i < lines.Count; i += 5000)
    {
        var body = string.Join('\n', lines.Skip(i).Take(5000));
        (await http.PostAsync($"write?db={database}d&precision=ms", new StringContent(body, Encoding.UTF8))).EnsureSuccessStatusCode();
    }
    var directSeconds = dsw.Elapsed.TotalSeconds;
    await influx.QueryAsync($"DROP DATABASE \"{database}\"", post: true);
    await influx.QueryAsync($"DROP DATABASE \"{database}d\"", post: true);

    var serviceRate = payloads.Count / serviceSeconds;
    Console.WriteLine();
    Console.WriteLine($"2. end to end, {(tcpNoDelay ? "tuned broker (set_tcp_nodelay true)" : "stock broker (set_tcp_nodelay false)")}, {payloads.Count} messages, {points} points");
    Console.WriteLine($"   reference bare subscriber         {bare,12:N0} msg/s");
    Console.WriteLine($"   EcoMonitor stored + acknowledged  {serviceRate,12:N0} msg/s  ({points / serviceSeconds:N0} points/s, {allocPerMessage:N0} B allocated/msg, peak working set {peak / 1048576} MiB, {GC.CollectionCount(0) - gcBefore} gen0 GCs)");
    Console.WriteLine($"   ratio                             {serviceRate / bare,12:P0} of the bare subscriber");
    Console.WriteLine($"3. InfluxDB: direct batched writes {points / directSeconds,12:N0} points/s; EcoMonitor reaches {points / serviceSeconds / (points / directSeconds):P0} of it");
}

// 4. The data the aggregates and the target rest on: hourly statistics of minute means of valid readings.
//    a) building the hourly rollup from per-minute data, against a plain hourly GROUP BY of the same points;
//    b) the target's read at full scale (20 stations x 2 years of hours), against reading the raw minutes of one
//       station-month (what it would cost without a rollup, scaled).
static async Task QueryAsync(BenchOptions options)
{
    await using var db = await BenchDatabase.CreateAsync(options, "bench_q");
    var influx = db.Influx;
    var start = new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.FromHours(8));
    var stations = Enumerable.Range(0, options.QueryStations).Select(i => $"s{i}").ToList();
    foreach (var station in stations)
        for (var minute = 0; minute < options.QueryDays * 1440; minute++)
            await db.AddAsync(ReadingSchema.ToLineProtocol(new Reading(station, "pm25", start.AddMinutes(minute), 30 + minute % 40, minute % 97 == 0 ? "D" : "N")));
    await db.FlushAsync();
    var points = db.Lines;

    var end = start.AddDays(options.QueryDays);
    var sw = Stopwatch.StartNew();
    await new HourlyRollup(influx).RebuildAsync(start, end, CancellationToken.None);
    var rollup = sw.Elapsed.TotalSeconds;
    var parameters = new Dictionary<string, object> { ["from"] = start.UtcDateTime.ToString("o"), ["to"] = end.UtcDateTime.ToString("o") };
    sw.Restart();
    await influx.QueryAsync("SELECT count(\"value\"), mean(\"value\") FROM \"reading\" WHERE \"parameter\" = 'pm25' AND time >= $from AND time < $to GROUP BY time(1h), \"station\" fill(none) tz('Asia/Shanghai')", parameters);
    var plain = sw.Elapsed.TotalSeconds;
    var queries = new ReadingQueries(influx);
    sw.Restart();
    var hourly = await queries.HourlyAsync(stations, "pm25", start, end, CancellationToken.None);
    var fromRollup = sw.Elapsed.TotalSeconds;

    // Full scale: 20 stations x 2 years of hourly and daily rollup rows, as per-minute data leaves them.
    var big = Enumerable.Range(0, 20).Select(i => $"z{i:D2}").ToList();
    foreach (var station in big)
    {
        for (var h = 0; h < 2 * 365 * 24; h++)
        {
            await db.AddAsync($"{HourlyRollup.Measurement},parameter=pm25,station={station} max=70,mean={40 + h % 20},min=30,minutes=60i {start.AddHours(h).ToUnixTimeMilliseconds()}");
        }
        for (var d = 0; d < 2 * 365; d++)
            await db.AddAsync($"{HourlyRollup.DailyMeasurement},parameter=pm25,station={station} hours=24i,max=59,mean={40 + d % 9},min=40 {start.AddDays(d).ToUnixTimeMilliseconds()}");
    }
    await db.FlushAsync();
    var aggregator = new Aggregator(EcoMonitor.Domain.Standards.AirQualityStandard.Gb3095_2012);
    var firstDay = DateOnly.FromDateTime(start.DateTime);
    sw.Restart();
    var days = await queries.DailyAsync(big, "pm25", firstDay, firstDay.AddDays(729), CancellationToken.None);
    var valid = days.ToDictionary(kv => kv.Key, kv => aggregator.ValidDays(kv.Value));
    var target = sw.Elapsed.TotalSeconds;
    sw.Restart();
    var twoYears = await queries.HourlyAsync(big, "pm25", start, start.AddDays(730), CancellationToken.None);
    var fromHours = sw.Elapsed.TotalSeconds;

    Console.WriteLine();
    Console.WriteLine($"4a. hourly rollup, {options.QueryStations} stations x {options.QueryDays} days of per-minute data ({points:N0} points, {hourly.Values.Sum(h => h.Count):N0} hours)");
    Console.WriteLine($"   reference plain hourly GROUP BY    {plain,12:N2} s");
    Console.WriteLine($"   EcoMonitor rollup built (backfill) {rollup,12:N2} s  ({rollup / plain:N1}x the plain query; once, or per batch as data arrives)");
    Console.WriteLine($"   EcoMonitor hours read from rollup  {fromRollup,12:N2} s  ({fromRollup / plain:P0} of the plain query)");
    Console.WriteLine($"4b. the target's data at full scale: 20 stations x 2 years");
    Console.WriteLine($"   from the hourly rollup             {fromHours,12:N2} s  ({twoYears.Values.Sum(h => h.Count):N0} hours)");
    Console.WriteLine($"   EcoMonitor, from the daily rollup  {target,12:N2} s  ({valid.Values.Sum(d => d.Count):N0} valid daily means; {target / fromHours:P0} of reading the hours)");
}

static async Task AlertsAsync(BenchOptions options)
{
    await using var db = await BenchDatabase.CreateAsync(options, "bench_a");
    var influx = db.Influx;
    Station[] zone =
    [
        .. Enumerable.Range(0, 20).Select(i => new Station($"air-{i:D2}", $"air {i}", StationKind.Air, "zone", 37.7, 115.7)),
        .. Enumerable.Range(0, 10).Select(i => new Station($"voc-{i:D2}", $"voc {i}", StationKind.Voc, "zone", 37.7, 115.7)),
        .. Enumerable.Range(0, 10).Select(i => new Station($"w-{i:D2}", $"water {i}", StationKind.Water, "zone", 37.7, 115.7, WaterBody.River, WaterClass.IV)),
    ];
    var parameters = new Dictionary<StationKind, string[]> { [StationKind.Air] = ["pm25", "pm10"], [StationKind.Voc] = ["nmhc", "tvoc"], [StationKind.Water] = ["ph", "codmn", "nh3n", "do"] };
    var now = DateTimeOffset.UtcNow;
    var from = new DateTimeOffset(now.UtcTicks / TimeSpan.TicksPerHour * TimeSpan.TicksPerHour, TimeSpan.Zero).AddHours(-26);
    foreach (var s in zone)
        foreach (var p in parameters[s.Kind])
            for (var t = from; t < now; t = t.AddMinutes(1))
                await db.AddAsync(ReadingSchema.ToLineProtocol(new Reading(s.Id, p, t, p == "ph" ? 7.4 : 5 + (t.Minute % 30), "N")));
    var points = db.Lines;
    // The target rule reads two years of daily means (as the rollup leaves them).
    var firstDay = ChinaTime.DateOf(now).AddDays(-730);
    foreach (var s in zone.Where(s => s.Kind == StationKind.Air))
        for (var d = 0; d < 730; d++)
            await db.AddAsync($"{HourlyRollup.DailyMeasurement},parameter=pm25,station={s.Id} hours=24i,max=59,mean={40 + d % 9},min=40 {ChinaTime.StartOf(firstDay.AddDays(d)).ToUnixTimeMilliseconds()}");
    await db.FlushAsync();
    await new HourlyRollup(influx).RebuildAsync(from, now, CancellationToken.None);

    var stations = new StationRegistry(zone);
    var queries = new ReadingQueries(influx);
    var standards = new StandardsCatalog(Options.Create(new StandardsSettings()), new Microsoft.Extensions.Hosting.Internal.HostingEnvironment { ContentRootPath = "." });
    var api = Options.Create(new ApiSettings());
    var observer = new EcoMonitor.Service.Alerting.RuleObserver(stations, queries, standards, new TargetCalculator(queries, standards, api),
        Options.Create(new VocSettings()), api, Options.Create(new EcoMonitor.Service.Alerting.AlertingSettings()));
    var rules = JsonSerializer.Deserialize<EcoMonitor.Service.Alerting.AlertRuleSet>(File.ReadAllBytes("src/EcoMonitor.Service/alert-rules.json"),
        new JsonSerializerOptions { ReadCommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true, PropertyNameCaseInsensitive = true })!;
    var bind = new Dictionary<string, object> { ["since"] = ChinaTime.Utc(now.AddHours(-24)) };

    async Task<double> Best(Func<Task> body)
    {
        await body();
        var best = double.MaxValue;
        for (var round = 0; round < 5; round++)
        {
            var sw = Stopwatch.StartNew();
            await body();
            best = Math.Min(best, sw.Elapsed.TotalSeconds);
        }
        return best;
    }
    var reference = await Best(() => influx.QueryAsync("SELECT mean(\"value\") FROM \"reading\" WHERE time >= $since GROUP BY \"station\", \"parameter\"", bind));
    var observations = 0;
    var perMinute = await Best(async () =>
    {
        observations = 0;
        foreach (var rule in rules.Rules.Where(r => r.Schedule is null)) observations += (await observer.ObserveAsync(rule, now, CancellationToken.None)).Count;
    });
    var daily = await Best(async () =>
    {
        foreach (var rule in rules.Rules.Where(r => r.Schedule is not null)) await observer.ObserveAsync(rule, now, CancellationToken.None);
    });

    Console.WriteLine();
    Console.WriteLine($"5. alert evaluation, shipped rules, {zone.Length} stations (20 air, 10 VOCs, 10 water), 26 h of per-minute data ({points:N0} points)");
    Console.WriteLine($"   reference one mean per series, 24 h {reference,12:N3} s");
    Console.WriteLine($"   EcoMonitor every-minute rules       {perMinute,12:N3} s  ({perMinute / reference:N1}x the reference; {observations} observations; {perMinute / 60:P1} of the 1-minute interval)");
    Console.WriteLine($"   EcoMonitor daily target rule        {daily,12:N3} s  (21 scopes over 2 years of daily means; {daily / reference:N1}x the reference)");
}

static string ReadingSchemaLine(int i) =>
    ReadingSchema.ToLineProtocol(new Reading($"s{i % 20}", i % 2 == 0 ? "pm25" : "pm10", DateTimeOffset.UtcNow.AddHours(-1).AddMilliseconds(i), 30 + i % 50, "N"));

static async Task<double> BareSubscriberAsync(int port, string prefix, IReadOnlyList<(string Station, byte[] Payload)> payloads, BenchOptions options)
{
    using var client = new MqttClientFactory().CreateMqttClient();
    long received = 0;
    client.ApplicationMessageReceivedAsync += _ => { Interlocked.Increment(ref received); return Task.CompletedTask; };
    var clientOptions = new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithProtocolVersion(MqttProtocolVersion.V500)
        .WithClientId(prefix + "-bare").WithCleanStart(false).WithSessionExpiryInterval(600).WithReceiveMaximum(2000).Build();
    await client.ConnectAsync(clientOptions);
    await client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder()
        .WithTopicFilter(f => f.WithTopic($"{prefix}/+/readings").WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)).Build());
    var sw = Stopwatch.StartNew();
    await PublishAsync(port, prefix, payloads);
    while (Interlocked.Read(ref received) < payloads.Count)
    {
        if (sw.Elapsed > TimeSpan.FromMinutes(5)) throw new TimeoutException($"bare subscriber got {received} of {payloads.Count}");
        await Task.Delay(5);
    }
    var rate = payloads.Count / sw.Elapsed.TotalSeconds;
    await client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().WithSessionExpiryInterval(0).Build());
    return rate;
}

static async Task PublishAsync(int port, string prefix, IReadOnlyList<(string Station, byte[] Payload)> payloads)
{
    using var client = new MqttClientFactory().CreateMqttClient();
    await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithProtocolVersion(MqttProtocolVersion.V500)
        .WithClientId($"{prefix}-pub-{Guid.NewGuid():N}"[..30]).Build());
    // A window of outstanding QoS 1 publishes, as a busy gateway concentrator would have.
    using var window = new SemaphoreSlim(200);
    var tasks = new List<Task>(payloads.Count);
    foreach (var (station, payload) in payloads)
    {
        await window.WaitAsync();
        tasks.Add(Task.Run(async () =>
        {
            try
            {
                await client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic($"{prefix}/{station}/readings").WithPayload(payload)
                    .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
            }
            finally
            {
                window.Release();
            }
        }));
    }
    await Task.WhenAll(tasks);
    await client.DisconnectAsync();
}

sealed record BenchOptions(int Messages, string InfluxUrl, int QueryStations, int QueryDays)
{
    public static BenchOptions Parse(string[] args)
    {
        var messages = 20000;
        var queryStations = 2;
        var queryDays = 365;
        var influx = Environment.GetEnvironmentVariable("ECOMON_BENCH_INFLUX_URL") ?? "http://127.0.0.1:28086";
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            if (args[i] == "--messages") messages = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            else if (args[i] == "--influx") influx = args[i + 1];
            else if (args[i] == "--query-stations") queryStations = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            else if (args[i] == "--query-days") queryDays = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            else throw new ArgumentException($"unknown argument {args[i]}");
        }
        return new BenchOptions(messages, influx, queryStations, queryDays);
    }
}

static class Payloads
{
    public static readonly Station[] Stations =
    [
        .. Enumerable.Range(0, 16).Select(i => new Station($"air-{i}", $"air {i}", StationKind.Air, "zone", 37.7, 115.7)),
        .. Enumerable.Range(0, 2).Select(i => new Station($"voc-{i}", $"voc {i}", StationKind.Voc, "zone", 37.7, 115.7)),
        .. Enumerable.Range(0, 2).Select(i => new Station($"w-{i}", $"water {i}", StationKind.Water, "zone", 37.7, 115.7, WaterBody.River, WaterClass.IV)),
    ];

    /// <summary>Realistic messages: mostly air stations with PM2.5/PM10, some VOCs and water sections with many values.</summary>
    public static List<(string Station, byte[] Payload)> Build(int count)
    {
        var start = DateTimeOffset.UtcNow.AddHours(-2).ToUnixTimeMilliseconds();
        var list = new List<(string, byte[])>(count);
        for (var i = 0; i < count; i++)
        {
            var s = Stations[i % Stations.Length];
            var ts = start + i;
            var json = s.Kind switch
            {
                StationKind.Air => $"{{\"ts\": {ts}, \"values\": {{\"pm25\": {30 + i % 40}.5, \"pm10\": {60 + i % 70}.2}}}}",
                StationKind.Voc => $"{{\"ts\": {ts}, \"values\": {{\"nmhc\": 1.{i % 9}, \"tvoc\": {1200 + i % 300}}}, \"units\": {{\"tvoc\": \"ug/m3\"}}}}",
                _ => $"{{\"ts\": {ts}, \"values\": {{\"ph\": 7.{i % 9}, \"do\": 6.1, \"codmn\": 5.2, \"cod\": 21, \"nh3n\": 0.8, \"tp\": 0.15, \"tn\": 2.2, \"wtemp\": 14.5, \"cond\": 810, \"turb\": 12}}, \"flags\": {{\"do\": \"N\"}}}}",
            };
            list.Add((s.Id, Encoding.UTF8.GetBytes(json)));
        }
        return list;
    }
}

/// <summary>A database of the benchmark's own, filled with line protocol in batches of 50,000 lines and dropped
/// when disposed.</summary>
sealed class BenchDatabase : IAsyncDisposable
{
    readonly StringBuilder _batch = new();
    readonly string _name;

    BenchDatabase(InfluxConnection influx, string name) => (Influx, _name) = (influx, name);

    public InfluxConnection Influx { get; }

    /// <summary>Lines added so far.</summary>
    public int Lines { get; private set; }

    public static async Task<BenchDatabase> CreateAsync(BenchOptions options, string prefix)
    {
        var name = $"{prefix}_{Guid.NewGuid():N}"[..22];
        var influx = new InfluxConnection(Options.Create(new InfluxSettings { Url = new Uri(options.InfluxUrl), Database = name, Timeout = TimeSpan.FromMinutes(10) }));
        await influx.QueryAsync($"CREATE DATABASE \"{name}\"", post: true);
        return new BenchDatabase(influx, name);
    }

    public async Task AddAsync(string line)
    {
        _batch.Append(line).Append('\n');
        if (++Lines % 50_000 == 0) await FlushAsync();
    }

    public async Task FlushAsync()
    {
        if (_batch.Length == 0) return;
        (await Influx.Http.PostAsync($"write?db={_name}&precision=ms", new StringContent(_batch.ToString(), Encoding.UTF8))).EnsureSuccessStatusCode();
        _batch.Clear();
    }

    public async ValueTask DisposeAsync()
    {
        await Influx.QueryAsync($"DROP DATABASE \"{_name}\"", post: true);
        Influx.Dispose();
    }
}

/// <summary>A mosquitto of the benchmark's own: tuned (the project's template) or stock (TCP_NODELAY off).</summary>
sealed class Broker : IAsyncDisposable
{
    readonly Process _process;
    readonly string _dir;
    public int Port { get; }

    Broker(Process process, string dir, int port) => (_process, _dir, Port) = (process, dir, port);

    public static async Task<Broker> StartAsync(bool tcpNoDelay)
    {
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var dir = Directory.CreateTempSubdirectory("ecomon-bench-broker").FullName;
        var config = $"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 1000000\nlog_dest stderr\n" +
                     (tcpNoDelay ? "set_tcp_nodelay true\n" : "");
        await File.WriteAllTextAsync(Path.Combine(dir, "mosquitto.conf"), config);
        var process = Process.Start(new ProcessStartInfo("mosquitto", $"-c {dir}/mosquitto.conf") { RedirectStandardError = true })!;
        process.BeginErrorReadLine();
        for (var i = 0; i < 100; i++)
        {
            try
            {
                using var tcp = new System.Net.Sockets.TcpClient();
                await tcp.ConnectAsync("127.0.0.1", port);
                break;
            }
            catch (System.Net.Sockets.SocketException)
            {
                await Task.Delay(50);
            }
        }
        return new Broker(process, dir, port);
    }

    public async ValueTask DisposeAsync()
    {
        _process.Kill();
        await _process.WaitForExitAsync();
        Directory.Delete(_dir, true);
    }
}
