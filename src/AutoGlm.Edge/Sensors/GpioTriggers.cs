using System.Device.Gpio;

namespace AutoGlm.Edge.Sensors;

/// <summary>
/// An HC-SR501 PIR motion sensor on a GPIO line: its OUT pin goes high on motion; fires on that rising edge, at most once
/// per debounce period.
/// </summary>
/// <remarks>
/// Thread-safe. Opens and closes its pin; does not own the shared controller. It registers its own edge callback rather
/// than using <c>Iot.Device.Hcsr501</c>: that binding, on a controller it does not own, leaves its pin open and its
/// (private) callbacks registered when disposed, and a later edge then reaches it with its controller gone.
/// </remarks>
public sealed class GpioMotionTrigger : ITriggerSource
{
    private readonly GpioAccess _gpio;
    private readonly int _pin;
    private readonly string _configKey;
    private readonly Debouncer _debounce;
    private GpioController? _controller;
    private Action<TriggerEvent>? _triggered;

    public GpioMotionTrigger(string name, GpioAccess gpio, int pin, TimeSpan debounce, TimeProvider time, string configKey)
    {
        Name = name;
        _gpio = gpio;
        _pin = pin;
        _configKey = configKey;
        _debounce = new Debouncer(debounce, time);
    }

    public string Name { get; }

    public void Start(Action<TriggerEvent> triggered)
    {
        _triggered = triggered;
        _controller = GpioPins.OpenInput(_gpio, _pin, PinMode.Input, PinEventTypes.Rising, OnChanged, _configKey);
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _controller, null) is { } controller)
        {
            GpioPins.Close(controller, _pin, OnChanged);
        }
    }

    private void OnChanged(object sender, PinValueChangedEventArgs e)
    {
        if (e.ChangeType == PinEventTypes.Rising && _debounce.Pass())
        {
            _triggered?.Invoke(new TriggerEvent(Name));
        }
    }
}

/// <summary>
/// A push button on a GPIO line (<c>System.Device.Gpio</c>): active low with the internal pull-up by default; fires on the
/// press edge, at most once per debounce period.
/// </summary>
/// <remarks>Thread-safe. Opens and closes its pin; does not own the shared controller.</remarks>
public sealed class GpioButtonTrigger : ITriggerSource
{
    private readonly GpioAccess _gpio;
    private readonly int _pin;
    private readonly bool _activeLow;
    private readonly string _configKey;
    private readonly Debouncer _debounce;
    private GpioController? _controller;
    private Action<TriggerEvent>? _triggered;

    public GpioButtonTrigger(string name, GpioAccess gpio, int pin, bool activeLow, TimeSpan debounce, TimeProvider time, string configKey)
    {
        Name = name;
        _gpio = gpio;
        _pin = pin;
        _activeLow = activeLow;
        _configKey = configKey;
        _debounce = new Debouncer(debounce, time);
    }

    public string Name { get; }

    public void Start(Action<TriggerEvent> triggered)
    {
        _triggered = triggered;
        _controller = GpioPins.OpenInput(
            _gpio, _pin, _activeLow ? PinMode.InputPullUp : PinMode.InputPullDown, _activeLow ? PinEventTypes.Falling : PinEventTypes.Rising, OnChanged, _configKey);
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _controller, null) is { } controller)
        {
            GpioPins.Close(controller, _pin, OnChanged);
        }
    }

    private void OnChanged(object sender, PinValueChangedEventArgs e)
    {
        if (_debounce.Pass())
        {
            _triggered?.Invoke(new TriggerEvent(Name));
        }
    }
}

/// <summary>Opening an input pin with an edge callback on the shared controller, and closing it again.</summary>
internal static class GpioPins
{
    /// <summary>Opens <paramref name="pin"/> and registers <paramref name="callback"/>; on a failure, closes the pin again.</summary>
    /// <exception cref="SensorException">The chip is missing, or the driver refused the pin or the callback.</exception>
    public static GpioController OpenInput(GpioAccess gpio, int pin, PinMode mode, PinEventTypes edge, PinChangeEventHandler callback, string configKey)
    {
        var controller = gpio.Open(configKey);
        var opened = false;
        try
        {
            controller.OpenPin(pin, mode);
            opened = true;
            controller.RegisterCallbackForPinValueChangedEvent(pin, edge, callback);
            return controller;
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException or ArgumentException or UnauthorizedAccessException or NotSupportedException)
        {
            if (opened)
            {
                // A pin left open would make the next start (or another sensor's trigger) fail with "already open".
                controller.ClosePin(pin);
            }

            throw gpio.PinFailed(pin, configKey, ex);
        }
    }

    /// <summary>Unregisters <paramref name="callback"/> (libgpiod keeps a line that still has listeners open) and closes <paramref name="pin"/>.</summary>
    public static void Close(GpioController controller, int pin, PinChangeEventHandler callback)
    {
        try
        {
            controller.UnregisterCallbackForPinValueChangedEvent(pin, callback);
        }
        finally
        {
            controller.ClosePin(pin);
        }
    }
}

/// <summary>Lets one event through per period.</summary>
internal sealed class Debouncer(TimeSpan period, TimeProvider time)
{
    private long _last = long.MinValue;

    public bool Pass()
    {
        var now = time.GetTimestamp();
        var last = Interlocked.Read(ref _last);
        if (last != long.MinValue && time.GetElapsedTime(last, now) < period)
        {
            return false;
        }

        return Interlocked.CompareExchange(ref _last, now, last) == last;
    }
}
