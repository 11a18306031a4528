using System.Globalization;
using AutoGlm.Edge.Sensors;
using AutoGlm.Edge.Tests.Http;
using AutoGlm.Edge.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace AutoGlm.Edge.Tests.Sensors;

/// <summary>
/// Sensors in the daemon against a real Mosquitto (<c>Mqtt:Broker=external</c>), where a third client can watch the
/// job itself go by on <c>…/jobs/image</c>: the bytes on the wire are the captured frame.
/// </summary>
public sealed class SensorMosquittoTests
{
    [Fact]
    public async Task MotionTrigger_ExternalBroker_TheJobOnTheWireIsTheFrame_AndItsResultArrives()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        var deviceId = "sm" + Guid.NewGuid().ToString("N")[..8];
        var prefix = $"autoglm/{deviceId}";
        var frame = Path.Combine(TestPaths.NewFolder("wire"), "frame.jpg");
        var bytes = TestFrames.Jpeg(6);
        await File.WriteAllBytesAsync(frame, bytes);
        await using var watcher = await TestMqttClient.ConnectAsync(broker.Port, persistent: false, $"{prefix}/jobs/image", $"{prefix}/results/+");
        await using var server = await EdgeServer.StartAsync(
            "Mqtt:Broker=external",
            $"Mqtt:Port={broker.Port.ToString(CultureInfo.InvariantCulture)}",
            $"Mqtt:DeviceId={deviceId}",
            "Sensors:Devices:0:Name=gate",
            "Sensors:Devices:0:Kind=camera",
            "Sensors:Devices:0:Driver=file",
            $"Sensors:Devices:0:Path={frame}",
            "Sensors:Devices:0:MaxTokens=4",
            "Sensors:Devices:0:Triggers:0:Kind=motion",
            "Sensors:Devices:0:Triggers:0:Driver=simulated");
        var sensors = server.Services.GetRequiredService<SensorService>();
        var published = new TaskCompletionSource<SensorJob>(TaskCreationOptions.RunContinuationsAsynchronously);
        sensors.JobPublished += job => published.TrySetResult(job);

        sensors.Sensors.Single().Triggers.OfType<SimulatedTrigger>().Single().Fire();
        var job = await published.Task.WaitAsync(TimeSpan.FromSeconds(60));

        var onTheWire = await watcher.WaitForTopicAsync($"{prefix}/jobs/image");
        Assert.Equal(bytes, onTheWire.Payload);
        var result = await watcher.WaitForTopicAsync($"{prefix}/results/{job.Id}");
        Assert.Equal(job.Id, result.Json.GetProperty("id").GetString());
        Assert.True(result.ErrorCode is null, result.Text);
        await Poll.UntilAsync(() => sensors.Sensors.Single().Answered == 1, "the sensors to see the result");
        server.Logs.AssertNoErrors();
    }
}
