using System.Net;
using System.Text;
using EcoMonitor.Service.Hosting;

namespace EcoMonitor.Service.Storage;

/// <summary>Writes line protocol to /write in batches. A batch is written or it is retried: transient failures
/// (refused connections, timeouts, 5xx, 401/403, a missing database) are retried with backoff for as long as the
/// service runs, never dropped. A 400 or 413 is narrowed down by halving the batch until the points InfluxDB refuses
/// are isolated; only those are returned as rejected, with InfluxDB's reason.</summary>
public sealed class InfluxWriter(InfluxConnection influx, IngestionMetrics metrics, TimeProvider time, ILogger<InfluxWriter> log)
{
    readonly InfluxSettings _settings = influx.Settings;
    volatile bool _databaseReady;

    enum Outcome { Written, Refused, TooLarge, Retry, DatabaseMissing }

    /// <summary>Writes all lines; returns the ones InfluxDB refused for good, by index, with its reason.</summary>
    public async Task<IReadOnlyList<(int Index, string Error)>> WriteAsync(IReadOnlyList<string> lines, CancellationToken ct)
    {
        var refused = new List<(int, string)>();
        if (lines.Count > 0) await WriteRangeAsync(lines, 0, lines.Count, refused, ct);
        return refused;
    }

    async Task WriteRangeAsync(IReadOnlyList<string> lines, int start, int count, List<(int, string)> refused, CancellationToken ct)
    {
        var delay = _settings.RetryInitialDelay;
        while (true)
        {
            if (!_databaseReady) await EnsureDatabaseAsync(ct);
            var (outcome, detail) = await TryWriteAsync(lines, start, count, ct);
            switch (outcome)
            {
                case Outcome.Written:
                    metrics.PointsWritten(count);
                    return;
                case Outcome.Refused or Outcome.TooLarge when count == 1:
                    refused.Add((start, detail));
                    return;
                case Outcome.Refused or Outcome.TooLarge:
                    var half = count / 2;
                    await WriteRangeAsync(lines, start, half, refused, ct);
                    await WriteRangeAsync(lines, start + half, count - half, refused, ct);
                    return;
                case Outcome.DatabaseMissing:
                    _databaseReady = false;
                    break;
            }
            metrics.WriteRetried();
            log.LogWarning("InfluxDB write of {Count} points failed ({Reason}); retrying in {Delay}", count, detail, delay);
            await Task.Delay(delay, time, ct);
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _settings.RetryMaxDelay.Ticks));
        }
    }

    async Task<(Outcome, string)> TryWriteAsync(IReadOnlyList<string> lines, int start, int count, CancellationToken ct)
    {
        var body = new StringBuilder(count * 96);
        for (var i = start; i < start + count; i++) body.Append(lines[i]).Append('\n');
        try
        {
            using var content = new StringContent(body.ToString(), Encoding.UTF8, "text/plain");
            using var response = await influx.Http.PostAsync(influx.WriteUrl, content, ct);
            if (response.IsSuccessStatusCode) return (Outcome.Written, "");
            var text = await response.Content.ReadAsStringAsync(ct);
            var error = InfluxConnection.ErrorOf(text) ?? text.Trim();
            return response.StatusCode switch
            {
                HttpStatusCode.NotFound => (Outcome.DatabaseMissing, $"404 {error}"),
                HttpStatusCode.RequestEntityTooLarge => (Outcome.TooLarge, $"413 {error}"),
                HttpStatusCode.BadRequest => (Outcome.Refused, error),
                HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden =>
                    (Outcome.Retry, $"{(int)response.StatusCode} {error}: check Influx:Token or Influx:Username/Password"),
                _ => (Outcome.Retry, $"{(int)response.StatusCode} {error}"),
            };
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return (Outcome.Retry, $"no answer within {_settings.Timeout} (Influx:Timeout)");
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // HttpRequestException mostly, but a reset connection can also surface as a bare SocketException or
            // IOException: every transport failure is retried, none may end the write loop.
            return (Outcome.Retry, e.Message);
        }
    }

    /// <summary>Creates the database and retention policy when missing (InfluxDB 1.x). Failures are logged and
    /// left to the write retry loop; with Influx:CreateDatabase = false nothing is created.</summary>
    public async Task EnsureDatabaseAsync(CancellationToken ct)
    {
        if (!_settings.CreateDatabase)
        {
            _databaseReady = true;
            return;
        }
        try
        {
            // Identifiers come from validated settings (letters, digits, '_' and '-'), never from readings.
            await influx.QueryAsync($"CREATE DATABASE \"{_settings.Database}\"", ct: ct, post: true);
            if (!string.IsNullOrEmpty(_settings.RetentionPolicy))
            {
                var existing = await influx.QueryAsync($"SHOW RETENTION POLICIES ON \"{_settings.Database}\"", ct: ct);
                var names = existing.SelectMany(s => s.Rows()).Select(r => r["name"].GetString()).ToHashSet();
                if (!names.Contains(_settings.RetentionPolicy))
                    await influx.QueryAsync($"CREATE RETENTION POLICY \"{_settings.RetentionPolicy}\" ON \"{_settings.Database}\" DURATION {_settings.RetentionDuration} REPLICATION 1", ct: ct, post: true);
            }
            _databaseReady = true;
            log.LogInformation("InfluxDB database {Database} ready at {Url}", _settings.Database, _settings.Url);
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            log.LogWarning("InfluxDB not ready at {Url}: {Reason}", _settings.Url, e.Message);
        }
    }
}
