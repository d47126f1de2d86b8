namespace EcoMonitor.Service.Tests.Support;

/// <summary>Settings for alerting tests: alerting on, evaluated by the test only (an hour between the service's own
/// evaluations), quick notification retries, one webhook channel "duty" at the test's receiver.</summary>
public static class AlertTestSettings
{
    public static Dictionary<string, string?> For(HttpReceiver hook, string stateFile, params (string Key, string? Value)[] more)
    {
        var s = new Dictionary<string, string?>
        {
            ["Alerting:Enabled"] = "true",
            ["Alerting:EvaluationInterval"] = "01:00:00",
            ["Alerting:StateFile"] = stateFile,
            ["Alerting:NotificationAttempts"] = "2",
            ["Alerting:NotificationRetryDelay"] = "00:00:00.050",
            ["Alerting:Channels:0:Name"] = "duty",
            ["Alerting:Channels:0:Type"] = "webhook",
            ["Alerting:Channels:0:Url"] = new Uri(hook.Address, "/duty").ToString(),
        };
        foreach (var (k, v) in more) s[k] = v;
        return s;
    }

    /// <summary>A fresh path in the temp folder for a state or rules file.</summary>
    public static string TempFile(string name) => Path.Combine(Path.GetTempPath(), $"{name}-{Guid.NewGuid():N}.json");
}
