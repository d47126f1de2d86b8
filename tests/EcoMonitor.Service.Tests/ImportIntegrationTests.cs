using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using EcoMonitor.Api.V1;
using EcoMonitor.Cli;
using EcoMonitor.Domain;
using EcoMonitor.Service.Tests.Support;
using Grpc.Core;
using Microsoft.Extensions.Options;

namespace EcoMonitor.Service.Tests;

/// <summary>`ecomon import` (CSV and HJ 212 logs) through the real service, broker and InfluxDB: what is stored, what
/// is rejected and why, the rollups of the imported days, idempotence, resuming after an interruption (a stop and a
/// killed process), the operator role. Imported days lie 200 days back: beyond Ingestion:MaxAge (30 days), within
/// Import:MaxAge.</summary>
[Trait("Category", "Integration")]
public sealed class ImportIntegrationTests
{
    static readonly TimeSpan China = TimeSpan.FromHours(8);

    /// <summary>Local midnight <paramref name="daysAgo"/> days before today (China time).</summary>
    static DateTimeOffset LocalDay(int daysAgo) => ChinaTime.StartOf(ChinaTime.DateOf(DateTimeOffset.UtcNow).AddDays(-daysAgo));

    static string Csv(DateTimeOffset t) => t.ToOffset(China).ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture);

    static string Hj(DateTimeOffset t) => t.ToOffset(China).ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture);

    /// <summary>An HJ 212 frame as a log line (without its CR LF).</summary>
    static string Frame(string cn, DateTimeOffset time, string cp, string mn = "AIR0001", string pw = "123456") =>
        Hj212TestFrames.Frame($"QN={Hj(time)}000;ST=22;CN={cn};PW={pw};MN={mn};Flag=4;CP=&&DataTime={Hj(time)};{cp}&&").TrimEnd('\r', '\n');

    static string TempFile(string name, string content)
    {
        var path = Path.Combine(Path.GetTempPath(), TestInfrastructure.UniqueName("import") + "-" + name);
        File.WriteAllText(path, content);
        return path;
    }

    static void Cleanup(string path)
    {
        foreach (var f in new[] { path, path + ".rejected", path + ".ecomon-import", path + ".ecomon-import.tmp" }) File.Delete(f);
    }

    static async Task<(int Code, string Out, string Err)> Import(ServiceUnderTest service, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = await Ecomon.RunAsync(["import", .. args, "--server", service.GrpcAddress.ToString(), "--key", ServiceUnderTest.OperatorKey], output, error);
        return (code, output.ToString(), error.ToString());
    }

    static async Task<List<IReadOnlyDictionary<string, JsonElement>>> Rows(ServiceUnderTest service, string query)
    {
        using var influx = TestInfrastructure.Influx(service.Database);
        return [.. (await influx.QueryAsync(query)).SelectMany(s => s.Rows())];
    }

    static async Task<long> Count(ServiceUnderTest service, string measurement, string field)
    {
        var rows = await Rows(service, $"SELECT count(\"{field}\") FROM \"{measurement}\"");
        return rows.Count == 0 ? 0 : rows[0]["count"].GetInt64();
    }

    /// <summary>The rejected-lines file as (line, reason, parameter, original line), with each detail.</summary>
    static List<(long Line, string Reason, string Parameter, string Original, string Detail)> RejectedLines(string path) =>
        [.. File.ReadAllLines(path).Select(l => l.Split('\t', 5)).Select(f => (long.Parse(f[0], CultureInfo.InvariantCulture), f[1], f[2], f[4], f[3]))];

    [Fact]
    public async Task Csv_rows_are_validated_like_live_data_the_good_ones_stored_the_bad_ones_listed_with_their_reason()
    {
        await using var service = new ServiceUnderTest();
        await service.StartAsync();
        var day = LocalDay(200);
        var h8 = day.AddHours(8);
        var lines = new List<string>
        {
            "station,time,parameter,value,flag,unit,period",                            // 1 header
            $"air-2,{Csv(h8)},pm25,30",                                                 // 2 reading
            $"air-2,{Csv(h8.AddMinutes(1))},pm25,0.035,,mg/m3",                         // 3 35 µg/m³
            $"air-2,{Csv(h8.AddMinutes(2))},pm25,40,D",                                 // 4 stored with its flag
            $"air-2,{h8.AddMinutes(3).ToUniversalTime():yyyy-MM-ddTHH:mm:ss}Z,pm25,50", // 5 zoned (UTC)
            $"air-3,{Csv(day.AddHours(10))},pm10,77,N,,hour",                           // 6 the station's hourly value
            "",                                                                         // 7 blank
            $"air-9,{Csv(h8)},pm25,30",                                                 // 8 unknown station
            $"air-2,{Csv(h8.AddMinutes(4))},pm25,abc",                                  // 9 bad number
            $"air-2,{Csv(h8.AddMinutes(5))},pm25,5000",                                 // 10 out of range (0..1000)
            $"air-2,{Csv(h8.AddMinutes(6))},pm99,30",                                   // 11 unknown parameter
            $"air-2,{day:yyyy-MM-dd} 25:00,pm25,30",                                    // 12 bad time
            $"air-2,{Csv(LocalDay(6 * 366))},pm25,30",                                  // 13 older than Import:MaxAge
            $"air-2,{Csv(LocalDay(-2))},pm25,30",                                       // 14 in the future
            $"air-3,{Csv(day.AddHours(10).AddMinutes(30))},pm10,77,N,,hour",            // 15 not an hour's start
            "air-2,only,three",                                                         // 16 too few fields
            $"air-2,{Csv(h8.AddMinutes(7))},nmhc,3",                                    // 17 a VOC parameter at an air station
            $"air-2,{Csv(h8.AddMinutes(8))},pm25,-4",                                   // 18 negative
        };
        var file = TempFile("history.csv", string.Join("\r\n", lines) + "\r\n");
        try
        {
            var (code, output, error) = await Import(service, file, "--json");
            Assert.True(code == 0, error);
            var summary = JsonDocument.Parse(output).RootElement;
            Assert.Equal(16, summary.GetProperty("rows").GetInt64()); // 18 lines less the header and the blank
            Assert.Equal(5, summary.GetProperty("valuesStored").GetInt64());
            Assert.Equal(1, summary.GetProperty("statisticsStored").GetInt64());
            Assert.Equal(11, summary.GetProperty("linesRejected").GetInt64());
            Assert.True(summary.GetProperty("rollupsCurrent").GetBoolean());
            var byReason = summary.GetProperty("rejected").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt64());
            Assert.Equal(new Dictionary<string, long>
            {
                ["unknown_station"] = 1, ["invalid_value"] = 1, ["out_of_range"] = 1, ["unknown_parameter"] = 1, ["invalid_timestamp"] = 2,
                ["timestamp_too_old"] = 1, ["timestamp_in_future"] = 1, ["invalid_structure"] = 1, ["parameter_not_for_station_kind"] = 1, ["negative_value"] = 1,
            }, byReason);

            var stored = (await Rows(service, "SELECT \"value\", \"flag\" FROM \"reading\" WHERE \"station\" = 'air-2' ORDER BY time"))
                .Select(r => (DateTimeOffset.FromUnixTimeMilliseconds(r["time"].GetInt64()), r["value"].GetDouble(), r["flag"].GetString())).ToList();
            Assert.Equal([(h8, 30.0, "N"), (h8.AddMinutes(1), 35.0, "N"), (h8.AddMinutes(2), 40.0, "D"), (h8.AddMinutes(3), 50.0, "N")], stored);
            Assert.Equal(4, await Count(service, "reading", "value"));
            var stat = Assert.Single(await Rows(service, "SELECT \"avg\", \"flag\", \"period\" FROM \"stat\" WHERE \"station\" = 'air-3'"));
            Assert.Equal((day.AddHours(10), 77.0, "hour"), (DateTimeOffset.FromUnixTimeMilliseconds(stat["time"].GetInt64()), stat["avg"].GetDouble(), stat["period"].GetString()));

            var rejected = RejectedLines(file + ".rejected");
            Assert.Equal(
            [
                (8, "unknown_station", "", lines[7]), (9, "invalid_value", "pm25", lines[8]), (10, "out_of_range", "pm25", lines[9]),
                (11, "unknown_parameter", "pm99", lines[10]), (12, "invalid_timestamp", "", lines[11]), (13, "timestamp_too_old", "", lines[12]),
                (14, "timestamp_in_future", "", lines[13]), (15, "invalid_timestamp", "", lines[14]), (16, "invalid_structure", "", lines[15]),
                (17, "parameter_not_for_station_kind", "nmhc", lines[16]), (18, "negative_value", "pm25", lines[17]),
            ], rejected.Select(r => (r.Line, r.Reason, r.Parameter, r.Original)).ToList());
            Assert.Contains("Import:MaxAge", rejected.Single(r => r.Line == 13).Detail);
            Assert.Contains("is not the start of an hour", rejected.Single(r => r.Line == 15).Detail);
            Assert.False(File.Exists(file + ".ecomon-import")); // done: no resume state left behind

            // Rollups: 08:00 has four minutes (30, 35, 50 valid; 40 flagged D stays out of means), 10:00 is the station's.
            var hours = (await Rows(service, "SELECT \"minutes\", \"mean\", \"source\", \"station\" FROM \"reading_1h\" GROUP BY \"station\", \"parameter\""))
                .ToDictionary(r => (r["station"].GetString(), DateTimeOffset.FromUnixTimeMilliseconds(r["time"].GetInt64())));
            Assert.Equal((3, (30 + 35 + 50) / 3.0, "minutes"), (hours[("air-2", h8)]["minutes"].GetInt32(), hours[("air-2", h8)]["mean"].GetDouble(), hours[("air-2", h8)]["source"].GetString()));
            var hourly = hours[("air-3", day.AddHours(10))];
            Assert.Equal((60, 77.0, "station"), (hourly["minutes"].GetInt32(), hourly["mean"].GetDouble(), hourly["source"].GetString()));
        }
        finally
        {
            Cleanup(file);
        }
    }

    [Fact]
    public async Task An_hj212_log_is_stored_with_its_hourly_frames_as_station_hours_its_days_rolled_up_and_importing_it_twice_changes_nothing()
    {
        await using var service = new ServiceUnderTest();
        await service.StartAsync();
        var day = LocalDay(200);
        var lines = new List<string>();
        // pm10 real-time values each minute: 08:00-08:44 cycling 20, 25, 30 (mean 25); 09:00-09:44 at 40.
        for (var m = 0; m < 45; m++) lines.Add(Frame("2011", day.AddHours(8).AddMinutes(m), $"a34002-Rtd={20 + m % 3 * 5},a34002-Flag=N"));
        for (var m = 0; m < 45; m++) lines.Add(Frame("2011", day.AddHours(9).AddMinutes(m), "a34002-Rtd=40,a34002-Flag=N"));
        lines.Add(Frame("2061", day.AddHours(10), "a34004-Avg=41,a34004-Min=30,a34004-Max=52,a34004-Flag=N"));   // 91
        lines.Add(Frame("9015", day.AddHours(10), "Heartbeat=1"));                                               // 92 not data
        lines.Add(Frame("2011", day.AddHours(11), "a34002-Rtd=40", mn: "NOPE0001"));                            // 93 unknown device
        lines.Add(Frame("2011", day.AddHours(11), "a34002-Rtd=40", pw: "999999"));                              // 94 wrong password
        var good = Frame("2011", day.AddHours(11), "a34002-Rtd=40");
        lines.Add(good[..^4] + (good[^4..] == "0000" ? "0001" : "0000"));                                       // 95 wrong CRC
        lines.Add("garbage");                                                                                    // 96
        var file = TempFile("datalogger.log", string.Join("\n", lines) + "\n");
        try
        {
            var (code, output, error) = await Import(service, file, "--json", "--batch", "25");
            Assert.True(code == 0, error);
            var summary = JsonDocument.Parse(output).RootElement;
            Assert.Equal((96L, 91L, 1L, 4L), (summary.GetProperty("rows").GetInt64(), summary.GetProperty("valuesStored").GetInt64(),
                summary.GetProperty("statisticsStored").GetInt64(), summary.GetProperty("linesRejected").GetInt64()));
            Assert.True(summary.GetProperty("rollupsCurrent").GetBoolean());
            Assert.Equal([(93L, "unknown_device"), (94L, "wrong_password"), (95L, "bad_frame"), (96L, "bad_frame")],
                RejectedLines(file + ".rejected").Select(r => (r.Line, r.Reason)).ToList());
            Assert.Equal(lines[94], RejectedLines(file + ".rejected")[2].Original);

            var station = (await Rows(service, "SELECT \"minutes\", \"mean\", \"source\" FROM \"reading_1h\" WHERE \"parameter\" = 'pm25' AND \"station\" = 'air-1'")).Single();
            Assert.Equal((day.AddHours(10), 60, 41.0, "station"),
                (DateTimeOffset.FromUnixTimeMilliseconds(station["time"].GetInt64()), station["minutes"].GetInt32(), station["mean"].GetDouble(), station["source"].GetString()));
            var pm10 = (await Rows(service, "SELECT \"minutes\", \"mean\" FROM \"reading_1h\" WHERE \"parameter\" = 'pm10' AND \"station\" = 'air-1'"))
                .Select(r => (DateTimeOffset.FromUnixTimeMilliseconds(r["time"].GetInt64()), r["minutes"].GetInt32(), r["mean"].GetDouble())).ToList();
            Assert.Equal([(day.AddHours(8), 45, 25.0), (day.AddHours(9), 45, 40.0)], pm10);
            var daily = (await Rows(service, "SELECT \"hours\", \"mean\", \"min\", \"max\" FROM \"reading_1d\" WHERE \"parameter\" = 'pm10' AND \"station\" = 'air-1'")).Single();
            Assert.Equal((day, 2L, 32.5, 25.0, 40.0), (DateTimeOffset.FromUnixTimeMilliseconds(daily["time"].GetInt64()), daily["hours"].GetInt64(),
                daily["mean"].GetDouble(), daily["min"].GetDouble(), daily["max"].GetDouble()));

            async Task<long[]> Counts() =>
            [
                await Count(service, "reading", "value"), await Count(service, "stat", "avg"),
                await Count(service, "reading_1h", "minutes"), await Count(service, "reading_1d", "hours"),
            ];
            var before = await Counts();
            Assert.Equal([90L, 1L, 3L, 2L], before);
            var (again, secondOutput, secondError) = await Import(service, file, "--json", "--batch", "25");
            Assert.True(again == 0, secondError);
            Assert.Equal(91, JsonDocument.Parse(secondOutput).RootElement.GetProperty("valuesStored").GetInt64());
            Assert.Equal(before, await Counts());
            Assert.Equal(4, RejectedLines(file + ".rejected").Count); // written afresh, not appended
        }
        finally
        {
            Cleanup(file);
        }
    }

    [Fact]
    public async Task An_interrupted_import_resumes_where_it_stopped_and_stores_every_value_and_lists_every_rejection_once()
    {
        await using var service = new ServiceUnderTest();
        await service.StartAsync();
        var start = LocalDay(150);
        // 20 000 minute values of air-2 pm25 at 1..50 after a header; every 500th row names an unknown parameter.
        const int rows = 20_000;
        var text = new StringBuilder("station,time,parameter,value\n");
        for (var i = 0; i < rows; i++)
            text.Append(CultureInfo.InvariantCulture, $"air-2,{Csv(start.AddMinutes(i))},{(i % 500 == 499 ? "pm99" : "pm25")},{1 + i % 50}\n");
        var file = TempFile("long.csv", text.ToString());
        var state = file + ".ecomon-import";
        try
        {
            // 1. Stopped after 5 stored batches (the hook behaves like Ctrl-C): line 501 is next (5 x 100 lines, the header among them).
            var (code, _, error) = await Import(service, file, "--batch", "100", "--stop-after", "5");
            Assert.True(code == ImportCommand.Interrupted, error);
            Assert.Contains("run the same command again to resume at line 501", error);
            Assert.Equal(501, JsonDocument.Parse(File.ReadAllText(state)).RootElement.GetProperty("NextLine").GetInt64());
            // A crash between writing rejections and saving the state: the resumed import cuts the file back.
            File.AppendAllText(file + ".rejected", "600\tunknown_parameter\tpm99\tleft by a crash\tx\n");

            // 2. Resumed by a real process, killed (SIGKILL) once it has stored more.
            // The CLI's own build output (its deps.json is its own; the test folder's assemblies are other versions).
            var serviceDir = new DirectoryInfo(ServiceProcess.ServiceDirectory());
            var cli = Path.Combine(ChildProcesses.RepoRoot(), "src", "EcoMonitor.Cli", "bin", serviceDir.Parent!.Name, serviceDir.Name, "ecomon.dll");
            var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in new[] { cli, "import", file, "--batch", "50", "--server", service.GrpcAddress.ToString(), "--key", ServiceUnderTest.OperatorKey })
                info.ArgumentList.Add(a);
            using (var process = Process.Start(info)!)
            {
                ChildProcesses.Track(process);
                long Next()
                {
                    try
                    {
                        return JsonDocument.Parse(File.ReadAllText(state)).RootElement.GetProperty("NextLine").GetInt64();
                    }
                    catch (Exception e) when (e is IOException or JsonException)
                    {
                        return 0;
                    }
                }
                await TestInfrastructure.EventuallyAsync(() => process.HasExited || Next() > 501, TimeSpan.FromSeconds(60), "the resumed import stored a batch");
                ChildProcesses.Signal(process.Id, "KILL");
                await process.WaitForExitAsync();
                ChildProcesses.Untrack(process);
            }
            Assert.True(File.Exists(state), "the import ended before it was killed");
            var killedAt = JsonDocument.Parse(File.ReadAllText(state)).RootElement.GetProperty("NextLine").GetInt64();
            Assert.InRange(killedAt, 502, rows); // killed part-way (the state is gone once a file is done)

            // 3. Resumed to the end.
            var (last, output, lastError) = await Import(service, file, "--json");
            Assert.True(last == 0, lastError);
            Assert.Contains($"resuming {Path.GetFileName(file)} at line {killedAt}", lastError);
            var summary = JsonDocument.Parse(output).RootElement;
            Assert.Equal((20_000L, 19_960L, 40L, 3), (summary.GetProperty("rows").GetInt64(), summary.GetProperty("valuesStored").GetInt64(),
                summary.GetProperty("linesRejected").GetInt64(), summary.GetProperty("sessions").GetInt32()));
            Assert.Equal(19_960, await Count(service, "reading", "value"));
            var rejected = RejectedLines(file + ".rejected");
            // Row i is on line i + 2: rows 499, 999, ... are lines 501, 1001, ...
            Assert.Equal(Enumerable.Range(1, 40).Select(k => (long)(k * 500 + 1)).ToList(), rejected.Select(r => r.Line).ToList());
            Assert.All(rejected, r => Assert.Equal(("unknown_parameter", "pm99"), (r.Reason, r.Parameter)));
            Assert.False(File.Exists(state));
        }
        finally
        {
            Cleanup(file);
        }
    }

    [Fact]
    public async Task A_spreadsheet_bom_is_no_field_binary_files_and_folders_are_refused_and_an_import_stopped_after_its_last_batch_resumes_to_its_summary()
    {
        await using var service = new ServiceUnderTest();
        await service.StartAsync();
        var day = LocalDay(150);
        // A spreadsheet's "CSV UTF-8": a byte order mark before the header. Hourly means 30, 40, 50 at 08..10, then a
        // row with an unknown parameter: lines 1 (header) .. 5, three batches of 2, 2 and 1 lines.
        var file = TempFile("bom.csv", "\uFEFFstation,time,parameter,value,flag,unit,period\n"
            + $"air-2,{Csv(day.AddHours(8))},pm25,30,,,hour\nair-2,{Csv(day.AddHours(9))},pm25,40,,,hour\n"
            + $"air-2,{Csv(day.AddHours(10))},pm25,50,,,hour\nair-2,{Csv(day.AddHours(11))},pm99,1,,,hour\n");
        Assert.Equal([0xEF, 0xBB, 0xBF], File.ReadAllBytes(file)[..3]);
        var binary = TempFile("binary.csv", "air-2,2026-01-01 00:00,pm25,1\n\0\0\0\n");
        var folder = Path.Combine(Path.GetTempPath(), TestInfrastructure.UniqueName("import") + "-folder.csv");
        Directory.CreateDirectory(folder);
        try
        {
            var (code, _, error) = await Import(service, binary);
            Assert.Equal((1, $"error: {binary}: NUL bytes in its first 64 KB: a binary file or UTF-16 text, not a UTF-8 CSV or HJ 212 log\n"), (code, error.ReplaceLineEndings("\n")));
            Assert.False(File.Exists(binary + ".rejected"));
            (code, _, error) = await Import(service, folder);
            Assert.Equal((1, $"error: {folder}: a directory, not a file\n"), (code, error.ReplaceLineEndings("\n")));
            Assert.Equal(0, await Count(service, "stat", "avg"));

            // Stopped right after the service stored the last batch, before its final answer (the rollup wait).
            (code, _, error) = await Import(service, file, "--batch", "2", "--stop-after", "3");
            Assert.True(code == ImportCommand.Interrupted, error);
            Assert.Contains("run the same command again to resume at line 6", error);
            Assert.Equal([(5L, "unknown_parameter", "pm99")], RejectedLines(file + ".rejected").Select(r => (r.Line, r.Reason, r.Parameter)).ToList());

            // Run again: nothing left to send; the summary covers both runs, and once it is printed the hours are rolled up.
            var (last, output, lastError) = await Import(service, file, "--json");
            Assert.True(last == 0, lastError);
            Assert.Contains($"resuming {Path.GetFileName(file)} at line 6 (3 values stored before)", lastError);
            Assert.Contains("all lines stored; waiting for the service to bring the imported days' rollups up to date", lastError);
            var summary = JsonDocument.Parse(output).RootElement;
            Assert.Equal((4L, 3L, 3L, 1L, 2, true), (summary.GetProperty("rows").GetInt64(), summary.GetProperty("valuesStored").GetInt64(),
                summary.GetProperty("statisticsStored").GetInt64(), summary.GetProperty("linesRejected").GetInt64(),
                summary.GetProperty("sessions").GetInt32(), summary.GetProperty("rollupsCurrent").GetBoolean()));
            Assert.False(summary.GetProperty("rejected").TryGetProperty("invalid_station_id", out _)); // the header was no row
            Assert.Single(RejectedLines(file + ".rejected")); // not listed twice
            var hours = (await Rows(service, "SELECT \"mean\", \"source\" FROM \"reading_1h\" WHERE \"parameter\" = 'pm25' AND \"station\" = 'air-2'"))
                .Select(r => (DateTimeOffset.FromUnixTimeMilliseconds(r["time"].GetInt64()), r["mean"].GetDouble(), r["source"].GetString())).ToList();
            Assert.Equal([(day.AddHours(8), 30.0, "station"), (day.AddHours(9), 40.0, "station"), (day.AddHours(10), 50.0, "station")], hours);
        }
        finally
        {
            Cleanup(file);
            Cleanup(binary);
            Directory.Delete(folder);
        }
    }

    [Fact]
    public async Task A_file_edited_beyond_its_first_megabyte_before_the_resume_point_is_not_resumed()
    {
        await using var service = new ServiceUnderTest();
        await service.StartAsync();
        // 20 000 comment lines of 100 bytes (2 MB), then 10 rows: the first 11 batches of 1000 lines end at byte 1 100 000.
        // The rows are in batch 21, beyond the batches the CLI may have in flight (4) when it stops after the 11th:
        // none of them can have been sent, so the refused resume is seen to store nothing.
        var text = new StringBuilder();
        for (var i = 0; i < 20_000; i++) text.Append('#').Append('x', 98).Append('\n');
        for (var i = 0; i < 10; i++) text.Append(CultureInfo.InvariantCulture, $"air-2,{Csv(LocalDay(150).AddHours(i))},pm25,{10 + i},,,hour\n");
        var file = TempFile("edited.csv", text.ToString());
        try
        {
            var (code, _, error) = await Import(service, file, "--batch", "1000", "--stop-after", "11");
            Assert.True(code == ImportCommand.Interrupted, error);
            Assert.Contains("resume at line 11001", error);

            // Line 10 901 (bytes 1 090 000 .. 1 090 099, past the first megabyte) edited in place: same size, same head.
            using (var stream = new FileStream(file, FileMode.Open, FileAccess.Write))
            {
                stream.Seek(1_090_000 + 1, SeekOrigin.Begin);
                stream.WriteByte((byte)'y');
            }
            (code, _, error) = await Import(service, file);
            Assert.Equal(1, code);
            Assert.Contains($"belongs to another version of {Path.GetFileName(file)}", error);
            Assert.Equal(0, await Count(service, "stat", "avg"));

            // --restart imports it from the first line.
            (code, _, error) = await Import(service, file, "--restart");
            Assert.True(code == 0, error);
            Assert.Equal(10, await Count(service, "stat", "avg"));
        }
        finally
        {
            Cleanup(file);
        }
    }

    [Fact]
    public async Task Only_an_operator_may_import_and_an_unknown_time_zone_is_refused()
    {
        await using var service = new ServiceUnderTest();
        await service.StartAsync();
        var file = TempFile("reader.csv", $"air-2,{Csv(LocalDay(10))},pm25,30\n");
        try
        {
            var output = new StringWriter();
            var error = new StringWriter();
            var code = await Ecomon.RunAsync(["import", file, "--server", service.GrpcAddress.ToString(), "--key", ServiceUnderTest.ReaderKey], output, error);
            Assert.Equal(1, code);
            Assert.Contains("PermissionDenied", error.ToString());
            Assert.Contains("needs the operator role", error.ToString());
            var client = new ImportService.ImportServiceClient(Seed.Channel(service));
            using var call = client.Import(Seed.Key(ServiceUnderTest.DutyKey));
            var e = await Assert.ThrowsAsync<RpcException>(async () =>
            {
                await call.RequestStream.WriteAsync(new ImportBatch { Format = ImportFormat.Csv, FirstLine = 1, Lines = { Google.Protobuf.ByteString.CopyFromUtf8($"air-2,{Csv(LocalDay(10))},pm25,30") } });
                await call.ResponseStream.MoveNext(CancellationToken.None);
            });
            Assert.Equal(StatusCode.PermissionDenied, e.StatusCode);
            Assert.Equal(0, await Count(service, "reading", "value"));

            // An operator with a time zone the service does not know: refused before anything is stored.
            var (zoneCode, _, zoneError) = await Import(service, file, "--time-zone", "Mars/Olympus_Mons");
            Assert.Equal(1, zoneCode);
            Assert.Contains("InvalidArgument", zoneError);
            Assert.Contains("time_zone: time zone 'Mars/Olympus_Mons' is not known", zoneError);
            Assert.Equal(0, await Count(service, "reading", "value"));
        }
        finally
        {
            Cleanup(file);
        }
    }

    [Fact]
    public async Task Import_MaxAge_is_validated_at_start()
    {
        await using var service = new ServiceUnderTest(new() { ["Import:MaxAge"] = "-1.00:00:00" });
        var e = await Assert.ThrowsAsync<OptionsValidationException>(service.StartAsync);
        Assert.Contains("Import:MaxAge must be positive", e.Message);
    }
}
