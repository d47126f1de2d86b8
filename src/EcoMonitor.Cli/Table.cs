using System.Globalization;
using System.Text;

namespace EcoMonitor.Cli;

/// <summary>A plain text table; Chinese characters count two columns, as a terminal shows them.</summary>
sealed class Table(params string[] headers)
{
    readonly List<string[]> _rows = [];

    public Table Row(params object?[] cells)
    {
        _rows.Add(cells.Select(Format).ToArray());
        return this;
    }

    /// <summary>A verdict the API may withhold (an absent optional bool): yes, no, or unknown when it cannot decide
    /// (no valid data), never "no" for "no data".</summary>
    public static string Verdict(bool present, bool value) => !present ? "unknown" : value ? "yes" : "no";

    static string Format(object? v) => v switch
    {
        null => "",
        double d => d.ToString("0.###", CultureInfo.InvariantCulture),
        bool b => b ? "yes" : "no",
        _ => Convert.ToString(v, CultureInfo.InvariantCulture) ?? "",
    };

    static int Width(string s) => s.Sum(c => c >= 0x1100 && (c <= 0x115F || (c >= 0x2E80 && c <= 0xA4CF) || (c >= 0xAC00 && c <= 0xD7A3) || (c >= 0xF900 && c <= 0xFAFF) || (c >= 0xFF00 && c <= 0xFF60)) ? 2 : 1);

    public void WriteTo(TextWriter output)
    {
        var widths = headers.Select((h, i) => Math.Max(Width(h), _rows.Count == 0 ? 0 : _rows.Max(r => Width(r[i])))).ToArray();
        void Line(string[] cells)
        {
            var sb = new StringBuilder();
            for (var i = 0; i < cells.Length; i++)
            {
                sb.Append(cells[i]);
                if (i < cells.Length - 1) sb.Append(' ', widths[i] - Width(cells[i]) + 2);
            }
            output.WriteLine(sb.ToString().TrimEnd());
        }
        Line(headers);
        Line(widths.Select(w => new string('-', w)).ToArray());
        foreach (var r in _rows) Line(r);
    }
}
