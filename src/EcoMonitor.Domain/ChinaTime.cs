using System.Globalization;

namespace EcoMonitor.Domain;

/// <summary>China Standard Time: hours, days, months and years of every aggregate are local (UTC+8, no DST).</summary>
public static class ChinaTime
{
    public static readonly TimeSpan Offset = TimeSpan.FromHours(8);

    public static DateTimeOffset StartOf(DateOnly day) => new(day.ToDateTime(TimeOnly.MinValue), Offset);

    public static DateOnly DateOf(DateTimeOffset t) => DateOnly.FromDateTime(t.ToOffset(Offset).DateTime);

    /// <summary>Local midnight of the day <paramref name="t"/> falls on.</summary>
    public static DateTimeOffset DayStartOf(DateTimeOffset t) => StartOf(DateOf(t));

    public static string Format(DateTimeOffset t) => t.ToOffset(Offset).ToString("yyyy-MM-ddTHH:mm:sszzz", CultureInfo.InvariantCulture);

    /// <summary>An instant as RFC 3339 in UTC with milliseconds, as InfluxDB and the API exchange it.</summary>
    public static string Utc(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture);
}
