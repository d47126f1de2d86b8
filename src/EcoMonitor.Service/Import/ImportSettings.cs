using System.ComponentModel.DataAnnotations;

namespace EcoMonitor.Service.Import;

/// <summary>Settings section "Import": limits of the historical import (<see cref="ImportApi"/>). Imported data is
/// old by nature, so it is held to <see cref="MaxAge"/> instead of Ingestion:MaxAge (a live gateway replaying a month
/// is a fault; an operator loading last year is the point). Everything else is checked as for live data, the future
/// skew included.</summary>
public sealed class ImportSettings : IValidatableObject
{
    public const string Section = "Import";

    /// <summary>Imported values older than this are rejected (timestamp_too_old). Five years by default: the annual
    /// evaluation and the year-over-year target need the last year or two; a century-old date is a typo.</summary>
    public TimeSpan MaxAge { get; set; } = TimeSpan.FromDays(5 * 366);

    /// <summary>Lines one batch may carry; a larger batch fails the call (INVALID_ARGUMENT).</summary>
    [Range(1, 100_000)] public int MaxBatchLines { get; set; } = 20_000;

    /// <summary>A longer line is rejected (payload_too_large) without being decoded.</summary>
    [Range(64, 65_536)] public int MaxLineBytes { get; set; } = 4096;

    /// <summary>How long the end of an import call waits for the rollups of the imported hours before it answers
    /// anyway (they still follow from the durable marks).</summary>
    public TimeSpan RollupWait { get; set; } = TimeSpan.FromMinutes(5);

    public IEnumerable<ValidationResult> Validate(ValidationContext context)
    {
        if (MaxAge <= TimeSpan.Zero || MaxAge > TimeSpan.FromDays(100 * 366))
            yield return new($"Import:MaxAge must be positive and at most 100 years (got {MaxAge}).", [nameof(MaxAge)]);
        if (RollupWait < TimeSpan.Zero || RollupWait > TimeSpan.FromHours(1))
            yield return new($"Import:RollupWait must be within 00:00:00..01:00:00 (got {RollupWait}).", [nameof(RollupWait)]);
    }
}
