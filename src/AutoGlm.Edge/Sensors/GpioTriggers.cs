using System.Device.Gpio;
using Iot.Device.Hcsr501;

namespace AutoGlm.Edge.Sensors;

/// <summary>
/// An HC-SR501 PIR motion sensor (<c>Iot.Device.Hcsr501</c>) on a GPIO line: fires when its output rises, at most once per
/// debounce period.
/// </summary>
/// <remarks>Thread-safe. Owns the <see cref="Hcsr501"/>, not the shared controller.</remarks>
public sealed class GpioMotionTrigger : ITriggerSource
{
    private readonly GpioAccess _gpio;
    private readonly int _pin;
    private readonly string _configKey;
    private readonly Debouncer _debounce;
    private Hcsr501? _sensor;
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
        var controller = _gpio.Open(_configKey);
        _triggered = triggered;
        try
        {
            _sensor = new Hcsr501(_pin, controller, shouldDispose: false);
            _sensor.Hcsr501ValueChanged += OnChanged;
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException or ArgumentException or UnauthorizedAccessException)
        {
            throw _gpio.PinFailed(_pin, _configKey, ex);
        }
    }

    public void Dispose()
    {
        if (_sensor is not null)
        {
            _sensor.Hcsr501ValueChanged -= OnChanged;
            _sensor.Dispose();
        }
    }

    private void OnChanged(object sender, Hcsr501ValueChangedEventArgs e)
    {
        if (e.PinValue == PinValue.High && _debounce.Pass())
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
        var controller = _gpio.Open(_configKey);
        _triggered = triggered;
        try
        {
            controller.OpenPin(_pin, _activeLow ? PinMode.InputPullUp : PinMode.InputPullDown);
            controller.RegisterCallbackForPinValueChangedEvent(_pin, _activeLow ? PinEventTypes.Falling : PinEventTypes.Rising, OnChanged);
            _controller = controller;
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException or ArgumentException or UnauthorizedAccessException or NotSupportedException)
        {
            throw _gpio.PinFailed(_pin, _configKey, ex);
        }
    }

    public void Dispose()
    {
        if (_controller is { } controller)
        {
            _controller = null;
            controller.UnregisterCallbackForPinValueChangedEvent(_pin, OnChanged);
            controller.ClosePin(_pin);
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
