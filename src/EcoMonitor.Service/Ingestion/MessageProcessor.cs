using EcoMonitor.Domain;
using EcoMonitor.Service.Hosting;
using EcoMonitor.Service.Ingestion.Hj212;
using EcoMonitor.Service.Stations;
using Microsoft.Extensions.Options;

namespace EcoMonitor.Service.Ingestion;

/// <summary>What became of one MQTT message: the readings to store and the reasons for everything else.</summary>
public sealed class ProcessedMessage(string topic, string? stationId)
{
    public string Topic { get; } = topic;
    /// <summary>The station named by the topic, null when the topic does not name one.</summary>
    public string? StationId { get; set; } = stationId;
    public List<AcceptedReading> Accepted { get; } = [];
    /// <summary>HJ 212 minute/hourly/daily statistics to store.</summary>
    public List<AcceptedStatistic> Statistics { get; } = [];
    public List<Rejection> Rejections { get; } = [];
    /// <summary>What was received but is not data (HJ 212 heartbeats, commands that are not stored), for the log.</summary>
    public List<string> Notes { get; } = [];
    /// <summary>Set when the whole message was refused (nothing of it is stored).</summary>
    public Rejection? Fatal { get; set; }
    public bool HasRejections => Fatal is not null || Rejections.Count > 0;
    /// <summary>Values stored: accepted by validation and not refused by the database.</summary>
    public int StoredCount => Accepted.Count + Statistics.Count - Rejections.Count(r => r.Reason == RejectReason.RejectedByDatabase);
}

/// <summary>Topic -> station, payload -> readings, readings -> validated readings. Pure and synchronous: it runs on
/// the MQTT receive path and never waits on the network. JSON arrives on {prefix}/{station}/readings, HJ 212 frames
/// on {prefix}/{station}/hj212 (and on the TCP listener).</summary>
public sealed class MessageProcessor
{
    const string JsonSuffix = "/readings";
    const string Hj212Suffix = "/hj212";

    readonly IngestionSettings _settings;
    readonly Hj212Settings _hj212Settings;
    readonly StationRegistry _stations;
    readonly ReadingValidator _validator;
    readonly Hj212Decoder _hj212;

    public MessageProcessor(IOptions<IngestionSettings> options, IOptions<Hj212Settings> hj212, StationRegistry stations)
    {
        _settings = options.Value;
        _hj212Settings = hj212.Value;
        _stations = stations;
        _validator = new ReadingValidator(_settings);
        _hj212 = new Hj212Decoder(_hj212Settings, stations, _validator);
    }

    public IReadOnlyList<string> TopicFilters => [$"{_settings.TopicPrefix}/+{JsonSuffix}", $"{_settings.TopicPrefix}/+{Hj212Suffix}"];

    /// <summary>Ingestion:MaxPayloadBytes: also the largest dead letter published whole (DeadLetter.Build).</summary>
    public int MaxPayloadBytes => _settings.MaxPayloadBytes;

    public string DeadLetterTopic(string? stationId) => $"{_settings.TopicPrefix}/deadletter/{stationId ?? "_"}";

    public ProcessedMessage Process(string topic, ReadOnlyMemory<byte> payload, DateTimeOffset now)
    {
        var isHj212 = topic.EndsWith(Hj212Suffix, StringComparison.Ordinal);
        var stationId = StationFromTopic(topic, isHj212 ? Hj212Suffix : JsonSuffix);
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
        if (!_stations.TryGet(result.StationId, out var known))
        {
            if (_settings.UnknownStations == UnknownStationPolicy.Reject)
            {
                result.Fatal = new(RejectReason.UnknownStation, $"station '{result.StationId}' is not in the stations file (Ingestion:UnknownStations = Reject)");
                return result;
            }
        }
        else station = known;

        if (isHj212)
        {
            DecodeHj212(payload.Span, result.StationId, now, result);
            return result;
        }
        var decoded = JsonReadingDecoder.Decode(payload, _settings.MaxReadingsPerMessage);
        if (decoded.Fatal is not null)
        {
            result.Fatal = decoded.Fatal;
            return result;
        }
        result.Rejections.AddRange(decoded.Rejections);
        _validator.Validate(result.StationId, station, decoded.Readings, now, result.Accepted, result.Rejections, result.Statistics);
        return result;
    }

    /// <summary>One or more HJ 212 frames in an MQTT payload; bytes that are not a frame are rejected with the reason.</summary>
    void DecodeHj212(ReadOnlySpan<byte> payload, string station, DateTimeOffset now, ProcessedMessage result)
    {
        var reader = new Hj212FrameReader(_hj212Settings.MaxSegmentLength);
        var frames = new List<FrameResult>();
        reader.Append(payload);
        reader.Read(frames);
        reader.Finish(frames);
        var index = 0;
        foreach (var frame in frames)
        {
            if (frame.IsFrame) _hj212.Decode(frame.Segment!, index, station, now, result);
            else result.Rejections.Add(new(RejectReason.BadFrame, frame.Error!, index));
            index++;
        }
        if (frames.Count == 0) result.Fatal = new(RejectReason.BadFrame, "no HJ 212 frame in the payload");
    }

    /// <summary>One frame (or bad run of bytes) from the TCP listener. <paramref name="packet"/> is set when the sender
    /// is a known station with the right password, so it may be answered.</summary>
    public ProcessedMessage ProcessFrame(FrameResult frame, string source, DateTimeOffset now, out Hj212Packet? packet)
    {
        var result = new ProcessedMessage(source, null);
        packet = null;
        if (!frame.IsFrame) result.Fatal = new(RejectReason.BadFrame, frame.Error!);
        else packet = _hj212.Decode(frame.Segment!, 0, null, now, result);
        return result;
    }

    string? StationFromTopic(string topic, string suffix)
    {
        var prefix = _settings.TopicPrefix + "/";
        if (!topic.StartsWith(prefix, StringComparison.Ordinal) || !topic.EndsWith(suffix, StringComparison.Ordinal)) return null;
        var middle = topic.AsSpan(prefix.Length, Math.Max(0, topic.Length - prefix.Length - suffix.Length));
        return middle.Length == 0 || middle.Contains('/') ? null : middle.ToString();
    }
}
