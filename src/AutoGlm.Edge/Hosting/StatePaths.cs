using AutoGlm.Runtime.Building;
using AutoGlm.Runtime.Packages;

namespace AutoGlm.Edge.Hosting;

/// <summary>Where the daemon keeps its state, and the built-in model inside it.</summary>
/// <remarks>
/// Under systemd, <c>STATE_DIRECTORY</c> (from <c>StateDirectory=</c>) wins; by hand, <c>AUTOGLM_STATE_DIR</c>, then
/// <c>$XDG_STATE_HOME/autoglm</c>, then <c>~/.local/state/autoglm</c>.
/// </remarks>
public static class StatePaths
{
    /// <summary>The state folder, created if missing.</summary>
    /// <exception cref="StartupException">The folder cannot be created or written; the message names it and the variable that chose it.</exception>
    public static string StateDirectory()
    {
        var (path, source) = Locate();
        try
        {
            Directory.CreateDirectory(path);
            var probe = Path.Combine(path, $".write-test-{Environment.ProcessId}");
            File.WriteAllBytes(probe, []);
            File.Delete(probe);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new StartupException($"the state folder {Path.GetFullPath(path)} (from {source}) cannot be written: {ex.Message.TrimEnd('.')}. Fix its owner or permissions, or set {source} to a writable folder", ex);
        }

        return Path.GetFullPath(path);
    }

    /// <summary>The state folder and what chose it, without creating it.</summary>
    public static (string Path, string Source) Locate()
    {
        if (FirstPath(Environment.GetEnvironmentVariable("STATE_DIRECTORY")) is { } fromSystemd)
        {
            return (fromSystemd, "STATE_DIRECTORY");
        }

        if (NonEmpty(Environment.GetEnvironmentVariable("AUTOGLM_STATE_DIR")) is { } fromVariable)
        {
            return (fromVariable, "AUTOGLM_STATE_DIR");
        }

        return NonEmpty(Environment.GetEnvironmentVariable("XDG_STATE_HOME")) is { } xdg
            ? (Path.Combine(xdg, "autoglm"), "XDG_STATE_HOME")
            : (Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "state", "autoglm"), "AUTOGLM_STATE_DIR");
    }

    /// <summary>The cache folder: <c>CACHE_DIRECTORY</c> under systemd, else <c>cache/</c> in the state folder.</summary>
    public static string CacheDirectory(string stateDirectory) =>
        FirstPath(Environment.GetEnvironmentVariable("CACHE_DIRECTORY")) ?? Path.Combine(stateDirectory, "cache");

    /// <summary>
    /// The built-in tiny synthetic package in <c>models/</c> of the state folder, built on first use and rebuilt
    /// if it fails its check or lacks what this version builds (a text-only package from before the adapters).
    /// Returns the package folder.
    /// </summary>
    public static string EnsureBuiltInModel(string stateDirectory, Action<string>? report = null)
    {
        var spec = SyntheticModelSpec.Tiny;
        var directory = Path.Combine(stateDirectory, "models", spec.Name);
        var existing = ModelPackage.Verify(directory);
        if (existing.IsValid && (existing.Manifest!.Adapters is not null || spec.Adapters is null))
        {
            return directory;
        }

        report?.Invoke(existing.IsValid
            ? $"rebuilding the built-in model {spec.Name} in {directory}: it has no vision and audio adapters"
            : $"building the built-in model {spec.Name} into {directory} (once)");
        var staging = directory + ".building";
        if (Directory.Exists(staging))
        {
            Directory.Delete(staging, recursive: true);
        }

        SyntheticModelBuilder.Build(spec, staging);
        if (Directory.Exists(directory))
        {
            Directory.Delete(directory, recursive: true);
        }

        Directory.Move(staging, directory);
        return directory;
    }

    private static string? FirstPath(string? list) => NonEmpty(list?.Split(':', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault());

    private static string? NonEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
}

/// <summary>The resolved state and cache folders of this process.</summary>
public sealed record StateLocation(string Directory, string CacheDirectory);
