using System.Text.Json;
using EcoMonitor.Service.Tests.Support;

namespace EcoMonitor.Service.Tests;

/// <summary>The tests' polling helper: a read that meets a half-written InfluxDB point (a JSON null where a number
/// is read) is "not yet", anything else fails at once, and a timeout names the last half-written read.</summary>
public sealed class EventuallyTests
{
    static double NullNumber() => JsonDocument.Parse("[null]").RootElement[0].GetDouble();

    [Fact]
    public async Task A_null_where_a_number_is_read_is_polled_again()
    {
        var calls = 0;
        await TestInfrastructure.EventuallyAsync(() => Task.FromResult(++calls < 3 ? NullNumber() > 0 : true), TimeSpan.FromSeconds(5), "three calls");
        Assert.Equal(3, calls);
    }

    [Fact]
    public async Task A_null_until_the_end_is_named_in_the_timeout()
    {
        var e = await Assert.ThrowsAsync<TimeoutException>(() => TestInfrastructure.EventuallyAsync(() => Task.FromResult(NullNumber() > 0), TimeSpan.FromMilliseconds(300), "a number"));
        Assert.StartsWith("Timed out after 00:00:00.3000000 waiting for: a number (last read: ", e.Message);
        Assert.IsType<InvalidOperationException>(e.InnerException);
    }

    [Fact]
    public async Task Other_failures_are_not_retried()
    {
        var calls = 0;
        Task<bool> Fails()
        {
            calls++;
            throw new InvalidOperationException("no");
        }
        await Assert.ThrowsAsync<InvalidOperationException>(() => TestInfrastructure.EventuallyAsync(Fails, TimeSpan.FromSeconds(5), "x"));
        Assert.Equal(1, calls);
    }
}
