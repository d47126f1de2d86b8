using System.ComponentModel.DataAnnotations;
using EcoMonitor.Service.Alerting;
using EcoMonitor.Service.Stations;
using Microsoft.Extensions.Options;

namespace EcoMonitor.Service.Hosting;

/// <summary>What <see cref="ConfigCheck"/> found: a line per thing checked, the problems (each names its setting or
/// file), and notes that do not stop the start.</summary>
public sealed class ConfigReport
{
    public List<string> Checked { get; } = [];
    /// <summary>Problems that stop the start.</summary>
    public List<string> Problems { get; } = [];
    /// <summary>Rules that reach no channel: a problem for --check-config, a warning at start (the rules may be
    /// meant to be watched through the API only; the service runs, but says so).</summary>
    public List<string> Unrouted { get; } = [];
    public List<string> Notes { get; } = [];

    /// <summary>Everything --check-config counts as a problem.</summary>
    public IReadOnlyList<string> AllProblems => [.. Problems, .. Unrouted];
    /// <summary>The endpoints the service would listen on (null where their settings are wrong or Hj212:Tcp is off).</summary>
    public List<ListenEndpoint?> Endpoints { get; } = [];

    public void Print(TextWriter output)
    {
        output.WriteLine("EcoMonitor configuration check");
        foreach (var line in Checked) output.WriteLine($"  {line}");
        foreach (var note in Notes) output.WriteLine($"note: {note}");
        if (AllProblems.Count == 0)
        {
            output.WriteLine("OK: no problems found.");
            return;
        }
        output.WriteLine($"{AllProblems.Count} problem(s):");
        // A problem of several lines (the stations file lists each station's) stays together, indented.
        foreach (var problem in AllProblems) output.WriteLine($"  - {problem.ReplaceLineEndings("\n    ")}");
        output.WriteLine(Problems.Count > 0 ? "The service would not start."
            : "The service would start, but alerts of the rules above would reach nobody (it warns of them at start).");
    }
}

/// <summary>Checks everything the service reads at start, without connecting to the broker or the database and
/// without listening: every settings section (values that convert, then the same validation as at start), the
/// listening endpoints and TLS certificates, the log settings, the stations file, the standards and the alert rules
/// (including rules that reach no channel). `EcoMonitor.Service --check-config` prints the report and exits 0 or 2;
/// a normal start runs the same check first, so that every problem is listed at once, each in one line.</summary>
public static class ConfigCheck
{
    public const string Flag = "--check-config";

    /// <summary>The configuration exactly as a start with these arguments reads it (appsettings.json,
    /// appsettings.{Environment}.json, environment variables, command line).</summary>
    public static ConfigReport Run(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);
        return Run(builder.Configuration, builder.Environment, creatingFolders: false);
    }

    public static ConfigReport Run(IConfiguration config, IHostEnvironment environment, bool creatingFolders)
    {
        var report = new ConfigReport();
        var root = environment.ContentRootPath;

        // Settings: values that convert to their types first; a section with such a problem is not validated further.
        var bound = new Dictionary<Type, object>();
        foreach (var (section, type) in StrictSettings.Sections)
        {
            var problems = StrictSettings.Problems(config.GetSection(section), type);
            if (problems.Count == 0)
            {
                var value = config.GetSection(section).Get(type) ?? Activator.CreateInstance(type)!;
                problems = SettingsValidation.Problems(value, section);
                if (problems.Count == 0) bound[type] = value;
            }
            report.Problems.AddRange(problems);
        }
        report.Checked.Add($"settings: {StrictSettings.Sections.Count} sections ({string.Join(", ", StrictSettings.Sections.Select(s => s.Section))}), {(report.Problems.Count == 0 ? "all valid" : $"{report.Problems.Count} problem(s)")}");

        if (bound.TryGetValue(typeof(Query.ApiSettings), out var api) && ((Query.ApiSettings)api).Keys.Count == 0)
            report.Notes.Add("Api:Keys: none, so every call of the gRPC and JSON API is refused.");

        var (http, grpc, endpointProblems) = Hosting.Endpoints.Read(config, root);
        report.Problems.AddRange(endpointProblems);
        var hj212 = Hosting.Endpoints.Hj212(config);
        report.Endpoints.AddRange([http, grpc, hj212]);
        report.Checked.Add($"endpoints: {Describe(http, "Http:Url")}, {Describe(grpc, "Grpc:Url")}, Hj212:Tcp {(hj212 is null ? "off" : hj212.ToString())}");

        if (bound.TryGetValue(typeof(LoggingSettings), out var l))
        {
            var logging = (LoggingSettings)l;
            if (ServiceLogging.FullPath(logging, root) is { } path && !creatingFolders && !Directory.Exists(Path.GetDirectoryName(path)))
                report.Notes.Add($"Logging:File:Path: the folder '{Path.GetDirectoryName(path)}' does not exist yet; the service creates it at start.");
            else if (ServiceLogging.ReadWithProblems(config, root).Problems is { Count: > 0 } logProblems)
                report.Problems.AddRange(logProblems);
            report.Checked.Add($"logs: {ServiceLogging.Describe(logging, root)}");
        }

        StationRegistry? stations = null;
        if (bound.TryGetValue(typeof(StationsSettings), out var s))
        {
            var file = Path.Combine(root, ((StationsSettings)s).File);
            try
            {
                stations = StationRegistry.Load(file);
                report.Checked.Add($"stations: {stations.All.Count} from {Path.GetFullPath(file)} ({stations.All.Count(x => x.Kind == Domain.StationKind.Air)} air, "
                    + $"{stations.All.Count(x => x.Kind == Domain.StationKind.Voc)} VOCs, {stations.All.Count(x => x.Kind == Domain.StationKind.Water)} water)");
            }
            catch (InvalidOperationException e)
            {
                report.Problems.Add(e.Message);
                report.Checked.Add($"stations: {Path.GetFullPath(file)} has problems");
            }
        }

        if (bound.TryGetValue(typeof(Query.StandardsSettings), out var st))
        {
            try
            {
                var standards = new Query.StandardsCatalog(Options.Create((Query.StandardsSettings)st), environment);
                report.Checked.Add($"standards: {standards.Air.Name}, {standards.Aqi.Name}, {standards.Water.Name}");
            }
            catch (InvalidOperationException e)
            {
                report.Problems.Add(e.Message);
            }
        }

        if (bound.TryGetValue(typeof(AlertingSettings), out var a))
            CheckRules((AlertingSettings)a, root, stations, report);
        return report;
    }

    static string Describe(ListenEndpoint? e, string setting) =>
        e is null ? $"{setting} invalid" : $"{setting} {e.Scheme}://{e}{(e.Certificate is { } c ? $" (certificate {c.Subject}, valid until {c.NotAfter:yyyy-MM-dd})" : "")}";

    static void CheckRules(AlertingSettings alerting, string root, StationRegistry? stations, ConfigReport report)
    {
        if (!alerting.Enabled)
        {
            report.Checked.Add("alert rules: alerting is off (Alerting:Enabled), rules not read");
            return;
        }
        var channels = alerting.Channels.Select(c => c.Name).ToList();
        AlertRuleSet rules;
        string source;
        if (alerting.RulesFile is { Length: > 0 } f)
        {
            source = Path.GetFullPath(Path.Combine(root, f));
            var (set, errors) = RuleRouting.ReadFile(source, channels);
            report.Problems.AddRange(errors);
            if (set is null)
            {
                report.Checked.Add($"alert rules: {source} has problems");
                return;
            }
            rules = set;
        }
        else
        {
            source = "settings (Alerting:Rules)";
            rules = alerting.RuleSet;
        }
        var prefix = alerting.RulesFile is { Length: > 0 } ? $"Alerting:RulesFile ({Path.GetFileName(source)}) " : "Alerting:";
        report.Unrouted.AddRange(RuleRouting.Describe(rules, prefix));
        if (stations is not null)
        {
            // A rule limited to stations that do not exist watches nothing; not a stop, as a station may be added later.
            foreach (var (rule, i) in rules.Rules.Select((r, i) => (r, i)))
                foreach (var id in rule.Stations.Where(id => !stations.TryGet(id, out _)))
                    report.Notes.Add($"{prefix}Rules:{i} '{rule.Name}' names station '{id}', which is not in the stations file.");
        }
        report.Checked.Add($"alert rules: {rules.Rules.Count} rule(s), {rules.Routes.Count} route(s), {rules.Maintenance.Count} maintenance window(s) from {source}; "
            + $"channels {(channels.Count == 0 ? "none" : string.Join(", ", alerting.Channels.Select(c => $"{c.Name} ({c.Type})")))}");
    }
}

/// <summary>The data-annotation and <see cref="IValidatableObject"/> validation that ValidateDataAnnotations runs at
/// start, with each message naming the full setting ("Mqtt:Port: The field Port must be between 1 and 65535.")
/// instead of the type and member.</summary>
public static class SettingsValidation
{
    public static List<string> Problems(object settings, string section)
    {
        var results = new List<ValidationResult>();
        Validator.TryValidateObject(settings, new ValidationContext(settings), results, validateAllProperties: true);
        return [.. results.Select(r => r.ErrorMessage is { } m && m.Contains(section + ":", StringComparison.Ordinal)
            ? m
            : $"{section}:{string.Join(", ", r.MemberNames)}: {r.ErrorMessage}")];
    }
}
