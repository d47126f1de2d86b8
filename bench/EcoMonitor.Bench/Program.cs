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
//      acknowledges, on a tuned broker and on a stock one (TCP_NODELAY off), for each data set (DataSets.cs): the
//      dense one (20 stations, PM only) and the realistic ones (2,000 and 10,000 stations, a minute of all parameters
//      per message). The service runs as its own process: its CPU seconds and peak resident set are its own.
//      --instances N (2..4) runs N service processes as one MQTT 5 shared group (the scaled-out deployment) and, right
//      after each such run, the same data set and broker with one process, so the two are measured in the same period;
//   3. the service's points/s vs. writing the same points straight to InfluxDB;
//   4. reading aggregates from the rollups vs. a plain hourly GROUP BY over the raw minutes;
//   5. one evaluation of the shipped alert rules for a zone vs. one plain query over the same day of raw minutes.
//   6. the rollup stage: rollup lag p50/p99 at steady load and after a burst, 2,000 air stations (RollupLag.cs).
// --soak SECONDS adds a long realistic run (2,000 stations) that samples the service's memory every 30 s.
var options = BenchOptions.Parse(args);
Console.WriteLine($"EcoMonitor benchmark: {options.Messages} messages, InfluxDB {options.InfluxUrl}, {Environment.ProcessorCount} cores, {DateTime.UtcNow:u}");

if (options.Sections.Contains(1)) Micro(new DenseDataSet());
var results = new List<EndToEndResult>();
if (options.Sections.Contains(2))
{
    var dll = ServiceProcess.LocateDll(options.ServiceDll);
    foreach (var set in options.DataSets)
    {
        Func<DataSet> make = set == 0 ? () => new DenseDataSet() : () => new RealisticDataSet(set, RealisticDataSet.StartFor(set, options.Messages));
        foreach (var tuned in new[] { true, false })
        {
            var run = await EndToEndAsync(options, dll, make, tcpNoDelay: tuned, direct: tuned && options.Sections.Contains(3), options.Instances);
            results.Add(run);
            if (options.Instances == 1) continue;
            // The same data set and broker with one instance, right after: the comparison the option is for.
            var single = await EndToEndAsync(options, dll, make, tcpNoDelay: tuned, direct: false, instances: 1);
            results.Add(single);
            Console.WriteLine($"   {options.Instances} instances vs 1                  {run.Rate / single.Rate,12:N2}x the msg/s of one instance, " +
                $"{run.CpuPer100k / single.CpuPer100k:N2}x its CPU s per 100k messages, {(double)run.PeakRssSum / single.PeakRssSum:N2}x its peak RSS (summed)");
        }
    }
    if (results.Count > 0) Summary(results, options.Instances);
    if (options.SoakSeconds > 0) await SoakAsync(options, dll);
}
if (options.Sections.Contains(4)) await QueryAsync(options);
if (options.Sections.Contains(5)) await AlertsAsync(options);
if (options.Sections.Contains(6))
    foreach (var stations in options.LagStations)
        await RollupLag.RunAsync(options.InfluxUrl, stations, options.LagRate, options.LagSeconds);
if (options.Sections.Contains(7)) await ImportBench.RunAsync(options.InfluxUrl);

static void Micro(DataSet data)
{
    var payloads = data.Messages(1000).ToList();
    var stations = new StationRegistry(data.Stations);
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
    Console.WriteLine($"1. decode + validate (one core), {data.Name}");
    Console.WriteLine($"   reference JsonDocument.Parse      {reference,12:N0} msg/s  {refAlloc,6:N0} B/msg");
    Console.WriteLine($"   EcoMonitor MessageProcessor      {service,12:N0} msg/s  {alloc,6:N0} B/msg");
    Console.WriteLine($"   ratio                             {service / reference,12:P0} of the parse-only speed, {(double)alloc / refAlloc:N1}x its allocations");
}

/// <summary>One end-to-end run on a broker of its own: the bare subscriber, then <paramref name="instances"/> service
/// processes (a shared group when more than one). With --instances above 1 the data set label names the number of
/// instances of every run, the one-instance runs included.</summary>
static async Task<EndToEndResult> EndToEndAsync(BenchOptions options, string dll, Func<DataSet> make, bool tcpNoDelay, bool direct, int instances)
{
    await using var broker = await Broker.StartAsync(tcpNoDelay);
    var prefix = $"bench{Guid.NewGuid():N}"[..14];
    var data = make();
    var count = options.Messages;
    var values = data.ValuesOf(0, count);
    var brokerName = tcpNoDelay ? "tuned broker (set_tcp_nodelay true)" : "stock broker (set_tcp_nodelay false)";
    var label = options.Instances > 1 ? $"{data.Name}, {instances} instance{(instances == 1 ? "" : "s")}" : data.Name;
    Console.WriteLine();
    Console.WriteLine($"2. end to end, {label}, {brokerName}, {count:N0} messages, {values:N0} values");

    // Reference: a bare subscriber on a persistent session that acknowledges on receipt.
    var bare = await BareSubscriberAsync(broker.Port, prefix, data.Messages(count), count);
    Console.WriteLine($"   reference bare subscriber         {bare,12:N0} msg/s  {bare * values / count,12:N0} values/s");

    var database = $"bench_{Guid.NewGuid():N}"[..20];
    var stationsFile = data.WriteStationsFile();
    using var influx = new InfluxConnection(Options.Create(new InfluxSettings { Url = new Uri(options.InfluxUrl), Database = database, Timeout = TimeSpan.FromMinutes(2) }));
    double ackSeconds;
    double? rollupSeconds = null;
    var checkSeconds = 0.0;
    long rollupMinutes = 0;
    TimeSpan cpuAck, cpuAll;
    long peak, peakSum;
    Dictionary<string, long>[] perInstance;
    // Every instance started and subscribed before the first publish.
    await using (var service = await ServiceGroup.StartAsync(dll, instances, InProcessService.Connection(broker.Port, prefix, options.InfluxUrl, database, stationsFile)))
    {
        var cpu0 = service.CpuTime;
        var sw = Stopwatch.StartNew();
        var publishing = PublishAsync(broker.Port, prefix, data.Messages(count), CancellationToken.None);
        // Acknowledged = the sum over the instances. Polled every 100 ms: each poll is a Prometheus collection in every
        // instance (at a 50 ms poll, about 3 % of the service's CPU in a profile). The run ends at the first poll that
        // sees the count, so the rate is a lower bound, low by at most one poll interval of the run's duration.
        while ((await service.AcknowledgedAsync()).Sum() < count)
        {
            if (sw.Elapsed > options.Timeout) throw new TimeoutException($"only {(await service.AcknowledgedAsync()).Sum()} of {count} acknowledged in {options.Timeout}: {service.Log}");
            await Task.Delay(100);
        }
        ackSeconds = sw.Elapsed.TotalSeconds;
        cpuAck = service.CpuTime - cpu0;
        await publishing;

        // "Rollups current": the hourly rollup holds every minute of every value of the run.
        var expected = data.MinutesOf(count);
        var bind = new Dictionary<string, object> { ["from"] = ChinaTime.Utc(data.Start), ["to"] = ChinaTime.Utc(data.EndOf(count)) };
        long minutes = 0;
        while (sw.Elapsed < ackSeconds * TimeSpan.FromSeconds(1) + options.RollupWait)
        {
            var issued = sw.Elapsed.TotalSeconds;
            var series = await influx.QueryAsync($"SELECT sum(\"minutes\") FROM \"{HourlyRollup.Measurement}\" WHERE time >= $from AND time < $to", bind);
            minutes = series.SelectMany(s => s.Rows()).Select(r => r["sum"].ValueKind == JsonValueKind.Number ? r["sum"].GetInt64() : 0).Sum();
            checkSeconds = sw.Elapsed.TotalSeconds - issued;
            if (minutes >= expected)
            {
                rollupSeconds = sw.Elapsed.TotalSeconds;
                break;
            }
            // Idle at least as long as the check took: the checker must not become a load of its own on InfluxDB.
            await Task.Delay(TimeSpan.FromSeconds(Math.Max(0.2, checkSeconds)));
        }
        rollupMinutes = minutes;
        if (rollupSeconds is null) Console.WriteLine($"   (the hourly rollup holds {minutes:N0} of {expected:N0} value-minutes {options.RollupWait.TotalSeconds:N0} s after the last acknowledgement)");
        cpuAll = service.CpuTime - cpu0;
        perInstance = await service.MetricsAsync();
        (peak, peakSum) = service.PeakMemory();
    }
    var metrics = ServiceGroup.Sum(perInstance);
    File.Delete(stationsFile);
    var points = metrics.GetValueOrDefault("ecomonitor_points_written_total");
    var accepted = metrics.GetValueOrDefault("ecomonitor_readings_accepted_total");
    var rejected = metrics.Where(m => m.Key.StartsWith("ecomonitor_rejections_total", StringComparison.Ordinal)).Sum(m => m.Value);
    await influx.QueryAsync($"DROP DATABASE \"{database}\"", post: true);

    var rate = count / ackSeconds;
    Console.WriteLine($"   EcoMonitor stored + acknowledged  {rate,12:N0} msg/s  {values / ackSeconds,12:N0} values/s  ({points:N0} points written, {accepted:N0} values accepted, {rejected} rejected)");
    Console.WriteLine($"   ratio                             {rate / bare,12:P1} of the bare subscriber");
    Console.WriteLine($"   rollups current                   {(rollupSeconds is { } r ? $"{r,10:N1} s after the first publish (last acknowledgement at {ackSeconds:N1} s; the check itself takes {checkSeconds:N1} s)" : $"not within {options.RollupWait.TotalSeconds:N0} s of the last acknowledgement")}");
    if (instances == 1)
        Console.WriteLine($"   service process                   {cpuAck.TotalSeconds * 100_000 / count,10:N1} CPU s per 100k messages to the last acknowledgement, {cpuAll.TotalSeconds * 100_000 / count:N1} to rollups current; peak RSS {peak / 1048576.0:N0} MiB");
    else
    {
        // The split the broker made: each instance's own count (a shared group hands the messages round in turn).
        Console.WriteLine($"   instances acknowledged            {string.Join(" + ", perInstance.Select(m => m.GetValueOrDefault("ecomonitor_messages_acknowledged_total").ToString("N0", CultureInfo.InvariantCulture)))}");
        Console.WriteLine($"   {instances} service processes               {cpuAck.TotalSeconds * 100_000 / count,10:N1} CPU s per 100k messages to the last acknowledgement, {cpuAll.TotalSeconds * 100_000 / count:N1} to rollups current (summed); " +
            $"peak RSS {peak / 1048576.0:N0} MiB (largest instance), {peakSum / 1048576.0:N0} MiB summed");
    }

    double? directRate = null;
    if (direct)
    {
        // Reference for the database side: the same number of points over the data set's stations and parameters,
        // written straight to InfluxDB in batches of 5000.
        var directDb = database + "d";
        await influx.QueryAsync($"CREATE DATABASE \"{directDb}\"", post: true);
        var dsw = Stopwatch.StartNew();
        var batch = new StringBuilder();
        for (var i = 0; i < points; i++)
        {
            batch.Append(DirectLine(data, i)).Append('\n');
            if ((i + 1) % 5000 == 0 || i + 1 == points)
            {
                (await influx.Http.PostAsync($"write?db={directDb}&precision=ms", new StringContent(batch.ToString(), Encoding.UTF8))).EnsureSuccessStatusCode();
                batch.Clear();
            }
        }
        directRate = points / dsw.Elapsed.TotalSeconds;
        await influx.QueryAsync($"DROP DATABASE \"{directDb}\"", post: true);
        Console.WriteLine($"3. InfluxDB: direct batched writes {directRate,12:N0} points/s; EcoMonitor reaches {points / ackSeconds / directRate:P0} of it");
    }
    return new EndToEndResult(data.Name, tcpNoDelay, instances, count, values, bare, rate, rollupSeconds, (double)rollupMinutes / data.MinutesOf(count), ackSeconds,
        cpuAck.TotalSeconds * 100_000 / count, cpuAll.TotalSeconds * 100_000 / count, peak, peakSum, directRate, points);
}

static string DirectLine(DataSet data, long i)
{
    var station = data.Stations[i % data.Stations.Length];
    var j = i / data.Stations.Length;
    string[] parameters = station.Kind switch
    {
        StationKind.Air => ["so2", "no2", "co", "o3", "pm10", "pm25", "temp", "rh", "pressure", "wspd", "wdir"],
        StationKind.Voc => ["nmhc", "tvoc", "temp", "rh", "pressure", "wspd", "wdir"],
        _ => ["ph", "do", "codmn", "cod", "nh3n", "tp", "tn", "wtemp", "cond", "turb"],
    };
    return ReadingSchema.ToLineProtocol(new Reading(station.Id, parameters[j % parameters.Length], data.Start.AddMinutes(j / parameters.Length), 30 + i % 50, "N"));
}

/// <summary>The table of section 2. With --instances above 1 it has three more columns: the number of instances, the
/// peak RSS summed over them (next to the largest instance's) and, on the several-instance rows, their msg/s over the
/// one-instance run of the same data set and broker that followed.</summary>
static void Summary(List<EndToEndResult> results, int instances)
{
    var several = instances > 1;
    Console.WriteLine();
    Console.WriteLine("2. summary (end to end = published -> stored -> acknowledged; the reference is the bare subscriber of the same broker and run)");
    Console.WriteLine($"   {"data set",-30} {"broker",-6}{(several ? $" {"inst",4}" : "")} {"bare msg/s",11} {"msg/s",9} {"values/s",10} {"ratio",7} {"rollups",8} {"CPU s/100k",11} {"peak RSS",9}" +
        (several ? $" {"RSS sum",9} {"x 1 inst",8}" : ""));
    foreach (var r in results)
    {
        var single = results.FirstOrDefault(o => o.Instances == 1 && o.DataSet == r.DataSet && o.Tuned == r.Tuned);
        Console.WriteLine($"   {r.DataSet,-30} {(r.Tuned ? "tuned" : "stock"),-6}{(several ? $" {r.Instances,4}" : "")} {r.Bare,11:N0} {r.Rate,9:N0} {r.Rate * r.Values / r.Messages,10:N0} {r.Rate / r.Bare,7:P1} {(r.RollupSeconds is { } s ? $"{s:N1} s" : $"{r.RollupShare:P0} late"),8} {r.CpuPer100k,11:N1} {r.PeakRss / 1048576.0,5:N0} MiB" +
            (several ? $" {r.PeakRssSum / 1048576.0,5:N0} MiB {(r.Instances > 1 && single is not null ? $"{r.Rate / single.Rate:N2}x" : ""),8}".TrimEnd() : ""));
    }
    Console.WriteLine("   (rollups: seconds from the first publish until reading_1h holds every value-minute of the run, or the share it held --rollup-wait after the");
    Console.WriteLine(several
        ? "   last acknowledgement; CPU: the service processes until the last acknowledgement, summed; peak RSS: the largest instance's VmHWM;\n" +
          "   x 1 inst: msg/s over that of the one-instance run of the same data set and broker, measured right after)"
        : "   last acknowledgement; CPU: the service process until the last acknowledgement)");
}

/// <summary>A long realistic run (2,000 stations, tuned broker): the service's resident set and throughput every 30 s.</summary>
static async Task SoakAsync(BenchOptions options, string dll)
{
    const int SoakBacklog = 10_000;
    await using var broker = await Broker.StartAsync(tcpNoDelay: true);
    var prefix = $"bench{Guid.NewGuid():N}"[..14];
    const int stations = 2000;
    // Three days of minutes: room for 8.6 M messages, more than 10 minutes at any rate seen on this machine.
    var data = new RealisticDataSet(stations, DataSet.HourOf(DateTimeOffset.UtcNow.AddDays(-3)));
    var capacity = (long)(DateTimeOffset.UtcNow.AddMinutes(-10) - data.Start).TotalMinutes * stations;
    var database = $"bench_{Guid.NewGuid():N}"[..20];
    var stationsFile = data.WriteStationsFile();
    using var influx = new InfluxConnection(Options.Create(new InfluxSettings { Url = new Uri(options.InfluxUrl), Database = database, Timeout = TimeSpan.FromMinutes(2) }));
    Console.WriteLine();
    Console.WriteLine(options.SoakRate > 0
        ? $"2s. soak, {data.Name}, tuned broker, publishing for {options.SoakSeconds} s at {options.SoakRate:N0} msg/s ({options.SoakRate * 60.0 / stations:0.#}x the network's one message a station-minute)"
        : options.SoakUnpaced
        ? $"2s. soak, {data.Name}, tuned broker, publishing for {options.SoakSeconds} s as fast as the publisher goes (un-paced: the broker queues what the service has not taken)"
        : $"2s. soak, {data.Name}, tuned broker, publishing for {options.SoakSeconds} s as fast as the service acknowledges (at most {SoakBacklog:N0} unacknowledged)");
    Console.WriteLine($"   {"t s",5} {"acknowledged",13} {"msg/s",8} {"RSS MiB",8} {"peak MiB",9} {"CPU s",7}");
    await using (var service = await ServiceProcess.StartAsync(dll, InProcessService.Connection(broker.Port, prefix, options.InfluxUrl, database, stationsFile)))
    {
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(options.SoakSeconds));
        var cpu0 = service.CpuTime;
        var sw = Stopwatch.StartNew();
        // Paced by the service: at most SoakBacklog messages published and not yet acknowledged, so the run measures
        // the service at its sustained rate, not a broker queue growing without bound.
        // With --soak-rate, at that steady rate instead.
        var publishing = PublishAsync(broker.Port, prefix, data.Messages(capacity), stop.Token,
            options.SoakRate > 0 ? async published =>
            {
                var due = TimeSpan.FromSeconds((double)published / options.SoakRate);
                if (due > sw.Elapsed) await Task.Delay(due - sw.Elapsed, CancellationToken.None);
            }
            : options.SoakUnpaced ? null : async published =>
            {
                if (published % 1000 != 0) return;
                while (published - await service.AcknowledgedAsync() > SoakBacklog && !stop.IsCancellationRequested) await Task.Delay(100);
            });
        long last = 0;
        var lastT = 0.0;
        var samples = new List<(double T, long Rss)>();
        while (true)
        {
            await Task.WhenAny(publishing, Task.Delay(TimeSpan.FromSeconds(10)));
            var acked = await service.AcknowledgedAsync();
            var (rss, peak) = service.Memory();
            var t = sw.Elapsed.TotalSeconds;
            samples.Add((t, rss));
            Console.WriteLine($"   {t,5:N0} {acked,13:N0} {(acked - last) / (t - lastT),8:N0} {rss / 1048576.0,8:N0} {peak / 1048576.0,9:N0} {(service.CpuTime - cpu0).TotalSeconds,7:N0}");
            (last, lastT) = (acked, t);
            if (publishing.IsCompleted) break;
        }
        var published = await publishing;
        while (await service.AcknowledgedAsync() < published && sw.Elapsed < TimeSpan.FromSeconds(options.SoakSeconds) + options.Timeout) await Task.Delay(200);
        var acknowledged = await service.AcknowledgedAsync();
        var late = samples.Where(s => s.T >= 120).ToList();
        Console.WriteLine($"   published {published:N0}, acknowledged {acknowledged:N0} in {sw.Elapsed.TotalSeconds:N0} s; RSS sampled every 10 s: first {samples[0].Rss / 1048576.0:N0} MiB, " +
            $"last {samples[^1].Rss / 1048576.0:N0} MiB, max {samples.Max(s => s.Rss) / 1048576.0:N0} MiB, peak (VmHWM) {service.Memory().Peak / 1048576.0:N0} MiB; " +
            (late.Count >= 2 ? $"from 2 minutes on: min {late.Min(s => s.Rss) / 1048576.0:N0} MiB, max {late.Max(s => s.Rss) / 1048576.0:N0} MiB, last - first {(late[^1].Rss - late[0].Rss) / 1048576.0:N0} MiB" : "too short for a trend"));

        // Where the rollups stand: the share of the run's value-minutes in reading_1h, now and after --rollup-wait.
        var bind = new Dictionary<string, object> { ["from"] = ChinaTime.Utc(data.Start), ["to"] = ChinaTime.Utc(data.EndOf(published)) };
        var expected = data.MinutesOf(published);
        async Task<long> RolledUpAsync() => (await influx.QueryAsync($"SELECT sum(\"minutes\") FROM \"{HourlyRollup.Measurement}\" WHERE time >= $from AND time < $to", bind))
            .SelectMany(s => s.Rows()).Select(r => r["sum"].ValueKind == JsonValueKind.Number ? r["sum"].GetInt64() : 0).Sum();
        var atEnd = await RolledUpAsync();
        var waited = Stopwatch.StartNew();
        var rolled = atEnd;
        while (rolled < expected && waited.Elapsed < options.RollupWait)
        {
            await Task.Delay(TimeSpan.FromSeconds(2));
            rolled = await RolledUpAsync();
        }
        Console.WriteLine($"   rollups: {(double)atEnd / expected:P1} of the value-minutes at the last acknowledgement, {(double)rolled / expected:P1} {waited.Elapsed.TotalSeconds:N0} s later");
    }
    File.Delete(stationsFile);
    await influx.QueryAsync($"DROP DATABASE \"{database}\"", post: true);
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

static async Task<double> BareSubscriberAsync(int port, string prefix, IEnumerable<(string Station, byte[] Payload)> payloads, long count)
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
    await PublishAsync(port, prefix, payloads, CancellationToken.None);
    while (Interlocked.Read(ref received) < count)
    {
        if (sw.Elapsed > TimeSpan.FromMinutes(5)) throw new TimeoutException($"bare subscriber got {received} of {count}");
        await Task.Delay(5);
    }
    var rate = count / sw.Elapsed.TotalSeconds;
    await client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().WithSessionExpiryInterval(0).Build());
    return rate;
}

/// <summary>Publishes until the messages run out or <paramref name="stop"/> fires; returns how many were published.
/// <paramref name="pace"/>, when given, is awaited every 1,000 messages with the count so far (it may hold the
/// publisher back).</summary>
static async Task<long> PublishAsync(int port, string prefix, IEnumerable<(string Station, byte[] Payload)> payloads, CancellationToken stop,
    Func<long, Task>? pace = null)
{
    using var client = new MqttClientFactory().CreateMqttClient();
    await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithProtocolVersion(MqttProtocolVersion.V500)
        .WithClientId($"{prefix}-pub-{Guid.NewGuid():N}"[..30]).Build());
    // A window of outstanding QoS 1 publishes, as a busy gateway concentrator would have.
    const int window = 200;
    using var slots = new SemaphoreSlim(window);
    long published = 0;
    Exception? failure = null;
    foreach (var (station, payload) in payloads)
    {
        if (stop.IsCancellationRequested || failure is not null) break;
        if (pace is not null && published % 100 == 0) await pace(published);
        await slots.WaitAsync();
        published++;
        _ = Task.Run(async () =>
        {
            try
            {
                await client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic($"{prefix}/{station}/readings").WithPayload(payload)
                    .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
            }
            catch (Exception e)
            {
                failure = e;
            }
            finally
            {
                slots.Release();
            }
        });
    }
    for (var i = 0; i < window; i++) await slots.WaitAsync();
    if (failure is not null) throw new InvalidOperationException("publishing failed", failure);
    await client.DisconnectAsync();
    return published;
}

/// <summary>One end-to-end run. CPU: summed over the instances; PeakRss: the largest instance's VmHWM, PeakRssSum: all
/// instances' added up (the same with one instance).</summary>
sealed record EndToEndResult(string DataSet, bool Tuned, int Instances, long Messages, long Values, double Bare, double Rate, double? RollupSeconds, double RollupShare,
    double AckSeconds, double CpuPer100k, double CpuAllPer100k, long PeakRss, long PeakRssSum, double? DirectRate, long Points);

sealed record BenchOptions(int Messages, string InfluxUrl, int QueryStations, int QueryDays, int[] DataSets, int[] Sections, int SoakSeconds,
    string? ServiceDll, TimeSpan Timeout, TimeSpan RollupWait, bool SoakUnpaced, int SoakRate, int[] LagStations, int LagRate, int LagSeconds, int Instances)
{
    /// <summary>--messages N (per end-to-end run, default 20,000), --datasets dense,2000,10000 (a number: a realistic
    /// set of that many stations; none: only the soak), --sections 1,2,3,4,5,6, --soak SECONDS (0: none; part of
    /// section 2), --influx URL, --service-dll PATH,
    /// --timeout SECONDS (for the service to acknowledge everything; default 600), --rollup-wait SECONDS (how long after
    /// the last acknowledgement to wait for the rollups to hold every value; default 60), --query-stations, --query-days,
    /// --soak-unpaced true (the soak's publisher not held back by the service), --soak-rate N (the soak at N msg/s), --lag-stations 2000 (section 6: one
    /// run per number of stations), --lag-rate 1000 (section 6: the steady rate, msg/s), --lag-seconds 20 (section 6: how long the steady load lasts), --instances N (section 2: 1..4
    /// service processes as one MQTT 5 shared group; above 1 each run is followed by the same run with one instance;
    /// default 1; the soak always runs one).</summary>
    public static BenchOptions Parse(string[] args)
    {
        var messages = 20000;
        var queryStations = 2;
        var queryDays = 365;
        int[] dataSets = [0, 2000, 10000];
        int[] sections = [1, 2, 3, 4, 5, 6];
        var soak = 0;
        string? dll = null;
        var timeout = TimeSpan.FromMinutes(10);
        var rollupWait = TimeSpan.FromSeconds(60);
        var soakUnpaced = false;
        var soakRate = 0;
        int[] lagStations = [2000];
        var lagRate = 1000;
        var lagSeconds = 20;
        var instances = 1;
        var influx = Environment.GetEnvironmentVariable("ECOMON_BENCH_INFLUX_URL") ?? "http://127.0.0.1:28086";
        static int Int(string s) => int.Parse(s, CultureInfo.InvariantCulture);
        if (args.Length % 2 != 0) throw new ArgumentException($"argument {args[^1]} has no value");
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            var value = args[i + 1];
            switch (args[i])
            {
                case "--messages": messages = Int(value); break;
                case "--influx": influx = value; break;
                case "--query-stations": queryStations = Int(value); break;
                case "--query-days": queryDays = Int(value); break;
                case "--datasets": dataSets = value == "none" ? [] : [.. value.Split(',').Select(v => v == "dense" ? 0 : Int(v))]; break;
                case "--sections": sections = [.. value.Split(',').Select(Int)]; break;
                case "--soak": soak = Int(value); break;
                case "--service-dll": dll = value; break;
                case "--timeout": timeout = TimeSpan.FromSeconds(Int(value)); break;
                case "--rollup-wait": rollupWait = TimeSpan.FromSeconds(Int(value)); break;
                case "--soak-unpaced": soakUnpaced = bool.Parse(value); break;
                case "--soak-rate":
                    soakRate = Int(value);
                    if (soakRate < 0) throw new ArgumentException($"--soak-rate must be 0 (as fast as the service acknowledges) or more (got {value})");
                    break;
                case "--lag-stations": lagStations = [.. value.Split(',').Select(Int)]; break;
                case "--lag-rate": lagRate = Int(value); break;
                case "--lag-seconds":
                    lagSeconds = Int(value);
                    if (lagSeconds < 1) throw new ArgumentException($"--lag-seconds must be at least 1 (got {value})");
                    break;
                case "--instances":
                    instances = Int(value);
                    if (instances is < 1 or > 4) throw new ArgumentException($"--instances must be 1..4 (got {value})");
                    break;
                default: throw new ArgumentException($"unknown argument {args[i]}");
            }
        }
        return new BenchOptions(messages, influx, queryStations, queryDays, dataSets, sections, soak, dll, timeout, rollupWait, soakUnpaced, soakRate, lagStations, lagRate, lagSeconds, instances);
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
