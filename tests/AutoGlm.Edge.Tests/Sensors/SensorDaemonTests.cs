using System.Globalization;
using AutoGlm.Edge.Sensors;
using AutoGlm.Edge.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace AutoGlm.Edge.Tests.Sensors;

/// <summary>
/// Sensors inside the real daemon with its embedded broker: a trigger captures, the capture goes out as a raw job on
/// <c>…/jobs/image</c> or <c>…/jobs/audio</c>, the daemon journals and answers it, and the answer arrives on
/// <c>…/results/&lt;id&gt;</c> with text from the vision or audio adapter.
/// </summary>
public sealed class SensorDaemonTests(SensorDaemonFixture fixture) : IClassFixture<SensorDaemonFixture>
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task MotionTrigger_Simulated_PublishesCapturedFrameAndItsResultArrives()
    {
        var door = fixture.Sensor("door");
        var camera = (FileCamera)door.Device;
        var expectedFrame = fixture.Frames[camera.Captured % fixture.Frames.Length];

        var job = await PublishedAfterAsync("door", () => door.Triggers.OfType<SimulatedTrigger>().Single(t => t.Name == "motion").Fire());

        Assert.Equal(fixture.Prefix + "/jobs/image", job.Topic);
        Assert.Equal("motion", job.Trigger);
        Assert.Equal(expectedFrame, job.Payload);
        Assert.Matches(@"^Motion at door \(motion\) at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\. Who is there\?$", job.Prompt);
        await AssertAnsweredAsync(job.Id);
        fixture.Server.Logs.AssertNoErrors();
    }

    [Fact]
    public async Task MicrophoneTrigger_FileClip_PublishesAudioJobAndItsResultArrives()
    {
        var mic = fixture.Sensor("hall-mic");

        var job = await PublishedAfterAsync("hall-mic", () => mic.Triggers.OfType<SimulatedTrigger>().Single().Fire());

        Assert.Equal(fixture.Prefix + "/jobs/audio", job.Topic);
        Assert.Equal("button", job.Trigger);
        Assert.Equal(fixture.Clip, job.Payload);
        Assert.Equal("Transcribe this audio.", job.Prompt);
        await AssertAnsweredAsync(job.Id);
        fixture.Server.Logs.AssertNoErrors();
    }

    [Fact]
    public async Task MqttCommand_OnCaptureTopic_CapturesWithThePayloadAsPrompt()
    {
        var job = await PublishedAfterAsync(
            "door",
            () => fixture.Client.PublishAsync($"{fixture.Prefix}/sensors/door/capture", "Is the door open?").GetAwaiter().GetResult());

        Assert.Equal("mqtt", job.Trigger);
        Assert.Equal("Is the door open?", job.Prompt);
        Assert.Contains(fixture.Frames, frame => frame.AsSpan().SequenceEqual(job.Payload));
        await AssertAnsweredAsync(job.Id);

        // An empty command uses the template.
        var templated = await PublishedAfterAsync(
            "door",
            () => fixture.Client.PublishAsync($"{fixture.Prefix}/sensors/door/capture", "").GetAwaiter().GetResult());
        Assert.StartsWith("Motion at door (mqtt) at ", templated.Prompt, StringComparison.Ordinal);
        await AssertAnsweredAsync(templated.Id);
        fixture.Server.Logs.AssertNoErrors();
    }

    [Fact]
    public async Task StatusLed_BusyWhileTheJobIsOutstanding_ThenIdleAfterItsAnswer()
    {
        await SettledAsync();
        var before = fixture.Led.States.Count;
        var door = fixture.Sensor("door");
        var answered = door.Answered;

        var job = await PublishedAfterAsync("door", () => door.Triggers.OfType<SimulatedTrigger>().Single().Fire());
        await AssertAnsweredAsync(job.Id);
        await Poll.UntilAsync(() => door.Answered > answered && fixture.Sensors.Outstanding == 0, "the sensor service to see the result");

        Assert.Equal([LedState.Busy, LedState.Idle], fixture.Led.States.Skip(before));
        Assert.Equal(LedState.Idle, fixture.Led.Current);
    }

    [Fact]
    public async Task CaptureFailure_IsLoggedCountedAndShown_AndTheSensorKeepsWorking()
    {
        await SettledAsync();
        var flaky = fixture.Sensor("flaky");
        var trigger = flaky.Triggers.OfType<SimulatedTrigger>().Single();
        var frame = await File.ReadAllBytesAsync(fixture.FlakyFrame);
        var before = fixture.Led.States.Count;
        File.Delete(fixture.FlakyFrame);
        try
        {
            trigger.Fire();
            await Poll.UntilAsync(() => flaky.Failures == 1 && fixture.Led.Current == LedState.Error, "the failed capture to be counted and shown");
        }
        finally
        {
            await File.WriteAllBytesAsync(fixture.FlakyFrame, frame);
        }

        Assert.Equal(0, flaky.Captures);
        Assert.Equal(0, flaky.Published);
        Assert.Equal([LedState.Busy, LedState.Error], fixture.Led.States.Skip(before));
        var errors = fixture.Server.Logs.TakeErrors();
        var error = Assert.Single(errors);
        Assert.Equal(4604, error.EventId.Id);
        Assert.Contains("flaky", error.Message, StringComparison.Ordinal);
        Assert.Contains("Sensors:Devices:2:Path", error.Message, StringComparison.Ordinal);

        var job = await PublishedAfterAsync("flaky", () => trigger.Fire());
        Assert.Equal(frame, job.Payload);
        await AssertAnsweredAsync(job.Id);
        Assert.Equal(1, flaky.Failures);
        fixture.Server.Logs.AssertNoErrors();
    }

    [FactNeeding("mosquitto_pub")]
    public async Task DocumentedMosquittoPubCommand_PublishesAFrameAsAnImageJob()
    {
        // The command docs/sensors.md gives for an ESP32-style camera or a shell script, against this daemon's broker.
        var frame = Path.Combine(TestPaths.NewFolder("pub"), "frame.jpg");
        await File.WriteAllBytesAsync(frame, fixture.Frames[0]);
        var id = "script-" + Guid.NewGuid().ToString("N")[..8];

        var run = await Task.Run(() => ProcessRunner.Run(
            "mosquitto_pub",
            ["-V", "mqttv5", "-p", fixture.Port.ToString(CultureInfo.InvariantCulture), "-q", "1", "-t", $"{fixture.Prefix}/jobs/image", "-f", frame,
             "-D", "publish", "user-property", "id", id, "-D", "publish", "user-property", "prompt", "Is anyone at the door?",
             "-D", "publish", "user-property", "max_tokens", "4"]));

        Assert.True(run.ExitCode == 0, run.ToString());
        await AssertAnsweredAsync(id);
    }

    [Fact]
    public async Task SensorsVerb_OnlyTheSensors_PublishToTheDaemonsBrokerAndGetAnswers()
    {
        // What a Pi without the model runs: `autoglm-edge sensors`, here against the fixture daemon's broker.
        var frame = Path.Combine(TestPaths.NewFolder("verb"), "porch.jpg");
        await File.WriteAllBytesAsync(frame, TestFrames.Jpeg(5));
        using var host = Edge.Cli.SensorsCommand.Build(
        [
            $"--Mqtt:Port={fixture.Port.ToString(CultureInfo.InvariantCulture)}",
            $"--Mqtt:DeviceId={fixture.DeviceId}",
            "--Mqtt:ClientId=porch-pi",
            "--Sensors:Devices:0:Name=porch",
            "--Sensors:Devices:0:Kind=camera",
            "--Sensors:Devices:0:Driver=file",
            $"--Sensors:Devices:0:Path={frame}",
            "--Sensors:Devices:0:MaxTokens=4",
            "--Sensors:Devices:0:Triggers:0:Kind=mqtt",
        ]);
        var service = host.Services.GetRequiredService<SensorService>();
        var published = new TaskCompletionSource<SensorJob>(TaskCreationOptions.RunContinuationsAsynchronously);
        service.JobPublished += job => published.TrySetResult(job);
        await host.StartAsync();
        try
        {
            await fixture.Client.PublishAsync($"{fixture.Prefix}/sensors/porch/capture", "What is on the porch?");
            var job = await published.Task.WaitAsync(Bound);

            Assert.Equal("What is on the porch?", job.Prompt);
            Assert.Equal(await File.ReadAllBytesAsync(frame), job.Payload);
            await AssertAnsweredAsync(job.Id);
            await Poll.UntilAsync(() => service.Sensors.Single().Answered == 1, "the sensors host to see the answer");
        }
        finally
        {
            await host.StopAsync();
        }
    }

    [Fact]
    public async Task SensorsVerb_NothingConfigured_ExitsWithAnError()
    {
        var (exit, _, error) = await CliRunner.RunAsync("sensors", "--Mqtt:Port=1");

        Assert.Equal(2, exit);
        Assert.Contains("error: no sensors configured: set Sensors:Devices:0:Name", error, StringComparison.Ordinal);
    }

    /// <summary>Runs <paramref name="act"/> and returns the next job <paramref name="sensor"/> publishes.</summary>
    private async Task<SensorJob> PublishedAfterAsync(string sensor, Action act)
    {
        var published = new TaskCompletionSource<SensorJob>(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnPublished(SensorJob job)
        {
            if (job.Sensor == sensor)
            {
                published.TrySetResult(job);
            }
        }

        fixture.Sensors.JobPublished += OnPublished;
        try
        {
            act();
            return await published.Task.WaitAsync(Bound);
        }
        finally
        {
            fixture.Sensors.JobPublished -= OnPublished;
        }
    }

    /// <summary>Waits for the result of <paramref name="id"/> on its default topic: it names the job and holds the model's text.</summary>
    private async Task<Received> AssertAnsweredAsync(string id)
    {
        var result = await fixture.Client.WaitForTopicAsync($"{fixture.Prefix}/results/{id}", Bound);
        Assert.Equal(id, result.Json.GetProperty("id").GetString());
        Assert.True(result.ErrorCode is null, result.Text);
        Assert.True(result.Json.GetProperty("usage").GetProperty("completion_tokens").GetInt32() > 0, result.Text);
        return result;
    }

    /// <summary>Waits until no job of an earlier test is outstanding.</summary>
    private Task SettledAsync() =>
        Poll.UntilAsync(() => fixture.Sensors.Outstanding == 0 && fixture.Led.Current != LedState.Busy, "earlier sensor jobs to be answered");
}
