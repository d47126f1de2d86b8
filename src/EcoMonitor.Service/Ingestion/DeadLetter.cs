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

    public static byte[] Build(ProcessedMessage message, byte[] payload, DateTimeOffset receivedAt)
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
            utf8 ? null : Convert.ToBase64String(payload));
        return JsonSerializer.SerializeToUtf8Bytes(body, Options);
    }

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
        IReadOnlyList<Item> Rejections, int StoredReadings, string? Payload, string? PayloadBase64);

    sealed record Item(string Reason, string Detail, int? Index, string? Parameter);
}
