using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace EcoMonitor.Cli;

/// <summary>Where an import of one file stands, kept next to the file (<c>FILE.ecomon-import</c>) and rewritten
/// (atomically: a temporary file renamed over it) after every batch the service acknowledged. It names the file's
/// version by its size, the SHA-256 of its first megabyte and of the 64 KB before the resume point, so a state is
/// never applied to a changed file; it
/// records the next line and its byte offset, how long the rejected-lines file was (a resumed import cuts it back to
/// that length, so lines of a batch that was sent but not acknowledged are not listed twice), and the counts so far
/// (the final summary covers the whole file, across interruptions). Deleted when the file is done. Not forced to
/// disk: a state lost with the machine only makes the import resume earlier, which stores nothing twice.</summary>
internal sealed class ImportState
{
    public int Version { get; set; } = 1;
    public string File { get; set; } = "";
    public long Size { get; set; }
    public string HeadSha256 { get; set; } = "";
    public string Format { get; set; } = "";
    public string TimeZone { get; set; } = "";
    /// <summary>The first line not yet acknowledged (1-based) and its byte offset.</summary>
    public long NextLine { get; set; } = 1;
    public long NextOffset { get; set; }
    public long RejectedBytes { get; set; }
    /// <summary>SHA-256 of the <see cref="ResumeBytes"/> bytes before <see cref="NextOffset"/>: an edit of the file
    /// beyond its first megabyte that keeps its size is caught where it matters, at the line the import resumes.</summary>
    public string ResumeSha256 { get; set; } = "";
    public long Rows { get; set; }
    public long ValuesStored { get; set; }
    public long StatisticsStored { get; set; }
    public long LinesRejected { get; set; }
    public Dictionary<string, long> Rejected { get; set; } = new(StringComparer.Ordinal);
    public double ElapsedSeconds { get; set; }
    public int Sessions { get; set; }

    static readonly JsonSerializerOptions Options = new() { WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.Never };

    public const int HeadBytes = 1024 * 1024;

    /// <summary>Size and SHA-256 (hex) of the first megabyte.</summary>
    public static (long Size, string HeadSha256) Fingerprint(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        var head = new byte[(int)Math.Min(HeadBytes, stream.Length)];
        stream.ReadExactly(head);
        return (stream.Length, Convert.ToHexStringLower(SHA256.HashData(head)));
    }

    public const int ResumeBytes = 64 * 1024;

    /// <summary>SHA-256 (hex) of the bytes of <paramref name="file"/> in [offset - <see cref="ResumeBytes"/>, offset).</summary>
    public static string ResumeFingerprint(string file, long offset)
    {
        using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        var start = Math.Max(0, offset - ResumeBytes);
        if (offset > stream.Length) return "";
        stream.Seek(start, SeekOrigin.Begin);
        var bytes = new byte[(int)(offset - start)];
        stream.ReadExactly(bytes);
        return Convert.ToHexStringLower(SHA256.HashData(bytes));
    }

    public static ImportState? Load(string path)
    {
        if (!System.IO.File.Exists(path)) return null;
        try
        {
            return JsonSerializer.Deserialize<ImportState>(System.IO.File.ReadAllText(path), Options);
        }
        catch (JsonException e)
        {
            throw new InvalidOperationException($"the import state {path} is not readable ({e.Message}); remove it or pass --restart");
        }
    }

    public void Save(string path)
    {
        var temp = path + ".tmp";
        using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write))
        {
            JsonSerializer.Serialize(stream, this, Options);
            stream.Flush();
        }
        System.IO.File.Move(temp, path, overwrite: true);
    }
}
