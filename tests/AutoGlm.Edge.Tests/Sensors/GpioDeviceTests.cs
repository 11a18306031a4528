using System.Device.Gpio;
using AutoGlm.Edge.Sensors;
using Microsoft.Extensions.Time.Testing;

namespace AutoGlm.Edge.Tests.Sensors;

/// <summary>
/// The GPIO triggers and the status LED on the real <c>System.Device.Gpio</c> controller, over a
/// simulated GPIO driver (this machine has no GPIO chip).
/// </summary>
public sealed class GpioDeviceTests
{
    private static readonly DateTimeOffset Start = new(2026, 11, 25, 15, 0, 0, TimeSpan.Zero);

    [Fact]
    public void ButtonTrigger_ActiveLow_FiresOnPressOnly_AndDebounces()
    {
        var time = new FakeTimeProvider(Start);
        var driver = new SimulatedGpioDriver();
        using var gpio = new GpioAccess(new GpioController(driver));
        using var button = new GpioButtonTrigger("doorbell", gpio, 27, activeLow: true, TimeSpan.FromMilliseconds(200), time, "Sensors:Devices:0:Triggers:0:Pin");
        var events = new List<TriggerEvent>();
        button.Start(events.Add);
        Assert.Equal(PinMode.InputPullUp, driver.Mode(27));

        driver.Drive(27, PinValue.Low);   // press
        driver.Drive(27, PinValue.High);  // release: not a trigger
        time.Advance(TimeSpan.FromMilliseconds(100));
        driver.Drive(27, PinValue.Low);   // a bounce inside the debounce period
        driver.Drive(27, PinValue.High);
        time.Advance(TimeSpan.FromMilliseconds(150));
        driver.Drive(27, PinValue.Low);   // a second press

        Assert.Equal([new TriggerEvent("doorbell"), new TriggerEvent("doorbell")], events);
        button.Dispose();
        Assert.False(driver.IsOpen(27));
    }

    [Fact]
    public void MotionTrigger_RisingOutput_Fires()
    {
        var time = new FakeTimeProvider(Start);
        var driver = new SimulatedGpioDriver();
        using var gpio = new GpioAccess(new GpioController(driver));
        using var motion = new GpioMotionTrigger("motion", gpio, 17, TimeSpan.FromSeconds(5), time, "Sensors:Devices:0:Triggers:0:Pin");
        var events = new List<TriggerEvent>();
        motion.Start(events.Add);

        driver.Drive(17, PinValue.High);
        driver.Drive(17, PinValue.Low);
        time.Advance(TimeSpan.FromSeconds(1));
        driver.Drive(17, PinValue.High); // within the debounce period
        driver.Drive(17, PinValue.Low);
        time.Advance(TimeSpan.FromSeconds(5));
        driver.Drive(17, PinValue.High);

        Assert.Equal([new TriggerEvent("motion"), new TriggerEvent("motion")], events);
    }

    [Fact]
    public void MotionTrigger_Disposed_ClosesItsPinAndUnregisters_SoALateEdgeIsIgnoredAndThePinReopens()
    {
        var time = new FakeTimeProvider(Start);
        var driver = new SimulatedGpioDriver();
        using var gpio = new GpioAccess(new GpioController(driver));
        var events = new List<TriggerEvent>();
        var motion = new GpioMotionTrigger("motion", gpio, 17, TimeSpan.FromSeconds(5), time, "Sensors:Devices:0:Triggers:0:Pin");
        motion.Start(events.Add);
        Assert.True(driver.IsOpen(17));

        motion.Dispose();

        Assert.False(driver.IsOpen(17));
        Assert.Equal(0, driver.Callbacks(17));
        driver.Drive(17, PinValue.High);
        Assert.Empty(events);

        // The pin is free again: a restarted sensor service opens it without "already open".
        using var again = new GpioMotionTrigger("motion", gpio, 17, TimeSpan.FromSeconds(5), time, "Sensors:Devices:0:Triggers:0:Pin");
        again.Start(events.Add);
        driver.Drive(17, PinValue.Low);
        driver.Drive(17, PinValue.High);
        Assert.Equal([new TriggerEvent("motion")], events);
    }

    [Fact]
    public void ButtonTrigger_CallbackRegistrationFails_ClosesThePinAndNamesTheKey()
    {
        var driver = new SimulatedGpioDriver { FailCallbacks = true };
        using var gpio = new GpioAccess(new GpioController(driver));
        using var button = new GpioButtonTrigger("doorbell", gpio, 27, activeLow: true, TimeSpan.FromMilliseconds(200), new FakeTimeProvider(Start), "Sensors:Devices:0:Triggers:1:Pin");

        var ex = Assert.Throws<SensorException>(() => button.Start(_ => { }));

        Assert.Equal("Sensors:Devices:0:Triggers:1:Pin", ex.ConfigKey);
        Assert.Contains("could not use GPIO 27", ex.Message, StringComparison.Ordinal);
        Assert.False(driver.IsOpen(27));
    }

    [Fact]
    public void StatusLed_OffIdle_OnBusy_BlinksOnError_OnTheFakeClock()
    {
        var time = new FakeTimeProvider(Start);
        var driver = new SimulatedGpioDriver();
        using var gpio = new GpioAccess(new GpioController(driver));
        var led = new GpioStatusLed(gpio, 23, activeLow: false, TimeSpan.FromMilliseconds(250), time, "Sensors:StatusLed:Pin");
        Assert.Equal(PinMode.Output, driver.Mode(23));
        Assert.Equal(PinValue.Low, driver.Value(23));

        led.Show(LedState.Busy);
        Assert.Equal(PinValue.High, driver.Value(23));
        led.Show(LedState.Error);
        var blink = new List<PinValue> { driver.Value(23) };
        for (var i = 0; i < 4; i++)
        {
            time.Advance(TimeSpan.FromMilliseconds(250));
            blink.Add(driver.Value(23));
        }

        Assert.Equal([PinValue.High, PinValue.Low, PinValue.High, PinValue.Low, PinValue.High], blink);
        led.Show(LedState.Idle);
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(PinValue.Low, driver.Value(23));

        led.Show(LedState.Busy);
        led.Dispose();
        Assert.Equal(PinValue.Low, driver.Value(23));
        Assert.False(driver.IsOpen(23));
    }

    [Fact]
    public void StatusLed_ActiveLow_LightsWithALowLine()
    {
        var driver = new SimulatedGpioDriver();
        using var gpio = new GpioAccess(new GpioController(driver));
        using var led = new GpioStatusLed(gpio, 5, activeLow: true, TimeSpan.FromMilliseconds(250), new FakeTimeProvider(Start), "Sensors:StatusLed:Pin");
        Assert.Equal(PinValue.High, driver.Value(5));

        led.Show(LedState.Busy);

        Assert.Equal(PinValue.Low, driver.Value(5));
    }
}

/// <summary>A GPIO driver in memory: lines a test drives, callbacks on their edges, and what was written.</summary>
internal sealed class SimulatedGpioDriver : GpioDriver
{
    private readonly Lock _lock = new();
    private readonly Dictionary<int, PinMode> _modes = [];
    private readonly Dictionary<int, PinValue> _values = [];
    private readonly List<(int Pin, PinEventTypes Types, PinChangeEventHandler Callback)> _callbacks = [];

    /// <summary>Makes registering an edge callback fail, as a line the kernel will not give events for does.</summary>
    public bool FailCallbacks { get; init; }

    /// <summary>The callbacks registered on <paramref name="pin"/>.</summary>
    public int Callbacks(int pin)
    {
        lock (_lock)
        {
            return _callbacks.Count(c => c.Pin == pin);
        }
    }

    public PinMode Mode(int pin)
    {
        lock (_lock)
        {
            return _modes[pin];
        }
    }

    public bool IsOpen(int pin)
    {
        lock (_lock)
        {
            return _modes.ContainsKey(pin);
        }
    }

    public PinValue Value(int pin)
    {
        lock (_lock)
        {
            return _values.GetValueOrDefault(pin, PinValue.Low);
        }
    }

    /// <summary>Sets an input line as the hardware would, raising the callbacks for its edge.</summary>
    public void Drive(int pin, PinValue value)
    {
        List<PinChangeEventHandler> callbacks;
        PinEventTypes edge;
        lock (_lock)
        {
            var old = _values.GetValueOrDefault(pin, _modes.GetValueOrDefault(pin) == PinMode.InputPullUp ? PinValue.High : PinValue.Low);
            _values[pin] = value;
            if (old == value)
            {
                return;
            }

            edge = value == PinValue.High ? PinEventTypes.Rising : PinEventTypes.Falling;
            callbacks = [.. _callbacks.Where(c => c.Pin == pin && (c.Types & edge) != 0).Select(c => c.Callback)];
        }

        foreach (var callback in callbacks)
        {
            callback(this, new PinValueChangedEventArgs(edge, pin));
        }
    }

    protected override int PinCount => 64;

    protected override void OpenPin(int pinNumber)
    {
        lock (_lock)
        {
            _modes[pinNumber] = PinMode.Input;
        }
    }

    protected override void ClosePin(int pinNumber)
    {
        lock (_lock)
        {
            _modes.Remove(pinNumber);
        }
    }

    protected override void SetPinMode(int pinNumber, PinMode mode)
    {
        lock (_lock)
        {
            _modes[pinNumber] = mode;
            if (mode == PinMode.InputPullUp && !_values.ContainsKey(pinNumber))
            {
                _values[pinNumber] = PinValue.High;
            }
        }
    }

    protected override PinMode GetPinMode(int pinNumber) => Mode(pinNumber);

    protected override bool IsPinModeSupported(int pinNumber, PinMode mode) => true;

    protected override PinValue Read(int pinNumber) => Value(pinNumber);

    protected override void Write(int pinNumber, PinValue value)
    {
        lock (_lock)
        {
            _values[pinNumber] = value;
        }
    }

    protected override WaitForEventResult WaitForEvent(int pinNumber, PinEventTypes eventTypes, CancellationToken cancellationToken) =>
        throw new NotSupportedException("the simulated driver raises callbacks only");

    protected override void AddCallbackForPinValueChangedEvent(int pinNumber, PinEventTypes eventTypes, PinChangeEventHandler callback)
    {
        if (FailCallbacks)
        {
            throw new IOException("the line does not report edges");
        }

        lock (_lock)
        {
            _callbacks.Add((pinNumber, eventTypes, callback));
        }
    }

    protected override void RemoveCallbackForPinValueChangedEvent(int pinNumber, PinChangeEventHandler callback)
    {
        lock (_lock)
        {
            _callbacks.RemoveAll(c => c.Pin == pinNumber && c.Callback == callback);
        }
    }
}
