namespace AutoGlm.Edge.Tests.Support;

/// <summary>Finds files of the repository (deploy scripts, example manifests) from the test's output folder.</summary>
public static class RepoPaths
{
    private static readonly Lazy<string> RootDirectory = new(() =>
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "AutoGlm.Edge.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"no AutoGlm.Edge.sln above {AppContext.BaseDirectory}");
    });

    /// <summary>The repository root (the folder holding AutoGlm.Edge.sln).</summary>
    public static string Root => RootDirectory.Value;

    /// <summary>A path relative to the repository root.</summary>
    public static string Of(params string[] parts) => Path.Combine([Root, .. parts]);
}
