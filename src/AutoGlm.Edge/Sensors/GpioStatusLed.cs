using System.Device.Gpio;

namespace AutoGlm.Edge.Sensors;

/// <summary>A status LED on a GPIO line: off when idle, on when busy, blinking on the injected <see cref="TimeProvider"/> after an error.</summary>
/// <remarks>Thread-safe. Opens its pin (driven off) in the constructor and closes it, off, on dispose; does not own the controller.</remarks>
public sealed class GpioStatusLed : IStatusLed
{
    private readonly GpioController _controller;
    private readonly int _pin;
    private readonly PinValue _on;
    private readonly PinValue _off;
    private readonly TimeSpan _blink;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private LedState _state = LedState.Idle;
    private ITimer? _blinkTimer;
    private bool _lit;
    private bool _disposed;

    /// <exception cref="SensorException">The chip is missing or the pin cannot be driven.</exception>
    public GpioStatusLed(GpioAccess gpio, int pin, bool activeLow, TimeSpan blinkInterval, TimeProvider time, string configKey)
    {
        _pin = pin;
        _on = activeLow ? PinValue.Low : PinValue.High;
        _off = activeLow ? PinValue.High : PinValue.Low;
        _blink = blinkInterval;
        _time = time;
        _controller = gpio.Open(configKey);
        try
        {
            _controller.OpenPin(pin, PinMode.Output, _off);
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException or ArgumentException or UnauthorizedAccessException)
        {
            throw gpio.PinFailed(pin, configKey, ex);
        }
    }

    public void Show(LedState state)
    {
        lock (_lock)
        {
            if (_disposed || state == _state)
            {
                return;
            }

            _state = state;
            _blinkTimer?.Dispose();
            _blinkTimer = null;
            switch (state)
            {
                case LedState.Idle:
                    Light(false);
                    break;
                case LedState.Busy:
                    Light(true);
                    break;
                case LedState.Error:
                    Light(true);
                    _blinkTimer = _time.CreateTimer(_ => Toggle(), null, _blink, _blink);
                    break;
            }
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            _blinkTimer?.Dispose();
            Light(false);
            _controller.ClosePin(_pin);
        }
    }

    private void Toggle()
    {
        lock (_lock)
        {
            if (!_disposed && _state == LedState.Error)
            {
                Light(!_lit);
            }
        }
    }

    private void Light(bool lit)
    {
        _lit = lit;
        _controller.Write(_pin, lit ? _on : _off);
    }
}
