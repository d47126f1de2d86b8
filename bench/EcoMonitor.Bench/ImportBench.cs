using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using EcoMonitor.Service.Hosting;
using EcoMonitor.Service.Storage;
using Microsoft.Extensions.DependencyInjection;

/// <summary>7. The historical import: a generated CSV of <c>values</c> minute values (100 air stations, PM2.5, local
/// times) imported by `ecomon import` (its own process, as an operator runs it) through the service (in this process)
/// into InfluxDB, timed from the start of the CLI to its summary, which it prints only once the rollups of the imported
/// hours are current. Reference, same run: the same points as line protocol POSTed straight to /write in batches of
/// the same size, one after the other (no parsing, no validation, no rollups). Reported: values/s of the reference,
/// of the import until its last batch is stored, and until the rollups are current; the ratio of the import to the
/// reference. ECOMON_BENCH_IMPORT_VALUES changes the number of values (1,000,000).</summary>
static class ImportBench
{
    public static async Task RunAsync(string influxUrl, int values = 0, int batch = 5000)
    {
        const int stations = 100;
        if (values == 0) values = int.Parse(Environment.GetEnvironmentVariable("ECOMON_BENCH_IMPORT_VALUES") ?? "1000000", CultureInfo.InvariantCulture);
        var database = $"bench_{Guid.NewGuid():N}"[..20];
        var reference = database + "_ref";
        var dir = Directory.CreateTempSubdirectory("ecomon-import-bench").FullName;
        var csv = Path.Combine(dir, "history.csv");
        var stationsFile = Path.Combine(dir, "stations.json");
        var ids = Enumerable.Range(0, stations).Select(i => $"h{i:D3}").ToList();
        await File.WriteAllTextAsync(stationsFile, JsonSerializer.Serialize(new
        {
            stations = ids.Select(id => new { id, name = id, kind = "air", region = "zone", latitude = 37.7, longitude = 115.7 }),
        }));
        // Value n: station n % 100, minute n / 100 from a local midnight 100 days back.
        var start = new DateTimeOffset(DateTime.UtcNow.AddDays(-100).Date, TimeSpan.Zero).ToOffset(TimeSpan.FromHours(8));
        start = new DateTimeOffset(start.Date, start.Offset);
        double Value(int n) => 10 + n % 70 + (n % 7) * 0.1;
        var lines = new List<string>(values);
        await using (var writer = new StreamWriter(csv, false, new UTF8Encoding(false), 1 << 20))
        {
            await writer.WriteLineAsync("station,time,parameter,value,flag,unit,period");
            for (var n = 0; n < values; n++)
            {
                var t = start.AddMinutes(n / stations);
                writer.Write(ids[n % stations]);
                writer.Write(',');
                writer.Write(t.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture));
                writer.Write(",pm25,");
                writer.Write(Value(n).ToString(CultureInfo.InvariantCulture));
                writer.Write(",N,,\n");
                lines.Add(string.Create(CultureInfo.InvariantCulture, $"reading,station={ids[n % stations]},parameter=pm25 value={Value(n)},flag=\"N\" {t.ToUnixTimeMilliseconds()}"));
            }
        }
        Console.WriteLine($"7. import: {values} values ({new FileInfo(csv).Length / 1_000_000.0:0.0} MB CSV, {stations} stations), batches of {batch}");

        // Reference: the same points straight to /write.
        using var http = new HttpClient { BaseAddress = new Uri(influxUrl), Timeout = TimeSpan.FromMinutes(5) };
        (await http.PostAsync("query", new FormUrlEncodedContent(new Dictionary<string, string> { ["q"] = $"CREATE DATABASE \"{reference}\"" }))).EnsureSuccessStatusCode();
        var clock = Stopwatch.StartNew();
        foreach (var chunk in lines.Chunk(batch))
            (await http.PostAsync($"write?db={reference}&precision=ms", new StringContent(string.Join('\n', chunk), Encoding.UTF8))).EnsureSuccessStatusCode();
        var direct = values / clock.Elapsed.TotalSeconds;
        lines.Clear();

        await using var broker = await Broker.StartAsync(tcpNoDelay: true);
        const string key = "bench-operator-key-0000001";
        var app = InProcessService.Build(broker.Port, database, influxUrl, database, stationsFile, new Dictionary<string, string?>
        {
            ["Api:Keys:0:Name"] = "bench",
            ["Api:Keys:0:Key"] = key,
            ["Api:Keys:0:Role"] = "Operator",
        });
        await app.StartAsync();
        try
        {
            var grpc = app.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>()
                .Features.Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()!.Addresses.Skip(1).First();
            var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in new[] { LocateCli(), "import", csv, "--json", "--batch", batch.ToString(CultureInfo.InvariantCulture), "--server", grpc, "--key", key })
                info.ArgumentList.Add(a);
            clock.Restart();
            using var cli = Process.Start(info)!;
            var stdout = cli.StandardOutput.ReadToEndAsync();
            var stderr = cli.StandardError.ReadToEndAsync();
            await cli.WaitForExitAsync();
            var wall = clock.Elapsed.TotalSeconds;
            if (cli.ExitCode != 0) throw new InvalidOperationException($"ecomon import failed ({cli.ExitCode}): {await stderr}");
            var summary = JsonDocument.Parse(await stdout).RootElement;
            var stored = summary.GetProperty("valuesStored").GetInt64();
            var rollupWait = summary.GetProperty("rollupWaitSeconds").GetDouble();
            var importRate = stored / (wall - rollupWait);
            var rate = stored / wall;
            Console.WriteLine($"   direct /write (reference):               {direct,10:0} values/s");
            Console.WriteLine($"   ecomon import, until the last batch:     {importRate,10:0} values/s  ({stored} stored, {summary.GetProperty("linesRejected").GetInt64()} rejected, {wall - rollupWait:0.0} s incl. the CLI's start)");
            Console.WriteLine($"   ecomon import, until rollups current:    {rate,10:0} values/s  ({summary.GetProperty("hoursMarked").GetInt64()} station-hours; rollups current {rollupWait:0.0} s after the last batch: {summary.GetProperty("rollupsCurrent").GetBoolean()})");
            Console.WriteLine($"   import until the last batch / direct:    {importRate / direct,10:0.00}");
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
            using var influx = new InfluxConnection(Microsoft.Extensions.Options.Options.Create(new InfluxSettings { Url = new Uri(influxUrl), Database = database }));
            await influx.QueryAsync($"DROP DATABASE \"{database}\"", post: true);
            await influx.QueryAsync($"DROP DATABASE \"{reference}\"", post: true);
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>ecomon.dll in the repository's Release build output.</summary>
    static string LocateCli()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "src", "EcoMonitor.Cli", "bin", "Release", "net10.0", "ecomon.dll");
            if (File.Exists(candidate)) return candidate;
        }
        throw new FileNotFoundException("ecomon.dll not found: build the CLI (dotnet build src/EcoMonitor.Cli -c Release)");
    }
}
