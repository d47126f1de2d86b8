using System.ComponentModel.DataAnnotations;
using Serilog;
using Serilog.Formatting;
using Serilog.Formatting.Compact;
using Serilog.Formatting.Display;

namespace EcoMonitor.Service.Hosting;

/// <summary>Plain: one human-readable line per event. Json: one JSON object per line (Serilog's rendered compact
/// format: "@t" time, "@m" message, "@l" level when not Information, "@x" exception, then the event's properties),
/// for journald, Loki, Elasticsearch and the like.</summary>
public enum LogFormat { Plain, Json }

/// <summary>Settings section "Logging": where the service's log goes and in which format. Levels stay in Serilog's
/// own section (Serilog:MinimumLevel); further sinks may still be added under Serilog:WriteTo. The console sink and
/// the file sink are configured here and not in Serilog:WriteTo so that one setting switches both formats, and a
/// wrong value stops the start with the setting named instead of silently logging nothing.</summary>
public sealed class LoggingSettings : IValidatableObject
{
    public const string Section = "Logging";

    public LogFormat Format { get; set; } = LogFormat.Plain;
    /// <summary>Write to standard output (journald under systemd). False with a file: the file only.</summary>
    public bool Console { get; set; } = true;
    public LogFileSettings File { get; set; } = new();

    public IEnumerable<ValidationResult> Validate(ValidationContext context)
    {
        if (!Enum.IsDefined(Format))
            yield return new($"Logging:Format must be Plain or Json (got {(int)Format}).", [nameof(Format)]);
        if (!Console && string.IsNullOrWhiteSpace(File.Path))
            yield return new("Logging:Console is false and Logging:File:Path is empty: the service would log nowhere.", [nameof(Console)]);
        if (string.IsNullOrWhiteSpace(File.Path)) yield break;
        if (!Enum.IsDefined(File.RollingInterval))
            yield return new($"Logging:File:RollingInterval must be one of {string.Join(", ", Enum.GetNames<RollingInterval>())}.", [nameof(File)]);
        if (File.RetainedFileCountLimit is < 1 or > 10_000)
            yield return new($"Logging:File:RetainedFileCountLimit must be within 1..10000 (got {File.RetainedFileCountLimit}).", [nameof(File)]);
        if (File.FileSizeLimitBytes is < 1024 * 1024)
            yield return new($"Logging:File:FileSizeLimitBytes must be at least 1048576 (1 MiB) (got {File.FileSizeLimitBytes}).", [nameof(File)]);
    }
}

/// <summary>The rolling file sink (Serilog.Sinks.File). Empty Path: no file. With RollingInterval Day, Path
/// /var/log/ecomonitor/service.log writes service20261201.log, service20261202.log, ...; a file that reaches
/// FileSizeLimitBytes rolls over to service20261201_001.log; only the newest RetainedFileCountLimit files are kept.</summary>
public sealed class LogFileSettings
{
    /// <summary>Relative paths are from the content root (the working directory under systemd).</summary>
    public string? Path { get; set; }
    public RollingInterval RollingInterval { get; set; } = RollingInterval.Day;
    public int RetainedFileCountLimit { get; set; } = 31;
    public long FileSizeLimitBytes { get; set; } = 100L * 1024 * 1024;
}

/// <summary>Reads <see cref="LoggingSettings"/> (before the host exists: the logger is made first) and applies them
/// to Serilog.</summary>
public static class ServiceLogging
{
    /// <summary>The console line as before (the journal adds the date); the file line carries the date and offset,
    /// and its message is rendered with "l" only: with "j" the plain text formatter quotes durations and enums.</summary>
    const string ConsoleTemplate = "{Timestamp:HH:mm:ss.fff} {Level:u3} {SourceContext}: {Message:lj}{NewLine}{Exception}";
    const string FileTemplate = "{Timestamp:yyyy-MM-dd HH:mm:ss.fff zzz} {Level:u3} {SourceContext}: {Message:l}{NewLine}{Exception}";

    /// <summary>The settings, bound and checked; throws <see cref="Microsoft.Extensions.Options.OptionsValidationException"/>
    /// naming every problem (a value that does not convert is reported by <see cref="StrictSettings"/> first).</summary>
    public static LoggingSettings Read(IConfiguration configuration, string contentRoot)
    {
        var (settings, problems) = ReadWithProblems(configuration, contentRoot);
        if (problems.Count > 0)
            throw new Microsoft.Extensions.Options.OptionsValidationException(LoggingSettings.Section, typeof(LoggingSettings), problems);
        return settings;
    }

    public static (LoggingSettings Settings, List<string> Problems) ReadWithProblems(IConfiguration configuration, string contentRoot)
    {
        var settings = configuration.GetSection(LoggingSettings.Section).Get<LoggingSettings>() ?? new LoggingSettings();
        settings.File ??= new LogFileSettings();
        var problems = SettingsValidation.Problems(settings, LoggingSettings.Section);
        if (problems.Count == 0 && FullPath(settings, contentRoot) is { } path && WritableProblem(path) is { } problem)
            problems.Add(problem);
        return (settings, problems);
    }

    public static string? FullPath(LoggingSettings settings, string contentRoot) =>
        string.IsNullOrWhiteSpace(settings.File.Path) ? null : Path.GetFullPath(Path.Combine(contentRoot, settings.File.Path));

    /// <summary>The file sink reports a file it cannot open only to Serilog's self-log, and then writes nothing: the
    /// folder is created and tried here instead, so that a wrong path or a missing permission stops the start.</summary>
    static string? WritableProblem(string path)
    {
        try
        {
            var folder = Path.GetDirectoryName(path)!;
            Directory.CreateDirectory(folder);
            var probe = Path.Combine(folder, $".ecomonitor-write-test-{Environment.ProcessId}");
            System.IO.File.WriteAllBytes(probe, []);
            System.IO.File.Delete(probe);
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            return $"Logging:File:Path: cannot write log files to '{path}': {e.Message}";
        }
    }

    /// <summary>The console and file sinks of the settings, each in the chosen format.</summary>
    public static LoggerConfiguration WriteTo(this LoggerConfiguration logger, LoggingSettings settings, string contentRoot)
    {
        ITextFormatter Formatter(string template) => settings.Format == LogFormat.Json
            ? new RenderedCompactJsonFormatter()
            : new MessageTemplateTextFormatter(template, System.Globalization.CultureInfo.InvariantCulture);
        if (settings.Console)
            logger = settings.Format == LogFormat.Json
                ? logger.WriteTo.Console(Formatter(ConsoleTemplate))
                : logger.WriteTo.Console(outputTemplate: ConsoleTemplate, formatProvider: System.Globalization.CultureInfo.InvariantCulture);
        if (FullPath(settings, contentRoot) is { } path)
            logger = logger.WriteTo.File(Formatter(FileTemplate), path,
                rollingInterval: settings.File.RollingInterval,
                retainedFileCountLimit: settings.File.RetainedFileCountLimit,
                fileSizeLimitBytes: settings.File.FileSizeLimitBytes,
                rollOnFileSizeLimit: true);
        return logger;
    }

    /// <summary>The host logs a failed start with the exception's stack trace before it rethrows it; for a wrong
    /// setting, file or port that line is left out, as the service's exit reports the message alone (exit 2).</summary>
    public static bool ReportedAtExit(Serilog.Events.LogEvent e) =>
        e.Exception is Microsoft.Extensions.Options.OptionsValidationException or InvalidOperationException
            or IOException { InnerException: Microsoft.AspNetCore.Connections.AddressInUseException }
        && e.MessageTemplate.Text == "Hosting failed to start"
        && e.Properties.TryGetValue("SourceContext", out var source)
        && source is Serilog.Events.ScalarValue { Value: "Microsoft.Extensions.Hosting.Internal.Host" };

    /// <summary>For the start-up report.</summary>
    public static string Describe(LoggingSettings settings, string contentRoot) =>
        $"{settings.Format} to {(settings.Console ? "the console" : "no console")}" + (FullPath(settings, contentRoot) is { } path
            ? $" and {path} (rolling {settings.File.RollingInterval}, at most {settings.File.FileSizeLimitBytes} B a file, {settings.File.RetainedFileCountLimit} files kept)"
            : ", no file");
}
