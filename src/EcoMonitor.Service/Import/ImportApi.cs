using System.Threading.Channels;
using EcoMonitor.Api.V1;
using EcoMonitor.Service.Hosting;
using EcoMonitor.Service.Ingestion;
using EcoMonitor.Service.Query;
using EcoMonitor.Service.Storage;
using Grpc.Core;
using Microsoft.Extensions.Options;

namespace EcoMonitor.Service.Import;

/// <summary>The historical import (operators only, <see cref="ApiKeyInterceptor"/>): batches of lines in, one answer
/// per batch out, in order. A batch is decoded and validated by <see cref="ImportProcessor"/> (the live path's
/// decoders and validator), written by <see cref="InfluxWriter"/> (retried until InfluxDB has it; points InfluxDB
/// refuses for good are rejected_by_database) and only then answered: an answered batch is durable, which is what the
/// client's resume state relies on. Its hours are marked for the rollup exactly as a live batch's: durable
/// <c>rollup_dirty</c> marks in the same write, then handed to <see cref="RollupStage"/>, so reading_1h and reading_1d
/// of the imported days are rebuilt by the same stage, and an interrupted import leaves no hour unmarked.
///
/// Idempotence comes from the storage: a point is its measurement, tags and time, so importing a line again
/// overwrites the same point with the same value. Batches of one call are stored and answered one after the other
/// (the next batch is decoded meanwhile); calls run side by side.</summary>
public sealed class ImportApi(ImportProcessor processor, InfluxWriter writer, RollupStage rollups, IOptions<ImportSettings> options,
    IOptions<RollupSettings> rollupOptions, TimeProvider time, ILogger<ImportApi> log) : ImportService.ImportServiceBase
{
    readonly ImportSettings _settings = options.Value;

    public override async Task Import(IAsyncStreamReader<ImportBatch> requestStream, IServerStreamWriter<ImportReply> responseStream, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        var caller = ApiKeyInterceptor.CallerOf(context);
        (ImportFormat Format, string Zone)? first = null;
        TimeZoneInfo zone = TimeZoneInfo.Utc;
        long marked = 0; // summed over batches: no set of every hour of a long import is kept
        long rows = 0, stored = 0, rejected = 0, batches = 0;
        var started = time.GetUtcNow();
        // Two stages, so that decoding the next batch overlaps storing this one: the reader decodes and validates
        // batches as they arrive (at most two ahead), this loop stores and answers them in order.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var decoded = Channel.CreateBounded<(ImportBatch Batch, ImportedLines Lines)>(new BoundedChannelOptions(2) { SingleReader = true, SingleWriter = true });
        var reader = Task.Run(async () =>
        {
            try
            {
                while (await requestStream.MoveNext(stop.Token))
                {
                    var batch = requestStream.Current;
                    if (first is null)
                    {
                        if (batch.Format == ImportFormat.Unspecified)
                            throw new RpcException(new Status(StatusCode.InvalidArgument, "format: give csv or hj212"));
                        if (!ImportProcessor.TryFindZone(batch.TimeZone, out zone, out var zoneError))
                            throw new RpcException(new Status(StatusCode.InvalidArgument, $"time_zone: {zoneError}"));
                        first = (batch.Format, batch.TimeZone);
                    }
                    else if (first.Value != (batch.Format, batch.TimeZone))
                        throw new RpcException(new Status(StatusCode.InvalidArgument, "format and time_zone must be the same in every batch of an import"));
                    if (batch.FirstLine < 1)
                        throw new RpcException(new Status(StatusCode.InvalidArgument, $"first_line must be at least 1 (got {batch.FirstLine})"));
                    if (batch.Lines.Count > _settings.MaxBatchLines)
                        throw new RpcException(new Status(StatusCode.InvalidArgument, $"{batch.Lines.Count} lines in one batch; at most {_settings.MaxBatchLines} (Import:MaxBatchLines)"));
                    var lines = new ReadOnlyMemory<byte>[batch.Lines.Count];
                    for (var i = 0; i < lines.Length; i++) lines[i] = batch.Lines[i].Memory;
                    var format = first.Value.Format == ImportFormat.Hj212 ? ImportLineFormat.Hj212 : ImportLineFormat.Csv;
                    await decoded.Writer.WriteAsync((batch, processor.Process(format, zone, lines, time.GetUtcNow())), stop.Token);
                }
                decoded.Writer.Complete();
            }
            catch (Exception e)
            {
                decoded.Writer.Complete(e);
            }
        }, CancellationToken.None);

        try
        {
            await foreach (var (batch, processed) in decoded.Reader.ReadAllAsync(ct))
            {
                var (hours, refusedStatistics) = await StoreAsync(processed.Result, ct);
                marked += hours.Count;

                var r = processed.Result;
                var result = new ImportBatchResult
                {
                    FirstLine = batch.FirstLine,
                    LineCount = batch.Lines.Count,
                    Rows = processed.Rows,
                    ValuesStored = r.StoredCount,
                    StatisticsStored = r.Statistics.Count - refusedStatistics,
                };
                foreach (var x in r.Rejections.OrderBy(x => x.Index))
                    result.Rejections.Add(new ImportRejection { Line = batch.FirstLine + (x.Index ?? 0), Reason = x.Reason, Detail = x.Detail, Parameter = x.Parameter ?? "" });
                rows += result.Rows;
                stored += result.ValuesStored;
                rejected += result.Rejections.Count;
                batches++;
                await responseStream.WriteAsync(new ImportReply { Batch = result }, ct);
            }
        }
        finally
        {
            await stop.CancelAsync(); // a reader still waiting (the store failed) stops
            await reader;
        }

        // The end of the file: bring the imported hours' rollups up to date before saying so.
        // A call without batches is the resume of an import interrupted after its last batch was stored (while it
        // waited here): the hours that import marked are not known to this call, so it waits for the stage as a whole.
        var current = false;
        if (rollupOptions.Value.Enabled && (marked > 0 || batches == 0))
        {
            try
            {
                await rollups.WhenIdleAsync(_settings.RollupWait).WaitAsync(ct);
                current = true;
            }
            catch (TimeoutException)
            {
                log.LogWarning("Import by {Caller}: the rollups of {Hours} imported hours were not current within {Wait} (Import:RollupWait); the rollup stage finishes them from its marks",
                    caller, marked, _settings.RollupWait);
            }
        }
        else current = rollupOptions.Value.Enabled;
        log.LogInformation("Import by {Caller}: {Batches} batches, {Rows} rows, {Stored} values stored, {Rejected} rejections, {Hours} hours marked, in {Elapsed}",
            caller, batches, rows, stored, rejected, marked, time.GetUtcNow() - started);
        await responseStream.WriteAsync(new ImportReply { Done = new ImportDone { HoursMarked = marked, RollupsCurrent = current } }, ct);
    }

    /// <summary>Writes the batch's readings, statistics and dirty marks in one go (as the live pipeline does: the
    /// marks after the data in the same request), records what InfluxDB refused, hands the stored hours to the rollup
    /// stage. Returns the hours marked and how many statistics InfluxDB refused.</summary>
    async Task<(HashSet<(string StationId, string Parameter, DateTimeOffset Hour)> Hours, int RefusedStatistics)> StoreAsync(ProcessedMessage r, CancellationToken ct)
    {
        var lines = new BatchLines();
        lines.Add(r);
        var touched = HourlyRollup.HoursOf(lines.Readings, lines.Statistics);
        var lastMark = rollups.AddMarks(touched, lines.Lines);
        var refused = await writer.WriteAsync(lines.Lines, ct);
        var (stored, storedStatistics, refusedStatistics) = lines.Apply(refused, error => log.LogError("InfluxDB refused a rollup dirty mark of an import: {Error}", error));
        if (touched.Count > 0) rollups.Stored(lastMark, stored, storedStatistics);
        return (touched, refusedStatistics);
    }
}

/// <summary>Registration of the historical import (<see cref="ImportApi"/>).</summary>
public static class ImportRegistration
{
    /// <summary>gRPC messages up to this size are accepted by the import (a batch of lines; the CLI sends at most 4 MB).</summary>
    public const int MaxMessageBytes = 16 * 1024 * 1024;

    public static IServiceCollection AddImport(this IServiceCollection services)
    {
        services.AddOptions<ImportSettings>().BindConfiguration(ImportSettings.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<ImportProcessor>();
        services.AddGrpc().AddServiceOptions<ImportApi>(o =>
        {
            o.Interceptors.Add<ApiKeyInterceptor>();
            o.MaxReceiveMessageSize = MaxMessageBytes;
        });
        return services;
    }

    public static void MapImport(this WebApplication app) => app.MapGrpcService<ImportApi>();
}
