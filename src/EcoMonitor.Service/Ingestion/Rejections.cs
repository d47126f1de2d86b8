namespace EcoMonitor.Service.Ingestion;

/// <summary>Why a message, a reading or a single value was not stored. Codes are part of the dead-letter contract
/// (README, "Dead letters"): integrators match on them, so they never change meaning.</summary>
public static class RejectReason
{
    public const string PayloadTooLarge = "payload_too_large";
    public const string MalformedJson = "malformed_json";
    /// <summary>The payload is not valid UTF-8 anywhere (names, values, members the decoder does not read): the
    /// whole message is refused, nothing of it is stored.</summary>
    public const string InvalidUtf8 = "invalid_utf8";
    public const string InvalidStructure = "invalid_structure";
    public const string InvalidStationId = "invalid_station_id";
    public const string UnknownStation = "unknown_station";
    public const string TooManyReadings = "too_many_readings";
    public const string InvalidTimestamp = "invalid_timestamp";
    public const string TimestampInFuture = "timestamp_in_future";
    public const string TimestampTooOld = "timestamp_too_old";
    public const string UnknownParameter = "unknown_parameter";
    public const string ParameterNotForStationKind = "parameter_not_for_station_kind";
    public const string DuplicateParameter = "duplicate_parameter";
    public const string InvalidValue = "invalid_value";
    public const string NonFiniteValue = "non_finite_value";
    public const string NegativeValue = "negative_value";
    public const string OutOfRange = "out_of_range";
    public const string UnknownUnit = "unknown_unit";
    public const string InvalidFlag = "invalid_flag";
    public const string FlagWithoutValue = "flag_without_value";
    public const string UnitWithoutValue = "unit_without_value";
    public const string RejectedByDatabase = "rejected_by_database";
    public const string ProcessingFailed = "processing_failed";
    public const string BadFrame = "bad_frame";
    public const string MalformedPacket = "malformed_packet";
    public const string UnknownDevice = "unknown_device";
    public const string WrongPassword = "wrong_password";
    public const string StationMismatch = "station_mismatch";
    public const string UnknownFactorCode = "unknown_factor_code";
    public const string MissingValue = "missing_value";
}

/// <summary>One rejection. <see cref="Index"/> is the reading's position in the payload (0 for a single object,
/// null when the whole message is rejected); <see cref="Parameter"/> is set when one value was rejected.</summary>
public sealed record Rejection(string Reason, string Detail, int? Index = null, string? Parameter = null);
