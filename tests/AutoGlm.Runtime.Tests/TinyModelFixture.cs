using AutoGlm.Runtime.Building;
using AutoGlm.Runtime.Generation;

namespace AutoGlm.Runtime.Tests;

/// <summary>Builds the tiny synthetic package once per test run and shares one engine over it.</summary>
public sealed class TinyModelFixture : IDisposable
{
    public TinyModelFixture()
    {
        Directory = Path.Combine(Path.GetTempPath(), "autoglm-tests", "tiny-" + Guid.NewGuid().ToString("N")[..8]);
        Manifest = SyntheticModelBuilder.Build(SyntheticModelSpec.Tiny, Directory);
        Engine = LocalEngine.Load(Directory, new EngineOptions { MaxBatchSize = 4, PrefillChunkSize = 64 });
    }

    public string Directory { get; }

    public AutoGlm.Runtime.Packages.ModelManifest Manifest { get; }

    public LocalEngine Engine { get; }

    public void Dispose()
    {
        Engine.Dispose();
        System.IO.Directory.Delete(Directory, recursive: true);
    }
}

[CollectionDefinition(Name)]
public sealed class TinyModelCollection : ICollectionFixture<TinyModelFixture>
{
    public const string Name = "tiny model";
}
