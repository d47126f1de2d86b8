using System.Text;
using EcoMonitor.DemoGateway;
using EcoMonitor.Service.Hosting;
using EcoMonitor.Service.Ingestion;
using EcoMonitor.Service.Stations;
using EcoMonitor.Service.Tests.Support;
using Microsoft.Extensions.Options;
using MQTTnet;
using MQTTnet.Formatter;

namespace EcoMonitor.Service.Tests;

/// <summary>The demo feed shows a newcomer stored readings and, now and then, a dead letter; its backfill gives every
/// figure a history.</summary>
public sealed class DemoGatewayTests
{
    [Fact]
    public void Demo_readings_for_the_sample_stations_pass_validation_and_the_bad_ones_do_not()
    {
        var stations = StationRegistry.Load(Path.Combine(AppContext.BaseDirectory, "stations.json"));
        var processor = new MessageProcessor(Options.Create(new IngestionSettings()), Options.Create(new EcoMonitor.Service.Ingestion.Hj212.Hj212Settings()), stations);
        var generator = new ReadingGenerator(new Random(1));
        var now = DateTimeOffset.UtcNow;
        for (var hour = 0; hour < 24; hour++)
        {
            var t = now.AddHours(-hour);
            foreach (var s in stations.All)
            {
                var kind = s.Kind.ToString().ToLowerInvariant();
                var good = processor.Process($"eco/{s.Id}/readings", Encoding.UTF8.GetBytes(generator.Payload(kind, t, bad: false)), now);
                Assert.Empty(good.Rejections);
                Assert.Null(good.Fatal);
                Assert.True(good.Accepted.Count >= 2);
                var bad = processor.Process($"eco/{s.Id}/readings", Encoding.UTF8.GetBytes(generator.Payload(kind, t, bad: true)), now);
                Assert.NotEmpty(bad.Rejections);
            }
        }
    }

    [Fact]
    public void A_demo_episode_is_a_valid_nmhc_value_over_the_single_value_limit()
    {
        var stations = StationRegistry.Load(Path.Combine(AppContext.BaseDirectory, "stations.json"));
        var processor = new MessageProcessor(Options.Create(new IngestionSettings()), Options.Create(new EcoMonitor.Service.Ingestion.Hj212.Hj212Settings()), stations);
        var generator = new ReadingGenerator(new Random(1));
        var voc = stations.All.First(s => s.Kind == Domain.StationKind.Voc);
        var now = DateTimeOffset.UtcNow;
        var r = processor.Process($"eco/{voc.Id}/readings", Encoding.UTF8.GetBytes(generator.Payload("voc", now, bad: false, episode: true)), now);
        Assert.Empty(r.Rejections);
        var nmhc = Assert.Single(r.Accepted, x => x.Reading.Parameter == "nmhc").Reading;
        Assert.True(nmhc.Value > new EcoMonitor.Service.Query.VocSettings().SingleValueLimit, $"{nmhc.Value}");
    }

    [Fact]
    public void Demo_air_stations_send_the_six_items_meteorology_and_hourly_means()
    {
        var stations = StationRegistry.Load(Path.Combine(AppContext.BaseDirectory, "stations.json"));
        var processor = new MessageProcessor(Options.Create(new IngestionSettings()), Options.Create(new EcoMonitor.Service.Ingestion.Hj212.Hj212Settings()), stations);
        var generator = new ReadingGenerator(new Random(1));
        var air = stations.All.First(s => s.Kind == Domain.StationKind.Air);
        var now = DateTimeOffset.UtcNow;
        var minute = processor.Process($"eco/{air.Id}/readings", Encoding.UTF8.GetBytes(generator.Payload("air", now, bad: false)), now);
        Assert.Empty(minute.Rejections);
        Assert.Equal(["co", "no2", "o3", "pm10", "pm25", "pressure", "rh", "so2", "temp", "wdir", "wspd"], minute.Accepted.Select(a => a.Reading.Parameter).Order());
        var ended = new DateTimeOffset(now.UtcTicks / TimeSpan.TicksPerHour * TimeSpan.TicksPerHour, TimeSpan.Zero).AddHours(-1);
        var hourly = processor.Process($"eco/{air.Id}/readings", Encoding.UTF8.GetBytes(generator.HourlyPayload(ended, "air", air.Id)), now);
        Assert.Empty(hourly.Rejections);
        Assert.Empty(hourly.Accepted);
        Assert.Equal(["co", "no2", "o3", "pm10", "pm25", "pressure", "rh", "so2", "temp", "wdir", "wspd"], hourly.Statistics.Select(x => x.Statistic.Parameter).Order());
        Assert.All(hourly.Statistics, x => Assert.Equal((Domain.StatisticPeriod.Hour, ended), (x.Statistic.Period, x.Statistic.Start)));
    }

    /// <summary>Three days of backfill through the real broker into the real service: 72 hours × (3 air stations × 11
    /// parameters + 1 VOCs point × 7 + 1 water section × 10) = 72 × 50 = 3,600 station hourly means, each stored once
    /// in <c>stat</c> and rolled up into <c>reading_1h</c> as a station hour; nothing goes to <c>reading</c>.</summary>
    [Fact]
    public async Task A_three_day_backfill_stores_every_hourly_mean_once_as_a_station_hour()
    {
        await using var service = new ServiceUnderTest();
        await service.StartAsync();
        var stations = new List<DemoStation>
        {
            new("air-1", "air"), new("air-2", "air"), new("air-3", "air"), new("voc-1", "voc"), new("w-fyh-1", "water"),
        };
        var (from, to) = Backfill.Span(DateTimeOffset.UtcNow, days: 3, wholePreviousYear: false);
        Assert.Equal(72, (to - from).TotalHours);

        using var client = new MqttClientFactory().CreateMqttClient();
        await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer(TestInfrastructure.MqttHost, TestInfrastructure.MqttPort)
            .WithProtocolVersion(MqttProtocolVersion.V500).WithClientId(TestInfrastructure.UniqueName("demo")).Build());
        var published = await Backfill.PublishAsync(client, 8, stations, service.Prefix, from, to, null, CancellationToken.None);
        Assert.Equal(3600, published);

        using var influx = TestInfrastructure.Influx(service.Database);
        async Task<long> Count(string q)
        {
            var series = await influx.QueryAsync(q);
            return series.Count == 0 ? 0 : series[0].Values[0][1].GetInt64();
        }
        await TestInfrastructure.EventuallyAsync(async () => await Count("SELECT count(\"avg\") FROM \"stat\" WHERE \"period\" = 'hour'") == 3600,
            TimeSpan.FromSeconds(60), "3,600 hourly statistics stored");
        await TestInfrastructure.EventuallyAsync(async () => await Count("SELECT count(\"mean\") FROM \"reading_1h\"") >= 3600,
            TimeSpan.FromSeconds(60), "3,600 hours rolled up");
        await service.RollupsCurrentAsync();
        Assert.Equal(3600, await Count("SELECT count(\"mean\") FROM \"reading_1h\" WHERE \"source\" = 'station'"));
        Assert.Equal(3600, await Count("SELECT count(\"mean\") FROM \"reading_1h\""));
        Assert.Equal(0, await Count("SELECT count(\"value\") FROM \"reading\""));

        // The stored figure is the model's value of that station and hour.
        var hour = from.AddHours(30);
        var row = (await influx.QueryAsync($"SELECT \"mean\", \"minutes\" FROM \"reading_1h\" WHERE \"station\" = 'air-2' AND \"parameter\" = 'pm25' AND time = {hour.ToUnixTimeMilliseconds()}ms"))
            .Single().Values.Single();
        Assert.Equal(DemoModel.HourlyMean("air-2", "air", "pm25", hour), row[1].GetDouble());
        Assert.Equal(60, row[2].GetInt64());
    }

    /// <summary>The model's PM2.5 falls by about 5 % a year: 1 January .. 30 November and whole years compared
    /// with the year before stay within −3 % .. −6 % for every demo air station, so the −3 % target gives a clear
    /// verdict; and the shape is plausible: winter well above summer, O3 the other way round.</summary>
    [Fact]
    public void The_model_pm25_is_3_to_6_percent_below_the_year_before_with_a_winter_peak()
    {
        foreach (var station in new[] { "air-gxq-gwh", "air-gxq-kjg", "air-gxq-xzj" })
        {
            var ytd = DemoModel.MeanPm25(station, new(2026, 1, 1), new(2026, 11, 30));
            var ytdBefore = DemoModel.MeanPm25(station, new(2025, 1, 1), new(2025, 11, 30));
            var change = (ytd / ytdBefore - 1) * 100;
            Assert.InRange(change, -6, -3);
            var year = DemoModel.MeanPm25(station, new(2025, 1, 1), new(2025, 12, 31));
            var yearBefore = DemoModel.MeanPm25(station, new(2024, 1, 1), new(2024, 12, 31));
            Assert.InRange((year / yearBefore - 1) * 100, -6, -3);
            Assert.InRange(year, 30, 60); // a Hebei city's annual mean: above the 35 µg/m³ Grade II limit, not absurdly
            var january = DemoModel.MeanPm25(station, new(2025, 1, 1), new(2025, 1, 31));
            var july = DemoModel.MeanPm25(station, new(2025, 7, 1), new(2025, 7, 31));
            Assert.True(january > 1.8 * july, $"{station}: January {january:0.0}, July {july:0.0}");
        }
        double O3(int month) => Enumerable.Range(0, 24 * 28).Average(h => DemoModel.HourlyMean("air-gxq-gwh", "air", "o3", new DateTimeOffset(2025, month, 1, 0, 0, 0, TimeSpan.FromHours(8)).AddHours(h)));
        Assert.True(O3(6) > 2 * O3(1), $"O3 June {O3(6):0.0}, January {O3(1):0.0}");
    }

    /// <summary>VOCs below GB 37822's 10 mg/m³ 1-hour limit apart from a few release nights a year; the water
    /// sections mostly at their target class with a few worse months (monthly mean COD of a Class IV section over
    /// the Class IV limit of 30 mg/L).</summary>
    [Fact]
    public void The_model_has_occasional_voc_exceedances_and_a_few_worse_water_months()
    {
        var hours = Enumerable.Range(0, 365 * 24).Select(h => new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.FromHours(8)).AddHours(h)).ToList();
        var over = hours.Count(h => DemoModel.HourlyMean("voc-gxq-hgy", "voc", "nmhc", h) > 10);
        Assert.InRange(over, 2, 40);
        Assert.InRange(hours.Average(h => DemoModel.HourlyMean("voc-gxq-hgy", "voc", "nmhc", h)), 0.5, 2);
        foreach (var section in new[] { "w-fyh-up", "w-fyh-down" })
        {
            var worse = Enumerable.Range(1, 12).Count(m => hours.Where(h => h.Month == m).Average(h => DemoModel.HourlyMean(section, "water", "cod", h)) > 30);
            Assert.InRange(worse, 1, 4);
        }
    }
}
