using System.ComponentModel.DataAnnotations;

namespace EcoMonitor.Service.Alerting;

/// <summary>Settings section "Alerting": rules, channels, where the alert state is kept.</summary>
public sealed class AlertingSettings : IValidatableObject
{
    public const string Section = "Alerting";

    public bool Enabled { get; set; }
    public TimeSpan EvaluationInterval { get; set; } = TimeSpan.FromMinutes(1);
    public AlertLanguage Language { get; set; } = AlertLanguage.Chinese;
    /// <summary>JSON file with the active alerts and their history; it survives restarts (relative to the content root).</summary>
    public string StateFile { get; set; } = "alerts-state.json";
    public List<AlertRuleSettings> Rules { get; set; } = [];
    public List<ChannelSettings> Channels { get; set; } = [];

    public static readonly string[] RuleKinds = ["pm25-hourly", "pm10-hourly", "nmhc-hourly", "silent"];
    public static readonly string[] ChannelTypes = ["webhook", "dingtalk", "wecom", "email", "mqtt"];

    public IEnumerable<ValidationResult> Validate(ValidationContext context)
    {
        if (EvaluationInterval < TimeSpan.FromSeconds(1)) yield return new("Alerting:EvaluationInterval must be at least 1 second.", [nameof(EvaluationInterval)]);
        for (var i = 0; i < Rules.Count; i++)
        {
            var r = Rules[i];
            if (string.IsNullOrWhiteSpace(r.Name)) yield return new($"Alerting:Rules:{i}:Name is required.", [nameof(Rules)]);
            if (!RuleKinds.Contains(r.Kind)) yield return new($"Alerting:Rules:{i}:Kind must be one of {string.Join(", ", RuleKinds)} (got '{r.Kind}').", [nameof(Rules)]);
            if (r.ClearThreshold > r.Threshold) yield return new($"Alerting:Rules:{i}:ClearThreshold must not be above Threshold.", [nameof(Rules)]);
            if (r.RepeatInterval <= TimeSpan.Zero || r.For < TimeSpan.Zero) yield return new($"Alerting:Rules:{i}: For must not be negative and RepeatInterval must be positive.", [nameof(Rules)]);
            foreach (var c in r.Channels.Where(c => Channels.All(x => x.Name != c)))
                yield return new($"Alerting:Rules:{i}:Channels names '{c}', which is not in Alerting:Channels.", [nameof(Rules)]);
        }
        for (var i = 0; i < Channels.Count; i++)
        {
            var c = Channels[i];
            if (string.IsNullOrWhiteSpace(c.Name)) yield return new($"Alerting:Channels:{i}:Name is required.", [nameof(Channels)]);
            if (!ChannelTypes.Contains(c.Type)) yield return new($"Alerting:Channels:{i}:Type must be one of {string.Join(", ", ChannelTypes)} (got '{c.Type}').", [nameof(Channels)]);
            if (c.Type is "webhook" or "dingtalk" or "wecom" && !Uri.TryCreate(c.Url, UriKind.Absolute, out _))
                yield return new($"Alerting:Channels:{i}:Url must be an absolute URL for a {c.Type} channel.", [nameof(Channels)]);
            if (c.Type == "email" && (string.IsNullOrEmpty(c.SmtpHost) || string.IsNullOrEmpty(c.From) || c.To.Count == 0))
                yield return new($"Alerting:Channels:{i}: an email channel needs SmtpHost, From and To.", [nameof(Channels)]);
        }
    }
}

/// <summary>A rule: its kind decides what is observed (an hourly mean, or minutes without valid data); the alert fires
/// above Threshold after For, clears at or below ClearThreshold, reminds every RepeatInterval until acknowledged.</summary>
public sealed class AlertRuleSettings
{
    public string Name { get; set; } = "";
    public string Kind { get; set; } = "";
    public string Severity { get; set; } = "warning";
    public double Threshold { get; set; }
    public double? ClearThreshold { get; set; }
    public TimeSpan For { get; set; } = TimeSpan.Zero;
    public TimeSpan RepeatInterval { get; set; } = TimeSpan.FromHours(2);
    /// <summary>For "silent": the station kind watched (air, voc, water); empty: all.</summary>
    public string? StationKind { get; set; }
    public List<string> Channels { get; set; } = [];
}

/// <summary>A channel. Secrets (Secret, Password) are never logged.</summary>
public sealed class ChannelSettings
{
    public string Name { get; set; } = "";
    public string Type { get; set; } = "";
    public string? Url { get; set; }
    public string? Secret { get; set; }
    public List<string> Mobiles { get; set; } = [];
    public string? SmtpHost { get; set; }
    public int SmtpPort { get; set; } = 25;
    public bool SmtpTlsOnConnect { get; set; }
    public string? SmtpUser { get; set; }
    public string? Password { get; set; }
    public string? From { get; set; }
    public List<string> To { get; set; } = [];
}
