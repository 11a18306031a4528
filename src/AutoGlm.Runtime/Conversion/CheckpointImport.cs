using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using AutoGlm.Runtime.Packages;

namespace AutoGlm.Runtime.Conversion;

/// <summary>Converts a checkpoint folder once into a models folder and reuses the package while the checkpoint is unchanged.</summary>
/// <remarks>
/// The package is named after the checkpoint folder and a fingerprint of its files' names, sizes and modification
/// times (not their contents: hashing a 9B checkpoint at every start would take a minute); the package itself is
/// verified by SHA-256 as always. Older imports of the same checkpoint are removed once a new one is written.
/// </remarks>
public static class CheckpointImport
{
    /// <summary>Whether a folder looks like a Hugging Face checkpoint rather than a model package.</summary>
    public static bool IsCheckpoint(string directory) =>
        File.Exists(Path.Combine(directory, CheckpointConfig.FileName)) && !File.Exists(Path.Combine(directory, ModelPackage.ManifestFileName));

    /// <summary>Returns the package folder for <paramref name="checkpointDirectory"/> under <paramref name="modelsDirectory"/>, converting first when needed.</summary>
    /// <param name="checkpointDirectory">The checkpoint folder.</param>
    /// <param name="modelsDirectory">Where imported packages live (the daemon's <c>models/</c> state folder).</param>
    /// <param name="options">How to convert (INT4 by default).</param>
    /// <param name="report">Receives progress lines.</param>
    /// <param name="cancellationToken">Stops the conversion between layers.</param>
    public static string EnsurePackage(string checkpointDirectory, string modelsDirectory, ConversionOptions? options = null, Action<string>? report = null, CancellationToken cancellationToken = default)
    {
        checkpointDirectory = Path.GetFullPath(checkpointDirectory);
        var name = Path.GetFileName(checkpointDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var prefix = $"{name}-import-";
        var target = Path.Combine(modelsDirectory, prefix + Fingerprint(checkpointDirectory, options ?? new ConversionOptions()));
        if (ModelPackage.Verify(target).IsValid)
        {
            return target;
        }

        if (Directory.Exists(target))
        {
            Directory.Delete(target, recursive: true);
        }

        report?.Invoke($"converting checkpoint '{checkpointDirectory}' into '{target}' (once; reused while the checkpoint is unchanged)");
        var progress = report is null ? null : new Reporter(report);
        CheckpointConverter.Convert(checkpointDirectory, target, (options ?? new ConversionOptions()) with { Name = (options?.Name) ?? name }, progress, cancellationToken);
        foreach (var old in Directory.GetDirectories(modelsDirectory, prefix + "*"))
        {
            if (!string.Equals(old, target, StringComparison.Ordinal))
            {
                Directory.Delete(old, recursive: true);
            }
        }

        return target;
    }

    /// <summary>16 hex digits over the checkpoint files' names, sizes and modification times, and the options.</summary>
    internal static string Fingerprint(string checkpointDirectory, ConversionOptions options)
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"{options.Weights}/{options.BlockSize}/{options.AccuracyLevel}/{options.ZeroPoints}/{CheckpointConverter.Version}\n");
        foreach (var file in new DirectoryInfo(checkpointDirectory).EnumerateFiles().OrderBy(f => f.Name, StringComparer.Ordinal))
        {
            text.Append(CultureInfo.InvariantCulture, $"{file.Name}\t{file.Length}\t{file.LastWriteTimeUtc.Ticks}\n");
        }

        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())))[..16];
    }

    private sealed class Reporter(Action<string> report) : IProgress<string>
    {
        public void Report(string value) => report(value);
    }
}
