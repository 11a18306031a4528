using System.Text.Json;
using AutoGlm.Runtime.Building;
using AutoGlm.Runtime.Generation;
using AutoGlm.Runtime.Packages;

namespace AutoGlm.Runtime.Tests.Packages;

public sealed class ModelPackageTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "autoglm-tests", "package-" + Guid.NewGuid().ToString("N")[..8]);
    private readonly string _dir;

    public ModelPackageTests()
    {
        _dir = Path.Combine(_root, "package");
        SyntheticModelBuilder.Build(SyntheticModelSpec.Tiny, _dir);
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public void Load_IntactPackage_Succeeds()
    {
        var package = ModelPackage.Load(_dir);

        Assert.Equal("glm-synthetic-tiny", package.Manifest.Name);
        Assert.Equal(["decoder.onnx", "decoder.kv-float16.onnx", "decoder.onnx.data", "vision.onnx", "audio.onnx"], ModelPackage.Verify(_dir).VerifiedFiles.Select(f => f.Path));
    }

    [Fact]
    public void Load_PinnedManifestHash_LoadsOnlyThatPackage()
    {
        var hash = ModelPackage.Sha256Of(Path.Combine(_dir, ModelPackage.ManifestFileName));

        Assert.Equal("glm-synthetic-tiny", ModelPackage.Load(_dir, hash.ToUpperInvariant()).Manifest.Name);
        var error = Assert.Throws<RuntimeException>(() => ModelPackage.Load(_dir, new string('a', 64)));
        Assert.Equal(RuntimeErrorCode.PackageInvalid, error.Code);
        Assert.Contains($"has SHA-256 {hash}, but the configuration pins {new string('a', 64)}", error.Message);
    }

    [Fact]
    public void Load_EngineWithMalformedPin_InvalidRequestNamingTheKey()
    {
        var error = Assert.Throws<RuntimeException>(() => LocalEngine.Load(_dir, new EngineOptions { ModelManifestSha256 = "abc" }));

        Assert.Contains("Runtime:ModelManifestSha256 must be 64 hexadecimal digits", error.Message);
    }

    [Fact]
    public void Load_TamperedFile_RefusedNamingTheFile()
    {
        var path = Path.Combine(_dir, SyntheticModelBuilder.DataFileName);
        using (var stream = File.OpenWrite(path))
        {
            stream.Position = 5000;
            stream.WriteByte(0x5A);
        }

        var error = Assert.Throws<RuntimeException>(() => ModelPackage.Load(_dir));

        Assert.Equal(RuntimeErrorCode.PackageInvalid, error.Code);
        Assert.Contains($"'{SyntheticModelBuilder.DataFileName}' has changed: SHA-256", error.Message);
    }

    [Fact]
    public void Load_TruncatedFile_RefusedNamingTheFileAndSize()
    {
        var path = Path.Combine(_dir, SyntheticModelBuilder.DecoderFileName);
        File.WriteAllBytes(path, File.ReadAllBytes(path)[..100]);

        var error = Assert.Throws<RuntimeException>(() => ModelPackage.Load(_dir));

        Assert.Contains($"'{SyntheticModelBuilder.DecoderFileName}' has changed: 100 bytes", error.Message);
    }

    [Fact]
    public void Load_MissingFile_RefusedNamingTheFile()
    {
        File.Delete(Path.Combine(_dir, SyntheticModelBuilder.DecoderFileName));

        var error = Assert.Throws<RuntimeException>(() => ModelPackage.Load(_dir));

        Assert.Equal($"model package file '{SyntheticModelBuilder.DecoderFileName}' is missing", error.Message);
    }

    [Theory]
    [InlineData("../outside.bin", "points outside the package folder")]
    [InlineData("sub/../../outside.bin", "points outside the package folder")]
    [InlineData("/etc/passwd", "is not a path relative to the package folder")]
    public void Verify_PathEscapingTheFolder_RefusedNamingTheFile(string path, string message)
    {
        File.WriteAllText(Path.Combine(_dir, "..", "outside.bin"), "x");
        RewriteManifest(m => m with { Files = [.. m.Files, new PackageFile(path, 1, new string('0', 64))] });

        var report = ModelPackage.Verify(_dir);

        Assert.False(report.IsValid);
        var problem = Assert.Single(report.Problems);
        Assert.Equal(path, problem.File);
        Assert.Contains(message, problem.Message);
    }

    [Fact]
    public void Verify_SymlinkPointingOutside_Refused()
    {
        var outside = Path.Combine(_dir, "..", "secret.bin");
        File.WriteAllText(outside, "secret");
        File.CreateSymbolicLink(Path.Combine(_dir, "link.bin"), outside);
        RewriteManifest(m => m with { Files = [.. m.Files, new PackageFile("link.bin", 6, ModelPackage.Sha256Of(outside))] });

        var problem = Assert.Single(ModelPackage.Verify(_dir).Problems);

        Assert.Equal("link.bin", problem.File);
        Assert.Contains("link that points outside", problem.Message);
    }

    [Fact]
    public void Verify_DecoderNotListedInFiles_Refused()
    {
        RewriteManifest(m => m with { Files = [.. m.Files.Where(f => f.Path != SyntheticModelBuilder.DecoderFileName)] });

        var problem = Assert.Single(ModelPackage.Verify(_dir).Problems);

        Assert.Equal(SyntheticModelBuilder.DecoderFileName, problem.File);
        Assert.Contains("not listed", problem.Message);
    }

    [Fact]
    public void Verify_AdapterNotListedAndBadAdapterValues_ReportsEach()
    {
        RewriteManifest(m => m with
        {
            Files = [.. m.Files.Where(f => f.Path != SyntheticModelBuilder.AudioFileName)],
            Adapters = m.Adapters! with { Vision = m.Adapters.Vision! with { Resize = "stretch", TokensPerTile = 0 } },
        });

        var problems = ModelPackage.Verify(_dir).Problems.Select(p => p.ToString()).ToList();

        Assert.Equal(3, problems.Count);
        Assert.Contains(problems, p => p.Contains("adapters.vision.tokens_per_tile", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("adapters.vision.resize must be pad, tile or smart (got 'stretch')", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("'audio.onnx' is used by the manifest but not listed", StringComparison.Ordinal));
    }

    [Fact]
    public void Verify_BrokenManifest_ReportsIt()
    {
        File.WriteAllText(Path.Combine(_dir, ModelPackage.ManifestFileName), "{ not json");

        var problem = Assert.Single(ModelPackage.Verify(_dir).Problems);

        Assert.Equal(ModelPackage.ManifestFileName, problem.File);
        Assert.Contains("not a valid manifest", problem.Message);
    }

    [Fact]
    public void Load_DecoderThatIsNotOnnx_ModelUnavailable()
    {
        var path = Path.Combine(_dir, SyntheticModelBuilder.DecoderFileName);
        File.WriteAllText(path, "this is not an ONNX model");
        RewriteManifest(m => m with
        {
            Files = [.. m.Files.Select(f => f.Path == SyntheticModelBuilder.DecoderFileName ? new PackageFile(f.Path, new FileInfo(path).Length, ModelPackage.Sha256Of(path)) : f)],
        });

        var error = Assert.Throws<RuntimeException>(() => LocalEngine.Load(_dir));

        Assert.Equal(RuntimeErrorCode.ModelUnavailable, error.Code);
        Assert.Contains("could not load 'decoder.onnx'", error.Message);
    }

    private void RewriteManifest(Func<ModelManifest, ModelManifest> change)
    {
        var path = Path.Combine(_dir, ModelPackage.ManifestFileName);
        var manifest = JsonSerializer.Deserialize<ModelManifest>(File.ReadAllBytes(path), ModelManifest.JsonOptions)!;
        File.WriteAllBytes(path, JsonSerializer.SerializeToUtf8Bytes(change(manifest), ModelManifest.JsonOptions));
    }
}
