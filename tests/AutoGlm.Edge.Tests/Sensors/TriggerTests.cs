using AutoGlm.Cluster.Contract;
using AutoGlm.Edge.Mqtt;
using AutoGlm.Edge.Sensors;
using AutoGlm.Edge.Tests.Support;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace AutoGlm.Edge.Tests.Sensors;

/// <summary>The interval trigger on a fake clock, alone and driving a sensor service against the daemon's broker; file devices.</summary>
public sealed class TriggerTests(SensorDaemonFixture fixture) : IClassFixture<SensorDaemonFixture>
{
    private static readonly DateTimeOffset Start = new(2026, 11, 25, 15, 0, 0, TimeSpan.Zero);

    [Fact]
    public void IntervalTrigger_FiresOncePerPeriod_NeverBefore()
    {
        var time = new FakeTimeProvider(Start);
        var fired = new List<DateTimeOffset>();
        using var trigger = new IntervalTrigger("interval", TimeSpan.FromMinutes(5), time);
        trigger.Start(e =>
        {
            Assert.Equal("interval", e.Trigger);
            Assert.Null(e.Prompt);
            fired.Add(time.GetUtcNow());
        });

        time.Advance(TimeSpan.FromMinutes(5) - TimeSpan.FromMilliseconds(1));
        Assert.Empty(fired);
        time.Advance(TimeSpan.FromMilliseconds(1));
        time.Advance(TimeSpan.FromMinutes(5));
        time.Advance(TimeSpan.FromMinutes(5));

        Assert.Equal([Start.AddMinutes(5), Start.AddMinutes(10), Start.AddMinutes(15)], fired);
    }

    [Fact]
    public void IntervalTrigger_Disposed_FiresNoMore()
    {
        var time = new FakeTimeProvider(Start);
        var fired = 0;
        var trigger = new IntervalTrigger("interval", TimeSpan.FromSeconds(30), time);
        trigger.Start(_ => fired++);
        time.Advance(TimeSpan.FromSeconds(30));

        trigger.Dispose();
        time.Advance(TimeSpan.FromMinutes(10));

        Assert.Equal(1, fired);
    }

    [Fact]
    public async Task IntervalTrigger_InASensorService_PublishesOnTheFakeClockAndTheDaemonAnswers()
    {
        var time = new FakeTimeProvider(Start);
        var frame = Path.Combine(TestPaths.NewFolder("yard"), "yard.jpg");
        await File.WriteAllBytesAsync(frame, TestFrames.Jpeg(4));
        var mqtt = new MqttOptions { Port = fixture.Port, DeviceId = fixture.DeviceId, ClientId = "interval-test" };
        var options = Options.Create(new SensorsOptions
        {
            Devices =
            [
                new SensorOptions
                {
                    Name = "yard",
                    Kind = "camera",
                    Driver = "file",
                    Path = frame,
                    Prompt = "{sensor} {trigger} {time}",
                    MaxTokens = 4,
                    Triggers = [new TriggerOptions { Kind = "interval", Every = TimeSpan.FromMinutes(5) }],
                },
            ],
        });
        Assert.True(new SensorsOptionsValidator().Validate(null, options.Value).Succeeded);
        await using var service = new SensorService(options, mqtt, new MqttTopics(mqtt.ResolvedTopicPrefix), time, NullLoggerFactory.Instance);
        var published = new TaskCompletionSource<SensorJob>(TaskCreationOptions.RunContinuationsAsynchronously);
        service.JobPublished += job => published.TrySetResult(job);
        await service.StartAsync(CancellationToken.None);
        var yard = service.Sensors.Single();

        time.Advance(TimeSpan.FromMinutes(4));
        Assert.Equal(0, yard.TriggerCount);
        time.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(1, yard.TriggerCount);

        var job = await published.Task.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal("yard interval 2026-11-25T15:05:00Z", job.Prompt);
        Assert.StartsWith("yard-20261125T150500000-", job.Id, StringComparison.Ordinal);
        Assert.Equal(await File.ReadAllBytesAsync(frame), job.Payload);
        var result = await fixture.Client.WaitForTopicAsync($"{fixture.Prefix}/results/{job.Id}", TimeSpan.FromSeconds(60));
        Assert.Equal(job.Id, result.Json.GetProperty("id").GetString());
        await Poll.UntilAsync(() => yard.Answered == 1, "the service to see its job's result");

        time.Advance(TimeSpan.FromMinutes(5));
        Assert.Equal(2, yard.TriggerCount);
        await service.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task Triggers_BeyondTheQueueWhileCapturing_AreDroppedLoggedAndCounted_TheRestArePublished()
    {
        var mqtt = new MqttOptions { Port = fixture.Port, DeviceId = fixture.DeviceId, ClientId = "queue-test" };
        var options = Options.Create(new SensorsOptions
        {
            Devices =
            [
                new SensorOptions
                {
                    Name = "slow",
                    Kind = "camera",
                    Driver = "file",
                    MaxTokens = 1,
                    Triggers = [new TriggerOptions { Kind = "motion", Driver = "simulated" }],
                },
            ],
            StatusLed = new StatusLedOptions { Driver = "simulated" },
        });
        var logs = new Http.CapturedLogs();
        using var loggerFactory = LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Debug));
        await using var service = new SensorService(options, mqtt, new MqttTopics(mqtt.ResolvedTopicPrefix), TimeProvider.System, loggerFactory);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = 0;
        var frame = TestFrames.Jpeg(7);
        service.CreateDevice = (_, _) => (async ct =>
        {
            Interlocked.Increment(ref started);
            await release.Task.WaitAsync(ct);
            return frame;
        }, new FileCamera(fixture.FlakyFrame, "unused"), "a camera the test holds back");
        var published = new List<SensorJob>();
        service.JobPublished += job =>
        {
            lock (published)
            {
                published.Add(job);
            }
        };
        await service.StartAsync(CancellationToken.None);
        var slow = service.Sensors.Single();
        var trigger = slow.Triggers.OfType<SimulatedTrigger>().Single();

        trigger.Fire();
        await Poll.UntilAsync(() => Volatile.Read(ref started) == 1, "the first capture to start");
        for (var i = 0; i < SensorService.QueuedTriggersPerSensor + 1; i++)
        {
            trigger.Fire();
        }

        Assert.Equal(SensorService.QueuedTriggersPerSensor + 2, slow.TriggerCount);
        Assert.Equal(1, slow.Failures);
        var dropped = Assert.Single(logs.Entries, e => e.EventId.Id == 4610);
        Assert.Equal(LogLevel.Warning, dropped.Level);
        Assert.Equal(LedState.Busy, ((SimulatedStatusLed)service.StatusLed!).Current);

        release.SetResult();
        await Poll.UntilAsync(() => slow.Answered == SensorService.QueuedTriggersPerSensor + 1, "every queued capture to be published and answered");
        Assert.Equal(SensorService.QueuedTriggersPerSensor + 1, slow.Published);
        Assert.Equal(SensorService.QueuedTriggersPerSensor + 1, published.Count);
        Assert.All(published, job => Assert.Equal(frame, job.Payload));
        await service.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task FileCamera_Folder_CyclesItsImagesInNameOrder()
    {
        var folder = TestPaths.NewFolder("cycle");
        await File.WriteAllBytesAsync(Path.Combine(folder, "b.png"), Media.Png());
        await File.WriteAllBytesAsync(Path.Combine(folder, "a.jpg"), Media.Jpeg());
        await File.WriteAllTextAsync(Path.Combine(folder, "notes.txt"), "not an image");
        using var camera = new FileCamera(folder, "Sensors:Devices:0:Path");

        var frames = new List<byte[]>();
        for (var i = 0; i < 3; i++)
        {
            frames.Add(await camera.CaptureAsync(CancellationToken.None));
        }

        Assert.Equal([Media.Jpeg(), Media.Png(), Media.Jpeg()], frames);
    }

    [Fact]
    public void FileCamera_FolderWithoutImages_FailsNamingTheKey()
    {
        var folder = TestPaths.NewFolder("empty");

        var ex = Assert.Throws<SensorException>(() => new FileCamera(folder, "Sensors:Devices:3:Path"));

        Assert.Equal("Sensors:Devices:3:Path", ex.ConfigKey);
        Assert.Contains($"Sensors:Devices:3:Path '{folder}' holds no JPEG or PNG file", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task FileMicrophone_ReturnsTheWavFile()
    {
        var clip = Path.Combine(TestPaths.NewFolder("wav"), "c.wav");
        await File.WriteAllBytesAsync(clip, Media.Wav());
        using var microphone = new FileMicrophone(clip, "Sensors:Devices:1:Path");

        Assert.Equal(Media.Wav(), await microphone.RecordAsync(5, CancellationToken.None));
    }

    [Fact]
    public void MqttCommandTrigger_NonUtf8Payload_IsIgnored()
    {
        using var trigger = new MqttCommandTrigger("mqtt", "autoglm/x/sensors/door/capture");
        var events = new List<TriggerEvent>();
        trigger.Start(events.Add);

        Assert.False(trigger.Receive([0xC3, 0x28]));
        Assert.True(trigger.Receive("  Who is it?  "u8));

        Assert.Equal([new TriggerEvent("mqtt", "Who is it?")], events);
    }
}
