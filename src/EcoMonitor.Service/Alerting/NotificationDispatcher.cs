using System.Collections.Concurrent;

namespace EcoMonitor.Service.Alerting;

/// <summary>A notification that could not be delivered after every retry: kept (and logged) so that it is visible,
/// never lost silently.</summary>
public sealed record FailedNotification(string Channel, string Rule, string Subject, string Kind, DateTimeOffset At, int Attempts, string Error);

/// <summary>Delivers a notification to its channels, each retried with exponential backoff; what still fails is
/// recorded in <see cref="Failures"/> (the last 1000 since start, shown by the API) and logged as an error.</summary>
public sealed class NotificationDispatcher(TimeProvider time, ILogger<NotificationDispatcher> log, int attempts = 4, TimeSpan? initialDelay = null)
{
    readonly TimeSpan _initialDelay = initialDelay ?? TimeSpan.FromSeconds(2);
    readonly ConcurrentQueue<FailedNotification> _failures = new();
    const int KeptFailures = 1000;

    long _failureCount;

    public IReadOnlyCollection<FailedNotification> Failures => _failures;

    /// <summary>Notifications that failed after every retry since start (also those no longer kept).</summary>
    public long FailureCount => Interlocked.Read(ref _failureCount);

    /// <summary>Sends to every channel (in parallel); returns the channels that got it.</summary>
    public async Task<IReadOnlyList<string>> SendAsync(AlertNotification notification, IReadOnlyList<INotifier> channels, CancellationToken ct)
    {
        var results = await Task.WhenAll(channels.Select(c => SendOneAsync(notification, c, ct)));
        return [.. channels.Where((_, i) => results[i]).Select(c => c.Channel)];
    }

    async Task<bool> SendOneAsync(AlertNotification n, INotifier channel, CancellationToken ct)
    {
        var delay = _initialDelay;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await channel.SendAsync(n, ct);
                return true;
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                if (attempt >= attempts)
                {
                    var failed = new FailedNotification(channel.Channel, n.Event.Rule, n.Event.Subject, n.Event.Kind.ToString(), time.GetUtcNow(), attempt, e.Message);
                    _failures.Enqueue(failed);
                    Interlocked.Increment(ref _failureCount);
                    while (_failures.Count > KeptFailures) _failures.TryDequeue(out _);
                    log.LogError("Notification of {Rule}/{Subject} ({Kind}) to {Channel} failed after {Attempts} attempts: {Error}",
                        failed.Rule, failed.Subject, failed.Kind, failed.Channel, attempt, e.Message);
                    return false;
                }
                log.LogWarning("Notification to {Channel} failed (attempt {Attempt}): {Error}; retrying in {Delay}", channel.Channel, attempt, e.Message, delay);
                await Task.Delay(delay, time, ct);
                delay += delay;
            }
        }
    }
}
