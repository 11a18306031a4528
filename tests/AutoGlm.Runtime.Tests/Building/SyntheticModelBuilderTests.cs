using AutoGlm.Runtime.Building;
using AutoGlm.Runtime.Packages;

namespace AutoGlm.Runtime.Tests.Building;

public sealed class SyntheticModelBuilderTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "autoglm-tests", "builder-" + Guid.NewGuid().ToString("N")[..8]);

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    [Fact]
    public void Build_SameSpecTwice_WritesTheSameBytes()
    {
        var first = SyntheticModelBuilder.Build(SyntheticModelSpec.Tiny, Path.Combine(_root, "a"));
        var second = SyntheticModelBuilder.Build(SyntheticModelSpec.Tiny, Path.Combine(_root, "b"));

        Assert.Equal(first.Files, second.Files);
        Assert.Equal(
            File.ReadAllBytes(Path.Combine(_root, "a", ModelPackage.ManifestFileName)),
            File.ReadAllBytes(Path.Combine(_root, "b", ModelPackage.ManifestFileName)));
    }

    [Fact]
    public void Build_OtherSeed_WritesOtherWeights()
    {
        var first = SyntheticModelBuilder.Build(SyntheticModelSpec.Tiny, Path.Combine(_root, "a"));
        var second = SyntheticModelBuilder.Build(SyntheticModelSpec.Tiny with { Seed = 99 }, Path.Combine(_root, "b"));

        Assert.NotEqual(
            first.Files.Single(f => f.Path == SyntheticModelBuilder.DataFileName).Sha256,
            second.Files.Single(f => f.Path == SyntheticModelBuilder.DataFileName).Sha256);
    }

    [Fact]
    public void Build_Tiny_RecordsArchitectureSpecialTokensAndEmbeddingInManifest()
    {
        var manifest = SyntheticModelBuilder.Build(SyntheticModelSpec.Tiny, _root);
        var loaded = ModelPackage.Load(_root).Manifest;

        Assert.Equal(manifest.Architecture, loaded.Architecture);
        Assert.Equal(2, loaded.Architecture.Layers);
        Assert.Equal(100277, loaded.Tokenizer.SpecialTokens["[gMASK]"]);
        Assert.Contains("<|user|>", loaded.Tokenizer.StopTokens);
        Assert.Equal(0, loaded.Decoder.Embedding.WeightOffset % 4096);
        Assert.True(loaded.Decoder.Embedding.ScalesOffset > loaded.Decoder.Embedding.WeightOffset);
    }

    [Fact]
    public void Build_ImpossibleShape_ThrowsNamingEveryProblem()
    {
        var spec = SyntheticModelSpec.Tiny with
        {
            Architecture = SyntheticModelSpec.Tiny.Architecture with { HeadSize = 16, RotaryDim = 8, FfnSize = 100 },
        };

        var error = Assert.Throws<RuntimeException>(() => SyntheticModelBuilder.Build(spec, _root));

        Assert.Equal(RuntimeErrorCode.InvalidRequest, error.Code);
        Assert.Contains("hidden (128) must equal heads × head-size (64)", error.Message);
        Assert.Contains("ffn must be a positive multiple", error.Message);
        Assert.Contains("head-size must be at least 32", error.Message);
    }

    [Fact]
    public void Build_OtherSeed_WritesOtherAdapters_AndNoAdaptersWritesNone()
    {
        var first = SyntheticModelBuilder.Build(SyntheticModelSpec.Tiny, Path.Combine(_root, "a"));
        var second = SyntheticModelBuilder.Build(SyntheticModelSpec.Tiny with { Seed = 99 }, Path.Combine(_root, "b"));
        var textOnly = SyntheticModelBuilder.Build(SyntheticModelSpec.Tiny with { Adapters = null }, Path.Combine(_root, "c"));

        Assert.NotEqual(first.Files.Single(f => f.Path == "vision.onnx").Sha256, second.Files.Single(f => f.Path == "vision.onnx").Sha256);
        Assert.NotEqual(first.Files.Single(f => f.Path == "audio.onnx").Sha256, second.Files.Single(f => f.Path == "audio.onnx").Sha256);
        Assert.Equal(16, first.Adapters!.Vision!.TokensPerTile);
        Assert.Null(textOnly.Adapters);
        Assert.Equal(["decoder.onnx", "decoder.kv-float16.onnx", "decoder.onnx.data"], textOnly.Files.Select(f => f.Path));
    }

    [Fact]
    public void Build_ImpossibleAdapters_ThrowsNamingEachProblem()
    {
        var spec = SyntheticModelSpec.Tiny with { Adapters = SyntheticAdaptersSpec.Default with { ImageSize = 60, Resize = "crop" } };

        var error = Assert.Throws<RuntimeException>(() => SyntheticModelBuilder.Build(spec, _root));

        Assert.Contains("image size (60) must be a positive multiple of the patch size (16)", error.Message, StringComparison.Ordinal);
        Assert.Contains("resize must be pad or tile (got 'crop')", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Small_HasTheShapeOfThePerformanceBar()
    {
        var a = SyntheticModelSpec.Small.Architecture;

        Assert.Empty(SyntheticModelSpec.Small.Validate());
        Assert.Equal(367, a.ParameterCount / 1_000_000);
    }
}
