using System.Buffers;
using System.Net;
using System.Net.Http.Headers;
using System.Text;

namespace EcoMonitor.Service.Storage;

/// <summary>A /write request body: lines of line protocol, each followed by '\n', encoded as UTF-8 straight into the
/// request stream through one pooled buffer. A batch of 5,000 points was a 1 MB string and a 500 KB byte array per
/// request, both on the large object heap (collected only with generation 2). The length is computed up front, so the
/// request carries a Content-Length as before.</summary>
public sealed class LineProtocolContent : HttpContent
{
    readonly IReadOnlyList<string> _lines;
    readonly int _start, _count;
    const int BufferSize = 32 * 1024;

    public LineProtocolContent(IReadOnlyList<string> lines, int start, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(start);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(start + count, lines.Count);
        (_lines, _start, _count) = (lines, start, count);
        Headers.ContentType = new MediaTypeHeaderValue("text/plain") { CharSet = "utf-8" };
    }

    public LineProtocolContent(IReadOnlyList<string> lines) : this(lines, 0, lines.Count)
    {
    }

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            var used = 0;
            for (var i = _start; i < _start + _count; i++)
            {
                var line = _lines[i];
                var size = Encoding.UTF8.GetMaxByteCount(line.Length) + 1;
                if (size > buffer.Length - used)
                {
                    if (used > 0) await stream.WriteAsync(buffer.AsMemory(0, used), cancellationToken);
                    used = 0;
                    if (size > buffer.Length)
                    {
                        // A line longer than the buffer (never from the service's own schema): written on its own.
                        await stream.WriteAsync(Encoding.UTF8.GetBytes(line + "\n"), cancellationToken);
                        continue;
                    }
                }
                used += Encoding.UTF8.GetBytes(line, buffer.AsSpan(used));
                buffer[used++] = (byte)'\n';
            }
            if (used > 0) await stream.WriteAsync(buffer.AsMemory(0, used), cancellationToken);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    protected override bool TryComputeLength(out long length)
    {
        length = 0;
        for (var i = _start; i < _start + _count; i++) length += Encoding.UTF8.GetByteCount(_lines[i]) + 1;
        return true;
    }
}
