using AutoGlm.Edge.Sensors;
using AutoGlm.Edge.Tests.Http;
using AutoGlm.Edge.Tests.Support;

namespace AutoGlm.Edge.Tests.Sensors;

/// <summary>
/// The real drivers are the defaults; on a machine without the hardware they fail at start with a message that names
/// the missing device node and the configuration key.
/// </summary>
public sealed class RealDriverTests
{
    [FactWithoutDevice("/dev/video0")]
    public void V4l2Camera_NoNode_FailsNamingNodeAndKey()
    {
        var ex = Assert.Throws<SensorException>(() => new V4l2Camera("/dev/video0", 640, 480, "Sensors:Devices:0:Device"));

        Assert.Equal("Sensors:Devices:0:Device", ex.ConfigKey);
        Assert.StartsWith("camera device /dev/video0 is missing (Sensors:Devices:0:Device)", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void V4l2Camera_NotAVideoNode_FailsNamingKey()
    {
        var ex = Assert.Throws<SensorException>(() => new V4l2Camera("/tmp/camera", 640, 480, "Sensors:Devices:2:Device"));

        Assert.Equal("Sensors:Devices:2:Device must be a V4L2 node /dev/videoN (got '/tmp/camera')", ex.Message);
    }

    [FactWithoutDevice("/dev/snd")]
    public void AlsaMicrophone_NoSoundNodes_FailsNamingFolderAndKey()
    {
        var ex = Assert.Throws<SensorException>(() => new AlsaMicrophone("default", 16000, "Sensors:Devices:1:Device"));

        Assert.Equal("Sensors:Devices:1:Device", ex.ConfigKey);
        Assert.StartsWith("no ALSA capture device under /dev/snd for 'default' (Sensors:Devices:1:Device)", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AlsaMicrophone_HardwareName_NeedsItsCaptureNode()
    {
        var nodes = TestPaths.NewFolder("snd");

        var ex = Assert.Throws<SensorException>(() => new AlsaMicrophone("plughw:1,0", 16000, "Sensors:Devices:1:Device", nodes));

        Assert.StartsWith($"microphone device {Path.Combine(nodes, "pcmC1D0c")} is missing (Sensors:Devices:1:Device = 'plughw:1,0')", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AlsaMicrophone_ShorterClipThanTheHeaderSays_SizesAreFixed()
    {
        var wav = Media.Wav(); // 1600 samples
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(wav.AsSpan(4), 36 + 60 * 32000); // what a 60 s header says
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(wav.AsSpan(40), 60 * 32000);

        var fixedWav = AlsaMicrophone.FixSizes(wav);

        Assert.Equal((uint)(fixedWav.Length - 8), System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(fixedWav.AsSpan(4)));
        Assert.Equal(1600u * 2, System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(fixedWav.AsSpan(40)));
        Assert.Equal(Media.Wav(), fixedWav);
    }

    [FactWithoutDevice("/dev/gpiochip0")]
    public void Gpio_NoChip_FailsNamingChipAndKey()
    {
        using var gpio = new GpioAccess(0);
        using var trigger = new GpioMotionTrigger("motion", gpio, 17, TimeSpan.Zero, TimeProvider.System, "Sensors:Devices:0:Triggers:0:Pin");

        var ex = Assert.Throws<SensorException>(() => trigger.Start(_ => { }));

        Assert.Equal("Sensors:Devices:0:Triggers:0:Pin", ex.ConfigKey);
        Assert.StartsWith("GPIO chip /dev/gpiochip0 is missing, so Sensors:Devices:0:Triggers:0:Pin cannot be used", ex.Message, StringComparison.Ordinal);
    }

    [FactWithoutDevice("/dev/video0")]
    public async Task Daemon_DefaultCameraDriverWithoutCamera_StopsTheStartNamingNodeAndKey()
    {
        var ex = await StartFailureAsync(
            "Sensors:Devices:0:Name=door",
            "Sensors:Devices:0:Kind=camera",
            "Sensors:Devices:0:Triggers:0:Kind=mqtt");

        Assert.Contains("camera device /dev/video0 is missing (Sensors:Devices:0:Device)", ex.Message, StringComparison.Ordinal);
    }

    [FactWithoutDevice("/dev/gpiochip0")]
    public async Task Daemon_GpioMotionTriggerWithoutGpio_StopsTheStartNamingChipAndKey()
    {
        var frame = Path.Combine(TestPaths.NewFolder("gpio"), "f.jpg");
        await File.WriteAllBytesAsync(frame, Media.Jpeg());

        var ex = await StartFailureAsync(
            "Sensors:Devices:0:Name=door",
            "Sensors:Devices:0:Kind=camera",
            "Sensors:Devices:0:Driver=file",
            $"Sensors:Devices:0:Path={frame}",
            "Sensors:Devices:0:Triggers:0:Kind=motion",
            "Sensors:Devices:0:Triggers:0:Pin=17",
            "Sensors:StatusLed:Driver=simulated");

        Assert.Contains("GPIO chip /dev/gpiochip0 is missing, so Sensors:Devices:0:Triggers:0:Pin cannot be used", ex.Message, StringComparison.Ordinal);
    }

    [FactWithoutDevice("/dev/video0")]
    public async Task RunVerb_MissingCamera_ExitsWithTheMessage()
    {
        var (exit, _, error) = await CliRunner.RunAsync(
            "run",
            $"--Runtime:ModelPath={TinyModel.Directory}",
            "--Http:Urls=http://127.0.0.1:0",
            $"--Mqtt:Port={TestPaths.FreePort()}",
            $"--Journal:Path={Path.Combine(TestPaths.NewFolder("cli-journal"), "journal.db")}",
            "--Sensors:Devices:0:Name=door",
            "--Sensors:Devices:0:Kind=camera",
            "--Sensors:Devices:0:Triggers:0:Kind=interval",
            "--Sensors:Devices:0:Triggers:0:Every=00:01:00");

        Assert.Equal(2, exit);
        Assert.Contains("error: camera device /dev/video0 is missing (Sensors:Devices:0:Device)", error, StringComparison.Ordinal);
    }

    private static async Task<SensorException> StartFailureAsync(params string[] settings)
    {
        await using var app = EdgeServer.Build(settings);
        var thrown = await Assert.ThrowsAnyAsync<Exception>(() => app.StartAsync());
        await app.StopAsync();
        return Find(thrown) ?? throw new Xunit.Sdk.XunitException("the start failed without a SensorException: " + thrown);
    }

    private static SensorException? Find(Exception ex) => ex switch
    {
        SensorException sensor => sensor,
        AggregateException aggregate => aggregate.InnerExceptions.Select(Find).FirstOrDefault(e => e is not null),
        _ => ex.InnerException is null ? null : Find(ex.InnerException),
    };
}
