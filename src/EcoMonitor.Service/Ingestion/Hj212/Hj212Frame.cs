using System.Globalization;
using System.Text;

namespace EcoMonitor.Service.Ingestion.Hj212;

/// <summary>HJ 212-2017 framing: "##" + 4-digit decimal length of the data segment + data segment + CRC (4 hex
/// digits) + "\r\n". The CRC is the standard's own CRC16 (not Modbus's), computed over the data segment.</summary>
public static class Hj212Frame
{
    public const int Overhead = 12; // "##" + 4 length digits + 4 CRC digits + "\r\n"

    /// <summary>reg = 0xFFFF; for each byte: reg = (reg >> 8) ^ b, then 8 times: shift right, xor 0xA001 on carry.</summary>
    public static ushort Crc(ReadOnlySpan<byte> segment)
    {
        var reg = 0xFFFF;
        foreach (var b in segment)
        {
            reg = (reg >> 8) ^ b;
            for (var i = 0; i < 8; i++)
            {
                var carry = reg & 1;
                reg >>= 1;
                if (carry != 0) reg ^= 0xA001;
            }
        }
        return (ushort)reg;
    }

    /// <summary>Frames a data segment (always upper-case CRC digits).</summary>
    public static byte[] Build(string segment)
    {
        var body = Encoding.ASCII.GetBytes(segment);
        if (body.Length > 9999) throw new ArgumentException("an HJ 212 data segment is at most 9999 bytes", nameof(segment));
        return Encoding.ASCII.GetBytes($"##{body.Length:D4}{segment}{Crc(body):X4}\r\n");
    }
}

/// <summary>What the frame reader found: a frame's data segment, or bytes it had to discard and why.</summary>
public readonly record struct FrameResult(string? Segment, string? Error, byte[] Raw)
{
    public bool IsFrame => Segment is not null;
}

/// <summary>Finds frames in a byte stream that may split frames across reads, carry several frames per read, or
/// carry garbage. A bad candidate (length, ending, CRC) gives up only its first '#' and the search goes on from the next
/// "##", so a truncated frame followed by a good one loses nothing of the good one (not even when a stray '#' comes
/// right before it).</summary>
public sealed class Hj212FrameReader(int maxSegmentLength)
{
    byte[] _buffer = new byte[2048];
    int _start, _end;

    /// <summary>Bytes received but not yet part of a complete frame.</summary>
    public int Pending => _end - _start;

    /// <summary>Bytes taken out of the buffer so far: frames, reported bad frames and dropped bytes.</summary>
    public long Consumed { get; private set; }

    /// <summary>Bytes dropped without a report of their own because they are the rest of a bad frame reported in
    /// an earlier <see cref="Read"/> (an oversized frame arriving in pieces). The TCP listener counts them against
    /// the connection's bad-input limit.</summary>
    public long RestOfBadFrameBytes { get; private set; }

    public void Append(ReadOnlySpan<byte> data)
    {
        if (_end + data.Length > _buffer.Length)
        {
            var pending = _end - _start;
            if (pending + data.Length > _buffer.Length)
                Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, pending + data.Length));
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, pending);
            _start = 0;
            _end = pending;
        }
        data.CopyTo(_buffer.AsSpan(_end));
        _end += data.Length;
    }

    /// <summary>Takes every complete frame and every discardable run of bytes out of the buffer.</summary>
    public void Read(List<FrameResult> results)
    {
        while (_end - _start > 0)
        {
            var span = _buffer.AsSpan(_start, _end - _start);
            var at = span.IndexOf("##"u8);
            if (at < 0)
            {
                // Keep a trailing '#': it may be the first half of the next frame's "##".
                var drop = span[^1] == (byte)'#' ? span.Length - 1 : span.Length;
                if (drop == 0) return;
                Discard(drop, "bytes outside any frame", results, silently: _restOfBadFrame);
                return;
            }
            if (at > 0)
            {
                Discard(at, "bytes outside any frame", results, silently: _restOfBadFrame);
                continue;
            }
            _restOfBadFrame = false;
            if (span.Length < 6) return;
            if (!int.TryParse(Encoding.ASCII.GetString(span.Slice(2, 4)), NumberStyles.None, CultureInfo.InvariantCulture, out var length))
            {
                DiscardCandidate(span, $"length field '{Printable(span.Slice(2, 4))}' is not 4 decimal digits", results);
                continue;
            }
            if (length > maxSegmentLength)
            {
                DiscardCandidate(span, $"frame too large: data segment of {length} bytes, at most {maxSegmentLength} (Hj212:MaxSegmentLength)", results);
                continue;
            }
            var total = length + Hj212Frame.Overhead;
            if (span.Length < total) return;
            var segment = span.Slice(6, length);
            var crcText = Encoding.ASCII.GetString(span.Slice(6 + length, 4));
            if (span[total - 2] != '\r' || span[total - 1] != '\n')
            {
                DiscardCandidate(span, $"no CR LF where the length {length:D4} says the frame ends (wrong length or truncated frame)", results);
                continue;
            }
            if (!ushort.TryParse(crcText, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var crc) || crcText.Length != 4)
            {
                DiscardCandidate(span, $"CRC field '{Printable(span.Slice(6 + length, 4))}' is not 4 hex digits", results);
                continue;
            }
            var expected = Hj212Frame.Crc(segment);
            if (crc != expected)
            {
                // Up to the next "##", not the declared length: a truncated frame whose declared length happens to
                // end on the CR LF of the good frame after it must not take that frame with it.
                DiscardCandidate(span, $"CRC mismatch: frame says {crcText}, data segment gives {expected:X4}", results);
                continue;
            }
            var text = Encoding.ASCII.GetString(segment);
            if (segment.ContainsAnyExceptInRange((byte)0x20, (byte)0x7E))
                text = Encoding.UTF8.GetString(segment);
            results.Add(new FrameResult(text, null, span[..total].ToArray()));
            _start += total;
            Consumed += total;
        }
        _start = _end = 0;
    }

    /// <summary>At the end of the input (a closed or timed-out connection, the end of an MQTT payload): the frame
    /// still waiting for its bytes is truncated. It gives up its bytes up to the next "##", and whole frames after
    /// that (the declared length of the truncated one covered them) are still taken.</summary>
    public void Finish(List<FrameResult> results)
    {
        while (_end - _start > 0)
        {
            var span = _buffer.AsSpan(_start, _end - _start);
            var next = span.Length > 1 ? span[1..].IndexOf("##"u8) : -1;
            Discard(next < 0 ? span.Length : next + 1, "truncated frame: the input ended before the frame did", results);
            _restOfBadFrame = false;
            Read(results);
        }
    }

    bool _restOfBadFrame;

    /// <summary>Gives up a bad frame: its bytes up to the next "##", which may begin at its own second '#' (the
    /// rest, if it goes on in later reads, is dropped without a second report).</summary>
    void DiscardCandidate(ReadOnlySpan<byte> span, string why, List<FrameResult> results)
    {
        var next = span[1..].IndexOf("##"u8);
        Discard(next < 0 ? span.Length : next + 1, why, results);
        _restOfBadFrame = next < 0;
    }

    void Discard(int count, string why, List<FrameResult> results, bool silently = false)
    {
        var raw = _buffer.AsSpan(_start, count).ToArray();
        _start += count;
        Consumed += count;
        if (silently) RestOfBadFrameBytes += count;
        // Line ends and blanks between frames are not worth a dead letter.
        if (!silently && raw.AsSpan().ContainsAnyExcept("\r\n \t"u8)) results.Add(new FrameResult(null, why, raw));
    }

    static string Printable(ReadOnlySpan<byte> bytes)
    {
        var sb = new StringBuilder();
        foreach (var b in bytes) sb.Append(b is >= 0x20 and < 0x7F ? (char)b : '?');
        return sb.ToString();
    }
}
