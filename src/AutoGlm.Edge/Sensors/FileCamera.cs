namespace AutoGlm.Edge.Sensors;

/// <summary>
/// A camera that returns image files: one file every time, or the JPEG/PNG files of a folder in name order, cycling.
/// For tests, demos and machines without a camera (<c>Driver: file</c>).
/// </summary>
/// <remarks>Thread-safe. The folder is listed once, when it is created; each capture reads its file afresh.</remarks>
public sealed class FileCamera : ICamera
{
    private static readonly string[] Extensions = [".jpg", ".jpeg", ".png"];
    private readonly string[] _files;
    private readonly string _configKey;
    private int _next = -1;

    /// <param name="path">A JPEG or PNG file, or a folder of them.</param>
    /// <param name="configKey">The key that named <paramref name="path"/>, for error messages.</param>
    /// <exception cref="SensorException">The path does not exist, or the folder holds no image.</exception>
    public FileCamera(string path, string configKey)
    {
        _configKey = configKey;
        _files = FileSource.List(path, Extensions, "JPEG or PNG", configKey);
    }

    /// <summary>How many frames have been captured.</summary>
    public int Captured => Volatile.Read(ref _next) + 1;

    public async Task<byte[]> CaptureAsync(CancellationToken cancellationToken)
    {
        var index = Interlocked.Increment(ref _next);
        return await FileSource.ReadAsync(_files[index % _files.Length], _configKey, cancellationToken).ConfigureAwait(false);
    }

    public void Dispose()
    {
    }
}

/// <summary>
/// A microphone that returns WAV files: one file every time, or the <c>.wav</c> files of a folder in name order, cycling.
/// The clip is the file as it is, whatever length is asked. For tests and machines without a microphone (<c>Driver: file</c>).
/// </summary>
/// <remarks>Thread-safe. The folder is listed once, when it is created; each recording reads its file afresh.</remarks>
public sealed class FileMicrophone : IMicrophone
{
    private readonly string[] _files;
    private readonly string _configKey;
    private int _next = -1;

    /// <param name="path">A WAV file, or a folder of them.</param>
    /// <param name="configKey">The key that named <paramref name="path"/>, for error messages.</param>
    /// <exception cref="SensorException">The path does not exist, or the folder holds no WAV file.</exception>
    public FileMicrophone(string path, string configKey)
    {
        _configKey = configKey;
        _files = FileSource.List(path, [".wav"], "WAV", configKey);
    }

    public async Task<byte[]> RecordAsync(int seconds, CancellationToken cancellationToken)
    {
        var index = Interlocked.Increment(ref _next);
        return await FileSource.ReadAsync(_files[index % _files.Length], _configKey, cancellationToken).ConfigureAwait(false);
    }

    public void Dispose()
    {
    }
}

/// <summary>The file listing and reading the file-backed devices share.</summary>
internal static class FileSource
{
    public static string[] List(string path, string[] extensions, string what, string configKey)
    {
        if (File.Exists(path))
        {
            return [path];
        }

        if (!Directory.Exists(path))
        {
            throw new SensorException($"{configKey} '{path}' does not exist; a file driver needs a {what} file or a folder of them", configKey);
        }

        var files = Directory.EnumerateFiles(path)
            .Where(f => extensions.Contains(System.IO.Path.GetExtension(f), StringComparer.OrdinalIgnoreCase))
            .Order(StringComparer.Ordinal)
            .ToArray();
        return files.Length > 0
            ? files
            : throw new SensorException($"{configKey} '{path}' holds no {what} file ({string.Join(", ", extensions)})", configKey);
    }

    public static async Task<byte[]> ReadAsync(string file, string configKey, CancellationToken cancellationToken)
    {
        try
        {
            return await File.ReadAllBytesAsync(file, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new SensorException($"could not read '{file}' ({configKey}): {ex.Message}", configKey, ex);
        }
    }
}
