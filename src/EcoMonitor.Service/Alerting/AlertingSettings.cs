using System.ComponentModel.DataAnnotations;
using EcoMonitor.Domain;

namespace EcoMonitor.Service.Alerting;

/// <summary>Settings section "Alerting": channels, where the alert state is kept, and the rule set (rules, routes,
/// maintenance windows), either here or in <see cref="RulesFile"/>, which is reloaded when it changes.</summary>
public sealed class AlertingSettings : IValidatableObject
{
    public const string Section = "Alerting";

    public bool Enabled { get; set; }
    public TimeSpan EvaluationInterval { get; set; } = TimeSpan.FromMinutes(1);
    public AlertLanguage Language { get; set; } = AlertLanguage.Chinese;
    /// <summary>JSON file with the active alerts, the resolved ones of the last <see cref="HistoryDays"/> days and the
    /// silences; it survives restarts (relative to the content root).</summary>
    public string StateFile { get; set; } = "alerts-state.json";
    public int HistoryDays { get; set; } = 90;
    /// <summary>Delivery attempts per channel and notification, and the first delay between them (doubling).</summary>
    public int NotificationAttempts { get; set; } = 4;
    public TimeSpan NotificationRetryDelay { get; set; } = TimeSpan.FromSeconds(2);
    /// <summary>A JSON file { "Rules": [...], "Routes": [...], "Maintenance": [...] } that replaces the rule set of
    /// these settings; checked at every evaluation and reloaded when it changed (an invalid edit is refused, logged,
    /// and the previous rules stay). Empty: the rule set of these settings.</summary>
    public string? RulesFile { get; set; }
    public List<AlertRuleSettings> Rules { get; set; } = [];
    public List<RouteSettings> Routes { get; set; } = [];
    public List<MaintenanceWindow> Maintenance { get; set; } = [];
    public List<ChannelSettings> Channels { get; set; } = [];
    /// <summary>Who evaluates and notifies when several instances run (see <see cref="AlertLeadership"/>): Auto (a
    /// lease over the broker when Mqtt:SharedGroup is set, else this instance alone), Single (this instance, whatever
    /// else runs: for a deployment that runs alerting on one instance only) or Lease.</summary>
    public LeadershipMode Leadership { get; set; } = LeadershipMode.Auto;
    /// <summary>How often the leader renews its lease (a retained message on {TopicPrefix}/_cluster/alerting-leader).</summary>
    public TimeSpan LeaseRenewInterval { get; set; } = TimeSpan.FromSeconds(5);
    /// <summary>A lease not renewed for this long is taken over; the leader itself stops evaluating when no renewal
    /// was confirmed by the broker for LeaseDuration less LeaseRenewInterval, before anyone else may start.</summary>
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(20);
    /// <summary>How long a claimant waits for rival claims before it leads (the lowest instance id wins).</summary>
    public TimeSpan LeaseSettle { get; set; } = TimeSpan.FromSeconds(2);

    public static readonly string[] ChannelTypes = ["webhook", "dingtalk", "wecom", "email", "mqtt"];

    public AlertRuleSet RuleSet => new() { Rules = Rules, Routes = Routes, Maintenance = Maintenance };

    public IEnumerable<ValidationResult> Validate(ValidationContext context)
    {
        if (EvaluationInterval < TimeSpan.FromSeconds(1)) yield return new("Alerting:EvaluationInterval must be at least 1 second.", [nameof(EvaluationInterval)]);
        if (HistoryDays is < 1 or > 3660) yield return new("Alerting:HistoryDays must be within 1..3660.", [nameof(HistoryDays)]);
        if (NotificationAttempts is < 1 or > 20) yield return new("Alerting:NotificationAttempts must be within 1..20.", [nameof(NotificationAttempts)]);
        if (NotificationRetryDelay < TimeSpan.Zero || NotificationRetryDelay > TimeSpan.FromMinutes(10))
            yield return new("Alerting:NotificationRetryDelay must be within 0..10 minutes.", [nameof(NotificationRetryDelay)]);
        if (!Enum.IsDefined(Leadership)) yield return new($"Alerting:Leadership must be Auto, Single or Lease (got {(int)Leadership}).", [nameof(Leadership)]);
        if (LeaseRenewInterval < TimeSpan.FromMilliseconds(100) || LeaseRenewInterval > TimeSpan.FromMinutes(10))
            yield return new($"Alerting:LeaseRenewInterval must be between 100 ms and 10 minutes (got {LeaseRenewInterval}).", [nameof(LeaseRenewInterval)]);
        else if (LeaseDuration < 3 * LeaseRenewInterval || LeaseDuration.TotalSeconds > ushort.MaxValue)
            yield return new($"Alerting:LeaseDuration must be at least 3 × Alerting:LeaseRenewInterval ({3 * LeaseRenewInterval}) and at most {ushort.MaxValue} s (got {LeaseDuration}): two lost renewals must not end a lease.", [nameof(LeaseDuration)]);
        if (LeaseSettle < TimeSpan.FromMilliseconds(100) || LeaseSettle >= LeaseDuration)
            yield return new($"Alerting:LeaseSettle must be at least 100 ms and shorter than Alerting:LeaseDuration (got {LeaseSettle}).", [nameof(LeaseSettle)]);
        if (string.IsNullOrWhiteSpace(StateFile)) yield return new("Alerting:StateFile is required.", [nameof(StateFile)]);
        if (!string.IsNullOrEmpty(RulesFile) && (Rules.Count > 0 || Routes.Count > 0 || Maintenance.Count > 0))
            yield return new("Alerting:RulesFile is set: put Rules, Routes and Maintenance in that file, not in Alerting.", [nameof(RulesFile)]);
        foreach (var error in RuleSet.Validate("Alerting:", [.. Channels.Select(c => c.Name)]))
            yield return new(error, [nameof(Rules)]);
        for (var i = 0; i < Channels.Count; i++)
        {
            var c = Channels[i];
            if (string.IsNullOrWhiteSpace(c.Name)) yield return new($"Alerting:Channels:{i}:Name is required.", [nameof(Channels)]);
            if (Channels.Take(i).Any(x => x.Name == c.Name)) yield return new($"Alerting:Channels:{i}:Name '{c.Name}' is used twice.", [nameof(Channels)]);
            if (!ChannelTypes.Contains(c.Type)) yield return new($"Alerting:Channels:{i}:Type must be one of {string.Join(", ", ChannelTypes)} (got '{c.Type}').", [nameof(Channels)]);
            if (c.Type is "webhook" or "dingtalk" or "wecom" && !(Uri.TryCreate(c.Url, UriKind.Absolute, out var url) && url.Scheme is "http" or "https"))
                yield return new($"Alerting:Channels:{i}:Url must be an absolute http(s) URL for a {c.Type} channel.", [nameof(Channels)]);
            if (c.Type == "email" && (string.IsNullOrEmpty(c.SmtpHost) || string.IsNullOrEmpty(c.From) || c.To.Count == 0))
                yield return new($"Alerting:Channels:{i}: an email channel needs SmtpHost, From and To.", [nameof(Channels)]);
            if (c.Type == "email" && c.SmtpPort is < 1 or > 65535)
                yield return new($"Alerting:Channels:{i}:SmtpPort must be within 1..65535.", [nameof(Channels)]);
            foreach (var address in c.To.Append(c.From ?? "").Where(a => a.Length > 0 && !MimeKit.MailboxAddress.TryParse(a, out _)))
                yield return new($"Alerting:Channels:{i}: '{address}' is not an e-mail address.", [nameof(Channels)]);
        }
    }
}

public enum LeadershipMode { Auto, Single, Lease }

/// <summary>Rules, routes and maintenance windows: what is watched and who hears about it.</summary>
public sealed class AlertRuleSet
{
    public List<AlertRuleSettings> Rules { get; set; } = [];
    public List<RouteSettings> Routes { get; set; } = [];
    public List<MaintenanceWindow> Maintenance { get; set; } = [];

    /// <summary>What each kind observes (the value compared with Threshold).</summary>
    public static readonly IReadOnlyDictionary<string, string> Kinds = new Dictionary<string, string>
    {
        ["hourly-mean"] = "the mean of the last complete hour (45 valid minutes), per station",
        ["daily-mean"] = "the mean of the last 24 complete hours (20 valid hours), per station",
        ["single-value"] = "the highest valid reading within Window, per station",
        ["voc-trend"] = "the value a rising linear trend over Window reaches after Horizon (early warning)",
        ["water-class"] = "classes by which a section is worse than its target class (GB 3838, means over Window)",
        ["ph-range"] = "how far the mean pH of Window is outside Min..Max",
        ["flag-duration"] = "minutes the latest readings have carried one of Flags (D fault, M maintenance, C calibration)",
        ["silent"] = "minutes since the last valid reading",
        ["pm25-target"] = "the year-to-date PM2.5 change in percent against the same span last year, per station and zone",
    };

    /// <summary>A JSON file may say null where a list is meant: read it as empty.</summary>
    public AlertRuleSet Normalized()
    {
        Rules = [.. (Rules ?? []).Where(r => r is not null)];
        Routes = [.. (Routes ?? []).Where(r => r is not null)];
        Maintenance = [.. (Maintenance ?? []).Where(m => m is not null)];
        foreach (var r in Rules)
        {
            r.Channels ??= [];
            r.Stations ??= [];
            r.Flags ??= [];
            r.Templates ??= new(StringComparer.OrdinalIgnoreCase);
        }
        foreach (var r in Routes)
        {
            r.Rules ??= [];
            r.Severities ??= [];
            r.Channels ??= [];
            r.Mobiles ??= [];
            r.To ??= [];
        }
        return this;
    }

    public IEnumerable<string> Validate(string prefix, IReadOnlyCollection<string> channels)
    {
        for (var i = 0; i < Rules.Count; i++)
        {
            var r = Rules[i];
            var at = $"{prefix}Rules:{i}";
            if (string.IsNullOrWhiteSpace(r.Name) || r.Name.Any(c => !(char.IsLetterOrDigit(c) || c is '-' or '_' or '.')))
                yield return $"{at}:Name is required: letters, digits, '-', '_', '.' (it is part of MQTT topics).";
            else if (Rules.Take(i).Any(x => x.Name == r.Name)) yield return $"{at}:Name '{r.Name}' is used twice.";
            if (!Kinds.ContainsKey(r.Kind)) { yield return $"{at}:Kind must be one of {string.Join(", ", Kinds.Keys)} (got '{r.Kind}')."; continue; }
            if (r.Kind is "hourly-mean" or "daily-mean" or "single-value" or "voc-trend")
            {
                var parameter = r.Parameter ?? (r.Kind == "voc-trend" ? Parameters.Nmhc : null);
                if (parameter is null || !Parameters.TryFind(parameter, out var info))
                    yield return $"{at}:Parameter must be a parameter code ({string.Join(", ", Parameters.All.Select(p => p.Code))}) for kind {r.Kind}.";
                else if (r.Threshold is null && AlertRuleSettings.DefaultLimitSource(r.Kind, info.Code) is null)
                    yield return $"{at}:Threshold is required for {r.Kind} of {info.Code} (no default limit).";
            }
            if (r.Kind is "silent" or "flag-duration" && r.Threshold is not > 0)
                yield return $"{at}:Threshold (minutes) is required and must be positive for kind {r.Kind}.";
            if (r.Kind == "pm25-target" && r.Threshold is >= 0 or < -100)
                yield return $"{at}:Threshold is the reduction target in percent, between -100 and 0 (e.g. -3).";
            if (r.Threshold is { } t && !double.IsFinite(t)) yield return $"{at}:Threshold must be a number.";
            if (r.ClearThreshold > r.Threshold) yield return $"{at}:ClearThreshold must not be above Threshold.";
            if (r.RepeatInterval <= TimeSpan.Zero || r.For < TimeSpan.Zero) yield return $"{at}: For must not be negative and RepeatInterval must be positive.";
            if (r.Window is { } w && (w <= TimeSpan.Zero || w > TimeSpan.FromDays(31))) yield return $"{at}:Window must be within 0..31 days.";
            if (r.Horizon is { } h && (h <= TimeSpan.Zero || h > TimeSpan.FromDays(2))) yield return $"{at}:Horizon must be within 0..2 days.";
            if (r.DailyAt is { } d && (d < TimeSpan.Zero || d >= TimeSpan.FromDays(1))) yield return $"{at}:DailyAt must be a time of day (hh:mm, China time).";
            if (r.Range.Min >= r.Range.Max) yield return $"{at}:Min must be below Max (6..9 when not given).";
            if (r.StationKind is { } k && !(k.Trim().ToLowerInvariant() is "air" or "voc" or "water"))
                yield return $"{at}:StationKind must be air, voc or water (got '{k}').";
            foreach (var f in r.Flags.Where(f => !DataFlags.All.Contains(f) || DataFlags.IsValid(f)))
                yield return $"{at}:Flags: '{f}' is not an invalidating HJ 212 flag (D, M, C, F, T, B).";
            foreach (var c in r.Channels.Where(c => !channels.Contains(c)))
                yield return $"{at}:Channels names '{c}', which is not in Alerting:Channels.";
            if (r.Channels.Distinct().Count() != r.Channels.Count) yield return $"{at}:Channels names a channel twice.";
            foreach (var (kind, template) in r.Templates)
            {
                if (kind.ToLowerInvariant() is not ("fired" or "reminder" or "acknowledged" or "resolved"))
                    yield return $"{at}:Templates:{kind}: templates exist for fired, reminder, acknowledged and resolved.";
                if (string.IsNullOrWhiteSpace(template.Title) || string.IsNullOrWhiteSpace(template.Text))
                    yield return $"{at}:Templates:{kind} needs Title and Text.";
            }
        }
        for (var i = 0; i < Routes.Count; i++)
        {
            var route = Routes[i];
            var at = $"{prefix}Routes:{i}";
            if (route.Channels.Count == 0) yield return $"{at}:Channels is required.";
            foreach (var c in route.Channels.Where(c => !channels.Contains(c)))
                yield return $"{at}:Channels names '{c}', which is not in Alerting:Channels.";
            foreach (var r in route.Rules.Where(r => Rules.All(x => x.Name != r)))
                yield return $"{at}:Rules names '{r}', which is not a rule.";
            foreach (var address in route.To.Where(a => !MimeKit.MailboxAddress.TryParse(a, out _)))
                yield return $"{at}:To: '{address}' is not an e-mail address.";
        }
        for (var i = 0; i < Maintenance.Count; i++)
        {
            var m = Maintenance[i];
            var at = $"{prefix}Maintenance:{i}";
            if (m.StartAt is not { } start) yield return $"{at}:Start must be a time with its offset, e.g. 2026-12-01T09:00:00+08:00.";
            else if (m.EndAt is not { } end) yield return $"{at}:End must be a time with its offset, e.g. 2026-12-01T17:00:00+08:00.";
            else if (end <= start) yield return $"{at}: End must be after Start.";
            if (m.Rule is { } r && Rules.All(x => x.Name != r)) yield return $"{at}:Rule names '{r}', which is not a rule.";
        }
    }
}

/// <summary>A rule. Its kind decides what is observed (<see cref="AlertRuleSet.Kinds"/>); the alert is pending
/// when the value is above Threshold, fires after For, clears at or below ClearThreshold (hysteresis) and reminds
/// every RepeatInterval until acknowledged.</summary>
public sealed class AlertRuleSettings
{
    public string Name { get; set; } = "";
    public string Kind { get; set; } = "";
    public string Severity { get; set; } = "warning";
    /// <summary>For the mean, single-value and trend kinds: the parameter code.</summary>
    public string? Parameter { get; set; }
    /// <summary>Empty: the limit of the standard (GB 3095 Grade II 24-hour means; GB 37822 / Voc settings, per station,
    /// for NMHC), 0 classes for water-class and ph-range, Api:TargetPercent for pm25-target.</summary>
    public double? Threshold { get; set; }
    public double? ClearThreshold { get; set; }
    public TimeSpan For { get; set; } = TimeSpan.Zero;
    public TimeSpan RepeatInterval { get; set; } = TimeSpan.FromHours(2);
    /// <summary>For silent and flag-duration: the station kind watched (air, voc, water); empty: all.</summary>
    public string? StationKind { get; set; }
    /// <summary>Only these stations (empty: every station of the kind).</summary>
    public List<string> Stations { get; set; } = [];
    /// <summary>single-value: 5 minutes; voc-trend: 2 hours; water-class: 24 hours; ph-range: 1 hour.</summary>
    public TimeSpan? Window { get; set; }
    /// <summary>voc-trend: how far ahead the trend is projected (1 hour).</summary>
    public TimeSpan? Horizon { get; set; }
    /// <summary>flag-duration: the flags that count (D, M, C).</summary>
    public List<string> Flags { get; set; } = [];
    /// <summary>ph-range: the allowed range (6..9, GB 3838).</summary>
    public double? Min { get; set; }
    public double? Max { get; set; }
    /// <summary>Evaluate once a day after this China time instead of every evaluation (pm25-target: 00:30, when
    /// yesterday's daily mean is complete).</summary>
    public TimeSpan? DailyAt { get; set; }
    public List<string> Channels { get; set; } = [];
    /// <summary>This rule's own text per event kind (fired, reminder, acknowledged, resolved), with the templates'
    /// placeholders; kinds not given keep the default text.</summary>
    public Dictionary<string, AlertTemplateSettings> Templates { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    public IReadOnlyDictionary<Domain.Alerting.AlertEventKind, (string Title, string Text)> TemplateOverrides =>
        Templates.ToDictionary(kv => Enum.Parse<Domain.Alerting.AlertEventKind>(kv.Key, ignoreCase: true), kv => (kv.Value.Title, kv.Value.Text));

    /// <summary>ph-range: the allowed range, Min..Max (6..9 when not given).</summary>
    public (double Min, double Max) Range => (Min ?? 6, Max ?? 9);

    public TimeSpan? Schedule => DailyAt ?? (Kind == "pm25-target" ? TimeSpan.FromMinutes(30) : null);

    /// <summary>Where the default limit of a kind and parameter comes from, or null when there is none.</summary>
    public static string? DefaultLimitSource(string kind, string parameter) => (kind, parameter) switch
    {
        ("daily-mean", Parameters.Pm25 or Parameters.Pm10) => "GB 3095 Grade II 24-hour",
        ("hourly-mean" or "voc-trend", Parameters.Nmhc) => "Voc:HourlyMeanLimit",
        ("single-value", Parameters.Nmhc) => "Voc:SingleValueLimit",
        _ => null,
    };
}

public sealed class AlertTemplateSettings
{
    public string Title { get; set; } = "";
    public string Text { get; set; } = "";
}

/// <summary>Who hears about what: events of the named rules (empty: all) and severities (empty: all) go to the
/// channels, with these extra recipients (mobiles to @mention on DingTalk/WeCom, e-mail addresses).</summary>
public sealed class RouteSettings
{
    public List<string> Rules { get; set; } = [];
    public List<string> Severities { get; set; } = [];
    public List<string> Channels { get; set; } = [];
    public List<string> Mobiles { get; set; } = [];
    public List<string> To { get; set; } = [];

    public bool Matches(string rule, string severity) =>
        (Rules.Count == 0 || Rules.Contains(rule)) && (Severities.Count == 0 || Severities.Contains(severity, StringComparer.OrdinalIgnoreCase));
}

/// <summary>A planned maintenance window: notifications for the subject (a station, "zone"; empty: all) and rule
/// (empty: all) are held back between Start and End. The alerts themselves are still tracked.</summary>
public sealed class MaintenanceWindow
{
    public string? Subject { get; set; }
    public string? Rule { get; set; }
    /// <summary>RFC 3339 with its offset (a time without one would depend on the server's time zone).</summary>
    public string Start { get; set; } = "";
    public string End { get; set; } = "";
    public string Comment { get; set; } = "";

    public DateTimeOffset? StartAt => WithOffset(Start);
    public DateTimeOffset? EndAt => WithOffset(End);

    static DateTimeOffset? WithOffset(string text) =>
        text.Length > 6 && (text[^1] is 'Z' or 'z' || text[^6] is '+' or '-' && text[^3] == ':')
        && DateTimeOffset.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.None, out var t) ? t : null;
}

/// <summary>A channel. Secrets (Secret, Password) are never logged. Channels are read at start (not reloaded).</summary>
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
