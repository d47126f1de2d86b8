using EcoMonitor.Service.Ingestion;
using EcoMonitor.Service.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Serilog.Core;

namespace EcoMonitor.Service.Tests;

/// <summary>TLS and credentials to a real mosquitto of the test's own; secrets never reach the log.</summary>
[Trait("Category", "Integration")]
public sealed class SecurityIntegrationTests
{
    static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    static async Task<PrivateBroker> SecuredBrokerAsync()
    {
        var broker = new PrivateBroker("certfile @DIR@/cert.pem\nkeyfile @DIR@/key.pem\npassword_file @DIR@/passwd", anonymous: false);
        broker.Exec("openssl", "req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 2 -subj /CN=localhost -addext subjectAltName=DNS:localhost");
        broker.Exec("mosquitto_passwd", "-b -c passwd ingest ingest-pass-1");
        broker.Exec("mosquitto_passwd", "-b passwd gateway gateway-pass-1");
        broker.Exec("chmod", "644 key.pem cert.pem passwd");
        await broker.StartAsync();
        return broker;
    }

    static Dictionary<string, string?> SecuredSettings(PrivateBroker broker, string password) => new()
    {
        ["Mqtt:Port"] = broker.Port.ToString(),
        ["Mqtt:Username"] = "ingest",
        ["Mqtt:Password"] = password,
        ["Mqtt:Tls:Enabled"] = "true",
        ["Mqtt:Tls:TargetHost"] = "localhost",
        ["Mqtt:Tls:AllowUntrustedCertificates"] = "true", // the test's self-signed certificate
    };

    [Fact]
    public async Task Service_ingests_over_tls_with_a_password()
    {
        await using var broker = await SecuredBrokerAsync();
        await using var service = new ServiceUnderTest(SecuredSettings(broker, "ingest-pass-1"));
        await service.StartAsync();
        await using var gateway = await TestMqttClient.ConnectAsync(port: broker.Port, customize: o => o
            .WithCredentials("gateway", "gateway-pass-1")
            .WithTlsOptions(t => t.UseTls().WithTargetHost("localhost").WithAllowUntrustedCertificates().WithIgnoreCertificateChainErrors()));
        await gateway.PublishAsync(service.ReadingsTopic("air-1"), $$$"""{"ts": {{{DateTimeOffset.UtcNow.AddMinutes(-1).ToUnixTimeMilliseconds()}}}, "values": {"pm25": 33}}""");
        using var influx = TestInfrastructure.Influx(service.Database);
        await TestInfrastructure.EventuallyAsync(async () => (await TestInfrastructure.PointsAsync(influx, "air-1")).Count == 1, Wait, "reading stored");
    }

    [Fact]
    public async Task Wrong_password_keeps_the_service_out_and_no_secret_is_logged()
    {
        await using var broker = await SecuredBrokerAsync();
        var sink = new CapturingSink();
        var settings = SecuredSettings(broker, "wrong-Secret-4711");
        settings["Influx:Username"] = "eco";
        settings["Influx:Password"] = "influx-Secret-0815";
        settings["Serilog:MinimumLevel:Default"] = "Information"; // the start-up report is at Information
        await using var service = new ServiceUnderTest(settings, s => s.AddSingleton<ILogEventSink>(sink));
        var start = service.StartAsync(); // waits for a subscription that never comes
        await TestInfrastructure.EventuallyAsync(() => sink.All.Contains("check Mqtt:Username and Mqtt:Password"), Wait, "the refused connect logged with the settings to check");
        await Assert.ThrowsAsync<TimeoutException>(() => start);
        await service.StopAsync();

        var log = sink.All;
        Assert.Contains("password \"set\"", log); // the start-up report says that a password is set, not what it is
        Assert.DoesNotContain("wrong-Secret-4711", log);
        Assert.DoesNotContain("influx-Secret-0815", log);
        Assert.DoesNotContain(Convert.ToBase64String("eco:influx-Secret-0815"u8), log);
    }
}
