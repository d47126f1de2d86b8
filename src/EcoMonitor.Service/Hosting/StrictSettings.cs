using System.Collections;
using System.ComponentModel;
using System.Globalization;
using System.Reflection;
using Microsoft.Extensions.Options;

namespace EcoMonitor.Service.Hosting;

/// <summary>Checks, before anything is bound, that every configured value converts to the type of its setting.
/// The configuration binder is lenient where it matters most: a value it cannot convert inside a list or dictionary
/// element (Api:Keys:0:Role = "Operater") silently drops the whole element, so the key then fails as unknown; a bad
/// value elsewhere throws a generic conversion error; and an enum accepts any number ("7") as a role. Here an enum
/// takes only one of its names (case-insensitive), and every problem is reported with the setting's full key and,
/// for enums, the allowed values.</summary>
public static class StrictSettings
{
    /// <summary>The settings sections and the types they bind to.</summary>
    public static readonly IReadOnlyList<(string Section, Type Type)> Sections =
    [
        (MqttSettings.Section, typeof(MqttSettings)),
        (IngestionSettings.Section, typeof(IngestionSettings)),
        (InfluxSettings.Section, typeof(InfluxSettings)),
        (HealthSettings.Section, typeof(HealthSettings)),
        (RollupSettings.Section, typeof(RollupSettings)),
        (StationsSettings.Section, typeof(StationsSettings)),
        (Ingestion.Hj212.Hj212Settings.Section, typeof(Ingestion.Hj212.Hj212Settings)),
        (Query.ApiSettings.Section, typeof(Query.ApiSettings)),
        (Query.VocSettings.Section, typeof(Query.VocSettings)),
        (Query.StandardsSettings.Section, typeof(Query.StandardsSettings)),
        (Alerting.AlertingSettings.Section, typeof(Alerting.AlertingSettings)),
        (LoggingSettings.Section, typeof(LoggingSettings)),
        (Import.ImportSettings.Section, typeof(Import.ImportSettings)),
    ];

    /// <summary>Throws <see cref="OptionsValidationException"/> listing every value that does not fit its setting.</summary>
    public static void Check(IConfiguration configuration)
    {
        var problems = new List<string>();
        foreach (var (section, type) in Sections)
            Walk(configuration.GetSection(section), type, problems);
        if (problems.Count > 0)
            throw new OptionsValidationException(string.Join(", ", Sections.Select(s => s.Section)), typeof(StrictSettings), problems);
    }

    /// <summary>The problems of one section (for tests and for sections checked elsewhere).</summary>
    public static IReadOnlyList<string> Problems(IConfigurationSection section, Type type)
    {
        var problems = new List<string>();
        Walk(section, type, problems);
        return problems;
    }

    static void Walk(IConfigurationSection section, Type type, List<string> problems)
    {
        if (Scalar(type))
        {
            if (section.Value is { } value) CheckValue(section.Path, value, type, problems);
            return;
        }
        if (ElementType(type, out var isDictionary) is { } element)
        {
            foreach (var child in section.GetChildren())
                if (isDictionary || int.TryParse(child.Key, NumberStyles.None, CultureInfo.InvariantCulture, out _))
                    Walk(child, element, problems);
            return;
        }
        if (type == typeof(string) || type == typeof(object)) return;
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (property.GetIndexParameters().Length > 0) continue;
            // Read-only properties are bound too when they hold a collection or an object, but never converted.
            if (!property.CanWrite && Scalar(property.PropertyType)) continue;
            var child = section.GetSection(property.Name);
            if (child.Value is null && !child.GetChildren().Any()) continue;
            Walk(child, property.PropertyType, problems);
        }
    }

    static void CheckValue(string key, string value, Type type, List<string> problems)
    {
        var target = Nullable.GetUnderlyingType(type) ?? type;
        if (target.IsEnum)
        {
            var names = Enum.GetNames(target);
            if (!names.Contains(value.Trim(), StringComparer.OrdinalIgnoreCase))
                problems.Add($"{key} must be one of {string.Join(", ", names)} (got '{value}').");
            return;
        }
        if (value.Length == 0 && Nullable.GetUnderlyingType(type) is not null) return; // "" leaves a nullable unset
        try
        {
            _ = TypeDescriptor.GetConverter(target).ConvertFromInvariantString(value);
        }
        catch (Exception e) when (e is FormatException or ArgumentException or NotSupportedException or OverflowException or UriFormatException)
        {
            // A URL may carry user:password@: never echo that part.
            var shown = target == typeof(Uri) ? System.Text.RegularExpressions.Regex.Replace(value, "//[^/@]*@", "//***@") : value;
            problems.Add($"{key}: '{shown}' is not a valid {Describe(target)}.");
        }
    }

    static string Describe(Type t) =>
        t == typeof(TimeSpan) ? "duration ([d.]hh:mm:ss[.fff])" :
        t == typeof(bool) ? "boolean (true or false)" :
        t == typeof(Uri) ? "URL" :
        t == typeof(int) || t == typeof(long) || t == typeof(uint) || t == typeof(ushort) ? "whole number" :
        t == typeof(double) || t == typeof(decimal) || t == typeof(float) ? "number" :
        t.Name;

    static bool Scalar(Type type)
    {
        var t = Nullable.GetUnderlyingType(type) ?? type;
        return t.IsPrimitive || t.IsEnum || t == typeof(decimal) || t == typeof(TimeSpan) || t == typeof(DateTimeOffset)
            || t == typeof(DateTime) || t == typeof(Uri) || t == typeof(Guid);
    }

    static Type? ElementType(Type type, out bool isDictionary)
    {
        isDictionary = false;
        if (type.IsArray) return type.GetElementType();
        if (!type.IsGenericType || !typeof(IEnumerable).IsAssignableFrom(type)) return null;
        var args = type.GetGenericArguments();
        if (args.Length == 2)
        {
            isDictionary = true;
            return args[1];
        }
        return args.Length == 1 ? args[0] : null;
    }
}
