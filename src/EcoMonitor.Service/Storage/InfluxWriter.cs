using System.Net;
using EcoMonitor.Service.Hosting;

namespace EcoMonitor.Service.Storage;

/// <summary>Writes line protocol to /write in batches. A batch is written or it is retried: transient failures
/// (refused connections, timeouts, 5xx, 401/403, a missing database) are retried with backoff for as long as the
/// service runs, never dropped. A 400 or 413 is narrowed down by halving the batch until the points InfluxDB refuses
/// are isolated; only those are returned as rejected, with InfluxDB's reason. While InfluxDB is unreachable the
/// backoff only paces the log: InfluxDB is probed every Influx:RecoveryProbeInterval and the write is retried as soon
/// as it answers. Every answer (a write, a probe) is recorded for the readiness check.</summary>
public sealed class InfluxWriter(InfluxConnection influx, IngestionMetrics metrics, TimeProvider time, ILogger<InfluxWriter> log)
{
    readonly InfluxSettings _settings = influx.Settings;
    volatile bool _databaseReady;
    long _lastSuccessTicks = -1;
    int _retrying;
    readonly Lock _failureLock = new();
    (DateTimeOffset At, string Reason, bool CredentialsRefused)? _lastFailure;

    enum Outcome { Written, Refused, TooLarge, Retry, Unreachable, DatabaseMissing }

    /// <summary>When InfluxDB last accepted a write or answered a probe with success; null before the first.</summary>
    public DateTimeOffset? LastSuccess => Interlocked.Read(ref _lastSuccessTicks) is var t and >= 0 ? new DateTimeOffset(t, TimeSpan.Zero) : null;

    /// <summary>The last failed write or probe (when, why, and whether InfluxDB refused the credentials).</summary>
    public (DateTimeOffset At, string Reason, bool CredentialsRefused)? LastFailure
    {
        get
        {
            lock (_failureLock) return _lastFailure;
        }
    }

    /// <summary>True while a write waits for its retry (it probes InfluxDB itself meanwhile).</summary>
    public bool IsRetrying => Volatile.Read(ref _retrying) > 0;

    void Succeeded() => Interlocked.Exchange(ref _lastSuccessTicks, time.GetUtcNow().UtcTicks);

    void Failed(string reason, bool credentialsRefused)
    {
        lock (_failureLock) _lastFailure = (time.GetUtcNow(), reason, credentialsRefused);
    }

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
        // A probe that answers while this write still cannot get through (a proxy that takes small requests only,
        // say) three times in a row is not trusted again for this write: it goes back to the plain backoff instead of
        // retrying at every probe. (Once may be a stale pooled connection.)
        var (resumedOnProbe, misled) = (false, 0);
        while (true)
        {
            if (!_databaseReady) await EnsureDatabaseAsync(ct);
            var started = time.GetTimestamp();
            var (outcome, detail) = await TryWriteAsync(lines, start, count, ct);
            switch (outcome)
            {
                case Outcome.Written:
                    Succeeded();
                    metrics.PointsWritten(count);
                    metrics.WriteAccepted(count, time.GetElapsedTime(started));
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
            if (resumedOnProbe && outcome == Outcome.Unreachable) misled++;
            metrics.WriteRetried();
            var credentials = detail.StartsWith("401", StringComparison.Ordinal) || detail.StartsWith("403", StringComparison.Ordinal);
            Failed(detail, credentials);
            log.LogWarning("InfluxDB write of {Count} points failed ({Reason}); retrying in {Delay}", count, detail, delay);
            resumedOnProbe = await WaitBeforeRetryAsync(delay, unreachable: outcome == Outcome.Unreachable && misled < 3, ct);
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _settings.RetryMaxDelay.Ticks));
        }
    }

    async Task<(Outcome, string)> TryWriteAsync(IReadOnlyList<string> lines, int start, int count, CancellationToken ct)
    {
        try
        {
            using var content = new LineProtocolContent(lines, start, count);
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
                // What a proxy or load balancer answers while InfluxDB behind it is away.
                HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout =>
                    (Outcome.Unreachable, $"{(int)response.StatusCode} {error}"),
                _ => (Outcome.Retry, $"{(int)response.StatusCode} {error}"),
            };
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return (Outcome.Unreachable, $"no answer within {_settings.Timeout} (Influx:Timeout)");
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // HttpRequestException mostly, but a reset connection can also surface as a bare SocketException or
            // IOException: every transport failure is retried, none may end the write loop.
            return (Outcome.Unreachable, e.Message);
        }
    }

    /// <summary>Waits <paramref name="delay"/> before a retry. When InfluxDB was <paramref name="unreachable"/> (no
    /// connection, no answer, a gateway's 5xx), it is probed every Influx:RecoveryProbeInterval meanwhile and the
    /// wait ends as soon as a probe succeeds: a write resumes within about one probe interval of InfluxDB answering
    /// again, however long the backoff has grown. Other failures (credentials refused, a 500 from InfluxDB itself)
    /// wait the whole delay: probing would not tell when they end. Returns true when a probe ended the wait early.</summary>
    public async Task<bool> WaitBeforeRetryAsync(TimeSpan delay, bool unreachable, CancellationToken ct)
    {
        Interlocked.Increment(ref _retrying);
        try
        {
            var until = time.GetUtcNow() + delay;
            while (true)
            {
                var left = until - time.GetUtcNow();
                if (left <= TimeSpan.Zero) return false;
                await Task.Delay(unreachable && left > _settings.RecoveryProbeInterval ? _settings.RecoveryProbeInterval : left, time, ct);
                if (!unreachable || time.GetUtcNow() >= until) return false;
                if (await ProbeAsync(ct) == ProbeResult.Answered) return true;
            }
        }
        finally
        {
            Interlocked.Decrement(ref _retrying);
        }
    }

    /// <summary>Asks InfluxDB whether a write would be taken, without writing anything: an empty body POSTed to
    /// /write. InfluxDB 1.x checks the credentials, the database and the write permission exactly as for a real
    /// write and answers 204 (/ping would answer even to wrong credentials). A missing database counts as answered
    /// when the service creates it (Influx:CreateDatabase), and so does a 400 (a compatibility API that refuses an
    /// empty body has checked the credentials first); 401/403, 5xx and no answer do not. The result is recorded for
    /// the readiness check.</summary>
    public async Task<ProbeResult> ProbeAsync(CancellationToken ct)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(_settings.Timeout < TimeSpan.FromSeconds(5) ? _settings.Timeout : TimeSpan.FromSeconds(5));
            using var content = new ByteArrayContent([]);
            using var response = await influx.Http.PostAsync(influx.WriteUrl, content, timeout.Token);
            if (response.IsSuccessStatusCode || response.StatusCode == HttpStatusCode.BadRequest
                || (response.StatusCode == HttpStatusCode.NotFound && _settings.CreateDatabase))
            {
                Succeeded();
                return ProbeResult.Answered;
            }
            var text = await response.Content.ReadAsStringAsync(timeout.Token);
            var status = (int)response.StatusCode;
            var credentials = response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden;
            Failed($"{status} {InfluxConnection.ErrorOf(text) ?? text.Trim()}" + (credentials ? ": check Influx:Token or Influx:Username/Password" : ""), credentials);
            return credentials ? ProbeResult.CredentialsRefused : ProbeResult.Failed;
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            Failed(e is OperationCanceledException ? "no answer to a probe" : e.Message, false);
            return ProbeResult.Failed;
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

public enum ProbeResult { Answered, CredentialsRefused, Failed }
