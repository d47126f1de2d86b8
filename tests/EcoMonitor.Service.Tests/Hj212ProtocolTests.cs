using System.Text;
using EcoMonitor.Domain;
using EcoMonitor.Service.Hosting;
using EcoMonitor.Service.Ingestion;
using EcoMonitor.Service.Ingestion.Hj212;
using EcoMonitor.Service.Stations;
using EcoMonitor.Service.Tests.Support;
using Microsoft.Extensions.Options;

namespace EcoMonitor.Service.Tests;

/// <summary>HJ 212-2017 framing, CRC, packets and decoding, without the network.</summary>
public sealed class Hj212ProtocolTests
{
    const string WorkedSegment = "QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;CP=&&RtdInterval=30&&";

    static string ReferenceCrc(string segment) => Hj212TestFrames.Crc(segment);

    static string Frame(string segment) => Hj212TestFrames.Frame(segment);

    [Fact]
    public void Worked_example_of_the_standard()
    {
        Assert.Equal(101, WorkedSegment.Length);
        Assert.Equal(0x1C80, Hj212Frame.Crc(Encoding.ASCII.GetBytes(WorkedSegment)));
        Assert.Equal("1C80", ReferenceCrc(WorkedSegment));
        Assert.Equal("##0101" + WorkedSegment + "1C80\r\n", Encoding.ASCII.GetString(Hj212Frame.Build(WorkedSegment)));
    }

    static List<FrameResult> ReadAll(params string[] chunks)
    {
        var reader = new Hj212FrameReader(1024);
        var results = new List<FrameResult>();
        foreach (var chunk in chunks)
        {
            reader.Append(Encoding.ASCII.GetBytes(chunk));
            reader.Read(results);
        }
        reader.Finish(results);
        return results;
    }

    [Fact]
    public void A_frame_split_at_every_position_is_put_together()
    {
        var frame = Frame(WorkedSegment);
        for (var cut = 1; cut < frame.Length; cut++)
        {
            var results = ReadAll(frame[..cut], frame[cut..]);
            Assert.Equal(WorkedSegment, Assert.Single(results).Segment);
        }
    }

    [Fact]
    public void Several_frames_in_one_read_and_lowercase_crc_are_accepted()
    {
        var lower = Frame(WorkedSegment).Replace("1C80", "1c80");
        var second = WorkedSegment.Replace("Flag=5", "Flag=4");
        var results = ReadAll(lower + Frame(second) + "\r\n");
        Assert.Equal([WorkedSegment, second], results.Select(r => r.Segment));
    }

    [Theory]
    [InlineData("garbage")]
    [InlineData("crc")]
    [InlineData("shorter")]
    [InlineData("longer")]
    [InlineData("digits")]
    [InlineData("oversized")]
    public void A_bad_frame_is_reported_once_and_the_next_good_frame_survives(string fault)
    {
        var good = Frame(WorkedSegment);
        var bad = fault switch
        {
            "garbage" => "\u0001\u0002hello",
            "crc" => good.Replace("1C80", "1C81"),
            "shorter" => good.Replace("##0101", "##0099"),
            "longer" => good.Replace("##0101", "##0150"),
            "digits" => good.Replace("##0101", "##01x1"),
            _ => $"##2000{new string('x', 2000)}0000\r\n",
        };
        var results = ReadAll(bad + good);
        var error = Assert.Single(results, r => !r.IsFrame);
        Assert.Equal(WorkedSegment, Assert.Single(results, r => r.IsFrame).Segment);
        Assert.Contains(fault switch
        {
            "garbage" => "outside any frame",
            "crc" => "CRC mismatch",
            "shorter" or "longer" => "no CR LF",
            "digits" => "not 4 decimal digits",
            _ => "frame too large",
        }, error.Error);
    }

    [Fact]
    public void An_oversized_frame_arriving_in_pieces_is_reported_once()
    {
        var big = $"##2000{new string('x', 2000)}0000\r\n";
        var chunks = Enumerable.Range(0, big.Length / 100 + 1).Select(i => big.Substring(i * 100, Math.Min(100, big.Length - i * 100))).ToList();
        chunks.Add(Frame(WorkedSegment));
        var results = ReadAll([.. chunks]);
        Assert.Single(results, r => !r.IsFrame);
        Assert.Single(results, r => r.IsFrame);
    }

    [Fact]
    public void A_truncated_frame_at_the_end_is_reported()
    {
        var frame = Frame(WorkedSegment);
        var error = Assert.Single(ReadAll(frame[..50]));
        Assert.False(error.IsFrame);
        Assert.Contains("truncated", error.Error);
    }

    [Fact]
    public void Packet_fields_flag_bits_and_data_response()
    {
        Assert.True(Hj212Packet.TryParse(WorkedSegment, out var p, out _));
        Assert.Equal(("20160801085857223", "32", "1062", "100000", "010000A8900016F000169DC0", 5), (p.Qn, p.St, p.Cn, p.Pw, p.Mn, p.Flag));
        Assert.True(p.WantsAcknowledgement);
        Assert.False(p.IsSplit);
        Assert.Equal(1, p.Version);
        Assert.Equal("30", p.CpValue("RtdInterval"));

        const string responseSegment = "QN=20160801085857223;ST=91;CN=9014;PW=100000;MN=010000A8900016F000169DC0;Flag=4;CP=&&&&";
        Assert.Equal(Frame(responseSegment), Encoding.ASCII.GetString(p.DataResponse()));
    }

    [Theory]
    [InlineData("QN=1;ST=22;PW=1;MN=X;Flag=4;CP=&&&&", "CN")]
    [InlineData("QN=1;ST=22;CN=2011;PW=1;Flag=4;CP=&&&&", "MN")]
    [InlineData("QN=1;ST=22;CN=2011;PW=1;MN=X;Flag=4", "CP")]
    [InlineData("QN=1;ST=22;CN=2011;PW=1;MN=X;Flag=four;CP=&&&&", "Flag")]
    [InlineData("QN=1;ST=22;CN=2011;PW=1;MN=X;Flag=4;CP=&&DataTime=1;a34004-Rtd&&", "NAME=value")]
    public void Malformed_packets_are_refused_with_a_reason(string segment, string named)
    {
        Assert.False(Hj212Packet.TryParse(segment, out _, out var error));
        Assert.Contains(named, error);
    }

    [Fact]
    public void DataTime_is_China_local_time()
    {
        Assert.True(Hj212Packet.TryParseLocalTime("20200301080000", out var t));
        Assert.Equal(new DateTimeOffset(2020, 3, 1, 0, 0, 0, TimeSpan.Zero), t);
        Assert.True(Hj212Packet.TryParseLocalTime("20200301000000123", out var qn));
        Assert.Equal(new DateTimeOffset(2020, 2, 29, 16, 0, 0, 123, TimeSpan.Zero), qn);
        Assert.False(Hj212Packet.TryParseLocalTime("2020030108", out _));
        Assert.False(Hj212Packet.TryParseLocalTime("20201301080000", out _));
    }

    // ---- decoding into readings and statistics ----

    static readonly DateTimeOffset Now = new(2026, 3, 1, 4, 0, 0, TimeSpan.Zero); // 12:00 in Hengshui

    static readonly StationRegistry Stations = new([
        new("air-1", "管委会", StationKind.Air, "高新区", 37.7, 115.7, Mn: "AIR0001", Password: "123456"),
        new("voc-1", "化工园区", StationKind.Voc, "高新区", 37.8, 115.7, Mn: "VOC0001"),
        new("w-1", "滏阳河断面", StationKind.Water, "高新区", 37.7, 115.7, WaterBody.River, WaterClass.IV, Mn: "WAT0001"),
    ]);

    static MessageProcessor Processor(Hj212Settings? hj212 = null) =>
        new(Options.Create(new IngestionSettings()), Options.Create(hj212 ?? new Hj212Settings()), Stations);

    static ProcessedMessage Mqtt(string station, params string[] segments) =>
        Processor().Process($"eco/{station}/hj212", Encoding.ASCII.GetBytes(string.Concat(segments.Select(Frame))), Now);

    [Fact]
    public void Real_time_air_frame_gives_readings_at_the_right_instant_with_flags()
    {
        var r = Mqtt("air-1", "QN=20260301115900000;ST=22;CN=2011;PW=123456;MN=AIR0001;Flag=5;CP=&&DataTime=20260301115800;a34004-Rtd=35.2,a34004-Flag=N;a34002-Rtd=81,a34002-Flag=M&&");
        Assert.Empty(r.Rejections);
        var at = new DateTimeOffset(2026, 3, 1, 3, 58, 0, TimeSpan.Zero);
        Assert.Equal([new Reading("air-1", "pm10", at, 81, "M"), new Reading("air-1", "pm25", at, 35.2, "N")], r.Accepted.Select(a => a.Reading).OrderBy(x => x.Parameter));
    }

    [Fact]
    public void Hourly_water_frame_gives_statistics_for_the_start_of_the_hour()
    {
        var r = Mqtt("w-1", "QN=20260301110001000;ST=21;CN=2061;PW=1;MN=WAT0001;Flag=4;CP=&&DataTime=20260301100000;w01001-Avg=7.6,w01001-Min=7.4,w01001-Max=7.9,w01001-Flag=N;w21003-Avg=0.82,w21003-Min=0.7,w21003-Max=1.1,w21003-Flag=C;w01018-Avg=22,w01018-Cou=1.5&&");
        Assert.Empty(r.Rejections);
        Assert.Empty(r.Accepted);
        var start = new DateTimeOffset(2026, 3, 1, 2, 0, 0, TimeSpan.Zero);
        Assert.Equal(
            [
                new Statistic("w-1", "cod", StatisticPeriod.Hour, start, 22, null, null, 1.5, "N"),
                new Statistic("w-1", "nh3n", StatisticPeriod.Hour, start, 0.82, 0.7, 1.1, null, "C"),
                new Statistic("w-1", "ph", StatisticPeriod.Hour, start, 7.6, 7.4, 7.9, null, "N"),
            ],
            r.Statistics.Select(s => s.Statistic).OrderBy(s => s.Parameter));
    }

    [Theory]
    [InlineData("2051", StatisticPeriod.Minute)]
    [InlineData("2061", StatisticPeriod.Hour)]
    [InlineData("2031", StatisticPeriod.Day)]
    public void Statistic_commands_give_their_period(string cn, StatisticPeriod period)
    {
        var r = Mqtt("voc-1", $"QN=1;ST=27;CN={cn};PW=1;MN=VOC0001;Flag=4;CP=&&DataTime=20260301000000;a24088-Avg=1.2,a24088-Max=3.4&&");
        Assert.Equal(period, Assert.Single(r.Statistics).Statistic.Period);
    }

    [Fact]
    public void Identity_password_codes_and_values_are_checked()
    {
        const string cp = "CP=&&DataTime=20260301115800;a34004-Rtd=35&&";
        Assert.Equal(RejectReason.WrongPassword, Assert.Single(Mqtt("air-1", $"QN=1;ST=22;CN=2011;PW=654321;MN=AIR0001;Flag=4;{cp}").Rejections).Reason);
        Assert.Equal(RejectReason.UnknownDevice, Assert.Single(Mqtt("air-1", $"QN=1;ST=22;CN=2011;PW=1;MN=NOPE;Flag=4;{cp}").Rejections).Reason);
        Assert.Equal(RejectReason.StationMismatch, Assert.Single(Mqtt("voc-1", $"QN=1;ST=22;CN=2011;PW=123456;MN=AIR0001;Flag=4;{cp}").Rejections).Reason);

        var r = Mqtt("air-1", "QN=1;ST=22;CN=2011;PW=123456;MN=AIR0001;Flag=4;CP=&&DataTime=20260301115800;a34004-Rtd=35;a34001-Rtd=120;a34002-Rtd=abc;a24088-Rtd=1;a34002-Flag=N&&");
        Assert.Equal([(RejectReason.UnknownFactorCode, "a34001"), (RejectReason.InvalidValue, "pm10"), (RejectReason.ParameterNotForStationKind, "nmhc")],
            r.Rejections.Select(x => (x.Reason, x.Parameter!)));
        Assert.Equal("pm25", Assert.Single(r.Accepted).Reading.Parameter);

        var noTime = Mqtt("air-1", "QN=1;ST=22;CN=2011;PW=123456;MN=AIR0001;Flag=4;CP=&&a34004-Rtd=35&&");
        Assert.Equal(RejectReason.InvalidTimestamp, Assert.Single(noTime.Rejections).Reason);
    }

    [Fact]
    public void Heartbeats_and_other_commands_are_noted_not_stored()
    {
        var r = Mqtt("air-1", "QN=1;ST=22;CN=9015;PW=123456;MN=AIR0001;Flag=5;CP=&&&&", "QN=2;ST=22;CN=2021;PW=123456;MN=AIR0001;Flag=4;CP=&&DataTime=20260301115800;a34004-SB1=1&&");
        Assert.Empty(r.Rejections);
        Assert.Empty(r.Accepted);
        Assert.Equal(2, r.Notes.Count);
        Assert.Contains("heartbeat", r.Notes[0]);
        Assert.Contains("CN=2021", r.Notes[1]);
    }

    [Fact]
    public void Factor_codes_and_station_units_come_from_settings()
    {
        var settings = new Hj212Settings
        {
            FactorCodes = { ["a24001"] = "tvoc" },
            StationUnits = { ["voc-1"] = new() { ["tvoc"] = "ug/m3" } },
        };
        var r = Processor(settings).Process("eco/voc-1/hj212",
            Encoding.ASCII.GetBytes(Frame("QN=1;ST=27;CN=2011;PW=1;MN=VOC0001;Flag=4;CP=&&DataTime=20260301115800;a24001-Rtd=1500&&")), Now);
        Assert.Equal(1.5, Assert.Single(r.Accepted).Reading.Value, 9);
        Assert.Contains(new Hj212Settings { FactorCodes = { ["a24088"] = "" } }.EffectiveFactorCodes(), kv => kv.Key == "a34004");
        Assert.DoesNotContain(new Hj212Settings { FactorCodes = { ["a24088"] = "" } }.EffectiveFactorCodes(), kv => kv.Key == "a24088");
    }

    [Fact]
    public void Split_packet_parts_are_each_decoded_on_their_own()
    {
        var r = Mqtt("air-1",
            "QN=20260301115900001;ST=22;CN=2011;PW=123456;MN=AIR0001;Flag=7;PNUM=2;PNO=1;CP=&&DataTime=20260301115800;a34004-Rtd=35&&",
            "QN=20260301115900002;ST=22;CN=2011;PW=123456;MN=AIR0001;Flag=7;PNUM=2;PNO=2;CP=&&DataTime=20260301115800;a34002-Rtd=70&&");
        Assert.Empty(r.Rejections);
        Assert.Equal(["pm10", "pm25"], r.Accepted.Select(a => a.Reading.Parameter).Order());
        Assert.True(Hj212Packet.TryParse("QN=1;ST=22;CN=2011;PW=1;MN=A;Flag=7;PNUM=2;PNO=1;CP=&&&&", out var part, out _));
        Assert.True(part.IsSplit && part.WantsAcknowledgement);
        Assert.Equal((2, 1), (part.PNum, part.PNo));
    }

    [Fact]
    public void A_bad_frame_among_good_ones_in_an_mqtt_message_is_rejected_alone()
    {
        var good = Frame("QN=1;ST=22;CN=2011;PW=123456;MN=AIR0001;Flag=4;CP=&&DataTime=20260301115800;a34004-Rtd=35&&");
        var bad = good.Replace("a34004-Rtd=35", "a34004-Rtd=36"); // CRC no longer matches
        var later = Frame("QN=2;ST=22;CN=2011;PW=123456;MN=AIR0001;Flag=4;CP=&&DataTime=20260301115900;a34004-Rtd=37&&");
        var r = Processor().Process("eco/air-1/hj212", Encoding.ASCII.GetBytes(good + bad + later), Now);
        Assert.Equal(RejectReason.BadFrame, Assert.Single(r.Rejections).Reason);
        Assert.Equal(2, r.Accepted.Count);
    }
    // ---- hourly and minute means (CN=2061/2051): what counts, what is refused ----

    static string Hourly(string dataTime, string cp, string cn = "2061") =>
        $"QN=20260301120001000;ST=22;CN={cn};PW=123456;MN=AIR0001;Flag=4;CP=&&DataTime={dataTime};{cp}&&";

    [Fact]
    public void An_hourly_frame_must_start_on_the_hour_and_its_hour_must_have_ended()
    {
        // Now is 12:00 local. 11:00-12:00 has ended; 12:00-13:00 has not; 11:30 is no hour's start.
        var ok = Mqtt("air-1", Hourly("20260301110000", "a34004-Avg=41,a34004-Flag=N"));
        Assert.Empty(ok.Rejections);
        Assert.Equal(new Statistic("air-1", "pm25", StatisticPeriod.Hour, new DateTimeOffset(2026, 3, 1, 3, 0, 0, TimeSpan.Zero), 41, null, null, null, "N"),
            Assert.Single(ok.Statistics).Statistic);

        var running = Mqtt("air-1", Hourly("20260301120000", "a34004-Avg=41"));
        Assert.Equal(RejectReason.TimestampInFuture, Assert.Single(running.Rejections).Reason);
        Assert.Contains("has not ended", running.Rejections[0].Detail);
        Assert.Empty(running.Statistics);

        var halfPast = Mqtt("air-1", Hourly("20260301113000", "a34004-Avg=41"));
        Assert.Equal(RejectReason.InvalidTimestamp, Assert.Single(halfPast.Rejections).Reason);
        Assert.Contains("2026-03-01T11:30:00+08:00 is not the start of an hour", halfPast.Rejections[0].Detail);

        var minuteNotWhole = Mqtt("air-1", Hourly("20260301115830", "a34004-Avg=41", cn: "2051"));
        Assert.Equal(RejectReason.InvalidTimestamp, Assert.Single(minuteNotWhole.Rejections).Reason);
        Assert.Empty(Mqtt("air-1", Hourly("20260301115800", "a34004-Avg=41", cn: "2051")).Rejections);
        // A daily value (informational) keeps the plain time check: the day that started at midnight is accepted.
        Assert.Empty(Mqtt("air-1", Hourly("20260301000000", "a34004-Avg=41", cn: "2031")).Rejections);
    }

    [Fact]
    public void A_bad_value_of_an_hourly_frame_is_rejected_alone()
    {
        var r = Mqtt("air-1", Hourly("20260301110000",
            "a34004-Avg=41,a34004-Flag=X;a34002-Avg=5000,a34002-Flag=N;a21026-Avg=12,a21026-Flag=N;a01008-Avg=350,a01008-Flag=N;a21005-Avg=0.9,a21005-Flag=D"));
        Assert.Equal([(RejectReason.InvalidFlag, "pm25"), (RejectReason.OutOfRange, "pm10")], r.Rejections.Select(x => (x.Reason, x.Parameter!)).Order());
        // The good ones are kept, an invalid flag letter (D) is a valid HJ 212 flag: stored, it makes its hour invalid later.
        Assert.Equal([("co", 0.9, "D"), ("so2", 12.0, "N"), ("wdir", 350.0, "N")],
            r.Statistics.Select(x => (x.Statistic.Parameter, x.Statistic.Avg!.Value, x.Statistic.Flag)).Order());
    }

    [Fact]
    public void Gases_and_meteorology_in_hourly_frames_use_the_station_units()
    {
        var settings = new Hj212Settings { StationUnits = { ["air-1"] = new() { ["co"] = "ug/m3", ["so2"] = "ppb", ["pressure"] = "hPa" } } };
        var r = Processor(settings).Process("eco/air-1/hj212", Encoding.ASCII.GetBytes(Frame(Hourly("20260301110000",
            "a21005-Avg=1200,a21005-Max=1500;a21026-Avg=10;a01006-Avg=1013.2;a01001-Avg=-3.5;a01002-Avg=64;a01007-Avg=2.3"))), Now);
        Assert.Empty(r.Rejections);
        var byParameter = r.Statistics.ToDictionary(x => x.Statistic.Parameter, x => x.Statistic);
        Assert.Equal(1.2, byParameter["co"].Avg!.Value, 9);       // µg/m³ -> mg/m³
        Assert.Equal(1.5, byParameter["co"].Max!.Value, 9);
        Assert.Equal(26.1867974658, byParameter["so2"].Avg!.Value, 9); // 10 ppb x 64.066 / 24.465
        Assert.Equal(101.32, byParameter["pressure"].Avg!.Value, 9);    // hPa -> kPa
        Assert.Equal((-3.5, 64.0, 2.3), (byParameter["temp"].Avg!.Value, byParameter["rh"].Avg!.Value, byParameter["wspd"].Avg!.Value));
    }
}
