using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace EcoMonitor.Service.Ingestion;

/// <summary>The dead-letter message published to {prefix}/deadletter/{stationId}: the original payload and every
/// reason (README, "Dead letters").</summary>
public static class DeadLetter
{
    static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>How much of a payload a dead letter keeps when the whole would make it larger than allowed.</summary>
    public const int TruncatedPayloadBytes = 4096;

    /// <summary>The dead letter with the whole payload, or, when that would be larger than <paramref name="maxBytes"/>
    /// (a broker refuses messages over its message_size_limit, and escaping can make a payload six times larger),
    /// with its first <see cref="TruncatedPayloadBytes"/> bytes, its length and its SHA-256, so the original can still
    /// be identified in the gateway's records.</summary>
    public static byte[] Build(ProcessedMessage message, byte[] payload, DateTimeOffset receivedAt, int maxBytes)
    {
        var whole = Build(message, payload, receivedAt, null);
        if (whole.Length <= maxBytes) return whole;
        var head = payload.AsSpan(0, Math.Min(payload.Length, TruncatedPayloadBytes));
        // Cut on a character boundary when the payload is UTF-8, so the kept part stays text.
        if (IsUtf8(payload))
            while (head.Length > 0 && head.Length < payload.Length && (payload[head.Length] & 0xC0) == 0x80) head = head[..^1];
        return Build(message, head.ToArray(), receivedAt, new Truncation(payload.Length, Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(payload))));
    }

    static byte[] Build(ProcessedMessage message, byte[] payload, DateTimeOffset receivedAt, Truncation? truncated)
    {
        var rejections = message.Fatal is { } f ? [f] : message.Rejections;
        var utf8 = IsUtf8(payload);
        var body = new Body(
            message.Topic,
            message.StationId,
            receivedAt,
            message.StoredCount == 0 ? "message" : "partial",
            rejections[0].Reason,
            [.. rejections.Select(r => new Item(r.Reason, r.Detail, r.Index, r.Parameter))],
            message.StoredCount,
            utf8 ? Encoding.UTF8.GetString(payload) : null,
            utf8 ? null : Convert.ToBase64String(payload),
            truncated is null ? null : true,
            truncated?.Bytes,
            truncated?.Sha256);
        return JsonSerializer.SerializeToUtf8Bytes(body, Options);
    }

    sealed record Truncation(int Bytes, string Sha256);

    static bool IsUtf8(byte[] bytes)
    {
        try
        {
            _ = new UTF8Encoding(false, true).GetCharCount(bytes);
            return true;
        }
        catch (DecoderFallbackException)
        {
            return false;
        }
    }

    sealed record Body(string Topic, string? Station, DateTimeOffset ReceivedAt, string Scope, string Reason,
        IReadOnlyList<Item> Rejections, int StoredReadings, string? Payload, string? PayloadBase64,
        bool? PayloadTruncated, int? PayloadBytes, string? PayloadSha256);

    sealed record Item(string Reason, string Detail, int? Index, string? Parameter);
}
