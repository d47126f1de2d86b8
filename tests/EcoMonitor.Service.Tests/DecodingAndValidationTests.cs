using System.Text;
using EcoMonitor.Service.Hosting;
using EcoMonitor.Service.Ingestion;
using EcoMonitor.Service.Stations;
using Microsoft.Extensions.Options;

namespace EcoMonitor.Service.Tests;

/// <summary>Decoding and validation without the broker: every reason, and what is kept beside it.</summary>
public sealed class DecodingAndValidationTests
{
    static readonly DateTimeOffset Now = new(2026, 3, 1, 0, 0, 0, TimeSpan.Zero);
    static readonly long NowMs = Now.ToUnixTimeMilliseconds();

    static readonly StationRegistry Stations = new([
        new("air-1", "管委会", Domain.StationKind.Air, "高新区", 37.7, 115.7),
        new("voc-1", "化工园区", Domain.StationKind.Voc, "高新区", 37.8, 115.7),
        new("w-1", "滏阳河断面", Domain.StationKind.Water, "高新区", 37.7, 115.7, Domain.WaterBody.River, Domain.WaterClass.IV),
    ]);

    static MessageProcessor Processor(Action<IngestionSettings>? change = null)
    {
        var s = new IngestionSettings();
        change?.Invoke(s);
        return new MessageProcessor(Options.Create(s), Options.Create(new EcoMonitor.Service.Ingestion.Hj212.Hj212Settings()), Stations);
    }

    static ProcessedMessage Process(string station, string json, Action<IngestionSettings>? change = null) =>
        Processor(change).Process($"eco/{station}/readings", Encoding.UTF8.GetBytes(json), Now);

    [Theory]
    [InlineData("{", RejectReason.MalformedJson)]
    [InlineData("", RejectReason.MalformedJson)]
    [InlineData("{\"ts\": 1, \"values\": {\"pm25\": NaN}}", RejectReason.MalformedJson)]
    [InlineData("42", RejectReason.InvalidStructure)]
    [InlineData("\"text\"", RejectReason.InvalidStructure)]
    [InlineData("[]", RejectReason.InvalidStructure)]
    public void Whole_message_rejections(string json, string reason)
    {
        var r = Process("air-1", json);
        Assert.Equal(reason, r.Fatal?.Reason);
        Assert.Empty(r.Accepted);
    }

    [Theory]
    [InlineData("""{"values": {"pm25": 1}}""", RejectReason.InvalidTimestamp)]
    [InlineData("""{"ts": "2026-03-01 08:00:00", "values": {"pm25": 1}}""", RejectReason.InvalidTimestamp)]
    [InlineData("""{"ts": "yesterday", "values": {"pm25": 1}}""", RejectReason.InvalidTimestamp)]
    [InlineData("""{"ts": 1.5, "values": {"pm25": 1}}""", RejectReason.InvalidTimestamp)]
    [InlineData("""{"ts": -1, "values": {"pm25": 1}}""", RejectReason.InvalidTimestamp)]
    [InlineData("""{"ts": true, "values": {"pm25": 1}}""", RejectReason.InvalidTimestamp)]
    [InlineData("""{"ts": "2026-03-01T08:06:00.001+08:00", "values": {"pm25": 1}}""", RejectReason.TimestampInFuture)]
    [InlineData("""{"ts": "2026-01-01T00:00:00Z", "values": {"pm25": 1}}""", RejectReason.TimestampTooOld)]
    [InlineData("""{"ts": "2026-03-01T00:00:00Z"}""", RejectReason.InvalidStructure)]
    [InlineData("""{"ts": "2026-03-01T00:00:00Z", "values": {}}""", RejectReason.InvalidStructure)]
    [InlineData("""{"ts": "2026-03-01T00:00:00Z", "values": [1]}""", RejectReason.InvalidStructure)]
    [InlineData("""{"ts": "2026-03-01T00:00:00Z", "values": {"pm25": 1}, "flags": "N"}""", RejectReason.InvalidStructure)]
    [InlineData("""{"ts": "2026-03-01T00:00:00Z", "values": {"pm25": 1}, "units": {"pm25": 1}}""", RejectReason.InvalidStructure)]
    public void Whole_reading_rejections(string json, string reason)
    {
        var r = Process("air-1", json);
        Assert.Null(r.Fatal);
        Assert.Empty(r.Accepted);
        var rejection = Assert.Single(r.Rejections);
        Assert.Equal(reason, rejection.Reason);
        Assert.Equal(0, rejection.Index);
        Assert.Null(rejection.Parameter);
    }

    [Theory]
    [InlineData("air-1", """{"xylene": 1}""", null, null, RejectReason.UnknownParameter)]
    [InlineData("air-1", """{"nmhc": 1}""", null, null, RejectReason.ParameterNotForStationKind)]
    [InlineData("w-1", """{"pm25": 1}""", null, null, RejectReason.ParameterNotForStationKind)]
    [InlineData("air-1", """{"pm25": "35"}""", null, null, RejectReason.InvalidValue)]
    [InlineData("air-1", """{"pm25": null}""", null, null, RejectReason.InvalidValue)]
    [InlineData("air-1", """{"pm25": "NaN"}""", null, null, RejectReason.NonFiniteValue)]
    [InlineData("air-1", """{"pm25": "-Infinity"}""", null, null, RejectReason.NonFiniteValue)]
    [InlineData("air-1", """{"pm25": 1e400}""", null, null, RejectReason.NonFiniteValue)]
    [InlineData("air-1", """{"pm25": -0.1}""", null, null, RejectReason.NegativeValue)]
    [InlineData("air-1", """{"pm25": 1000.5}""", null, null, RejectReason.OutOfRange)]
    [InlineData("air-1", """{"pm25": 1.2}""", """{"pm25": "mg/m3"}""", null, RejectReason.OutOfRange)]
    [InlineData("w-1", """{"ph": 14.2}""", null, null, RejectReason.OutOfRange)]
    [InlineData("w-1", """{"wtemp": -6}""", null, null, RejectReason.OutOfRange)]
    [InlineData("air-1", """{"pm25": 1}""", """{"pm25": "ppm"}""", null, RejectReason.UnknownUnit)]
    [InlineData("air-1", """{"pm25": 1}""", null, """{"pm25": "Q"}""", RejectReason.InvalidFlag)]
    [InlineData("air-1", """{"pm25": 1, "PM2.5": 2}""", null, null, RejectReason.DuplicateParameter)]
    public void Value_rejections_keep_the_other_values(string station, string values, string? units, string? flags, string reason)
    {
        var other = station == "w-1" ? "\"do\": 6.5" : "\"pm10\": 80";
        var json = "{\"ts\": " + NowMs + ", \"values\": {" + other + ", " + values.TrimStart('{')
            + (units is null ? "" : ", \"units\": " + units) + (flags is null ? "" : ", \"flags\": " + flags) + "}";
        var r = Process(station, json);
        Assert.Null(r.Fatal);
        var rejection = Assert.Single(r.Rejections);
        Assert.Equal(reason, rejection.Reason);
        Assert.NotNull(rejection.Parameter);
        Assert.False(string.IsNullOrWhiteSpace(rejection.Detail));
        Assert.Contains(r.Accepted, a => a.Reading.Parameter == (station == "w-1" ? "do" : "pm10"));
    }

    [Fact]
    public void Flags_and_units_for_absent_values_are_reported_and_the_values_kept()
    {
        var r = Process("air-1", $$$"""{"ts": {{{NowMs}}}, "values": {"pm25": 30}, "flags": {"pm10": "N"}, "units": {"pm10": "mg/m3"}}""");
        Assert.Equal([RejectReason.FlagWithoutValue, RejectReason.UnitWithoutValue], r.Rejections.Select(x => x.Reason));
        Assert.Equal(30, Assert.Single(r.Accepted).Reading.Value);
    }

    [Fact]
    public void Rfc3339_with_offset_and_epoch_milliseconds_give_the_same_instant()
    {
        var r = Process("air-1", $$$"""[{"ts": "2026-03-01T07:30:00.250+08:00", "values": {"pm25": 1}}, {"ts": {{{Now.AddMinutes(-30).AddMilliseconds(250).ToUnixTimeMilliseconds()}}}, "values": {"pm10": 2}}]""");
        Assert.Empty(r.Rejections);
        Assert.Equal(2, r.Accepted.Count);
        Assert.All(r.Accepted, a => Assert.Equal(Now.AddMinutes(-30).AddMilliseconds(250), a.Reading.Timestamp));
        Assert.Equal([0, 1], r.Accepted.Select(a => a.Index));
        Assert.Equal(TimeSpan.Zero, r.Accepted[0].Reading.Timestamp.Offset);
    }

    [Fact]
    public void Flags_default_to_N_and_are_normalised()
    {
        var r = Process("w-1", $$$"""{"ts": {{{NowMs}}}, "values": {"ph": 7, "do": 5.5}, "flags": {"do": "m"}}""");
        Assert.Equal([("do", "M"), ("ph", "N")], r.Accepted.Select(a => (a.Reading.Parameter, a.Reading.Flag)).Order());
    }

    [Fact]
    public void Unknown_station_follows_the_policy()
    {
        Assert.Equal(RejectReason.UnknownStation, Process("new-9", $$$"""{"ts": {{{NowMs}}}, "values": {"pm25": 1}}""").Fatal?.Reason);
        var accepted = Process("new-9", $$$"""{"ts": {{{NowMs}}}, "values": {"pm25": 1, "do": 7}}""", s => s.UnknownStations = UnknownStationPolicy.Accept);
        Assert.Null(accepted.Fatal);
        Assert.Equal(2, accepted.Accepted.Count); // the kind of an unknown station cannot be checked
    }

    [Theory]
    [InlineData("eco/air-1/readings", "air-1")]
    [InlineData("eco//readings", null)]
    [InlineData("eco/a b/readings", null)]
    [InlineData("other/air-1/readings", null)]
    public void Station_comes_from_the_topic(string topic, string? station)
    {
        var r = Processor().Process(topic, "{}"u8.ToArray(), Now);
        Assert.Equal(station, r.StationId);
        if (station is null) Assert.Equal(RejectReason.InvalidStationId, r.Fatal?.Reason);
    }

    [Fact]
    public void Size_and_count_limits_come_from_settings()
    {
        var two = $$$"""[{"ts": {{{NowMs}}}, "values": {"pm25": 1}}, {"ts": {{{NowMs}}}, "values": {"pm10": 1}}]""";
        Assert.Equal(RejectReason.TooManyReadings, Process("air-1", two, s => s.MaxReadingsPerMessage = 1).Fatal?.Reason);
        Assert.Equal(RejectReason.PayloadTooLarge, Process("air-1", two, s => s.MaxPayloadBytes = 64).Fatal?.Reason);
        Assert.Null(Process("air-1", two).Fatal);
    }

    [Fact]
    public void Plausible_ranges_can_be_overridden()
    {
        var json = $$$"""{"ts": {{{NowMs}}}, "values": {"pm25": 900}}""";
        Assert.Single(Process("air-1", json).Accepted);
        var r = Process("air-1", json, s => s.Ranges["pm25"] = new RangeSetting { Max = 800 });
        Assert.Equal(RejectReason.OutOfRange, Assert.Single(r.Rejections).Reason);
        Assert.Contains("Ingestion:Ranges:pm25", r.Rejections[0].Detail);
    }

    [Fact]
    public void Dead_letter_carries_the_payload_and_every_reason()
    {
        var r = Process("air-1", $$$"""{"ts": {{{NowMs}}}, "values": {"pm25": 1, "zz": 2}}""");
        var json = Encoding.UTF8.GetString(DeadLetter.Build(r, Encoding.UTF8.GetBytes("{\"x\":\"滏阳河\"}"), Now, 262144));
        Assert.Contains("\"reason\":\"unknown_parameter\"", json);
        Assert.Contains("\"payload\":\"{\\\"x\\\":\\\"滏阳河\\\"}\"", json);
        Assert.Contains("\"storedReadings\":1", json);
        var binary = Encoding.UTF8.GetString(DeadLetter.Build(r, [0xff, 0xfe, 0x00], Now, 262144));
        Assert.Contains("\"payloadBase64\":\"//4A\"", binary);
        Assert.DoesNotContain("\"payload\":", binary);
        Assert.DoesNotContain("payloadTruncated", json);
    }

    [Fact]
    public void A_dead_letter_that_would_exceed_the_limit_keeps_the_payloads_head_length_and_sha256()
    {
        var r = Process("air-1", "not json");
        // 200,000 NUL bytes: each is escaped as \u0000 (6 bytes), a 1.2 MB dead letter whole.
        var nul = new byte[200_000];
        var letter = DeadLetter.Build(r, nul, Now, 262144);
        Assert.InRange(letter.Length, 1, 262144);
        var dl = System.Text.Json.JsonDocument.Parse(letter).RootElement;
        Assert.True(dl.GetProperty("payloadTruncated").GetBoolean());
        Assert.Equal(200_000, dl.GetProperty("payloadBytes").GetInt32());
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(nul)), dl.GetProperty("payloadSha256").GetString());
        Assert.Equal(DeadLetter.TruncatedPayloadBytes, dl.GetProperty("payload").GetString()!.Length);
        Assert.Equal(RejectReason.MalformedJson, dl.GetProperty("reason").GetString());

        // Multi-byte text is cut on a character boundary: 4096 / 3 = 1365 whole characters (4095 bytes).
        var han = Encoding.UTF8.GetBytes(new string('滏', 100_000));
        var cut = System.Text.Json.JsonDocument.Parse(DeadLetter.Build(r, han, Now, 262144)).RootElement;
        Assert.Equal(new string('滏', 1365), cut.GetProperty("payload").GetString());
        Assert.Equal(300_000, cut.GetProperty("payloadBytes").GetInt32());

        // Within the limit, the whole payload and no truncation members.
        var small = System.Text.Json.JsonDocument.Parse(DeadLetter.Build(r, new byte[1000], Now, 262144)).RootElement;
        Assert.Equal(1000, small.GetProperty("payload").GetString()!.Length);
        Assert.False(small.TryGetProperty("payloadSha256", out _));
    }
    // ---- readings that declare themselves hourly (or minute) means: "period" ----

    [Fact]
    public void A_reading_with_period_hour_is_the_stations_hourly_mean()
    {
        // Now is 08:00 local: the hour 07:00-08:00 has ended.
        var r = Process("air-1", """{"ts": "2026-03-01T07:00:00+08:00", "period": "hour", "values": {"pm25": 41, "co": 1500, "wdir": 350}, "units": {"co": "µg/m3"}, "flags": {"pm25": "s"}}""");
        Assert.Empty(r.Rejections);
        Assert.Empty(r.Accepted);
        var start = new DateTimeOffset(2026, 2, 28, 23, 0, 0, TimeSpan.Zero);
        Assert.Equal(
            [
                new Domain.Statistic("air-1", "co", Domain.StatisticPeriod.Hour, start, 1.5, null, null, null, "N"),
                new Domain.Statistic("air-1", "pm25", Domain.StatisticPeriod.Hour, start, 41, null, null, null, "S"),
                new Domain.Statistic("air-1", "wdir", Domain.StatisticPeriod.Hour, start, 350, null, null, null, "N"),
            ],
            r.Statistics.Select(s => s.Statistic).OrderBy(s => s.Parameter));
        var minute = Process("air-1", """{"ts": "2026-03-01T07:59:00+08:00", "period": "Minute", "values": {"pm25": 40}}""");
        Assert.Equal(Domain.StatisticPeriod.Minute, Assert.Single(minute.Statistics).Statistic.Period);
    }

    [Theory]
    [InlineData("""{"ts": "2026-03-01T07:30:00+08:00", "period": "hour", "values": {"pm25": 41}}""", RejectReason.InvalidTimestamp, "is not the start of an hour")]
    [InlineData("""{"ts": "2026-03-01T08:00:00+08:00", "period": "hour", "values": {"pm25": 41}}""", RejectReason.TimestampInFuture, "has not ended")]
    [InlineData("""{"ts": "2026-03-01T07:00:00+08:00", "period": "week", "values": {"pm25": 41}}""", RejectReason.InvalidStructure, "\"period\" must be \"hour\" or \"minute\"")]
    [InlineData("""{"ts": "2026-03-01T07:00:00+08:00", "period": 60, "values": {"pm25": 41}}""", RejectReason.InvalidStructure, "not the number 60")]
    [InlineData("""{"ts": "2026-03-01T07:00:00+08:00", "period": "hour", "values": {"pm25": 4100}}""", RejectReason.OutOfRange, "outside the plausible range")]
    [InlineData("""{"ts": "2026-03-01T07:00:00+08:00", "period": "hour", "values": {"pm25": 41}, "flags": {"pm25": "Q"}}""", RejectReason.InvalidFlag, "not an HJ 212 data flag")]
    public void A_bad_hourly_reading_is_rejected_with_its_reason_and_its_neighbour_kept(string bad, string reason, string detail)
    {
        var r = Process("air-1", $$$"""[{{{bad}}}, {"ts": "2026-03-01T06:00:00+08:00", "period": "hour", "values": {"pm10": 80}}]""");
        var rejection = Assert.Single(r.Rejections);
        Assert.Equal((reason, 0), (rejection.Reason, rejection.Index));
        Assert.Contains(detail, rejection.Detail);
        Assert.Equal(("pm10", 80.0), (Assert.Single(r.Statistics).Statistic.Parameter, r.Statistics[0].Statistic.Avg!.Value));
    }

    [Fact]
    public void Gases_in_ppb_and_ppm_and_co_in_micrograms_are_stored_in_the_canonical_units()
    {
        var r = Process("air-1", $$$"""{"ts": {{{NowMs}}}, "values": {"so2": 10, "co": 1, "o3": 100, "no2": 1500}, "units": {"so2": "ppb", "co": "ppm", "o3": "ppb", "no2": "µg/m3"}}""");
        Assert.Empty(r.Rejections);
        var v = r.Accepted.ToDictionary(a => a.Reading.Parameter, a => a.Reading.Value);
        Assert.Equal(26.186797466, v["so2"], 8);   // 10 x 64.066 / 24.465 µg/m³
        Assert.Equal(1.144900879, v["co"], 8);     // 1 ppm x 28.010 / 24.465 mg/m³
        Assert.Equal(196.190476190, v["o3"], 8);   // 100 x 47.998 / 24.465 µg/m³
        Assert.Equal(1500, v["no2"], 9);
        var co = Process("air-1", $$$"""{"ts": {{{NowMs}}}, "values": {"co": 1500}, "units": {"co": "ug/m3"}}""");
        Assert.Equal(1.5, Assert.Single(co.Accepted).Reading.Value, 9); // µg/m³ -> mg/m³, the canonical unit of CO
    }

    [Fact]
    public void Meteorology_is_stored_as_parameters_of_air_and_vocs_stations()
    {
        var r = Process("voc-1", $$$"""{"ts": {{{NowMs}}}, "values": {"temp": -3.5, "rh": 64, "pressure": 1013.2, "ws": 2.3, "wd": 350, "nmhc": 1.2}, "units": {"pressure": "hPa"}}""");
        Assert.Empty(r.Rejections);
        Assert.Equal([("nmhc", 1.2), ("pressure", 101.32), ("rh", 64.0), ("temp", -3.5), ("wdir", 350.0), ("wspd", 2.3)],
            r.Accepted.Select(a => (a.Reading.Parameter, Math.Round(a.Reading.Value, 9))).Order());
        var water = Process("w-1", $$$"""{"ts": {{{NowMs}}}, "values": {"wdir": 10, "ph": 7}}""");
        Assert.Equal((RejectReason.ParameterNotForStationKind, "wdir"), (Assert.Single(water.Rejections).Reason, water.Rejections[0].Parameter));
        var over = Process("air-1", $$$"""{"ts": {{{NowMs}}}, "values": {"wdir": 361}}""");
        Assert.Equal(RejectReason.OutOfRange, Assert.Single(over.Rejections).Reason);
    }
}
