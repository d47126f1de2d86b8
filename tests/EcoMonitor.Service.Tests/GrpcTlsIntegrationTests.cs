using System.Diagnostics;
using EcoMonitor.Api.V1;
using EcoMonitor.Service.Tests.Support;
using Grpc.Net.Client;

namespace EcoMonitor.Service.Tests;

/// <summary>The gRPC endpoint over TLS, with a certificate from settings (a self-signed one made by the test).</summary>
[Trait("Category", "Integration")]
public sealed class GrpcTlsIntegrationTests
{
    [Fact]
    public async Task The_api_is_served_over_https_with_the_configured_certificate()
    {
        var dir = Directory.CreateTempSubdirectory("ecomon-tls").FullName;
        void Run(string args)
        {
            using var p = Process.Start(new ProcessStartInfo("openssl", args) { WorkingDirectory = dir, RedirectStandardError = true })!;
            var err = p.StandardError.ReadToEnd();
            p.WaitForExit();
            Assert.True(p.ExitCode == 0, err);
        }
        Run("req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 2 -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1");
        Run("pkcs12 -export -out api.pfx -inkey key.pem -in cert.pem -passout pass:pfx-pass");
        await using var service = new ServiceUnderTest(new()
        {
            ["Grpc:Url"] = "https://127.0.0.1:0",
            ["Grpc:Tls:CertificatePath"] = Path.Combine(dir, "api.pfx"),
            ["Grpc:Tls:CertificatePassword"] = "pfx-pass",
        });
        await service.StartAsync();
        Assert.Equal("https", service.GrpcAddress.Scheme);

        string? presented = null;
        using var channel = GrpcChannel.ForAddress(service.GrpcAddress, new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler
            {
                SslOptions = { RemoteCertificateValidationCallback = (_, certificate, _, _) => { presented = certificate?.Subject; return true; } },
            },
        });
        var stations = await new QueryService.QueryServiceClient(channel).ListStationsAsync(new ListStationsRequest(), Seed.Key(ServiceUnderTest.ReaderKey));
        Assert.Equal(5, stations.Stations.Count);
        Assert.Equal("CN=localhost", presented);

        // Plain HTTP/2 to the TLS port does not get an answer.
        using var plain = GrpcChannel.ForAddress(new UriBuilder(service.GrpcAddress) { Scheme = "http" }.Uri);
        await Assert.ThrowsAnyAsync<Exception>(() => new QueryService.QueryServiceClient(plain).ListStationsAsync(new ListStationsRequest(), Seed.Key(ServiceUnderTest.ReaderKey), deadline: DateTime.UtcNow.AddSeconds(5)).ResponseAsync);
        Directory.Delete(dir, true);
    }

    [Fact]
    public async Task Https_without_a_certificate_is_refused_at_start_naming_the_setting()
    {
        await using var service = new ServiceUnderTest(new() { ["Grpc:Url"] = "https://127.0.0.1:0" });
        var e = await Assert.ThrowsAsync<InvalidOperationException>(service.StartAsync);
        Assert.Contains("Grpc:Tls:CertificatePath", e.Message);
    }
}
