using System.Text;
using EcoMonitor.Service.Storage;
using Xunit;

namespace EcoMonitor.Service.Tests;

/// <summary>The /write body built line by line into a pooled buffer: byte for byte what joining the lines gave, with
/// a Content-Length that matches the bytes sent.</summary>
public sealed class LineProtocolContentTests
{
    static byte[] Expected(IEnumerable<string> lines) => Encoding.UTF8.GetBytes(string.Concat(lines.Select(l => l + "\n")));

    [Fact]
    public async Task Body_is_the_lines_in_utf8_each_ended_by_a_newline()
    {
        // Multi-byte tag values (a section's Chinese name), a line longer than the 32 KiB buffer, and enough lines to
        // fill the buffer several times over.
        var lines = new List<string>
        {
            "reading,station=衡水湖断面,parameter=pH value=7.12 1764547200000",
            "reading,station=air-1,parameter=PM2.5 value=35 1764547200000",
            "stat,station=w-1,parameter=NH3-N note=\"" + new string('氨', 20_000) + "\" 1764547200000",
        };
        for (var i = 0; i < 3_000; i++) lines.Add($"reading,station=air-{i % 50},parameter=NO2 value={i}.5,flag=\"N\" {1764547200000 + i}");

        using var content = new LineProtocolContent(lines);
        var body = await content.ReadAsByteArrayAsync();
        Assert.Equal(Expected(lines), body);
        Assert.Equal(body.Length, content.Headers.ContentLength);
        Assert.Equal("text/plain", content.Headers.ContentType?.MediaType);
        Assert.Equal("utf-8", content.Headers.ContentType?.CharSet);
    }

    [Fact]
    public async Task A_range_sends_only_its_lines()
    {
        var lines = Enumerable.Range(0, 10).Select(i => $"reading,station=s{i},parameter=CO value={i} {i}").ToList();
        using var content = new LineProtocolContent(lines, 3, 4);
        var body = await content.ReadAsByteArrayAsync();
        Assert.Equal(Expected(lines.Skip(3).Take(4)), body);
        Assert.Equal(body.Length, content.Headers.ContentLength);
        Assert.Throws<ArgumentOutOfRangeException>(() => new LineProtocolContent(lines, 8, 4));
    }
}
