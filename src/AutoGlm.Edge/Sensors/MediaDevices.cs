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

    /// <exception cref="SensorException">The node is missing, is not <c>/dev/videoN</c>, or the driver could not open it.</exception>
    public V4l2Camera(string devicePath, int width, int height, string configKey)
    {
        _calls = new BlockingDeviceCalls($"camera {devicePath} ({configKey}) failed to capture", configKey);
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
        _device.Dispose();
        _calls.Dispose();
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
    /// <exception cref="SensorException">The device's capture node is missing, or ALSA could not open it.</exception>
    public AlsaMicrophone(string deviceName, int sampleRate, string configKey, string soundNodes = "/dev/snd")
    {
        _calls = new BlockingDeviceCalls($"microphone '{deviceName}' ({configKey}) failed to record", configKey);
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
        _device.Dispose();
        _calls.Dispose();
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
/// <see cref="SensorException"/> that names the device and its key.
/// </summary>
internal sealed class BlockingDeviceCalls(string failure, string configKey) : IDisposable
{
    private readonly SemaphoreSlim _one = new(1, 1);

    public async Task<byte[]> RunAsync(Func<byte[]> call, CancellationToken cancellationToken)
    {
        await _one.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await Task.Run(call, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidOperationException or ArgumentException)
        {
            throw new SensorException($"{failure}: {ex.Message}", configKey, ex);
        }
        finally
        {
            _one.Release();
        }
    }

    public void Dispose() => _one.Dispose();
}
