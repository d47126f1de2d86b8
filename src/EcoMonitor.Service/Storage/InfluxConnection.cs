using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using EcoMonitor.Service.Hosting;
using Microsoft.Extensions.Options;

namespace EcoMonitor.Service.Storage;

/// <summary>The HTTP connection to InfluxDB's v1 API (/write, /query, /ping): served natively by InfluxDB 1.x and
/// by the compatibility API of 2.x and 3.x. Credentials go in the Authorization header, never in a URL or a log.</summary>
public sealed class InfluxConnection : IDisposable
{
    readonly HttpClient _http;

    public InfluxConnection(IOptions<InfluxSettings> options)
        : this(options, new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
    {
    }

    /// <summary>Over a handler of the caller's (tests hold a request on its way to the real InfluxDB).</summary>
    internal InfluxConnection(IOptions<InfluxSettings> options, HttpMessageHandler handler)
    {
        Settings = options.Value;
        _http = new HttpClient(handler)
        {
            // A trailing slash keeps a path prefix (a reverse proxy's /influx/) when "write" and "query" are appended.
            BaseAddress = Settings.Url.AbsoluteUri.EndsWith('/') ? Settings.Url : new Uri(Settings.Url.AbsoluteUri + "/"),
            Timeout = Settings.Timeout,
        };
        if (!string.IsNullOrEmpty(Settings.Token))
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Token", Settings.Token);
        else if (!string.IsNullOrEmpty(Settings.Username))
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic",
                Convert.ToBase64String(Encoding.UTF8.GetBytes($"{Settings.Username}:{Settings.Password}")));
    }

    public InfluxSettings Settings { get; }

    public HttpClient Http => _http;

    /// <summary>The /write URL of the configured database and retention policy, millisecond precision.</summary>
    public string WriteUrl => $"write?db={Uri.EscapeDataString(Settings.Database)}&precision=ms" +
        (string.IsNullOrEmpty(Settings.RetentionPolicy) ? "" : $"&rp={Uri.EscapeDataString(Settings.RetentionPolicy)}");

    /// <summary>Runs InfluxQL. <paramref name="parameters"/> are sent as bind parameters ($name in the query text):
    /// values from requests never become part of the query text.</summary>
    public async Task<IReadOnlyList<InfluxSeries>> QueryAsync(string influxQl, IReadOnlyDictionary<string, object>? parameters = null,
        CancellationToken ct = default, bool post = false)
    {
        var form = new Dictionary<string, string>
        {
            ["db"] = Settings.Database,
            ["q"] = influxQl,
            ["epoch"] = "ms",
        };
        if (!string.IsNullOrEmpty(Settings.RetentionPolicy)) form["rp"] = Settings.RetentionPolicy;
        if (parameters is { Count: > 0 }) form["params"] = JsonSerializer.Serialize(parameters);
        using var content = new FormUrlEncodedContent(form);
        using var response = post
            ? await _http.PostAsync("query", content, ct)
            : await _http.GetAsync("query?" + await content.ReadAsStringAsync(ct), ct);
        var body = await response.Content.ReadAsStringAsync(ct);
        if (!response.IsSuccessStatusCode)
            throw new InfluxException((int)response.StatusCode, ErrorOf(body) ?? body);
        return InfluxSeries.Parse(body);
    }

    /// <summary>Rows per chunk of a <see cref="QueryNumbersAsync"/> answer (a chunk is about 30 bytes a row).</summary>
    public const int ChunkRows = 2000;

    /// <summary>Runs InfluxQL whose answer may be large (minute data of many stations and hours) and whose columns are
    /// <c>time</c> and one number (<paramref name="column"/>). InfluxDB sends the answer in chunks of
    /// <see cref="ChunkRows"/> rows (<c>chunked=true</c>, one JSON answer per line); each chunk is read token by token
    /// and each row with a number handed to <paramref name="row"/> (the series' tags, epoch milliseconds, the number)
    /// in the answer's order, so only one chunk is held at a time and nothing is kept per row. A series longer than a
    /// chunk comes in several, in time order. Rows without a number (null) are skipped. A server that does not
    /// chunk sends one answer, taken the same way. The whole answer must arrive within Influx:Timeout (an
    /// <see cref="OperationCanceledException"/> otherwise, as for <see cref="QueryAsync"/>).</summary>
    public async Task QueryNumbersAsync(string influxQl, IReadOnlyDictionary<string, object>? parameters, string column,
        Action<IReadOnlyDictionary<string, string>, long, double> row, CancellationToken ct = default)
    {
        await foreach (var chunk in ChunksAsync(influxQl, parameters, ct)) NumberRows.Read(chunk.Span, column, row);
    }

    /// <summary>Runs InfluxQL whose answer may be large, as <see cref="QueryAsync"/> does, but asks for it in chunks of
    /// <see cref="ChunkRows"/> rows and parses one chunk at a time: what is held (and allocated, on the large-object
    /// heap) is a chunk's size whatever the answer's, where <see cref="QueryAsync"/> holds the whole answer twice (as
    /// text and parsed). A series longer than a chunk comes as several <see cref="InfluxSeries"/> with the same tags,
    /// in time order; a server that does not chunk sends one answer, taken the same way. The whole answer must arrive
    /// within Influx:Timeout.</summary>
    public async IAsyncEnumerable<InfluxSeries> QuerySeriesAsync(string influxQl, IReadOnlyDictionary<string, object>? parameters,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct = default)
    {
        await foreach (var chunk in ChunksAsync(influxQl, parameters, ct))
            foreach (var series in InfluxSeries.Parse(chunk.Span))
                yield return series;
    }

    /// <summary>The chunks of a chunked answer (see <see cref="QueryNumbersAsync"/>); each is valid until the next
    /// is asked for.</summary>
    async IAsyncEnumerable<ReadOnlyMemory<byte>> ChunksAsync(string influxQl, IReadOnlyDictionary<string, object>? parameters,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        var form = new Dictionary<string, string>
        {
            ["db"] = Settings.Database,
            ["q"] = influxQl,
            ["epoch"] = "ms",
            ["chunked"] = "true",
            ["chunk_size"] = ChunkRows.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        if (!string.IsNullOrEmpty(Settings.RetentionPolicy)) form["rp"] = Settings.RetentionPolicy;
        if (parameters is { Count: > 0 }) form["params"] = JsonSerializer.Serialize(parameters);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(Settings.Timeout);
        using var request = new HttpRequestMessage(HttpMethod.Post, "query") { Content = new FormUrlEncodedContent(form) };
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
        if (!response.IsSuccessStatusCode)
        {
            var body = await response.Content.ReadAsStringAsync(timeout.Token);
            throw new InfluxException((int)response.StatusCode, ErrorOf(body) ?? body);
        }
        await using var stream = await response.Content.ReadAsStreamAsync(timeout.Token);
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(64 * 1024);
        var (start, end) = (0, 0);
        try
        {
            while (true)
            {
                var newline = buffer.AsSpan(start, end - start).IndexOf((byte)'\n');
                if (newline >= 0)
                {
                    var line = buffer.AsMemory(start, newline);
                    start += newline + 1;
                    if (!line.Span.Trim(" \t\r"u8).IsEmpty) yield return line;
                    continue;
                }
                if (start > 0)
                {
                    Buffer.BlockCopy(buffer, start, buffer, 0, end - start);
                    (start, end) = (0, end - start);
                }
                if (end == buffer.Length)
                {
                    var larger = System.Buffers.ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                    Buffer.BlockCopy(buffer, 0, larger, 0, end);
                    System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
                    buffer = larger;
                }
                var read = await stream.ReadAsync(buffer.AsMemory(end), timeout.Token);
                if (read == 0)
                {
                    if (!buffer.AsSpan(0, end).Trim(" \t\r\n"u8).IsEmpty) yield return buffer.AsMemory(0, end);
                    yield break;
                }
                end += read;
            }
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>The "error" member of an InfluxDB error body, if it has one.</summary>
    public static string? ErrorOf(string body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            return doc.RootElement.TryGetProperty("error", out var e) ? e.GetString() : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public void Dispose() => _http.Dispose();
}

public sealed class InfluxException(int status, string message) : Exception($"InfluxDB answered {status}: {message}")
{
    public int Status { get; } = status;
}

/// <summary>One series of a /query answer; values keep InfluxDB's JSON (times are epoch milliseconds).</summary>
public sealed record InfluxSeries(string Name, IReadOnlyDictionary<string, string> Tags, IReadOnlyList<string> Columns, IReadOnlyList<JsonElement[]> Values)
{
    public static IReadOnlyList<InfluxSeries> Parse(string body) =>
        // One copy of the answer that the values point into (not pooled, so it needs no disposing), instead of a
        // clone per value: a rollup query's answer has tens of thousands of them.
        Parse(JsonElement.Parse(body));

    /// <summary>One answer (or one chunk of a chunked answer) in UTF-8; the values own a copy of it.</summary>
    public static IReadOnlyList<InfluxSeries> Parse(ReadOnlySpan<byte> utf8) => Parse(JsonElement.Parse(utf8));

    static IReadOnlyList<InfluxSeries> Parse(JsonElement root)
    {
        var list = new List<InfluxSeries>();
        if (!root.TryGetProperty("results", out var results)) return list;
        foreach (var result in results.EnumerateArray())
        {
            if (result.TryGetProperty("error", out var error))
                throw new InfluxException(200, error.GetString() ?? "query error");
            if (!result.TryGetProperty("series", out var series)) continue;
            foreach (var s in series.EnumerateArray())
            {
                var tags = new Dictionary<string, string>();
                if (s.TryGetProperty("tags", out var t))
                    foreach (var p in t.EnumerateObject()) tags[p.Name] = p.Value.GetString() ?? "";
                var columns = s.GetProperty("columns").EnumerateArray().Select(c => c.GetString()!).ToList();
                var values = s.TryGetProperty("values", out var v)
                    ? v.EnumerateArray().Select(row => row.EnumerateArray().ToArray()).ToList()
                    : [];
                list.Add(new InfluxSeries(s.TryGetProperty("name", out var n) ? n.GetString() ?? "" : "", tags, columns, values));
            }
        }
        return list;
    }

    /// <summary>The index of <paramref name="column"/> in <see cref="Columns"/>, or -1 when the answer has none.</summary>
    public int IndexOf(string column)
    {
        for (var i = 0; i < Columns.Count; i++)
            if (Columns[i] == column) return i;
        return -1;
    }

    /// <summary>Rows as column name -> value.</summary>
    public IEnumerable<IReadOnlyDictionary<string, JsonElement>> Rows() =>
        Values.Select(row => (IReadOnlyDictionary<string, JsonElement>)Columns.Zip(row).ToDictionary(x => x.First, x => x.Second));
}

/// <summary>The rows of one /query answer whose columns are <c>time</c> and one number, read token by token
/// (<see cref="InfluxConnection.QueryNumbersAsync"/>). InfluxDB writes a series' members in the order name, tags,
/// columns, values; members this reader does not know are skipped.</summary>
static class NumberRows
{
    public static void Read(ReadOnlySpan<byte> answer, string column, Action<IReadOnlyDictionary<string, string>, long, double> row)
    {
        var reader = new Utf8JsonReader(answer);
        Expect(ref reader, JsonTokenType.StartObject);
        while (Property(ref reader) is { } name)
        {
            if (!Wanted(ref reader, name, "results")) continue;
            Expect(ref reader, JsonTokenType.StartArray);
            while (Next(ref reader) == JsonTokenType.StartObject)
                while (Property(ref reader) is { } member)
                {
                    if (!Wanted(ref reader, member, "series")) continue;
                    Expect(ref reader, JsonTokenType.StartArray);
                    while (Next(ref reader) == JsonTokenType.StartObject) Series(ref reader, column, row);
                }
        }
    }

    /// <summary>At a property: true when it is <paramref name="wanted"/>; an "error" member is thrown (InfluxDB's
    /// error for the whole answer or one statement); any other is skipped.</summary>
    static bool Wanted(ref Utf8JsonReader reader, string name, string wanted)
    {
        if (name == "error")
        {
            reader.Read();
            throw new InfluxException(200, reader.GetString() ?? "query error");
        }
        if (name == wanted) return true;
        reader.Skip();
        return false;
    }

    static void Series(ref Utf8JsonReader reader, string column, Action<IReadOnlyDictionary<string, string>, long, double> row)
    {
        IReadOnlyDictionary<string, string> tags = new Dictionary<string, string>();
        var (time, value, count) = (-1, -1, 0);
        while (Property(ref reader) is { } member)
            switch (member)
            {
                case "tags":
                    Expect(ref reader, JsonTokenType.StartObject);
                    var t = new Dictionary<string, string>();
                    while (Property(ref reader) is { } tag)
                    {
                        reader.Read();
                        t[tag] = reader.GetString() ?? "";
                    }
                    tags = t;
                    break;
                case "columns":
                    Expect(ref reader, JsonTokenType.StartArray);
                    while (Next(ref reader) == JsonTokenType.String)
                    {
                        var name = reader.GetString();
                        if (name == "time") time = count;
                        else if (name == column) value = count;
                        count++;
                    }
                    break;
                case "values":
                    if (time < 0 || value < 0) throw new InvalidOperationException($"InfluxDB's answer has no 'time' or '{column}' column");
                    Expect(ref reader, JsonTokenType.StartArray);
                    while (Next(ref reader) == JsonTokenType.StartArray)
                    {
                        var (ms, number, has, i) = (0L, 0.0, false, 0);
                        while (Next(ref reader) != JsonTokenType.EndArray)
                        {
                            if (i == time) ms = reader.GetInt64();
                            else if (i == value && reader.TokenType == JsonTokenType.Number) (number, has) = (reader.GetDouble(), true);
                            else reader.Skip();
                            i++;
                        }
                        if (has) row(tags, ms, number);
                    }
                    break;
                default:
                    reader.Skip();
                    break;
            }
    }

    /// <summary>The next property's name (the reader then stands on it), or null at the end of the object.</summary>
    static string? Property(ref Utf8JsonReader reader) =>
        Next(ref reader) == JsonTokenType.PropertyName ? reader.GetString() : null;

    static JsonTokenType Next(ref Utf8JsonReader reader) =>
        reader.Read() ? reader.TokenType : throw new JsonException("InfluxDB's answer ends early");

    static void Expect(ref Utf8JsonReader reader, JsonTokenType type)
    {
        if (Next(ref reader) != type) throw new JsonException($"InfluxDB's answer has {reader.TokenType} where {type} was expected");
    }
}
