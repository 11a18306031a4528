namespace AutoGlm.Edge.Tests.Support;

/// <summary>
/// A small tmpfs mounted on a new folder (<c>mount -t tmpfs -o size=…</c>), to run out of disk on purpose; unmounted
/// on dispose. Needs root (CI runs the tests as root); see <see cref="FactNeedingTmpfsAttribute"/>.
/// </summary>
public sealed class Tmpfs : IDisposable
{
    private static readonly Lazy<string?> WhyNot = new(Probe);

    private Tmpfs(string folder)
    {
        Folder = folder;
    }

    /// <summary>The mount point.</summary>
    public string Folder { get; }

    /// <summary>Null when this process may mount a tmpfs; else why not (the reason a test is skipped with).</summary>
    public static string? UnavailableReason => WhyNot.Value;

    /// <summary>Mounts a tmpfs of <paramref name="size"/> (e.g. <c>2m</c>) on a new folder.</summary>
    public static Tmpfs Mount(string size)
    {
        var folder = TestPaths.NewFolder("tmpfs");
        var result = ProcessRunner.Run("mount", ["-t", "tmpfs", "-o", $"size={size}", "tmpfs", folder], timeoutSeconds: 20);
        Assert.True(result.ExitCode == 0, $"mount -t tmpfs on {folder} failed: {result.Error}");
        return new Tmpfs(folder);
    }

    /// <summary>Writes a file of zeros until the file system is full; returns its path.</summary>
    public string Fill(string name = "filler")
    {
        var path = Path.Combine(Folder, name);
        var chunk = new byte[4096];
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1, FileOptions.None);
        try
        {
            while (true)
            {
                stream.Write(chunk);
            }
        }
        catch (IOException)
        {
            // ENOSPC: full, as intended.
        }

        return path;
    }

    public void Dispose()
    {
        ProcessRunner.Run("umount", ["-l", Folder], timeoutSeconds: 20);
        try
        {
            Directory.Delete(Folder, recursive: true);
        }
        catch (IOException)
        {
            // A leftover temp folder is harmless.
        }
    }

    private static string? Probe()
    {
        if (!OperatingSystem.IsLinux())
        {
            return "tmpfs needs Linux";
        }

        try
        {
            using var probe = Mount("64k");
            return null;
        }
        catch (Exception ex) when (ex is Xunit.Sdk.XunitException or System.ComponentModel.Win32Exception or IOException)
        {
            return $"cannot mount a tmpfs here (run the tests as root, as CI does): {ex.Message}";
        }
    }
}

/// <summary>A fact that is skipped, saying why, where a tmpfs cannot be mounted (not root).</summary>
public sealed class FactNeedingTmpfsAttribute : FactAttribute
{
    public FactNeedingTmpfsAttribute()
    {
        if (Tmpfs.UnavailableReason is { } reason)
        {
            Skip = reason;
        }
    }
}
