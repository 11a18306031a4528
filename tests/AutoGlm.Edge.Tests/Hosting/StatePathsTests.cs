using AutoGlm.Edge.Hosting;
using AutoGlm.Edge.Tests.Support;
using AutoGlm.Runtime.Building;
using AutoGlm.Runtime.Packages;

namespace AutoGlm.Edge.Tests.Hosting;

public sealed class StatePathsTests : IDisposable
{
    private readonly string _state = TestPaths.NewFolder("state-paths");

    public void Dispose() => Directory.Delete(_state, recursive: true);

    [Fact]
    public void EnsureBuiltInModel_FirstStart_BuildsWithAdapters_ThenReusesIt()
    {
        var messages = new List<string>();

        var directory = StatePaths.EnsureBuiltInModel(_state, messages.Add);
        var again = StatePaths.EnsureBuiltInModel(_state, messages.Add);

        Assert.Equal(directory, again);
        Assert.Single(messages);
        Assert.NotNull(ModelPackage.Load(directory).Manifest.Adapters?.Vision);
    }

    [Fact]
    public void EnsureBuiltInModel_TextOnlyPackageFromAnOlderVersion_IsRebuiltWithAdapters()
    {
        var directory = Path.Combine(_state, "models", SyntheticModelSpec.Tiny.Name);
        SyntheticModelBuilder.Build(SyntheticModelSpec.Tiny with { Adapters = null }, directory);
        var messages = new List<string>();

        StatePaths.EnsureBuiltInModel(_state, messages.Add);

        Assert.Contains("no vision and audio adapters", Assert.Single(messages), StringComparison.Ordinal);
        Assert.NotNull(ModelPackage.Load(directory).Manifest.Adapters?.Audio);
    }
}
