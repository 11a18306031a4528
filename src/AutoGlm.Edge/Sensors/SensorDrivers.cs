using AutoGlm.Cluster.Contract;
using AutoGlm.Edge.Mqtt;

namespace AutoGlm.Edge.Sensors;

/// <summary>Makes the devices and triggers that <see cref="SensorsOptions"/> names: the real drivers by default, the file and simulated ones on request.</summary>
/// <remarks>Each real driver checks its device node when it is made (cameras, microphones, the LED) or started (GPIO triggers).</remarks>
internal static class SensorDrivers
{
    /// <summary>The capture function of one sensor (a JPEG/PNG frame, or a WAV clip), the device that owns it, and a line for the log.</summary>
    public static (Func<CancellationToken, Task<byte[]>> Capture, IDisposable Device, string Description) CreateDevice(SensorOptions o, string key)
    {
        var where = o.ResolvedDriver switch
        {
            "file" => o.Path!,
            "http-snapshot" => new UriBuilder(o.Url!) { UserName = "", Password = "" }.Uri.ToString(),
            _ => o.ResolvedDevice,
        };
        if (o.IsCamera)
        {
            ICamera camera = o.ResolvedDriver switch
            {
                "file" => new FileCamera(where, key + ":Path"),
                "http-snapshot" => new HttpSnapshotCamera(new Uri(o.Url!), o.Username, o.Password, o.ResolvedCaptureTimeout, key + ":Url"),
                _ => new V4l2Camera(where, o.Width, o.Height, key + ":Device", o.ResolvedCaptureTimeout),
            };
            return (camera.CaptureAsync, camera, $"{o.ResolvedDriver} camera {where}");
        }

        IMicrophone microphone = o.ResolvedDriver == "file"
            ? new FileMicrophone(where, key + ":Path")
            : new AlsaMicrophone(where, o.SampleRate, key + ":Device", recordTimeout: o.ResolvedCaptureTimeout);
        var seconds = o.ClipSeconds;
        return (ct => microphone.RecordAsync(seconds, ct), microphone, $"{o.ResolvedDriver} microphone {where}");
    }

    /// <summary>One trigger; GPIO triggers open their pin when started.</summary>
    public static ITriggerSource CreateTrigger(TriggerOptions t, string sensor, string key, GpioAccess gpio, MqttTopics topics, TimeProvider time) =>
        (t.ResolvedKind, t.ResolvedDriver) switch
        {
            ("motion" or "button", "simulated") => new SimulatedTrigger(t.ResolvedName),
            ("motion", _) => new GpioMotionTrigger(t.ResolvedName, gpio, t.Pin!.Value, t.Debounce, time, key + ":Pin"),
            ("button", _) => new GpioButtonTrigger(t.ResolvedName, gpio, t.Pin!.Value, t.ActiveLow, t.Debounce, time, key + ":Pin"),
            ("interval", _) => new IntervalTrigger(t.ResolvedName, t.Every!.Value, time),
            ("mqtt", _) => new MqttCommandTrigger(t.ResolvedName, topics.SensorCapture(sensor)),
            _ => throw new InvalidOperationException($"{key}:Kind '{t.Kind}' passed validation but has no driver"),
        };

    /// <summary>The status LED, or null when none is configured.</summary>
    public static IStatusLed? CreateLed(StatusLedOptions o, GpioAccess gpio, TimeProvider time) =>
        !o.IsConfigured ? null
        : o.ResolvedDriver == "simulated" ? new SimulatedStatusLed()
        : new GpioStatusLed(gpio, o.Pin!.Value, o.ActiveLow, o.BlinkInterval, time, $"{SensorsOptions.Section}:StatusLed:Pin");
}
