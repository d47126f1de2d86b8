using System.CommandLine;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using EcoMonitor.Api.V1;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;

namespace EcoMonitor.Cli;

/// <summary>`ecomon import FILE...`: historical data from CSV or HJ 212 logs into the service (ImportService, operator
/// role). The file is read in batches of lines; up to <see cref="Window"/> batches are in flight, each answered once
/// it is stored; after every answer the rejected lines are appended to FILE.rejected and the progress is saved in
/// FILE.ecomon-import (<see cref="ImportState"/>), so an interrupted import (Ctrl-C, kill, a lost connection) resumes
/// after the last stored batch when run again. Importing a file again stores the same points again (overwrites):
/// nothing is stored twice.</summary>
static class ImportCommand
{
    /// <summary>Batches sent and not yet answered: enough to keep the service busy while an answer travels back.</summary>
    const int Window = 4;

    /// <summary>A batch is also cut at this many bytes (the service takes messages up to 16 MB).</summary>
    const int MaxBatchBytes = 4 * 1024 * 1024;

    /// <summary>Exit code of an interrupted import (as a shell reports a command ended by SIGINT).</summary>
    public const int Interrupted = 130;

    public static Command Build(TextWriter output)
    {
        var files = new Argument<FileInfo[]>("file") { Description = "CSV or HJ 212 log file(s)", Arity = ArgumentArity.OneOrMore };
        var format = new Option<string?>("--format") { Description = "csv | hj212 (by extension: .csv is csv; .log, .txt, .hj212 are hj212)" };
        var zone = new Option<string>("--time-zone") { Description = "IANA time zone of CSV times without an offset", DefaultValueFactory = _ => "Asia/Shanghai" };
        var rejected = new Option<FileInfo?>("--rejected") { Description = "file of the rejected lines (FILE.rejected)" };
        var state = new Option<FileInfo?>("--state") { Description = "progress file for resuming (FILE.ecomon-import)" };
        var batch = new Option<int>("--batch") { Description = "lines per batch", DefaultValueFactory = _ => 5000 };
        var resume = new Option<bool>("--resume") { Description = "continue an interrupted import (fails when there is none); without it, a matching progress file is resumed too" };
        var restart = new Option<bool>("--restart") { Description = "ignore a progress file and import from the first line" };
        var stopAfter = new Option<int>("--stop-after") { Description = "stop as if interrupted after this many stored batches (tests)", Hidden = true };
        var command = new Command("import", "import historical data (CSV or HJ 212 log) through the service's validation; operator key")
        {
            files, format, zone, rejected, state, batch, resume, restart, stopAfter,
        };
        command.SetAction(async (p, ct) =>
        {
            var paths = p.GetValue(files)!;
            if (paths.Length > 1 && (p.GetValue(rejected) is not null || p.GetValue(state) is not null))
                return Fail(p, "--rejected and --state name one file's outputs: give one file with them");
            if (p.GetValue(batch) is < 1 or > 20_000) return Fail(p, $"--batch must be within 1..20000 (got {p.GetValue(batch)})");
            if (p.GetValue(resume) && p.GetValue(restart)) return Fail(p, "--resume and --restart exclude each other");
            foreach (var file in paths)
            {
                var options = new Options(file.FullName, p.GetValue(format), p.GetValue(zone)!, p.GetValue(rejected)?.FullName ?? file.FullName + ".rejected",
                    p.GetValue(state)?.FullName ?? file.FullName + ".ecomon-import", p.GetValue(batch), p.GetValue(resume), p.GetValue(restart), p.GetValue(stopAfter));
                int code;
                try
                {
                    code = await ImportFileAsync(p, options, output, ct);
                }
                catch (Exception e) when (e is IOException or InvalidDataException or InvalidOperationException or UnauthorizedAccessException)
                {
                    code = Fail(p, $"{file.Name}: {e.Message}");
                }
                if (code != 0) return code;
            }
            return 0;
        });
        return command;
    }

    sealed record Options(string File, string? Format, string TimeZone, string Rejected, string State, int Batch, bool Resume, bool Restart, int StopAfter);

    static int Fail(ParseResult p, string message)
    {
        p.InvocationConfiguration.Error.WriteLine($"error: {message}");
        return 1;
    }

    static ImportFormat FormatOf(string file, string? format) => (format?.ToLowerInvariant() ?? Path.GetExtension(file).ToLowerInvariant()) switch
    {
        "csv" or ".csv" => ImportFormat.Csv,
        "hj212" or ".log" or ".txt" or ".hj212" => ImportFormat.Hj212,
        _ when format is not null => throw new RpcException(new Status(StatusCode.InvalidArgument, $"--format: '{format}' is not csv or hj212")),
        _ => throw new RpcException(new Status(StatusCode.InvalidArgument, $"{file}: the extension does not tell the format; give --format csv or --format hj212")),
    };

    /// <summary>A NUL byte in the first 64 KB: no CSV or HJ 212 log (text, UTF-8 or GBK) has one; importing it would
    /// only fill the rejected-lines file with garbage.</summary>
    static bool LooksBinary(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        var head = new byte[64 * 1024];
        var n = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        return head.AsSpan(0, n).Contains((byte)0);
    }

    sealed record Pending(long FirstLine, List<byte[]> Lines, long EndOffset);

    static async Task<int> ImportFileAsync(ParseResult p, Options o, TextWriter output, CancellationToken ct)
    {
        var error = p.InvocationConfiguration.Error;
        if (Directory.Exists(o.File)) return Fail(p, $"{o.File}: a directory, not a file");
        if (!File.Exists(o.File)) return Fail(p, $"{o.File}: no such file");
        if (LooksBinary(o.File)) return Fail(p, $"{o.File}: NUL bytes in its first 64 KB: a binary file or UTF-16 text, not a UTF-8 CSV or HJ 212 log");
        var format = FormatOf(o.File, o.Format);
        var formatName = format == ImportFormat.Csv ? "csv" : "hj212";
        var (size, head) = ImportState.Fingerprint(o.File);
        var state = o.Restart ? null : ImportState.Load(o.State);
        if (state is not null && (state.Size != size || state.HeadSha256 != head || state.Format != formatName || state.TimeZone != o.TimeZone
                || (state.ResumeSha256.Length > 0 && state.ResumeSha256 != ImportState.ResumeFingerprint(o.File, state.NextOffset))))
            return Fail(p, $"{o.State} belongs to another version of {Path.GetFileName(o.File)} or other options (size, first megabyte, the lines before the resume point, format or time zone differ); pass --restart to import from the first line");
        if (state is null && o.Resume) return Fail(p, $"nothing to resume: {o.State} does not exist");
        var resuming = state is not null;
        state ??= new ImportState { File = o.File, Size = size, HeadSha256 = head, Format = formatName, TimeZone = o.TimeZone };
        state.Sessions++;

        // The rejected-lines file: cut back to what acknowledged batches wrote (resume), or started afresh.
        if (resuming && File.Exists(o.Rejected))
        {
            using var cut = new FileStream(o.Rejected, FileMode.Open, FileAccess.Write);
            if (cut.Length > state.RejectedBytes) cut.SetLength(state.RejectedBytes);
        }
        else if (!resuming) File.Delete(o.Rejected);
        if (resuming) error.WriteLine($"resuming {Path.GetFileName(o.File)} at line {state.NextLine} ({state.ValuesStored} values stored before)");

        using var interrupt = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var progress = new Progress(error, ReferenceEquals(error, Console.Error) && !Console.IsErrorRedirected, size);
        var clock = Stopwatch.StartNew();
        var elapsedBefore = state.ElapsedSeconds;
        long sessionValues = 0;
        FileStream? rejectedFile = null;
        var pending = new Queue<Pending>();
        using var slots = new SemaphoreSlim(Window);
        var client = new ImportService.ImportServiceClient(GrpcChannel.ForAddress(Ecomon.ServerUri(p)));
        var acknowledged = 0;
        ImportDone? done = null;
        TimeSpan lastAnswer = default, rollupWait = default;
        try
        {
            using var call = client.Import(Ecomon.Headers(p), cancellationToken: interrupt.Token);
            var sender = SendAsync(call.RequestStream, o, format, state.NextLine, state.NextOffset, pending, slots, interrupt);
            // The service answers the end of the file once the imported days' rollups are current (Import:RollupWait
            // at most): say so, the wait may be minutes after the last batch of a large file.
            void WaitingForRollups()
            {
                progress.Clear();
                error.WriteLine("all lines stored; waiting for the service to bring the imported days' rollups up to date (at most Import:RollupWait, 5 minutes by default)");
            }
            if (state.NextOffset >= size && size > 0) WaitingForRollups();
            try
            {
                while (await call.ResponseStream.MoveNext(interrupt.Token))
                {
                    var reply = call.ResponseStream.Current;
                    if (reply.ResultCase == ImportReply.ResultOneofCase.Done)
                    {
                        rollupWait = clock.Elapsed - lastAnswer;
                        done = reply.Done;
                        continue;
                    }
                    var r = reply.Batch;
                    Pending sent;
                    lock (pending) sent = pending.Dequeue();
                    if (r.FirstLine != sent.FirstLine)
                        throw new RpcException(new Status(StatusCode.Internal, $"the service answered line {r.FirstLine}, line {sent.FirstLine} was expected"));
                    if (r.Rejections.Count > 0)
                    {
                        rejectedFile ??= new FileStream(o.Rejected, FileMode.Append, FileAccess.Write);
                        WriteRejections(rejectedFile, r, sent);
                        rejectedFile.Flush();
                    }
                    state.NextLine = sent.FirstLine + sent.Lines.Count;
                    state.NextOffset = sent.EndOffset;
                    state.ResumeSha256 = ImportState.ResumeFingerprint(o.File, sent.EndOffset);
                    state.RejectedBytes = rejectedFile?.Length ?? (File.Exists(o.Rejected) ? new FileInfo(o.Rejected).Length : 0);
                    state.Rows += r.Rows;
                    state.ValuesStored += r.ValuesStored;
                    state.StatisticsStored += r.StatisticsStored;
                    state.LinesRejected += r.Rejections.Select(x => x.Line).Distinct().Count();
                    foreach (var x in r.Rejections) state.Rejected[x.Reason] = state.Rejected.GetValueOrDefault(x.Reason) + 1;
                    state.ElapsedSeconds = elapsedBefore + clock.Elapsed.TotalSeconds;
                    state.Save(o.State);
                    sessionValues += r.ValuesStored;
                    lastAnswer = clock.Elapsed;
                    slots.Release();
                    progress.Report(sent.EndOffset, state.NextLine - 1, sessionValues, clock.Elapsed);
                    if (sent.EndOffset >= size) WaitingForRollups();
                    if (o.StopAfter > 0 && ++acknowledged >= o.StopAfter) await interrupt.CancelAsync();
                }
            }
            catch (Exception) when (interrupt.IsCancellationRequested || sender.IsFaulted)
            {
                // Interrupted (or the file could not be read): the state holds the last stored batch.
            }
            await sender;
            if (interrupt.IsCancellationRequested) throw new OperationCanceledException(interrupt.Token);
        }
        catch (Exception e) when (e is OperationCanceledException || (e is RpcException { StatusCode: StatusCode.Cancelled } && interrupt.IsCancellationRequested))
        {
            progress.Clear();
            error.WriteLine($"interrupted: {state.NextLine - 1} lines of {Path.GetFileName(o.File)} are stored ({state.ValuesStored} values); run the same command again to resume at line {state.NextLine}");
            return Interrupted;
        }
        finally
        {
            await interrupt.CancelAsync(); // a sender still waiting for a slot (the call failed) stops too
            rejectedFile?.Dispose();
        }
        progress.Clear();
        if (done is null) throw new RpcException(new Status(StatusCode.Unavailable, "the service ended the import without its final answer; run the same command again to resume"));
        File.Delete(o.State);
        state.ElapsedSeconds = elapsedBefore + clock.Elapsed.TotalSeconds;
        PrintSummary(p, output, o, state, done, rollupWait, resuming, File.Exists(o.Rejected));
        return 0;
    }

    /// <summary>Reads the file from <paramref name="offset"/> (line <paramref name="line"/>) and sends it in batches,
    /// at most <see cref="Window"/> unanswered.</summary>
    static Task SendAsync(IClientStreamWriter<ImportBatch> requests, Options o, ImportFormat format, long line, long offset,
        Queue<Pending> pending, SemaphoreSlim slots, CancellationTokenSource interrupt) => Task.Run(async () =>
    {
        try
        {
            var ct = interrupt.Token;
            using var file = new FileStream(o.File, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1 << 16);
            file.Seek(offset, SeekOrigin.Begin);
            var lines = new LineReader(file, offset);
            var batch = new List<byte[]>(o.Batch);
            var bytes = 0;
            var first = line;
            async Task Flush()
            {
                await slots.WaitAsync(ct);
                var message = new ImportBatch { Format = format, TimeZone = o.TimeZone, FirstLine = first };
                foreach (var l in batch) message.Lines.Add(ByteString.CopyFrom(l));
                lock (pending) pending.Enqueue(new Pending(first, batch, lines.Offset));
                await requests.WriteAsync(message, ct);
                first += batch.Count;
                batch = new List<byte[]>(o.Batch);
                bytes = 0;
            }
            while (lines.Next() is { } l)
            {
                batch.Add(l);
                bytes += l.Length;
                if (batch.Count >= o.Batch || bytes >= MaxBatchBytes) await Flush();
            }
            if (batch.Count > 0) await Flush();
            await requests.CompleteAsync();
        }
        catch (Exception) when (interrupt.IsCancellationRequested)
        {
        }
        catch
        {
            await interrupt.CancelAsync();
            throw;
        }
    });

    /// <summary>One line per rejection: line number, reason, parameter (empty for the whole line), detail, then the line
    /// as it was in the file, separated by tabs (`cut -f5-` gives the original lines back).</summary>
    static void WriteRejections(Stream file, ImportBatchResult r, Pending sent)
    {
        foreach (var x in r.Rejections)
        {
            var original = sent.Lines[(int)(x.Line - sent.FirstLine)];
            var end = original.Length;
            while (end > 0 && original[end - 1] is (byte)'\r') end--;
            file.Write(Encoding.UTF8.GetBytes($"{x.Line}\t{x.Reason}\t{Clean(x.Parameter)}\t{Clean(x.Detail)}\t"));
            file.Write(original, 0, end);
            file.WriteByte((byte)'\n');
        }
    }

    static string Clean(string s) => s.Replace('\t', ' ').Replace('\r', ' ').Replace('\n', ' ');

    static void PrintSummary(ParseResult p, TextWriter output, Options o, ImportState s, ImportDone done, TimeSpan rollupWait, bool resumed, bool rejectedFileExists)
    {
        var rate = s.ElapsedSeconds > 0 ? s.ValuesStored / s.ElapsedSeconds : 0;
        if (p.GetValue(Ecomon.Json))
        {
            output.WriteLine(JsonSerializer.Serialize(new
            {
                file = o.File, format = s.Format, timeZone = s.TimeZone, lines = s.NextLine - 1, rows = s.Rows, valuesStored = s.ValuesStored,
                statisticsStored = s.StatisticsStored, linesRejected = s.LinesRejected, rejected = s.Rejected,
                rejectedFile = rejectedFileExists ? o.Rejected : null, hoursMarked = done.HoursMarked, rollupsCurrent = done.RollupsCurrent,
                rollupWaitSeconds = Math.Round(rollupWait.TotalSeconds, 3),
                elapsedSeconds = Math.Round(s.ElapsedSeconds, 3), valuesPerSecond = Math.Round(rate), sessions = s.Sessions, resumed,
            }));
            return;
        }
        output.WriteLine($"{o.File} ({s.Format}{(s.Format == "csv" ? $", local times in {s.TimeZone}" : "")})");
        output.WriteLine($"  rows read        {s.Rows}");
        output.WriteLine($"  values stored    {s.ValuesStored}{(s.StatisticsStored > 0 ? $" ({s.StatisticsStored} of them station means)" : "")}");
        output.WriteLine($"  lines rejected   {s.LinesRejected}{(s.LinesRejected > 0 ? $" (details in {o.Rejected})" : "")}");
        foreach (var (reason, count) in s.Rejected.OrderByDescending(x => x.Value).ThenBy(x => x.Key, StringComparer.Ordinal))
            output.WriteLine($"    {reason,-30} {count}");
        output.WriteLine($"  rollups          {(done.RollupsCurrent ? "up to date" : "still being brought up to date")} ({done.HoursMarked} station-parameter hours, {rollupWait.TotalSeconds:0.0} s after the last batch)");
        output.WriteLine($"  elapsed          {s.ElapsedSeconds:0.0} s{(s.Sessions > 1 ? $" in {s.Sessions} runs" : "")}, {rate:0} values/s");
    }

    /// <summary>Lines of a file as bytes, without their line end, with the byte offset after the last line read.</summary>
    sealed class LineReader(Stream stream, long offset)
    {
        readonly byte[] _buffer = new byte[1 << 20];
        int _start, _end;
        bool _eof;

        public long Offset { get; private set; } = offset;

        public byte[]? Next()
        {
            while (true)
            {
                var newline = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
                if (newline >= 0)
                {
                    var line = _buffer.AsSpan(_start, newline - _start);
                    if (line.Length > 0 && line[^1] == (byte)'\r') line = line[..^1];
                    Offset += newline - _start + 1;
                    _start = newline + 1;
                    return line.ToArray();
                }
                if (_eof)
                {
                    if (_start == _end) return null;
                    var rest = _buffer.AsSpan(_start, _end - _start).ToArray();
                    Offset += rest.Length;
                    _start = _end;
                    return rest;
                }
                if (_start > 0)
                {
                    Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
                    _end -= _start;
                    _start = 0;
                }
                if (_end == _buffer.Length) throw new InvalidDataException($"a line longer than {_buffer.Length} bytes (at byte {Offset}): this is not a CSV or HJ 212 log");
                var n = stream.Read(_buffer, _end, _buffer.Length - _end);
                if (n == 0) _eof = true;
                _end += n;
            }
        }
    }

    /// <summary>A progress bar on a terminal (redrawn at most 5 times a second), a plain line every 5 s otherwise.</summary>
    sealed class Progress(TextWriter error, bool terminal, long size)
    {
        TimeSpan _last;
        bool _drawn;

        public void Report(long offset, long lines, long values, TimeSpan elapsed)
        {
            if (elapsed - _last < (terminal ? TimeSpan.FromMilliseconds(200) : TimeSpan.FromSeconds(5))) return;
            _last = elapsed;
            var fraction = size == 0 ? 1 : Math.Min(1, (double)offset / size);
            var rate = elapsed.TotalSeconds > 0 ? values / elapsed.TotalSeconds : 0;
            if (terminal)
            {
                const int width = 30;
                var filled = (int)(fraction * width);
                error.Write($"\r[{new string('#', filled)}{new string('.', width - filled)}] {fraction,4:P0}  line {lines}  {values} values  {rate:0}/s ");
                _drawn = true;
            }
            else error.WriteLine($"progress: {fraction:P0}, line {lines}, {values} values stored, {rate:0} values/s");
            error.Flush();
        }

        public void Clear()
        {
            if (!_drawn) return;
            error.Write("\r" + new string(' ', 90) + "\r");
            error.Flush();
            _drawn = false;
        }
    }
}
