using AutoGlm.Cluster.Contract;
using AutoGlm.Edge.Mqtt;
using AutoGlm.Edge.Sensors;
using AutoGlm.Edge.Tests.Support;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace AutoGlm.Edge.Tests.Sensors;

/// <summary>
/// The sensor service's own client id, and what it does when a trigger's work throws or a job's result never comes,
/// against the fixture daemon's broker.
/// </summary>
public sealed class SensorServiceTests(SensorDaemonFixture fixture) : IClassFixture<SensorDaemonFixture>
{
    private static readonly DateTimeOffset Start = new(2026, 11, 25, 15, 0, 0, TimeSpan.Zero);

    [Fact]
    public void SensorClientId_NoClientId_NamesTheMachine_SoTwoMachinesForOneDeviceDiffer()
    {
        var mqtt = new MqttOptions { DeviceId = "jetson1" };

        var pi = SensorService.SensorClientId(mqtt, "porch-pi");
        var jetson = SensorService.SensorClientId(mqtt, "jetson1");

        Assert.Equal("autoglm-jetson1-sensors-porch-pi", pi);
        Assert.Equal("autoglm-jetson1-sensors-jetson1", jetson);
        Assert.NotEqual(mqtt.ResolvedClientId, pi);
        Assert.Equal("autoglm-jetson1-sensors-garage-pi-local", SensorService.SensorClientId(mqtt, "garage pi.local"));
        Assert.Equal("autoglm-jetson1-sensors-" + new string('a', 32), SensorService.SensorClientId(mqtt, new string('a', 80)));
    }

    [Fact]
    public void SensorClientId_ExplicitClientId_IsThatClientIdWithSensors()
    {
        var mqtt = new MqttOptions { DeviceId = "jetson1", ClientId = "porch-pi" };

        Assert.Equal("porch-pi-sensors", SensorService.SensorClientId(mqtt, "whatever-host"));
    }

    [Fact]
    public async Task JobPublishedHandlerThrows_IsLoggedAndCounted_AndTheNextTriggerStillPublishes_AndStopCleansUp()
    {
        var logs = new Http.CapturedLogs();
        using var loggerFactory = LoggerFactory.Create(b => b.AddProvider(logs));
        var mqtt = new MqttOptions { Port = fixture.Port, DeviceId = fixture.DeviceId, ClientId = "throwing-handler-test" };
        var device = new DisposeProbe();
        var service = new SensorService(Options.Create(OneCamera("porch")), mqtt, new MqttTopics(mqtt.ResolvedTopicPrefix), TimeProvider.System, loggerFactory);
        await using var _ = service;
        var frame = TestFrames.Jpeg(8);
        service.CreateDevice = (_, _) => (_ => Task.FromResult(frame), device, "a camera in memory");
        var second = new TaskCompletionSource<SensorJob>(TaskCreationOptions.RunContinuationsAsynchronously);
        var calls = 0;
        service.JobPublished += job =>
        {
            if (Interlocked.Increment(ref calls) == 1)
            {
                throw new InvalidOperationException("a subscriber's bug");
            }

            second.TrySetResult(job);
        };
        await service.StartAsync(CancellationToken.None);
        var porch = service.Sensors.Single();
        var trigger = porch.Triggers.OfType<SimulatedTrigger>().Single();

        trigger.Fire();
        await Poll.UntilAsync(() => porch.Failures == 1, "the handler's exception to be counted");
        trigger.Fire();
        var job = await second.Task.WaitAsync(Poll.DefaultTimeout);

        Assert.Equal(frame, job.Payload);
        Assert.Equal(2, porch.Published);
        var error = Assert.Single(logs.TakeErrors());
        Assert.Equal(4616, error.EventId.Id);
        Assert.Contains("porch", error.Message, StringComparison.Ordinal);
        Assert.IsType<InvalidOperationException>(error.Exception);
        await Poll.UntilAsync(() => porch.Answered == 2, "both jobs to be answered");

        await service.StopAsync(CancellationToken.None);
        Assert.True(device.Disposed);
    }

    [Fact]
    public async Task ResultTimeout_NoDeviceAnswers_JobIsCountedFailedAndNoLongerOutstanding()
    {
        var time = new FakeTimeProvider(Start);
        var logs = new Http.CapturedLogs();
        using var loggerFactory = LoggerFactory.Create(b => b.AddProvider(logs));

        // A device id no daemon serves: the job is published to the broker, and nobody answers it.
        var mqtt = new MqttOptions { Port = fixture.Port, DeviceId = "gone" + Guid.NewGuid().ToString("N")[..8], ClientId = "result-timeout-test" };
        var options = OneCamera("shed");
        options.ResultTimeout = TimeSpan.FromMinutes(2);
        options.StatusLed = new StatusLedOptions { Driver = "simulated" };
        await using var service = new SensorService(Options.Create(options), mqtt, new MqttTopics(mqtt.ResolvedTopicPrefix), time, loggerFactory);
        service.CreateDevice = (_, _) => (_ => Task.FromResult(TestFrames.Jpeg(9)), new DisposeProbe(), "a camera in memory");
        var published = new TaskCompletionSource<SensorJob>(TaskCreationOptions.RunContinuationsAsynchronously);
        service.JobPublished += job => published.TrySetResult(job);
        await service.StartAsync(CancellationToken.None);
        var shed = service.Sensors.Single();
        var led = (SimulatedStatusLed)service.StatusLed!;

        shed.Triggers.OfType<SimulatedTrigger>().Single().Fire();
        var job = await published.Task.WaitAsync(Poll.DefaultTimeout);
        Assert.Equal(1, service.Outstanding);
        Assert.Equal(LedState.Busy, led.Current);

        time.Advance(TimeSpan.FromMinutes(2) - TimeSpan.FromMilliseconds(1));
        Assert.Equal(1, service.Outstanding);
        time.Advance(TimeSpan.FromMilliseconds(1));

        Assert.Equal(0, service.Outstanding);
        Assert.Equal(1, shed.Failures);
        Assert.Equal(0, shed.Answered);
        Assert.Equal(LedState.Error, led.Current);
        var expired = Assert.Single(logs.Entries, e => e.EventId.Id == 4617);
        Assert.Equal(LogLevel.Warning, expired.Level);
        Assert.Contains(job.Id, expired.Message, StringComparison.Ordinal);
        await service.StopAsync(CancellationToken.None);
    }

    private static SensorsOptions OneCamera(string name) => new()
    {
        Devices =
        [
            new SensorOptions
            {
                Name = name,
                Kind = "camera",
                Driver = "file",
                MaxTokens = 1,
                Triggers = [new TriggerOptions { Kind = "motion", Driver = "simulated" }],
            },
        ],
    };

    private sealed class DisposeProbe : IDisposable
    {
        public bool Disposed { get; private set; }

        public void Dispose() => Disposed = true;
    }
}
