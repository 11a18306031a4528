using System.Text.RegularExpressions;
using AutoGlm.Edge.Hosting;
using Microsoft.Extensions.Options;

namespace AutoGlm.Edge.Sensors;

/// <summary>
/// The <c>Sensors</c> section: cameras and microphones, the triggers that make them capture, the prompt each capture
/// is sent with, and an optional status LED. Off unless <see cref="Devices"/> holds at least one sensor.
/// </summary>
public sealed partial class SensorsOptions
{
    /// <summary>The configuration section name.</summary>
    public const string Section = "Sensors";

    /// <summary>The sensors (<c>Sensors:Devices:0:…</c>). Default: none, and then the sensors do not run.</summary>
    public List<SensorOptions> Devices { get; set; } = [];

    /// <summary>The status LED; none unless <see cref="StatusLedOptions.Pin"/> is set or its driver is <c>simulated</c>.</summary>
    public StatusLedOptions StatusLed { get; set; } = new();

    /// <summary>The GPIO chip (<c>/dev/gpiochipN</c>) of every GPIO pin named here. Default 0.</summary>
    public int GpioChip { get; set; }

    /// <summary>
    /// How long a published job may wait for its result; after that it is counted as failed (metric reason
    /// <c>no_result</c>, LED error), so jobs sent to an answering device that is gone do not pile up. Default 5 minutes.
    /// </summary>
    public TimeSpan ResultTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Whether any sensor is configured.</summary>
    public bool IsEnabled => Devices.Count > 0;

    /// <summary>The characters of a sensor name: it goes into topics and job ids.</summary>
    [GeneratedRegex("^[A-Za-z0-9_-]{1,48}$")]
    internal static partial Regex NamePattern();
}

/// <summary>One camera or microphone (<c>Sensors:Devices:N</c>).</summary>
public sealed class SensorOptions
{
    /// <summary>The sensor's name (1–48 of <c>A-Z a-z 0-9 _ -</c>); in job ids, the command topic and <c>{sensor}</c>. Required.</summary>
    public string Name { get; set; } = "";

    /// <summary><c>camera</c> or <c>microphone</c>. Required.</summary>
    public string Kind { get; set; } = "";

    /// <summary>
    /// Camera: <c>v4l2</c> (default), <c>http-snapshot</c> (a JPEG fetched from <see cref="Url"/> per capture) or
    /// <c>file</c>. Microphone: <c>alsa</c> (default) or <c>file</c>. The <c>file</c> drivers read <see cref="Path"/>
    /// and are for tests and machines without the hardware.
    /// </summary>
    public string? Driver { get; set; }

    /// <summary>
    /// The device: for <c>v4l2</c> the video node (default <c>/dev/video0</c>); for <c>alsa</c> the ALSA recording device
    /// name (default <c>default</c>, or <c>hw:1,0</c>, <c>plughw:1,0</c>).
    /// </summary>
    public string? Device { get; set; }

    /// <summary>
    /// For <c>http-snapshot</c>: the camera's snapshot URL (<c>http://frigate.lan:5000/api/front/latest.jpg</c>,
    /// <c>http://192.168.1.30/cgi-bin/snapshot.cgi</c>).
    /// </summary>
    public string? Url { get; set; }

    /// <summary>For <c>http-snapshot</c>: the user name for basic or digest authentication; empty for none.</summary>
    public string? Username { get; set; }

    /// <summary>For <c>http-snapshot</c>: the password (<c>file:/path</c> and <c>env:NAME</c> references work).</summary>
    public string? Password { get; set; }

    /// <summary>For the <c>file</c> drivers: a JPEG/PNG or WAV file, or a folder whose files are used in name order, cycling.</summary>
    public string? Path { get; set; }

    /// <summary>Camera frame width in pixels. Default 640.</summary>
    public int Width { get; set; } = 640;

    /// <summary>Camera frame height in pixels. Default 480.</summary>
    public int Height { get; set; } = 480;

    /// <summary>Microphone clip length in seconds, 1–60. Default 5.</summary>
    public int ClipSeconds { get; set; } = 5;

    /// <summary>Microphone sample rate in Hz. Default 16000.</summary>
    public int SampleRate { get; set; } = 16000;

    /// <summary>
    /// The prompt sent with each capture; <c>{sensor}</c>, <c>{trigger}</c> and <c>{time}</c> (UTC, ISO 8601) are replaced.
    /// Default: "Describe this image." (camera) or "Transcribe this audio." (microphone), what the daemon would assume.
    /// </summary>
    public string? Prompt { get; set; }

    /// <summary>The job's <c>max_tokens</c>; empty leaves it to the daemon (<c>Runtime:DefaultMaxTokens</c>).</summary>
    public int? MaxTokens { get; set; }

    /// <summary>The job's <c>route</c>: <c>auto</c> (default), <c>local</c> or <c>remote</c>.</summary>
    public string Route { get; set; } = "auto";

    /// <summary>The job's <c>priority</c>: <c>low</c>, <c>normal</c> (default) or <c>high</c>.</summary>
    public string Priority { get; set; } = "normal";

    /// <summary>
    /// How long one capture from a <c>v4l2</c> or <c>alsa</c> device may take before it fails (the driver call is left
    /// to finish on its own, and the device refuses captures until it does). Default: 10 s for a camera, 10 s plus
    /// <see cref="ClipSeconds"/> for a microphone.
    /// </summary>
    public TimeSpan? CaptureTimeout { get; set; }

    /// <summary>What makes this sensor capture (<c>Sensors:Devices:N:Triggers:M</c>). At least one.</summary>
    public List<TriggerOptions> Triggers { get; set; } = [];

    /// <summary>Whether this is a camera (else a microphone).</summary>
    public bool IsCamera => Kind.Equals("camera", StringComparison.OrdinalIgnoreCase);

    /// <summary>The driver in use, lower case.</summary>
    public string ResolvedDriver => string.IsNullOrWhiteSpace(Driver) ? (IsCamera ? "v4l2" : "alsa") : Driver.ToLowerInvariant();

    /// <summary>The device in use: <see cref="Device"/>, else <c>/dev/video0</c> (camera) or <c>default</c> (microphone).</summary>
    public string ResolvedDevice => !string.IsNullOrWhiteSpace(Device) ? Device : IsCamera ? "/dev/video0" : "default";

    /// <summary>The capture timeout in use.</summary>
    public TimeSpan ResolvedCaptureTimeout => CaptureTimeout ?? TimeSpan.FromSeconds(IsCamera ? 10 : 10 + ClipSeconds);

    /// <summary>The prompt template in use.</summary>
    public string ResolvedPrompt => string.IsNullOrEmpty(Prompt) ? (IsCamera ? "Describe this image." : "Transcribe this audio.") : Prompt;
}

/// <summary>One trigger of a sensor (<c>Sensors:Devices:N:Triggers:M</c>).</summary>
public sealed class TriggerOptions
{
    /// <summary>
    /// <c>motion</c> (an HC-SR501 PIR sensor's output on <see cref="Pin"/>), <c>button</c> (a push button on <see cref="Pin"/>),
    /// <c>interval</c> (every <see cref="Every"/>), or <c>mqtt</c> (a message on <c>…/sensors/&lt;sensor&gt;/capture</c>). Required.
    /// </summary>
    public string Kind { get; set; } = "";

    /// <summary>
    /// For <c>motion</c> and <c>button</c>: <c>gpio</c> (default) or <c>simulated</c> (fired by code; for tests and demos).
    /// </summary>
    public string? Driver { get; set; }

    /// <summary>The trigger's name in <c>{trigger}</c> and the logs. Default: its kind.</summary>
    public string? Name { get; set; }

    /// <summary>The GPIO line (on <c>Sensors:GpioChip</c>) of a <c>motion</c> or <c>button</c> trigger.</summary>
    public int? Pin { get; set; }

    /// <summary>A button pulls the pin low when pressed (an internal pull-up holds it high). Default true.</summary>
    public bool ActiveLow { get; set; } = true;

    /// <summary>Presses or motions closer together than this count once. Default 200 ms.</summary>
    public TimeSpan Debounce { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>The period of an <c>interval</c> trigger, at least 1 s.</summary>
    public TimeSpan? Every { get; set; }

    /// <summary>The kind in use, lower case.</summary>
    public string ResolvedKind => Kind.ToLowerInvariant();

    /// <summary>The driver in use, lower case (GPIO kinds only).</summary>
    public string ResolvedDriver => string.IsNullOrWhiteSpace(Driver) ? "gpio" : Driver.ToLowerInvariant();

    /// <summary>The name in use.</summary>
    public string ResolvedName => string.IsNullOrWhiteSpace(Name) ? ResolvedKind : Name;
}

/// <summary>The status LED (<c>Sensors:StatusLed</c>): off when idle, on while a job is outstanding, blinking after an error.</summary>
public sealed class StatusLedOptions
{
    /// <summary><c>gpio</c> (default) or <c>simulated</c> (records its states; for tests).</summary>
    public string? Driver { get; set; }

    /// <summary>The GPIO line that drives the LED; empty: no LED (unless the driver is <c>simulated</c>).</summary>
    public int? Pin { get; set; }

    /// <summary>The LED lights when the pin is low. Default false.</summary>
    public bool ActiveLow { get; set; }

    /// <summary>Half the blink period of the error state. Default 250 ms.</summary>
    public TimeSpan BlinkInterval { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>The driver in use, lower case.</summary>
    public string ResolvedDriver => string.IsNullOrWhiteSpace(Driver) ? "gpio" : Driver.ToLowerInvariant();

    /// <summary>Whether an LED is configured.</summary>
    public bool IsConfigured => Pin is not null || ResolvedDriver == "simulated";
}

/// <summary>
/// Checks <see cref="SensorsOptions"/> at start, reporting every bad key at once; with the configuration, also every key
/// under <c>Sensors</c> that binds to nothing (a misspelling, or another shape such as <c>Sensors:Cameras</c>), so a
/// sensor is never silently left out.
/// </summary>
internal sealed class SensorsOptionsValidator(IConfiguration? configuration = null) : IValidateOptions<SensorsOptions>
{
    private static readonly string[] Routes = ["auto", "local", "remote"];
    private static readonly string[] Priorities = ["low", "normal", "high"];

    public ValidateOptionsResult Validate(string? name, SensorsOptions o)
    {
        var problems = new List<string>();
        void Check(bool ok, string problem)
        {
            if (!ok)
            {
                problems.Add(problem);
            }
        }

        const string S = SensorsOptions.Section;
        if (configuration is not null)
        {
            problems.AddRange(ConfigurationCheck.For(configuration, S, typeof(SensorsOptions), "see docs/sensors.md").UnknownKeys);
        }

        Check(o.ResultTimeout >= TimeSpan.FromSeconds(1) && o.ResultTimeout <= TimeSpan.FromDays(1), $"{S}:ResultTimeout must be between 00:00:01 and 1.00:00:00 (got {o.ResultTimeout})");
        Check(o.GpioChip is >= 0 and < 64, $"{S}:GpioChip must be between 0 and 63 (got {o.GpioChip})");
        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var pins = new Dictionary<int, string>();
        void ClaimPin(int pin, string key)
        {
            Check(pin is >= 0 and < 1024, $"{key} must be between 0 and 1023 (got {pin})");
            if (!pins.TryAdd(pin, key))
            {
                problems.Add($"{key}: GPIO {pin} is already used by {pins[pin]}");
            }
        }

        for (var i = 0; i < o.Devices.Count; i++)
        {
            var d = o.Devices[i];
            var key = $"{S}:Devices:{i}";
            Check(SensorsOptions.NamePattern().IsMatch(d.Name), $"{key}:Name must be 1-48 of A-Z a-z 0-9 _ - (got '{d.Name}')");
            Check(d.Name.Length == 0 || names.Add(d.Name), $"{key}:Name '{d.Name}' is used by another sensor");
            var isCamera = d.IsCamera;
            var isMicrophone = d.Kind.Equals("microphone", StringComparison.OrdinalIgnoreCase);
            Check(isCamera || isMicrophone, $"{key}:Kind must be camera or microphone (got '{d.Kind}')");
            if (isCamera)
            {
                Check(d.ResolvedDriver is "v4l2" or "http-snapshot" or "file", $"{key}:Driver of a camera must be v4l2, http-snapshot or file (got '{d.Driver}')");
                if (d.ResolvedDriver == "http-snapshot")
                {
                    Check(
                        Uri.TryCreate(d.Url, UriKind.Absolute, out var url) && url.Scheme is "http" or "https",
                        $"{key}:Url must be an absolute http:// or https:// URL with Driver http-snapshot (got '{d.Url}')");
                    Check(string.IsNullOrEmpty(d.Password) || !string.IsNullOrEmpty(d.Username), $"{key}:Password is set but {key}:Username is not");
                }

                Check(d.Width is >= 16 and <= 8192, $"{key}:Width must be between 16 and 8192 (got {d.Width})");
                Check(d.Height is >= 16 and <= 8192, $"{key}:Height must be between 16 and 8192 (got {d.Height})");
            }
            else if (isMicrophone)
            {
                Check(d.ResolvedDriver is "alsa" or "file", $"{key}:Driver of a microphone must be alsa or file (got '{d.Driver}')");
                Check(d.ClipSeconds is >= 1 and <= 60, $"{key}:ClipSeconds must be between 1 and 60 (got {d.ClipSeconds})");
                Check(d.SampleRate is >= 8000 and <= 192000, $"{key}:SampleRate must be between 8000 and 192000 (got {d.SampleRate})");
            }

            if (d.ResolvedDriver == "file")
            {
                Check(!string.IsNullOrWhiteSpace(d.Path), $"{key}:Path is required with Driver file");
                Check(string.IsNullOrWhiteSpace(d.Path) || File.Exists(d.Path) || Directory.Exists(d.Path), $"{key}:Path '{d.Path}' does not exist");
            }

            Check(d.CaptureTimeout is null || (d.CaptureTimeout > TimeSpan.Zero && d.CaptureTimeout <= TimeSpan.FromMinutes(10)), $"{key}:CaptureTimeout must be more than 0 and at most 00:10:00 (got '{d.CaptureTimeout}')");
            Check(d.MaxTokens is null or > 0, $"{key}:MaxTokens must be positive (got {d.MaxTokens})");
            Check(Routes.Contains(d.Route, StringComparer.OrdinalIgnoreCase), $"{key}:Route must be auto, local or remote (got '{d.Route}')");
            Check(Priorities.Contains(d.Priority, StringComparer.OrdinalIgnoreCase), $"{key}:Priority must be low, normal or high (got '{d.Priority}')");
            Check(d.Triggers.Count > 0, $"{key}:Triggers must name at least one trigger (motion, button, interval or mqtt)");
            for (var j = 0; j < d.Triggers.Count; j++)
            {
                var t = d.Triggers[j];
                var tkey = $"{key}:Triggers:{j}";
                switch (t.ResolvedKind)
                {
                    case "motion" or "button":
                        Check(t.ResolvedDriver is "gpio" or "simulated", $"{tkey}:Driver must be gpio or simulated (got '{t.Driver}')");
                        if (t.ResolvedDriver == "gpio")
                        {
                            Check(t.Pin is not null, $"{tkey}:Pin is required for a {t.ResolvedKind} trigger on GPIO");
                            if (t.Pin is { } pin)
                            {
                                ClaimPin(pin, $"{tkey}:Pin");
                            }
                        }

                        Check(t.Debounce >= TimeSpan.Zero && t.Debounce <= TimeSpan.FromMinutes(10), $"{tkey}:Debounce must be between 0 and 10 minutes (got {t.Debounce})");
                        break;
                    case "interval":
                        Check(t.Every is { } every && every >= TimeSpan.FromSeconds(1), $"{tkey}:Every must be at least 00:00:01 for an interval trigger (got '{t.Every}')");
                        break;
                    case "mqtt":
                        break;
                    default:
                        problems.Add($"{tkey}:Kind must be motion, button, interval or mqtt (got '{t.Kind}')");
                        break;
                }
            }
        }

        var led = o.StatusLed;
        Check(led.ResolvedDriver is "gpio" or "simulated", $"{S}:StatusLed:Driver must be gpio or simulated (got '{led.Driver}')");
        if (led.Pin is { } ledPin && led.ResolvedDriver == "gpio")
        {
            ClaimPin(ledPin, $"{S}:StatusLed:Pin");
        }

        Check(led.BlinkInterval >= TimeSpan.FromMilliseconds(20), $"{S}:StatusLed:BlinkInterval must be at least 20 ms (got {led.BlinkInterval})");
        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }
}
