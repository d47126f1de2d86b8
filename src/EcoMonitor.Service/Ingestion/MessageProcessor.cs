using EcoMonitor.Domain;
using EcoMonitor.Service.Hosting;
using EcoMonitor.Service.Stations;
using Microsoft.Extensions.Options;

namespace EcoMonitor.Service.Ingestion;

/// <summary>What became of one MQTT message: the readings to store and the reasons for everything else.</summary>
public sealed class ProcessedMessage(string topic, string? stationId)
{
    public string Topic { get; } = topic;
    /// <summary>The station named by the topic, null when the topic does not name one.</summary>
    public string? StationId { get; } = stationId;
    public List<AcceptedReading> Accepted { get; } = [];
    public List<Rejection> Rejections { get; } = [];
    /// <summary>Set when the whole message was refused (nothing of it is stored).</summary>
    public Rejection? Fatal { get; set; }
    public bool HasRejections => Fatal is not null || Rejections.Count > 0;
    /// <summary>Values stored: accepted by validation and not refused by the database.</summary>
    public int StoredCount => Accepted.Count - Rejections.Count(r => r.Reason == RejectReason.RejectedByDatabase);
}

/// <summary>Topic -> station, payload -> readings, readings -> validated readings. Pure and synchronous: it runs on
/// the MQTT receive path and never waits on the network.</summary>
public sealed class MessageProcessor(IOptions<IngestionSettings> options, StationRegistry stations)
{
    readonly IngestionSettings _settings = options.Value;
    readonly ReadingValidator _validator = new(options.Value);

    public string ReadingsTopicFilter => $"{_settings.TopicPrefix}/+/readings";

    public string DeadLetterTopic(string? stationId) => $"{_settings.TopicPrefix}/deadletter/{stationId ?? "_"}";

    public ProcessedMessage Process(string topic, ReadOnlyMemory<byte> payload, DateTimeOffset now)
    {
        var stationId = StationFromTopic(topic);
        var result = new ProcessedMessage(topic, stationId is not null && Station.IsValidId(stationId) ? stationId : null);
        if (result.StationId is null)
        {
            result.Fatal = new(RejectReason.InvalidStationId, $"topic '{topic}' does not name a valid station id ({Station.IdPattern})");
            return result;
        }
        if (payload.Length > _settings.MaxPayloadBytes)
        {
            result.Fatal = new(RejectReason.PayloadTooLarge, $"{payload.Length} bytes; at most {_settings.MaxPayloadBytes} (Ingestion:MaxPayloadBytes)");
            return result;
        }
        Station? station = null;
        if (!stations.TryGet(result.StationId, out var known))
        {
            if (_settings.UnknownStations == UnknownStationPolicy.Reject)
            {
                result.Fatal = new(RejectReason.UnknownStation, $"station '{result.StationId}' is not in the stations file (Ingestion:UnknownStations = Reject)");
                return result;
            }
        }
        else station = known;

        var decoded = JsonReadingDecoder.Decode(payload, _settings.MaxReadingsPerMessage);
        if (decoded.Fatal is not null)
        {
            result.Fatal = decoded.Fatal;
            return result;
        }
        result.Rejections.AddRange(decoded.Rejections);
        _validator.Validate(result.StationId, station, decoded.Readings, now, result.Accepted, result.Rejections);
        return result;
    }

    string? StationFromTopic(string topic)
    {
        var prefix = _settings.TopicPrefix + "/";
        const string suffix = "/readings";
        if (!topic.StartsWith(prefix, StringComparison.Ordinal) || !topic.EndsWith(suffix, StringComparison.Ordinal)) return null;
        var middle = topic.AsSpan(prefix.Length, Math.Max(0, topic.Length - prefix.Length - suffix.Length));
        return middle.Length == 0 || middle.Contains('/') ? null : middle.ToString();
    }
}
