using System.Device.Gpio;
using System.Device.Gpio.Drivers;

namespace AutoGlm.Edge.Sensors;

/// <summary>
/// The one <see cref="GpioController"/> the GPIO triggers and the status LED share, on <c>/dev/gpiochipN</c>
/// (<c>Sensors:GpioChip</c>), opened when the first of them starts.
/// </summary>
/// <remarks>Thread-safe. Owns the controller; the devices that use it do not dispose it.</remarks>
public sealed class GpioAccess(int chip) : IDisposable
{
    private readonly Lock _lock = new();
    private GpioController? _controller;

    // For testing: a controller over a simulated driver, used without looking for the chip's node.
    internal GpioAccess(GpioController controller)
        : this(0)
    {
        _controller = controller;
    }

    /// <summary>The chip's device node.</summary>
    public string DevicePath => $"/dev/gpiochip{chip}";

    /// <summary>The controller, opened on first use.</summary>
    /// <param name="configKey">The key of the pin that needs it, for the error message.</param>
    /// <exception cref="SensorException">The chip's node is missing or the driver could not open it.</exception>
    public GpioController Open(string configKey)
    {
        lock (_lock)
        {
            if (_controller is not null)
            {
                return _controller;
            }

            if (!File.Exists(DevicePath))
            {
                throw new SensorException(
                    $"GPIO chip {DevicePath} is missing, so {configKey} cannot be used (chip from {SensorsOptions.Section}:GpioChip = {chip}): "
                    + "this machine has no GPIO or the chip number is wrong; set the trigger's Driver to simulated to run without it",
                    configKey);
            }

            try
            {
                _controller = chip == 0 ? new GpioController() : new GpioController(new LibGpiodDriver(chip));
                return _controller;
            }
            catch (Exception ex) when (ex is PlatformNotSupportedException or IOException or UnauthorizedAccessException or DllNotFoundException or InvalidOperationException)
            {
                throw new SensorException($"could not open GPIO chip {DevicePath} for {configKey}: {ex.Message}", configKey, ex);
            }
        }
    }

    /// <summary>Wraps a driver failure on <paramref name="pin"/> in a <see cref="SensorException"/> naming the chip and the key.</summary>
    internal SensorException PinFailed(int pin, string configKey, Exception ex) =>
        new($"could not use GPIO {pin} on {DevicePath} ({configKey}): {ex.Message}", configKey, ex);

    public void Dispose()
    {
        lock (_lock)
        {
            _controller?.Dispose();
            _controller = null;
        }
    }
}
