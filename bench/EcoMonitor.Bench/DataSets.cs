using System.Globalization;
using System.Text;
using System.Text.Json;
using EcoMonitor.Domain;

/// <summary>A benchmark data set: its stations and a message generator. Message i is a pure function of i, so the
/// bare subscriber and the service receive exactly the same messages, and a soak can run as long as it likes.</summary>
abstract class DataSet(string name, Station[] stations, DateTimeOffset start)
{
    public string Name { get; } = name;
    public Station[] Stations { get; } = stations;

    /// <summary>The earliest timestamp of any message (the start of an hour).</summary>
    public DateTimeOffset Start { get; } = start;

    public abstract (string Station, byte[] Payload) Message(long i);

    /// <summary>How many values message i carries (all valid: each one becomes a point).</summary>
    public abstract int ValuesOf(long i);

    /// <summary>The end of the hour after the latest timestamp of messages [0, count).</summary>
    public abstract DateTimeOffset EndOf(long count);

    /// <summary>Distinct (station, parameter, minute) of messages [0, count): what the hourly rollup's
    /// <c>minutes</c> add up to once it holds every value of the run.</summary>
    public abstract long MinutesOf(long count);

    public IEnumerable<(string Station, byte[] Payload)> Messages(long count)
    {
        for (long i = 0; i < count; i++) yield return Message(i);
    }

    public long ValuesOf(long from, long count)
    {
        long n = 0;
        for (var i = from; i < from + count; i++) n += ValuesOf(i);
        return n;
    }

    public static DateTimeOffset HourOf(DateTimeOffset t) => new(t.UtcTicks / TimeSpan.TicksPerHour * TimeSpan.TicksPerHour, TimeSpan.Zero);

    /// <summary>The stations file the service loads (Stations:File).</summary>
    public string WriteStationsFile()
    {
        var file = Path.GetTempFileName();
        File.WriteAllText(file, JsonSerializer.Serialize(new
        {
            stations = Stations.Select(s => new
            {
                id = s.Id, name = s.Name, kind = s.Kind.ToString().ToLowerInvariant(), region = s.Region, latitude = s.Latitude, longitude = s.Longitude,
                waterBody = s.WaterBody?.ToString().ToLowerInvariant(), targetClass = s.TargetClass?.ToString(),
            }),
        }, new JsonSerializerOptions { DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull }));
        return file;
    }

    /// <summary>Eight air stations in ten, one VOCs station, one water section (the zone's mix).</summary>
    protected static Station[] Mix(int count, string region) =>
    [
        .. Enumerable.Range(0, count).Select(i => (i % 10) switch
        {
            8 => new Station($"voc-{i}", $"voc {i}", StationKind.Voc, region, 37.7, 115.7),
            9 => new Station($"w-{i}", $"water {i}", StationKind.Water, region, 37.7, 115.7, WaterBody.River, WaterClass.IV),
            _ => new Station($"air-{i}", $"air {i}", StationKind.Air, region, 37.7, 115.7),
        }),
    ];
}

/// <summary>Today's dense set: 20 stations, air messages with PM2.5 and PM10 only, one message per millisecond (many
/// messages per station and minute). It stresses the per-message path with few values and few series.</summary>
sealed class DenseDataSet() : DataSet("dense, 20 stations", Mix(20, "zone"), HourOf(DateTimeOffset.UtcNow.AddHours(-2)))
{
    public override (string Station, byte[] Payload) Message(long i)
    {
        var s = Stations[i % Stations.Length];
        var ts = Start.ToUnixTimeMilliseconds() + i;
        var json = s.Kind switch
        {
            StationKind.Air => $"{{\"ts\": {ts}, \"values\": {{\"pm25\": {30 + i % 40}.5, \"pm10\": {60 + i % 70}.2}}}}",
            StationKind.Voc => $"{{\"ts\": {ts}, \"values\": {{\"nmhc\": 1.{i % 9}, \"tvoc\": {1200 + i % 300}}}, \"units\": {{\"tvoc\": \"ug/m3\"}}}}",
            _ => $"{{\"ts\": {ts}, \"values\": {{\"ph\": 7.{i % 9}, \"do\": 6.1, \"codmn\": 5.2, \"cod\": 21, \"nh3n\": 0.8, \"tp\": 0.15, \"tn\": 2.2, \"wtemp\": 14.5, \"cond\": 810, \"turb\": 12}}, \"flags\": {{\"do\": \"N\"}}}}",
        };
        return (s.Id, Encoding.UTF8.GetBytes(json));
    }

    public override int ValuesOf(long i) => Stations[i % Stations.Length].Kind switch { StationKind.Air => 2, StationKind.Voc => 2, _ => 10 };

    public override DateTimeOffset EndOf(long count) => HourOf(Start.AddMilliseconds(count)).AddHours(1);

    public override long MinutesOf(long count)
    {
        var minutes = new HashSet<(long Station, long Minute)>();
        for (long i = 0; i < count; i++) minutes.Add((i % Stations.Length, i / 60_000));
        return minutes.Sum(m => (long)ValuesOf(m.Station));
    }
}

/// <summary>The realistic set: N stations, each message one minute of one station with all its parameters (air: the
/// six pollutants of GB 3095 and five meteorological values; VOCs: NMHC, TVOC and the meteorology; water: ten items
/// of GB 3838), time-compressed: minute m of every station, then minute m + 1. Values vary with the station and the
/// minute; units as a gateway sends them (NO2 in ppb, TVOC in ug/m3).</summary>
sealed class RealisticDataSet(int stations, DateTimeOffset start) : DataSet($"realistic, {stations:N0} stations", Mix(stations, "city"), start)
{
    /// <summary>A start that leaves the run's minutes (and an hour of margin) in the past.</summary>
    public static DateTimeOffset StartFor(int stations, long messages) =>
        HourOf(DateTimeOffset.UtcNow.AddMinutes(-(messages / stations + 1))).AddHours(-1);

    public override (string Station, byte[] Payload) Message(long i)
    {
        var s = Stations[i % Stations.Length];
        var minute = i / Stations.Length;
        var ts = Start.AddMinutes(minute).ToUnixTimeMilliseconds();
        var k = (int)((i * 7 + minute * 13) % 100); // a cheap, deterministic variation
        var met = string.Create(CultureInfo.InvariantCulture,
            $"\"temp\": {12 + k * 0.1:F1}, \"rh\": {40 + k * 0.4:F1}, \"pressure\": {101.2 + k * 0.001:F3}, \"wspd\": {0.5 + k * 0.05:F2}, \"wdir\": {k * 3.6:F1}");
        var json = s.Kind switch
        {
            StationKind.Air => string.Create(CultureInfo.InvariantCulture,
                $"{{\"ts\": {ts}, \"values\": {{\"so2\": {5 + k * 0.1:F1}, \"no2\": {12 + k * 0.2:F1}, \"co\": {0.4 + k * 0.01:F2}, \"o3\": {40 + k:F0}, \"pm10\": {50 + k * 0.7:F1}, \"pm25\": {25 + k * 0.5:F1}, {met}}}, \"units\": {{\"no2\": \"ppb\"}}}}"),
            StationKind.Voc => string.Create(CultureInfo.InvariantCulture,
                $"{{\"ts\": {ts}, \"values\": {{\"nmhc\": {0.8 + k * 0.01:F2}, \"tvoc\": {1200 + k * 5}, {met}}}, \"units\": {{\"tvoc\": \"ug/m3\"}}}}"),
            _ => string.Create(CultureInfo.InvariantCulture,
                $"{{\"ts\": {ts}, \"values\": {{\"ph\": {7 + k * 0.01:F2}, \"do\": {5 + k * 0.03:F2}, \"codmn\": {4 + k * 0.03:F2}, \"cod\": {18 + k * 0.1:F1}, \"nh3n\": {0.5 + k * 0.005:F3}, \"tp\": {0.1 + k * 0.001:F3}, \"tn\": {1.5 + k * 0.01:F2}, \"wtemp\": {12 + k * 0.05:F2}, \"cond\": {700 + k * 2}, \"turb\": {8 + k * 0.1:F1}}}}}"),
        };
        return (s.Id, Encoding.UTF8.GetBytes(json));
    }

    public override int ValuesOf(long i) => Stations[i % Stations.Length].Kind switch { StationKind.Air => 11, StationKind.Voc => 7, _ => 10 };

    public override DateTimeOffset EndOf(long count) => HourOf(Start.AddMinutes((count - 1) / Stations.Length)).AddHours(1);

    /// <summary>Every message is a minute of its own.</summary>
    public override long MinutesOf(long count) => ValuesOf(0, count);
}
