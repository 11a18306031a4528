using AutoGlm.Runtime.Building;
using AutoGlm.Runtime.Onnx;
using AutoGlm.Runtime.Packages;

namespace AutoGlm.Runtime.Tests.Onnx;

/// <summary>The token lookup reads rows from the package's file without keeping them in the process's memory.</summary>
public sealed class TokenEmbeddingTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "autoglm-tests", "embedding-" + Guid.NewGuid().ToString("N")[..8]);

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public void Lookup_ManyRows_LeavesNoMappingOfTheFile()
    {
        SyntheticModelBuilder.Build(SyntheticModelSpec.Tiny, _root);
        var package = ModelPackage.Load(_root);
        var file = Path.GetFullPath(package.PathOf(package.Manifest.Decoder.Embedding.File));
        using var embedding = new TokenEmbedding(package);
        var row = new float[embedding.HiddenSize];
        var sum = 0.0;
        for (var token = 0; token < package.Manifest.Architecture.VocabSize; token += 7)
        {
            embedding.Lookup(token, row);
            sum += Math.Abs(row[0]);
        }

        Assert.True(sum > 0, "the rows read are not all zero");
        var mapped = File.ReadAllLines("/proc/self/maps").Where(line => line.EndsWith(file, StringComparison.Ordinal)).ToList();
        Assert.True(mapped.Count == 0, $"the embedding file is mapped into the process (its pages count as resident): {string.Join("; ", mapped)}");
    }
}
