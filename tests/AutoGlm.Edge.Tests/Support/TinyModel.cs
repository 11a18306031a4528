using AutoGlm.Runtime.Building;

namespace AutoGlm.Edge.Tests.Support;

/// <summary>The tiny synthetic model package, built once per test run into a temporary folder shared by all tests.</summary>
public static class TinyModel
{
    private static readonly Lazy<string> Built = new(() =>
    {
        var directory = Path.Combine(Path.GetTempPath(), "autoglm-edge-tests", "tiny-" + Environment.ProcessId);
        SyntheticModelBuilder.Build(SyntheticModelSpec.Tiny, directory);
        return directory;
    });

    /// <summary>The package folder (thread-safe; built on first use).</summary>
    public static string Directory => Built.Value;
}
