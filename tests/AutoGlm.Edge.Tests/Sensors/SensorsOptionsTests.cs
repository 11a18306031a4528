using AutoGlm.Edge.Sensors;
using AutoGlm.Edge.Tests.Support;
using Microsoft.Extensions.Configuration;

namespace AutoGlm.Edge.Tests.Sensors;

/// <summary>The <c>Sensors</c> section: bound from configuration keys, every bad key reported at once, by name.</summary>
public sealed class SensorsOptionsTests
{
    private static SensorsOptions Bind(params (string Key, string Value)[] settings)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(settings.Select(s => KeyValuePair.Create<string, string?>(s.Key, s.Value)))
            .Build();
        var options = new SensorsOptions();
        configuration.GetSection(SensorsOptions.Section).Bind(options);
        return options;
    }

    private static IReadOnlyList<string> Problems(SensorsOptions options) =>
        new SensorsOptionsValidator().Validate(null, options).Failures?.ToList() ?? [];

    [Fact]
    public void Validate_NoSection_IsValidAndOff()
    {
        var options = Bind();

        Assert.Empty(Problems(options));
        Assert.False(options.IsEnabled);
    }

    [Fact]
    public void Validate_FullExample_IsValidWithDefaults()
    {
        var frame = Path.Combine(TestPaths.NewFolder("frames"), "f.jpg");
        File.WriteAllBytes(frame, Media.Jpeg());
        var options = Bind(
            ("Sensors:Devices:0:Name", "door"),
            ("Sensors:Devices:0:Kind", "camera"),
            ("Sensors:Devices:0:Triggers:0:Kind", "motion"),
            ("Sensors:Devices:0:Triggers:0:Pin", "17"),
            ("Sensors:Devices:0:Triggers:1:Kind", "interval"),
            ("Sensors:Devices:0:Triggers:1:Every", "00:05:00"),
            ("Sensors:Devices:0:Triggers:2:Kind", "mqtt"),
            ("Sensors:Devices:1:Name", "hall-mic"),
            ("Sensors:Devices:1:Kind", "microphone"),
            ("Sensors:Devices:1:ClipSeconds", "3"),
            ("Sensors:Devices:1:Triggers:0:Kind", "button"),
            ("Sensors:Devices:1:Triggers:0:Pin", "27"),
            ("Sensors:Devices:2:Name", "test-cam"),
            ("Sensors:Devices:2:Kind", "camera"),
            ("Sensors:Devices:2:Driver", "file"),
            ("Sensors:Devices:2:Path", frame),
            ("Sensors:Devices:2:Triggers:0:Kind", "motion"),
            ("Sensors:Devices:2:Triggers:0:Driver", "simulated"),
            ("Sensors:StatusLed:Pin", "22"));

        Assert.Empty(Problems(options));
        Assert.True(options.IsEnabled);
        Assert.Equal("v4l2", options.Devices[0].ResolvedDriver);
        Assert.Equal("alsa", options.Devices[1].ResolvedDriver);
        Assert.Equal("Describe this image.", options.Devices[0].ResolvedPrompt);
        Assert.Equal("Transcribe this audio.", options.Devices[1].ResolvedPrompt);
        Assert.Equal(TimeSpan.FromMinutes(5), options.Devices[0].Triggers[1].Every);
        Assert.True(options.StatusLed.IsConfigured);
    }

    [Fact]
    public void Timeouts_Defaults_AndOutOfRange_AreReportedByName()
    {
        var defaults = Bind(
            ("Sensors:Devices:0:Name", "door"),
            ("Sensors:Devices:0:Kind", "camera"),
            ("Sensors:Devices:1:Name", "mic"),
            ("Sensors:Devices:1:Kind", "microphone"),
            ("Sensors:Devices:1:ClipSeconds", "7"));
        Assert.Equal(TimeSpan.FromMinutes(5), defaults.ResultTimeout);
        Assert.Equal(TimeSpan.FromSeconds(10), defaults.Devices[0].ResolvedCaptureTimeout);
        Assert.Equal(TimeSpan.FromSeconds(17), defaults.Devices[1].ResolvedCaptureTimeout);

        var options = Bind(
            ("Sensors:ResultTimeout", "00:00:00.5"),
            ("Sensors:Devices:0:Name", "door"),
            ("Sensors:Devices:0:Kind", "camera"),
            ("Sensors:Devices:0:CaptureTimeout", "00:00:00"),
            ("Sensors:Devices:0:Triggers:0:Kind", "mqtt"));

        Assert.Equal(
            [
                "Sensors:ResultTimeout must be between 00:00:01 and 1.00:00:00 (got 00:00:00.5000000)",
                "Sensors:Devices:0:CaptureTimeout must be more than 0 and at most 00:10:00 (got '00:00:00')",
            ],
            Problems(options));
    }

    [Fact]
    public void Validate_EveryBadKey_IsReportedByName()
    {
        var options = Bind(
            ("Sensors:GpioChip", "99"),
            ("Sensors:Devices:0:Name", "front door"),
            ("Sensors:Devices:0:Kind", "radar"),
            ("Sensors:Devices:0:MaxTokens", "0"),
            ("Sensors:Devices:0:Route", "cloud"),
            ("Sensors:Devices:0:Priority", "urgent"),
            ("Sensors:Devices:1:Name", "cam"),
            ("Sensors:Devices:1:Kind", "camera"),
            ("Sensors:Devices:1:Driver", "usb"),
            ("Sensors:Devices:1:Width", "8"),
            ("Sensors:Devices:1:Height", "9000"),
            ("Sensors:Devices:1:Triggers:0:Kind", "motion"),
            ("Sensors:Devices:1:Triggers:1:Kind", "button"),
            ("Sensors:Devices:1:Triggers:1:Pin", "17"),
            ("Sensors:Devices:1:Triggers:2:Kind", "interval"),
            ("Sensors:Devices:1:Triggers:3:Kind", "sound"),
            ("Sensors:Devices:1:Triggers:4:Kind", "motion"),
            ("Sensors:Devices:1:Triggers:4:Pin", "17"),
            ("Sensors:Devices:1:Triggers:5:Kind", "button"),
            ("Sensors:Devices:1:Triggers:5:Driver", "i2c"),
            ("Sensors:Devices:1:Triggers:5:Debounce", "-00:00:01"),
            ("Sensors:Devices:2:Name", "CAM"),
            ("Sensors:Devices:2:Kind", "microphone"),
            ("Sensors:Devices:2:Driver", "file"),
            ("Sensors:Devices:2:ClipSeconds", "0"),
            ("Sensors:Devices:2:SampleRate", "100"),
            ("Sensors:Devices:3:Name", "mic2"),
            ("Sensors:Devices:3:Kind", "microphone"),
            ("Sensors:Devices:3:Driver", "v4l2"),
            ("Sensors:Devices:3:Path", "/nonexistent/clip.wav"),
            ("Sensors:Devices:3:Triggers:0:Kind", "mqtt"),
            ("Sensors:Devices:4:Name", "cam4"),
            ("Sensors:Devices:4:Kind", "camera"),
            ("Sensors:Devices:4:Driver", "file"),
            ("Sensors:Devices:4:Path", "/nonexistent/frames"),
            ("Sensors:Devices:4:Triggers:0:Kind", "interval"),
            ("Sensors:Devices:4:Triggers:0:Every", "00:00:00.5"),
            ("Sensors:StatusLed:Driver", "pwm"),
            ("Sensors:StatusLed:BlinkInterval", "00:00:00.001"));

        var problems = Problems(options);

        string[] expected =
        [
            "Sensors:GpioChip must be between 0 and 63 (got 99)",
            "Sensors:Devices:0:Name must be 1-48 of A-Z a-z 0-9 _ - (got 'front door')",
            "Sensors:Devices:0:Kind must be camera or microphone (got 'radar')",
            "Sensors:Devices:0:MaxTokens must be positive (got 0)",
            "Sensors:Devices:0:Route must be auto, local or remote (got 'cloud')",
            "Sensors:Devices:0:Priority must be low, normal or high (got 'urgent')",
            "Sensors:Devices:0:Triggers must name at least one trigger (motion, button, interval or mqtt)",
            "Sensors:Devices:1:Driver of a camera must be v4l2, http-snapshot or file (got 'usb')",
            "Sensors:Devices:1:Width must be between 16 and 8192 (got 8)",
            "Sensors:Devices:1:Height must be between 16 and 8192 (got 9000)",
            "Sensors:Devices:1:Triggers:0:Pin is required for a motion trigger on GPIO",
            "Sensors:Devices:1:Triggers:2:Every must be at least 00:00:01 for an interval trigger (got '')",
            "Sensors:Devices:1:Triggers:3:Kind must be motion, button, interval or mqtt (got 'sound')",
            "Sensors:Devices:1:Triggers:4:Pin: GPIO 17 is already used by Sensors:Devices:1:Triggers:1:Pin",
            "Sensors:Devices:1:Triggers:5:Driver must be gpio or simulated (got 'i2c')",
            "Sensors:Devices:1:Triggers:5:Debounce must be between 0 and 10 minutes (got -00:00:01)",
            "Sensors:Devices:2:Name 'CAM' is used by another sensor",
            "Sensors:Devices:2:ClipSeconds must be between 1 and 60 (got 0)",
            "Sensors:Devices:2:SampleRate must be between 8000 and 192000 (got 100)",
            "Sensors:Devices:2:Path is required with Driver file",
            "Sensors:Devices:2:Triggers must name at least one trigger (motion, button, interval or mqtt)",
            "Sensors:Devices:3:Driver of a microphone must be alsa or file (got 'v4l2')",
            "Sensors:Devices:4:Path '/nonexistent/frames' does not exist",
            "Sensors:Devices:4:Triggers:0:Every must be at least 00:00:01 for an interval trigger (got '00:00:00.5000000')",
            "Sensors:StatusLed:Driver must be gpio or simulated (got 'pwm')",
            "Sensors:StatusLed:BlinkInterval must be at least 20 ms (got 00:00:00.0010000)",
        ];
        foreach (var problem in expected)
        {
            Assert.Contains(problem, problems);
        }

        Assert.Equal(expected.Length, problems.Count);
    }

    [Fact]
    public void Validate_KeysThatBindToNothing_AreReportedByName()
    {
        // Sensors:Cameras is the shape fleet manifests render today; it must not leave the sensors silently off.
        (string, string)[] settings =
        [
            ("Sensors:Cameras:0:Name", "door"),
            ("Sensors:Devices:0:Name", "door"),
            ("Sensors:Devices:0:Kind", "camera"),
            ("Sensors:Devices:0:Triggers:0:Kind", "button"),
            ("Sensors:Devices:0:Triggers:0:Pinn", "27"),
            ("Sensors:StatusLed:Colour", "red"),
        ];
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(settings.Select(s => KeyValuePair.Create<string, string?>(s.Item1, s.Item2)))
            .Build();

        var problems = new SensorsOptionsValidator(configuration).Validate(null, Bind(settings)).Failures?.ToList() ?? [];

        Assert.Contains(problems, p => p.StartsWith("Sensors:Cameras is not a setting (expected one of Devices, StatusLed, GpioChip", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("Sensors:Devices:0:Triggers:0:Pinn is not a setting (expected one of ", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("Sensors:StatusLed:Colour is not a setting", StringComparison.Ordinal));
        Assert.Contains("Sensors:Devices:0:Triggers:0:Pin is required for a button trigger on GPIO", problems);
        Assert.Equal(4, problems.Count);
    }

    [Fact]
    public void RenderPrompt_FillsSensorTriggerAndUtcTime()
    {
        var prompt = SensorService.RenderPrompt("{sensor} saw {trigger} at {time}; {sensor} again", "door", "motion", new DateTimeOffset(2026, 11, 25, 16, 5, 9, TimeSpan.FromHours(1)));

        Assert.Equal("door saw motion at 2026-11-25T15:05:09Z; door again", prompt);
    }
}
