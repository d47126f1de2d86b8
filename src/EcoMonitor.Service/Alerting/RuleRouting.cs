using System.Text.Json;

namespace EcoMonitor.Service.Alerting;

/// <summary>Which rules reach no channel. A rule notifies its own Channels and those of every route that matches its
/// name and severity (see <see cref="AlertEvaluator"/>); a rule with neither still fires, is tracked and shows in the
/// API, but nobody is told. That is almost always a mistake (a route's Rules or Severities that leave it out, a rule
/// added without Channels), so it is reported: a warning at start and at every reload, a problem for
/// --check-config.</summary>
public static class RuleRouting
{
    /// <summary>As the service reads the rules file: names case-insensitive, comments and trailing commas allowed.</summary>
    public static readonly JsonSerializerOptions RulesJson = new() { PropertyNameCaseInsensitive = true, ReadCommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };

    /// <summary>The rules that reach no channel, with their position in the rule set.</summary>
    public static IReadOnlyList<(int Index, AlertRuleSettings Rule)> Unrouted(AlertRuleSet rules) =>
        [.. rules.Rules.Select((rule, i) => (i, rule))
            .Where(x => x.rule.Channels.Count == 0 && !rules.Routes.Any(route => route.Channels.Count > 0 && route.Matches(x.rule.Name, x.rule.Severity)))];

    /// <summary>One sentence per unrouted rule, naming it.</summary>
    public static IEnumerable<string> Describe(AlertRuleSet rules, string prefix) => Unrouted(rules).Select(x =>
        $"{prefix}Rules:{x.Index} '{x.Rule.Name}' (severity {x.Rule.Severity}) reaches no channel: it has no Channels and no route matches it; it would fire without notifying anyone.");

    /// <summary>Reads and checks a rules file as the evaluator does at start.</summary>
    public static (AlertRuleSet? Rules, List<string> Errors) ReadFile(string path, IReadOnlyCollection<string> channels)
    {
        if (!File.Exists(path)) return (null, [$"Alerting:RulesFile: '{path}' does not exist."]);
        AlertRuleSet set;
        try
        {
            set = (JsonSerializer.Deserialize<AlertRuleSet>(File.ReadAllBytes(path), RulesJson) ?? new AlertRuleSet()).Normalized();
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException)
        {
            return (null, [$"Alerting:RulesFile: '{path}' cannot be read: {e.Message}"]);
        }
        var errors = set.Validate($"Alerting:RulesFile ({Path.GetFileName(path)}) ", channels).ToList();
        return (errors.Count == 0 ? set : null, errors);
    }
}
