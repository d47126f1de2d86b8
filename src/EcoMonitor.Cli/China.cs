using System.Globalization;
using EcoMonitor.Api.V1;
using Grpc.Core;

namespace EcoMonitor.Cli;

/// <summary>Times as an officer reads them: China Standard Time (Asia/Shanghai, UTC+8 with no daylight saving since
/// 1991), whatever zone the machine running `ecomon` is set to; the API's days and hours are the same local time.</summary>
static class China
{
    public static readonly TimeSpan Offset = TimeSpan.FromHours(8);

    /// <summary>An RFC 3339 instant from the API as "yyyy-MM-dd HH:mm" China time; empty stays empty, anything that is
    /// not a time is shown as it came.</summary>
    public static string Time(string rfc3339) =>
        Parse(rfc3339) is { } t ? t.ToOffset(Offset).ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture) : rfc3339;

    /// <summary>A bucket's start: the date alone for days, months and years, the hour for hours.</summary>
    public static string Start(string rfc3339, Period period) =>
        period is Period.Hour or Period.Unspecified || Parse(rfc3339) is not { } t
            ? Time(rfc3339)
            : t.ToOffset(Offset).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

    /// <summary>The China wall-clock time of an API instant (what the chart's axis shows).</summary>
    public static DateTime? WallClock(string rfc3339) => Parse(rfc3339)?.ToOffset(Offset).DateTime;

    public static DateTimeOffset? Parse(string rfc3339) =>
        rfc3339.Length > 0 && DateTimeOffset.TryParse(rfc3339, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t) ? t : null;

    /// <summary>A time given on the command line: "yyyy-MM-dd" or "yyyy-MM-dd HH:mm" (China time), or RFC 3339 with
    /// its offset; returned as RFC 3339 for the API.</summary>
    public static DateTimeOffset Input(string value, string option)
    {
        string[] local = ["yyyy-MM-dd", "yyyy-MM-dd HH:mm", "yyyy-MM-ddTHH:mm", "yyyy-MM-dd HH:mm:ss", "yyyy-MM-ddTHH:mm:ss"];
        if (DateTime.TryParseExact(value, local, CultureInfo.InvariantCulture, DateTimeStyles.None, out var wall))
            return new DateTimeOffset(wall, Offset);
        if ((value.EndsWith('Z') || value.Length > 6 && value[^6] is '+' or '-' && value[^3] == ':')
            && DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.None, out var zoned))
            return zoned;
        throw new RpcException(new Status(StatusCode.InvalidArgument,
            $"{option}: '{value}' is not yyyy-MM-dd, yyyy-MM-dd HH:mm (China time) or RFC 3339 with its offset"));
    }

    public static string Rfc3339(DateTimeOffset t) => t.ToString("yyyy-MM-ddTHH:mm:sszzz", CultureInfo.InvariantCulture);
}
