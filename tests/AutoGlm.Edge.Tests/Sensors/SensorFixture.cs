using System.Globalization;
using AutoGlm.Edge.Sensors;
using AutoGlm.Edge.Tests.Http;
using AutoGlm.Edge.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using SkiaSharp;

namespace AutoGlm.Edge.Tests.Sensors;

/// <summary>
/// The real daemon in-process (embedded broker, tiny model) with a <c>Sensors</c> section: a file camera <c>door</c>
/// (simulated motion and MQTT command triggers) over a folder of two JPEG frames, a file microphone <c>hall-mic</c>
/// (simulated button), a file camera <c>flaky</c> whose frame a test can take away, and a simulated status LED.
/// A client watches the device's results.
/// </summary>
public sealed class SensorDaemonFixture : IAsyncLifetime
{
    public EdgeServer Server { get; private set; } = null!;

    public TestMqttClient Client { get; private set; } = null!;

    public int Port { get; } = TestPaths.FreePort();

    public string DeviceId { get; } = "sn" + Guid.NewGuid().ToString("N")[..8];

    public string Prefix => $"autoglm/{DeviceId}";

    /// <summary>The door camera's frames, in the order it returns them.</summary>
    public byte[][] Frames { get; } = [TestFrames.Jpeg(1), TestFrames.Jpeg(2)];

    /// <summary>The microphone's clip.</summary>
    public byte[] Clip { get; } = Media.Wav();

    /// <summary>The flaky camera's one frame file.</summary>
    public string FlakyFrame { get; } = Path.Combine(TestPaths.NewFolder("flaky"), "frame.jpg");

    public SensorService Sensors => Server.Services.GetRequiredService<SensorService>();

    public SimulatedStatusLed Led => (SimulatedStatusLed)Sensors.StatusLed!;

    public Sensor Sensor(string name) => Sensors.Sensors.Single(s => s.Name == name);

    public async Task InitializeAsync()
    {
        var frames = TestPaths.NewFolder("frames");
        for (var i = 0; i < Frames.Length; i++)
        {
            await File.WriteAllBytesAsync(Path.Combine(frames, $"{i:D3}.jpg"), Frames[i]);
        }

        var clip = Path.Combine(TestPaths.NewFolder("clips"), "clip.wav");
        await File.WriteAllBytesAsync(clip, Clip);
        await File.WriteAllBytesAsync(FlakyFrame, TestFrames.Jpeg(3));

        Server = await EdgeServer.StartAsync(
            $"Mqtt:Port={Port.ToString(CultureInfo.InvariantCulture)}",
            $"Mqtt:DeviceId={DeviceId}",
            "Sensors:Devices:0:Name=door",
            "Sensors:Devices:0:Kind=camera",
            "Sensors:Devices:0:Driver=file",
            $"Sensors:Devices:0:Path={frames}",
            "Sensors:Devices:0:Prompt=Motion at {sensor} ({trigger}) at {time}. Who is there?",
            "Sensors:Devices:0:MaxTokens=4",
            "Sensors:Devices:0:Triggers:0:Kind=motion",
            "Sensors:Devices:0:Triggers:0:Driver=simulated",
            "Sensors:Devices:0:Triggers:1:Kind=mqtt",
            "Sensors:Devices:1:Name=hall-mic",
            "Sensors:Devices:1:Kind=microphone",
            "Sensors:Devices:1:Driver=file",
            $"Sensors:Devices:1:Path={clip}",
            "Sensors:Devices:1:MaxTokens=4",
            "Sensors:Devices:1:Triggers:0:Kind=button",
            "Sensors:Devices:1:Triggers:0:Driver=simulated",
            "Sensors:Devices:2:Name=flaky",
            "Sensors:Devices:2:Kind=camera",
            "Sensors:Devices:2:Driver=file",
            $"Sensors:Devices:2:Path={Path.GetDirectoryName(FlakyFrame)}",
            "Sensors:Devices:2:MaxTokens=4",
            "Sensors:Devices:2:Triggers:0:Kind=motion",
            "Sensors:Devices:2:Triggers:0:Driver=simulated",
            "Sensors:StatusLed:Driver=simulated");
        Client = await TestMqttClient.ConnectAsync(Port, persistent: false, $"{Prefix}/results/+");
    }

    public async Task DisposeAsync()
    {
        await Client.DisposeAsync();
        await Server.DisposeAsync();
    }
}

/// <summary>Real JPEG frames rendered in code (a test pattern that differs with the counter).</summary>
public static class TestFrames
{
    public static byte[] Jpeg(int counter)
    {
        using var bitmap = new SKBitmap(64, 48);
        using (var canvas = new SKCanvas(bitmap))
        {
            canvas.Clear(new SKColor((byte)(counter * 60 % 256), 90, 160));
            using var paint = new SKPaint { Color = SKColors.White };
            for (var i = 0; i < counter; i++)
            {
                canvas.DrawRect(4 + i * 8, 20, 5, 8, paint);
            }
        }

        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(SKEncodedImageFormat.Jpeg, 85);
        return data.ToArray();
    }
}

/// <summary>A fact skipped, saying why, where the device node it expects to be missing exists.</summary>
public sealed class FactWithoutDeviceAttribute : FactAttribute
{
    public FactWithoutDeviceAttribute(string node)
    {
        if (File.Exists(node) || Directory.Exists(node))
        {
            Skip = $"{node} exists on this machine; this test checks the message given where it does not";
        }
    }
}
