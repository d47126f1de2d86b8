using System.Text;
using EcoMonitor.DemoGateway;
using EcoMonitor.Service.Hosting;
using EcoMonitor.Service.Ingestion;
using EcoMonitor.Service.Stations;
using Microsoft.Extensions.Options;

namespace EcoMonitor.Service.Tests;

/// <summary>The demo feed shows a newcomer stored readings and, now and then, a dead letter.</summary>
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
        var hourly = processor.Process($"eco/{air.Id}/readings", Encoding.UTF8.GetBytes(generator.HourlyPayload(ended)), now);
        Assert.Empty(hourly.Rejections);
        Assert.Empty(hourly.Accepted);
        Assert.Equal(["co", "no2", "o3", "pm10", "pm25", "so2"], hourly.Statistics.Select(x => x.Statistic.Parameter).Order());
        Assert.All(hourly.Statistics, x => Assert.Equal((Domain.StatisticPeriod.Hour, ended), (x.Statistic.Period, x.Statistic.Start)));
    }
}
