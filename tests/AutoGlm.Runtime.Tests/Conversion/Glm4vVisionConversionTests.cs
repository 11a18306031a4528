using AutoGlm.Runtime.Conversion;
using AutoGlm.Runtime.Generation;
using AutoGlm.Runtime.Modalities;
using AutoGlm.Runtime.Packages;
using AutoGlm.Tests.Media;
using Microsoft.Extensions.Logging.Abstractions;

namespace AutoGlm.Runtime.Tests.Conversion;

/// <summary>
/// A tiny random GLM-4.1V checkpoint with a real vision tower (<c>glm4v_reference.py make</c>), converted; its vision
/// adapter's rows for a preprocessed image against a float64 PyTorch forward written from <c>Glm4vVisionModel</c>.
/// </summary>
public sealed class Glm4vVisionConversionTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "autoglm-tests", "glm4v-" + Guid.NewGuid().ToString("N")[..8]);

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    /// <summary>
    /// fp32 (and fp16: bf16 weights of these magnitudes are exact in fp16) computes in float32 what the reference does
    /// in float64: rows (values about 1) agree to 1e-3. INT4 (block 32, level 0) rounds the blocks' and merger's
    /// linears: held to the same bound against a reference whose linears are rounded by the converter's rule, and to a
    /// cosine of 0.9 per row against the unrounded one (rows measured down to 0.95 here and 0.93 on a uniform-noise
    /// image: what 4 bits cost on these random uniform weights, whose 32-wide rows are a single block each).
    /// </summary>
    [Theory]
    [InlineData("fp32", 150, 100, 0, 1e-3, 0.99999)]   // grid 8×10: the 4×4 position table interpolated up, non-square
    [InlineData("fp32", 60, 170, 0, 1e-3, 0.99999)]    // a tall grid
    [InlineData("fp16", 150, 100, 0, 1e-3, 0.99999)]
    [InlineData("int4", 150, 100, 32, 2e-3, 0.99999)]
    [InlineData("int4", 150, 100, 0, 0.5, 0.9)]
    public void Convert_Glm4v_VisionRowsMatchPyTorch(string weights, int width, int height, int referenceInt4Block, double maxAbsError, double minCosine)
    {
        var checkpoint = Path.Combine(_root, "checkpoint");
        Glm4vReference.MakeCheckpoint(checkpoint);
        var packageDir = Path.Combine(_root, "package");
        CheckpointConverter.Convert(checkpoint, packageDir, new ConversionOptions { Weights = weights, AccuracyLevel = 0 });
        var package = ModelPackage.Load(packageDir);
        var info = package.Manifest.Adapters!.Vision!;
        Assert.Equal("smart", info.Resize);

        var image = new ImagePreprocessor(info, new MediaLimits()).Prepare(TestMedia.NoiseImage(width, height, seed: 3));
        var grid = image.Grid!;
        var pixelsFile = Path.Combine(_root, "pixels.f32");
        File.WriteAllBytes(pixelsFile, System.Runtime.InteropServices.MemoryMarshal.AsBytes(image.Pixels.AsSpan()).ToArray());
        using var adapter = new AdapterSession("vision", package, info.Model, info.InputName, info.OutputName, new EngineOptions(), TimeProvider.System, NullLogger.Instance);
        var segment = MediaSegment.ForGrid(adapter, image.Pixels, grid, info.Smart!);
        segment.Encode();

        var expected = Glm4vReference.Vision(checkpoint, pixelsFile, grid.Rows, grid.Columns, referenceInt4Block);
        var hidden = package.Manifest.Architecture.HiddenSize;
        Assert.Equal(grid.Tokens, expected.Length);
        Assert.Equal(grid.Tokens * hidden, segment.Embeddings!.Length);
        for (var row = 0; row < expected.Length; row++)
        {
            AssertClose(expected[row], segment.Embeddings.AsSpan(row * hidden, hidden), maxAbsError, minCosine, $"image row {row}");
        }
    }

    [Theory]
    [InlineData("config.json", "vision_config", "num_heads", null, "config.json has no 'vision_config.num_heads'")]
    [InlineData("config.json", "vision_config", "out_hidden_size", 64, "'vision_config.out_hidden_size' (64) must equal the text decoder's hidden_size (96)")]
    [InlineData("config.json", "vision_config", "hidden_act", "gelu", "'vision_config.hidden_act' is 'gelu'")]
    [InlineData("preprocessor_config.json", null, "merge_size", 3, "preprocessor_config.json key 'merge_size' is 3 but config.json's vision_config says 2")]
    public void Convert_BadVisionConfig_RefusedNamingTheKey(string file, string? section, string key, object? value, string expected)
    {
        var checkpoint = Path.Combine(_root, "checkpoint");
        Glm4vReference.MakeCheckpoint(checkpoint);
        var path = Path.Combine(checkpoint, file);
        var root = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        var target = section is null ? root : root[section]!.AsObject();
        target.Remove(key);
        if (value is not null)
        {
            target[key] = value is int number ? System.Text.Json.Nodes.JsonValue.Create(number) : System.Text.Json.Nodes.JsonValue.Create((string)value);
        }

        File.WriteAllText(path, root.ToJsonString());

        var error = Assert.Throws<RuntimeException>(() => CheckpointConverter.Convert(checkpoint, Path.Combine(_root, "package"), new ConversionOptions { Weights = "fp32" }));

        Assert.Equal(RuntimeErrorCode.InvalidRequest, error.Code);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(_root, "package")));
    }

    internal static void AssertClose(double[] expected, ReadOnlySpan<float> actual, double maxAbsError, double minCosine, string where)
    {
        Assert.Equal(expected.Length, actual.Length);
        double dot = 0, ee = 0, aa = 0, worst = 0;
        for (var i = 0; i < expected.Length; i++)
        {
            dot += expected[i] * actual[i];
            ee += expected[i] * expected[i];
            aa += actual[i] * (double)actual[i];
            worst = Math.Max(worst, Math.Abs(expected[i] - actual[i]));
        }

        var cosine = dot / Math.Sqrt(ee * aa);
        Assert.True(worst <= maxAbsError, $"{where}: largest difference {worst:G4} exceeds {maxAbsError} (cosine {cosine:F6})");
        Assert.True(cosine >= minCosine, $"{where}: cosine similarity {cosine:F6} is below {minCosine}");
    }
}
