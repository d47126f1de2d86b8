using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using EcoMonitor.Service.Alerting;
using EcoMonitor.Service.Tests.Support;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using MQTTnet;
using MQTTnet.Protocol;
using Xunit.Abstractions;

namespace EcoMonitor.Service.Tests;

/// <summary>Two instances with alerting on, in one shared subscription group, against the real mosquitto: one leads
/// (a lease over the broker), evaluates every second and notifies a real webhook; the other follows. The leader goes
/// away (stopped; or cut off from the broker, as a crash looks to the broker) and the follower takes over within the
/// bound of the settings, restores the leader's state from the broker and sends nothing twice; the next new event is
/// sent once.</summary>
[Trait("Category", "Integration")]
public sealed class AlertLeaderIntegrationTests(ITestOutputHelper output)
{
    static readonly TimeSpan RenewInterval = TimeSpan.FromMilliseconds(200);
    static readonly TimeSpan LeaseDuration = TimeSpan.FromMilliseconds(2500);
    static readonly TimeSpan Settle = TimeSpan.FromMilliseconds(500);
    static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    /// <summary>An instance with the lease settings of these tests and two rules: air-1 silent (it never reports:
    /// fires at the first evaluation) and a PM2.5 value above 300 within 5 minutes at any air station.</summary>
    internal static Dictionary<string, string?> Settings(HttpReceiver hook, string group, string clientId, string stateFile) =>
        AlertTestSettings.For(hook, stateFile,
            ("Mqtt:SharedGroup", group), ("Mqtt:ClientId", clientId),
            ("Alerting:EvaluationInterval", "00:00:01"),
            ("Alerting:LeaseRenewInterval", RenewInterval.ToString()), ("Alerting:LeaseDuration", LeaseDuration.ToString()),
            ("Alerting:LeaseSettle", Settle.ToString()),
            ("Alerting:Rules:0:Name", "silent-air-1"), ("Alerting:Rules:0:Kind", "silent"), ("Alerting:Rules:0:StationKind", "air"),
            ("Alerting:Rules:0:Stations:0", "air-1"), ("Alerting:Rules:0:Threshold", "60"), ("Alerting:Rules:0:RepeatInterval", "01:00:00"),
            ("Alerting:Rules:0:Channels:0", "duty"),
            ("Alerting:Rules:1:Name", "pm25-spike"), ("Alerting:Rules:1:Kind", "single-value"), ("Alerting:Rules:1:Parameter", "pm25"),
            ("Alerting:Rules:1:Threshold", "300"), ("Alerting:Rules:1:RepeatInterval", "01:00:00"), ("Alerting:Rules:1:Channels:0", "duty"));

    /// <summary>The topic prefix and database of <paramref name="first"/>: the second instance of the same deployment.</summary>
    static Dictionary<string, string?> SameData(Dictionary<string, string?> settings, ServiceUnderTest first)
    {
        settings["Ingestion:TopicPrefix"] = first.Prefix;
        settings["Influx:Database"] = first.Database;
        return settings;
    }

    static AlertLeadership Lease(ServiceUnderTest s) => s.Services.GetRequiredService<AlertLeadership>();

    static AlertEvaluator Evaluator(ServiceUnderTest s) => s.Services.GetRequiredService<AlertEvaluator>();

    internal static List<(string? Rule, string? Subject, string? Kind)> Sent(HttpReceiver hook) =>
        [.. hook.Requests.Select(r => (r.Body.GetProperty("rule").GetString(), r.Body.GetProperty("subject").GetString(), r.Body.GetProperty("kind").GetString()))];

    /// <summary>Waits until <paramref name="successor"/> leads; returns how long that took from <paramref name="since"/>.</summary>
    static async Task<TimeSpan> TakeoverAsync(ServiceUnderTest successor, Stopwatch since)
    {
        await TestInfrastructure.EventuallyAsync(() => Lease(successor).IsLeader, Wait, "the follower leads");
        return since.Elapsed;
    }

    /// <summary>The documented bound for any loss of the leader: Alerting:LeaseDuration after its last renewal plus
    /// Alerting:LeaseSettle, with a second for a loaded test machine (polling, thread pool).</summary>
    internal static readonly TimeSpan Bound = LeaseDuration + Settle + TimeSpan.FromSeconds(1);

    /// <summary>A peer the test scripts: claims on the lease topic of <paramref name="prefix"/> (retained, QoS 1), and
    /// sees every claim there.</summary>
    internal sealed class Peer : IAsyncDisposable
    {
        readonly IMqttClient _client = new MqttClientFactory().CreateMqttClient();
        readonly string _topic, _state;

        Peer(string prefix) => (_topic, _state) = ($"{prefix}/_cluster/alerting-leader", $"{prefix}/_cluster/alerting-state");

        /// <summary>Removes the retained claim and state of a test from the shared broker.</summary>
        public static async Task ClearAsync(string prefix)
        {
            await using var peer = await ConnectAsync(prefix);
            await peer._client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(peer._state).WithPayload([]).WithRetainFlag()
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
        }

        public ConcurrentQueue<(TimeSpan At, string Payload)> Seen { get; } = new();
        public Stopwatch Clock { get; } = Stopwatch.StartNew();

        public static async Task<Peer> ConnectAsync(string prefix)
        {
            var peer = new Peer(prefix);
            peer._client.ApplicationMessageReceivedAsync += e =>
            {
                peer.Seen.Enqueue((peer.Clock.Elapsed, Encoding.UTF8.GetString(e.ApplicationMessage.Payload.ToArray())));
                return Task.CompletedTask;
            };
            await peer._client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer(TestInfrastructure.MqttHost, TestInfrastructure.MqttPort)
                .WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V500).WithClientId(TestInfrastructure.UniqueName("peer")).Build());
            await peer._client.SubscribeAsync(peer._topic, MqttQualityOfServiceLevel.AtLeastOnce);
            return peer;
        }

        public async Task ClaimAsync(string payload) =>
            await _client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(_topic).WithPayload(payload).WithRetainFlag()
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());

        public async ValueTask DisposeAsync()
        {
            await ClaimAsync(""); // no retained claim left on the broker
            await _client.DisconnectAsync();
            _client.Dispose();
        }
    }

    /// <summary>The follower's view, and a new event after a takeover: one notification, by the new leader.</summary>
    async Task NextEventIsSentOnceAsync(HttpReceiver hook, ServiceUnderTest leader, ServiceUnderTest database)
    {
        // Two more evaluations by the new leader: the alert the old one notified is not sent again.
        var evaluations = Evaluator(leader).Evaluations;
        await Task.Delay(TimeSpan.FromSeconds(2.5));
        Assert.Equal([("silent-air-1", "air-1", "fired")], Sent(hook));
        Assert.True(Evaluator(leader).Evaluations > evaluations, "it did evaluate meanwhile");

        await Seed.WriteAsync(database.Database, [Seed.Line("air-2", "pm25", DateTimeOffset.UtcNow.AddMinutes(-1), 500)]);
        await TestInfrastructure.EventuallyAsync(() => hook.Requests.Count >= 2, Wait, "the new event notified");
        await Task.Delay(TimeSpan.FromSeconds(2.5));
        Assert.Equal([("silent-air-1", "air-1", "fired"), ("pm25-spike", "air-2", "fired")], Sent(hook));
    }

    [Fact]
    public async Task Two_instances_started_together_elect_one_leader_and_a_stopped_leader_is_taken_over_without_a_second_notification()
    {
        await using var hook = await HttpReceiver.StartAsync();
        var group = TestInfrastructure.UniqueName("g");
        string stateA = AlertTestSettings.TempFile("alerts-a"), stateB = AlertTestSettings.TempFile("alerts-b");
        // The ids decide a race: "a-..." precedes "b-...".
        await using var a = new ServiceUnderTest(Settings(hook, group, TestInfrastructure.UniqueName("a"), stateA));
        await using var b = new ServiceUnderTest(SameData(Settings(hook, group, TestInfrastructure.UniqueName("b"), stateB), a));
        try
        {
            await Task.WhenAll(a.StartAsync(), b.StartAsync());
            await TestInfrastructure.EventuallyAsync(() => Lease(a).IsLeader || Lease(b).IsLeader, Wait, "a leader");
            await TestInfrastructure.EventuallyAsync(() => hook.Requests.Count >= 1, Wait, "the silent station notified");
            await Task.Delay(TimeSpan.FromSeconds(2.5)); // more evaluations, by the leader only
            Assert.Equal([("silent-air-1", "air-1", "fired")], Sent(hook));
            Assert.True(Lease(a).IsLeader ^ Lease(b).IsLeader, "exactly one leader");
            Assert.Equal(1, Lease(a).Takeovers + Lease(b).Takeovers); // no flapping
            var (leader, follower) = Lease(a).IsLeader ? (a, b) : (b, a);
            output.WriteLine($"leader {Lease(leader).InstanceId}");
            Assert.Equal(Lease(leader).InstanceId, Lease(follower).Leader);

            // The follower shows the leader's state, and refuses to change it.
            await TestInfrastructure.EventuallyAsync(() => Evaluator(follower).Active.Any(x => x.Rule == "silent-air-1"), Wait, "the follower shows the firing alert");
            var refused = await Assert.ThrowsAsync<RpcException>(() => Evaluator(follower).AcknowledgeAsync("silent-air-1", "air-1", "值班员", "", CancellationToken.None));
            Assert.Equal(StatusCode.FailedPrecondition, refused.StatusCode);
            Assert.Contains(Lease(leader).InstanceId, refused.Status.Detail);

            var clock = Stopwatch.StartNew();
            await leader.StopAsync(); // releases the lease
            var stopped = clock.Elapsed;
            var takeover = await TakeoverAsync(follower, clock);
            output.WriteLine($"leader stopped in {stopped.TotalMilliseconds:F0} ms; the follower led {takeover.TotalMilliseconds:F0} ms after the stop began");
            Assert.True(takeover <= stopped + Bound, $"takeover after {takeover}, bound {stopped} + {Bound}");
            await NextEventIsSentOnceAsync(hook, follower, a);
        }
        finally
        {
            File.Delete(stateA);
            File.Delete(stateB);
            await a.StopAsync();
            await b.StopAsync();
            await Peer.ClearAsync(a.Prefix);
        }
    }

    [Fact]
    public async Task A_leader_cut_off_from_the_broker_stands_down_the_follower_takes_over_and_nothing_is_sent_twice()
    {
        await using var hook = await HttpReceiver.StartAsync();
        await using var proxy = new TcpProxy(new Uri($"tcp://{TestInfrastructure.MqttHost}:{TestInfrastructure.MqttPort}"));
        var group = TestInfrastructure.UniqueName("g");
        string stateA = AlertTestSettings.TempFile("alerts-a"), stateB = AlertTestSettings.TempFile("alerts-b");
        // a reaches the broker through the proxy; it starts first and leads. b's id precedes a's: a lower id does not
        // take a held lease.
        var settingsA = Settings(hook, group, TestInfrastructure.UniqueName("b"), stateA);
        settingsA["Mqtt:Port"] = proxy.Url.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        await using var a = new ServiceUnderTest(settingsA);
        await using var b = new ServiceUnderTest(SameData(Settings(hook, group, TestInfrastructure.UniqueName("a"), stateB), a));
        try
        {
            await a.StartAsync();
            await TestInfrastructure.EventuallyAsync(() => hook.Requests.Count >= 1, Wait, "the silent station notified");
            Assert.True(Lease(a).IsLeader);
            await b.StartAsync();
            await Task.Delay(TimeSpan.FromSeconds(2.5));
            Assert.True(Lease(a).IsLeader && !Lease(b).IsLeader, "the running leader keeps the lease");
            Assert.Equal([("silent-air-1", "air-1", "fired")], Sent(hook));

            // Cut: a's connections close (the broker sees them die and publishes the will) and cannot come back.
            var clock = Stopwatch.StartNew();
            proxy.Mode = ProxyMode.Refuse;
            proxy.DropConnections();
            await TestInfrastructure.EventuallyAsync(() => !Lease(a).IsLeader, Wait, "the cut-off leader stands down");
            var takeover = await TakeoverAsync(b, clock);
            output.WriteLine($"a stood down; b led {takeover.TotalMilliseconds:F0} ms after the cut");
            Assert.True(takeover <= Bound, $"takeover after {takeover}, bound {Bound}");

            // a comes back: it follows, b keeps leading.
            proxy.Mode = ProxyMode.Forward;
            await TestInfrastructure.EventuallyAsync(() => Lease(a).Leader == Lease(b).InstanceId, Wait, "a follows b");
            Assert.True(Lease(b).IsLeader && !Lease(a).IsLeader);
            await NextEventIsSentOnceAsync(hook, b, a);
            Assert.True(Lease(b).IsLeader && !Lease(a).IsLeader);
        }
        finally
        {
            File.Delete(stateA);
            File.Delete(stateB);
            await a.StopAsync();
            await b.StopAsync();
            await Peer.ClearAsync(a.Prefix);
        }
    }

    [Fact]
    public async Task The_lease_against_a_scripted_peer_a_live_leader_is_kept_a_silent_one_taken_over_after_the_lease_a_lower_leader_wins()
    {
        await using var hook = await HttpReceiver.StartAsync();
        var stateFile = AlertTestSettings.TempFile("alerts");
        await using var service = new ServiceUnderTest(Settings(hook, TestInfrastructure.UniqueName("g"), TestInfrastructure.UniqueName("b"), stateFile));
        await using var peer = await Peer.ConnectAsync(service.Prefix);
        const string Lower = "a-peer";
        try
        {
            // A live leader, even with a higher id: the instance follows (a newcomer never takes a live lease).
            using var renewing = new CancellationTokenSource();
            var lastRenewal = TimeSpan.Zero;
            var leader = "z-peer";
            var renewals = Task.Run(async () =>
            {
                while (!renewing.IsCancellationRequested)
                {
                    await peer.ClaimAsync($$"""{"instance": "{{leader}}", "leading": true}""");
                    lastRenewal = peer.Clock.Elapsed;
                    await Task.Delay(RenewInterval);
                }
            });
            await service.StartAsync();
            await Task.Delay(LeaseDuration + Settle + TimeSpan.FromSeconds(0.5));
            Assert.False(Lease(service).IsLeader);
            Assert.Equal("z-peer", Lease(service).Leader);

            // The leader vanishes without a release (no will either: a partition): taken over after LeaseDuration + LeaseSettle.
            await renewing.CancelAsync();
            await renewals;
            await TestInfrastructure.EventuallyAsync(() => Lease(service).IsLeader, Wait, "the instance leads");
            var after = peer.Clock.Elapsed - lastRenewal;
            output.WriteLine($"took over {after.TotalMilliseconds:F0} ms after the last renewal");
            Assert.True(after >= LeaseDuration + Settle, $"not before LeaseDuration + LeaseSettle ({after})");
            Assert.True(after <= Bound, $"within {Bound} ({after})");

            // A claimant with a lower id does not take a live lease: the leader answers at once and keeps it.
            var seen = peer.Seen.Count;
            var claimed = peer.Clock.Elapsed;
            await peer.ClaimAsync($$"""{"instance": "{{Lower}}", "leading": false}""");
            await TestInfrastructure.EventuallyAsync(() => peer.Seen.Skip(seen).Any(x => x.At > claimed && x.Payload.Contains(Lease(service).InstanceId)), Wait, "the leader answers");
            await Task.Delay(Settle * 2);
            Assert.True(Lease(service).IsLeader);

            // A second leader with a lower id (a partition healed): the instance stands down.
            await peer.ClaimAsync($$"""{"instance": "{{Lower}}", "leading": true}""");
            await TestInfrastructure.EventuallyAsync(() => !Lease(service).IsLeader, Wait, "the instance stands down");
            Assert.Equal(Lower, Lease(service).Leader);
            Assert.Equal(1, Lease(service).Takeovers);
        }
        finally
        {
            File.Delete(stateFile);
            await service.StopAsync();
            await Peer.ClearAsync(service.Prefix);
        }
    }
}

/// <summary>The alerting leader as its own OS process, killed with SIGKILL: no release, the broker sees the socket
/// close and publishes the leader's will; the follower process takes over within the bound and sends nothing twice.</summary>
[Trait("Category", "Integration")]
[Collection(ProcessFaultTests.Collection)]
public sealed class AlertLeaderProcessTests(ITestOutputHelper output)
{
    static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);
    static readonly TimeSpan Bound = AlertLeaderIntegrationTests.Bound;

    static Dictionary<string, string?> Settings(HttpReceiver hook, string group, string clientId, string stateFile) =>
        AlertLeaderIntegrationTests.Settings(hook, group, clientId, stateFile);

    static List<(string? Rule, string? Subject, string? Kind)> Sent(HttpReceiver hook) => AlertLeaderIntegrationTests.Sent(hook);

    [Fact]
    public async Task A_leader_process_killed_with_SIGKILL_is_taken_over_within_the_bound_without_a_second_notification()
    {
        await using var hook = await HttpReceiver.StartAsync();
        var group = TestInfrastructure.UniqueName("g");
        string stateA = AlertTestSettings.TempFile("alerts-a"), stateB = AlertTestSettings.TempFile("alerts-b");
        static Dictionary<string, string> Env(Dictionary<string, string?> settings) => settings.ToDictionary(kv => kv.Key, kv => kv.Value ?? "");
        await using var a = new ServiceProcess(TestInfrastructure.MqttPort, TestInfrastructure.InfluxUrl,
            Env(Settings(hook, group, TestInfrastructure.UniqueName("a"), stateA)));
        var settingsB = Env(Settings(hook, group, TestInfrastructure.UniqueName("b"), stateB));
        settingsB["Ingestion:TopicPrefix"] = a.Prefix;
        settingsB["Influx:Database"] = a.Database;
        await using var b = new ServiceProcess(TestInfrastructure.MqttPort, TestInfrastructure.InfluxUrl, settingsB);
        try
        {
            await Task.WhenAll(a.StartAsync(), b.StartAsync());
            async Task<bool> Leads(ServiceProcess p) => await p.MetricAsync("ecomonitor_alerting_leader") == 1;
            await TestInfrastructure.EventuallyAsync(async () => await Leads(a) || await Leads(b), Wait, "a leader");
            await TestInfrastructure.EventuallyAsync(() => hook.Requests.Count >= 1, Wait, "the silent station notified");
            await Task.Delay(TimeSpan.FromSeconds(2.5));
            Assert.Equal([("silent-air-1", "air-1", "fired")], Sent(hook));
            var (leader, follower) = await Leads(a) ? (a, b) : (b, a);
            Assert.False(await Leads(follower));

            var clock = Stopwatch.StartNew();
            await leader.KillAsync(); // no release: the broker sees the socket close and publishes the will
            await TestInfrastructure.EventuallyAsync(() => Leads(follower), Wait, "the follower leads");
            var takeover = clock.Elapsed;
            output.WriteLine($"the follower led {takeover.TotalMilliseconds:F0} ms after the kill");
            Assert.True(takeover <= Bound, $"takeover after {takeover}, bound {Bound}");
            Assert.Equal(1, await follower.MetricAsync("ecomonitor_alerting_takeovers_total"));

            await Task.Delay(TimeSpan.FromSeconds(2.5)); // evaluations by the new leader: nothing sent again
            Assert.Equal([("silent-air-1", "air-1", "fired")], Sent(hook));
            await Seed.WriteAsync(a.Database, [Seed.Line("air-2", "pm25", DateTimeOffset.UtcNow.AddMinutes(-1), 500)]);
            await TestInfrastructure.EventuallyAsync(() => hook.Requests.Count >= 2, Wait, "the new event notified");
            await Task.Delay(TimeSpan.FromSeconds(2.5));
            Assert.Equal([("silent-air-1", "air-1", "fired"), ("pm25-spike", "air-2", "fired")], Sent(hook));
        }
        catch
        {
            output.WriteLine(a.Output);
            output.WriteLine(b.Output);
            throw;
        }
        finally
        {
            File.Delete(stateA);
            File.Delete(stateB);
            await a.StopAsync();
            await b.StopAsync();
            await AlertLeaderIntegrationTests.Peer.ClearAsync(a.Prefix);
        }
    }
}
