using System.Globalization;
using System.Text.RegularExpressions;
using Iot.Device.Media;

namespace AutoGlm.Edge.Sensors;

/// <summary>
/// A V4L2 camera (<c>Iot.Device.Media.VideoDevice</c>) on <c>/dev/videoN</c>, capturing MJPEG stills, so the frame is a
/// JPEG without any conversion on the device (with the standard Huffman tables added where the camera leaves them out).
/// </summary>
/// <remarks>Captures are serialized. Owns the video device.</remarks>
public sealed partial class V4l2Camera : ICamera
{
    private readonly VideoDevice _device;
    private readonly BlockingDeviceCalls _calls;

    /// <param name="devicePath">The V4L2 node, <c>/dev/videoN</c>.</param>
    /// <param name="width">Frame width in pixels.</param>
    /// <param name="height">Frame height in pixels.</param>
    /// <param name="configKey">The key that named the device, for error messages.</param>
    /// <param name="captureTimeout">How long one capture may take (default 10 s).</param>
    /// <exception cref="SensorException">The node is missing, is not <c>/dev/videoN</c>, or the driver could not open it.</exception>
    public V4l2Camera(string devicePath, int width, int height, string configKey, TimeSpan? captureTimeout = null)
    {
        _calls = new BlockingDeviceCalls($"camera {devicePath} ({configKey})", "capture", configKey, captureTimeout ?? TimeSpan.FromSeconds(10), TimeProvider.System);
        var match = VideoNode().Match(devicePath);
        if (!match.Success)
        {
            throw new SensorException($"{configKey} must be a V4L2 node /dev/videoN (got '{devicePath}')", configKey);
        }

        if (!File.Exists(devicePath))
        {
            throw new SensorException(
                $"camera device {devicePath} is missing ({configKey}): no V4L2 camera is attached there; "
                + "check `v4l2-ctl --list-devices`, or use Driver file to run without a camera",
                configKey);
        }

        try
        {
            _device = VideoDevice.Create(new VideoConnectionSettings(int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), ((uint)width, (uint)height), VideoPixelFormat.MJPEG));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidOperationException or PlatformNotSupportedException or DllNotFoundException or ArgumentException)
        {
            throw new SensorException($"could not open camera {devicePath} ({configKey}): {ex.Message}", configKey, ex);
        }
    }

    public async Task<byte[]> CaptureAsync(CancellationToken cancellationToken) =>
        MjpegFrames.WithHuffmanTables(TrimAfterEndOfImage(await _calls.RunAsync(_device.Capture, cancellationToken).ConfigureAwait(false)));

    public void Dispose()
    {
        // A driver call that never returned still uses the device's buffers: leave them to the process's exit.
        if (_calls.Dispose())
        {
            _device.Dispose();
        }
    }

    /// <summary>Drops anything after the last JPEG end-of-image marker (some drivers pad the buffer).</summary>
    internal static byte[] TrimAfterEndOfImage(byte[] frame)
    {
        for (var i = frame.Length - 2; i >= 2; i--)
        {
            if (frame[i] == 0xFF && frame[i + 1] == 0xD9)
            {
                return i + 2 == frame.Length ? frame : frame[..(i + 2)];
            }
        }

        return frame;
    }

    [GeneratedRegex("^/dev/video([0-9]{1,3})$")]
    private static partial Regex VideoNode();
}

/// <summary>
/// An ALSA microphone (<c>Iot.Device.Media.SoundDevice</c>) recording 16-bit mono clips to WAV.
/// </summary>
/// <remarks>Recordings are serialized. Owns the sound device.</remarks>
public sealed partial class AlsaMicrophone : IMicrophone
{
    private readonly SoundDevice _device;
    private readonly BlockingDeviceCalls _calls;

    /// <param name="deviceName">An ALSA recording device: <c>default</c>, <c>hw:C,D</c> or <c>plughw:C,D</c>.</param>
    /// <param name="sampleRate">Samples per second.</param>
    /// <param name="configKey">The key that named the device, for error messages.</param>
    /// <param name="soundNodes">For testing: the folder of ALSA device nodes (default <c>/dev/snd</c>).</param>
    /// <param name="recordTimeout">How long one recording may take, clip included (default 10 s plus a 60 s clip).</param>
    /// <exception cref="SensorException">The device's capture node is missing, or ALSA could not open it.</exception>
    public AlsaMicrophone(string deviceName, int sampleRate, string configKey, string soundNodes = "/dev/snd", TimeSpan? recordTimeout = null)
    {
        _calls = new BlockingDeviceCalls($"microphone '{deviceName}' ({configKey})", "record", configKey, recordTimeout ?? TimeSpan.FromSeconds(70), TimeProvider.System);
        var node = CaptureNode(deviceName, soundNodes);
        if (node is null)
        {
            throw new SensorException(
                $"no ALSA capture device under {soundNodes} for '{deviceName}' ({configKey}): no microphone is attached "
                + "(expected a node like " + Path.Combine(soundNodes, "pcmC0D0c") + "); check `arecord -l`, or use Driver file to run without a microphone",
                configKey);
        }

        if (!File.Exists(node))
        {
            throw new SensorException($"microphone device {node} is missing ({configKey} = '{deviceName}'); check `arecord -l`", configKey);
        }

        try
        {
            _device = SoundDevice.Create(new SoundConnectionSettings
            {
                RecordingDeviceName = deviceName,
                RecordingSampleRate = (uint)sampleRate,
                RecordingChannels = 1,
                RecordingBitsPerSample = 16,
            });
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidOperationException or PlatformNotSupportedException or DllNotFoundException or ArgumentException or TypeInitializationException)
        {
            throw new SensorException($"could not open ALSA device '{deviceName}' ({configKey}): {ex.Message}", configKey, ex);
        }
    }

    public Task<byte[]> RecordAsync(int seconds, CancellationToken cancellationToken) =>
        _calls.RunAsync(
            () =>
            {
                using var wav = new MemoryStream();
                _device.Record((uint)seconds, wav);
                return FixSizes(wav.ToArray());
            },
            cancellationToken);

    /// <summary>
    /// Sets the RIFF and <c>data</c> chunk sizes to what was actually recorded: the driver writes its header before it
    /// records, from the length it was asked for, and a clip can come out shorter.
    /// </summary>
    internal static byte[] FixSizes(byte[] wav)
    {
        if (wav.Length < 12 || !wav.AsSpan(0, 4).SequenceEqual("RIFF"u8))
        {
            return wav;
        }

        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(wav.AsSpan(4), (uint)(wav.Length - 8));
        var offset = 12;
        while (offset + 8 <= wav.Length)
        {
            var size = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(wav.AsSpan(offset + 4));
            if (wav.AsSpan(offset, 4).SequenceEqual("data"u8))
            {
                System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(wav.AsSpan(offset + 4), (uint)(wav.Length - offset - 8));
                break;
            }

            if (size > (uint)(wav.Length - offset - 8))
            {
                break;
            }

            offset += 8 + (int)size + (int)(size & 1);
        }

        return wav;
    }

    public void Dispose()
    {
        // A driver call that never returned still uses the device: leave it to the process's exit.
        if (_calls.Dispose())
        {
            _device.Dispose();
        }
    }

    /// <summary>
    /// The capture node a device name needs: <c>pcmC{card}D{device}c</c> for <c>hw:</c>/<c>plughw:</c> names; for any other
    /// name (<c>default</c>, a PCM from asoundrc), the first capture node there is, or null when there is none.
    /// </summary>
    internal static string? CaptureNode(string deviceName, string soundNodes)
    {
        var hw = HardwareName().Match(deviceName);
        if (hw.Success)
        {
            return Path.Combine(soundNodes, $"pcmC{hw.Groups[1].Value}D{hw.Groups[2].Value}c");
        }

        return Directory.Exists(soundNodes)
            ? Directory.EnumerateFileSystemEntries(soundNodes, "pcmC*D*c").Order(StringComparer.Ordinal).FirstOrDefault()
            : null;
    }

    [GeneratedRegex("^(?:plug)?hw:([0-9]+),([0-9]+)$")]
    private static partial Regex HardwareName();
}

/// <summary>
/// Calls into a blocking device driver one at a time, off the caller's thread, turning the driver's failures into a
/// <see cref="SensorException"/> that names the device and its key, and giving up on a call that takes longer than the
/// timeout.
/// </summary>
/// <remarks>
/// A V4L2 or ALSA call cannot be interrupted: one that times out keeps running on its thread pool thread, and until it
/// returns every new call fails at once (one call at a time still holds; a stuck device does not pile up threads).
/// Thread-safe.
/// </remarks>
internal sealed class BlockingDeviceCalls(string device, string verb, string configKey, TimeSpan timeout, TimeProvider time)
{
    private readonly SemaphoreSlim _one = new(1, 1);
    private readonly Lock _lock = new();
    private Task? _running;
    private DateTimeOffset? _timedOutAt;
    private bool _disposed;

    /// <summary>Whether a call timed out and has still not returned (no new call is made meanwhile).</summary>
    public bool IsStuck
    {
        get
        {
            lock (_lock)
            {
                return _timedOutAt is not null && _running is { IsCompleted: false };
            }
        }
    }

    /// <exception cref="SensorException">The driver failed, the call timed out, or an earlier call that timed out is still running.</exception>
    public async Task<byte[]> RunAsync(Func<byte[]> call, CancellationToken cancellationToken)
    {
        ThrowIfStuck();
        await _one.WaitAsync(cancellationToken).ConfigureAwait(false);
        Task<byte[]> running;
        lock (_lock)
        {
            running = Task.Run(call, CancellationToken.None);
            _running = running;
        }

        // The next call may start only when this one has really returned, even if its caller gave up on it.
        _ = running.ContinueWith(_ => Release(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        try
        {
            return await running.WaitAsync(timeout, time, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            lock (_lock)
            {
                if (!running.IsCompleted)
                {
                    _timedOutAt = time.GetUtcNow();
                }
            }

            var timeoutKey = configKey[..(configKey.LastIndexOf(':') + 1)] + "CaptureTimeout";
            throw new SensorException(
                $"{device} failed to {verb}: the driver did not return within {timeout.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture)} s, and the device takes no new capture "
                + $"until that call returns (check the device, or raise {timeoutKey})",
                configKey);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidOperationException or ArgumentException)
        {
            throw new SensorException($"{device} failed to {verb}: {ex.Message}", configKey, ex);
        }
    }

    /// <summary>
    /// Ends the calls; false while a driver call is still running (one that timed out, or whose caller was cancelled):
    /// the owner must then not dispose the device under it.
    /// </summary>
    public bool Dispose()
    {
        lock (_lock)
        {
            _disposed = true;
            if (_running is { IsCompleted: false })
            {
                return false;
            }
        }

        _one.Dispose();
        return true;
    }

    private void ThrowIfStuck()
    {
        lock (_lock)
        {
            if (_timedOutAt is { } since && _running is { IsCompleted: false })
            {
                throw new SensorException(
                    $"{device} failed to {verb}: a driver call that timed out at {since.UtcDateTime.ToString("HH:mm:ss", CultureInfo.InvariantCulture)}Z has still not returned, so no new call is made",
                    configKey);
            }
        }
    }

    private void Release()
    {
        lock (_lock)
        {
            _running = null;
            _timedOutAt = null;
            if (_disposed)
            {
                // Dispose left the semaphore to the call still running; nobody waits on it any more.
                _one.Dispose();
                return;
            }
        }

        _one.Release();
    }
}
