using AutoGlm.Runtime.Modalities;
using AutoGlm.Runtime.Packages;
using AutoGlm.Runtime.Tests.Conversion;
using AutoGlm.Tests.Media;

namespace AutoGlm.Runtime.Tests.Modalities;

/// <summary>GLM-4.1V's image preprocessing against its processor (PIL and numpy, through <c>glm4v_reference.py</c>).</summary>
public sealed class SmartResizeTests : IDisposable
{
    private static readonly VisionAdapterInfo Smart = new()
    {
        Model = "vision.onnx",
        Resize = "smart",
        Mean = [0.48145466f, 0.4578275f, 0.40821073f],
        Std = [0.26862954f, 0.26130258f, 0.27577711f],
        Smart = new SmartResizeInfo(),
    };

    private readonly string _directory = Directory.CreateTempSubdirectory("autoglm-smart-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Theory]
    [InlineData(1024, 1024)]   // square
    [InlineData(2400, 1080)]   // tall phone screenshot
    [InlineData(1080, 2400)]   // wide
    [InlineData(480, 640)]     // camera frame
    [InlineData(10, 10)]       // tiny: scaled up to the minimum
    [InlineData(20, 300)]      // a side under 28
    [InlineData(6000, 8000)]   // huge: scaled down to the maximum
    [InlineData(4000, 4000)]   // over the maximum counted over two frames, not one
    [InlineData(70, 42)]       // a side at a half multiple of 28: Python rounds half to even
    [InlineData(14, 2799)]     // nearly 200:1
    public void Compute_ProcessorExamples_MatchReference(int height, int width)
    {
        Assert.Equal(Glm4vReference.SmartResize(height, width), SmartResize.Compute(height, width));
    }

    [Theory]
    [InlineData(500, 500, 100_000, 200_000)]
    [InlineData(90, 3000, 12544, 400_000)]
    public void Compute_OtherBounds_MatchReference(int height, int width, long min, long max)
    {
        Assert.Equal(Glm4vReference.SmartResize(height, width, min, max), SmartResize.Compute(height, width, minPixels: min, maxPixels: max));
    }

    [Fact]
    public void Compute_AspectOver200_RefusedByName()
    {
        var error = Assert.Throws<RuntimeException>(() => SmartResize.Compute(10, 3000));

        Assert.Equal(RuntimeErrorCode.UnsupportedMedia, error.Code);
        Assert.Contains("200", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(150, 100)]    // upscaled
    [InlineData(517, 333)]    // both sides shrink a little, odd sizes
    [InlineData(97, 61)]      // scaled up to the minimum pixels
    [InlineData(2500, 1500)]  // scaled down past the maximum: wide antialiasing kernels
    [InlineData(1080, 2400)]  // a phone screenshot: a tall grid
    public void Prepare_Smart_PixelValuesEqualTheProcessors(int width, int height)
    {
        var png = TestMedia.NoiseImage(width, height, seed: width);
        var file = Path.Combine(_directory, $"{width}x{height}.png");
        File.WriteAllBytes(file, png);
        var (expected, rows, columns) = Glm4vReference.Preprocess(file);

        var image = new ImagePreprocessor(Smart, new MediaLimits()).Prepare(png);

        Assert.Equal((rows, columns), (image.Grid!.Rows, image.Grid.Columns));
        Assert.Equal(rows * columns / 4, image.Grid.Tokens);
        Assert.Equal(expected.Length, image.Pixels.Length);
        var worst = 0f;
        var at = -1;
        for (var i = 0; i < expected.Length; i++)
        {
            var difference = Math.Abs(expected[i] - image.Pixels[i]);
            if (difference > worst)
            {
                (worst, at) = (difference, i);
            }
        }

        Assert.True(worst == 0, $"pixel value {at} (patch {at / 1176}) differs by {worst}");
    }

    [Fact]
    public void Prepare_SmartOverMaxImagePixels_RefusedBeforeDecoding()
    {
        var error = Assert.Throws<RuntimeException>(() => new ImagePreprocessor(Smart, new MediaLimits()).Prepare(TestMedia.PngBomb(50_000, 50_000)));

        Assert.Equal(RuntimeErrorCode.PayloadTooLarge, error.Code);
        Assert.Contains("Runtime:Media:MaxImagePixels", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void PatchGrid_PatchAt_FollowsTheMergeBlocks()
    {
        var grid = new PatchGrid(4, 6, 2);

        // block 0 holds (0,0) (0,1) (1,0) (1,1); block 1 starts at column 2; block 3 is the second block row
        Assert.Equal([(0, 0), (0, 1), (1, 0), (1, 1), (0, 2), (0, 3)], Enumerable.Range(0, 6).Select(grid.PatchAt));
        Assert.Equal((2, 0), grid.PatchAt(12));
        Assert.Equal(6, grid.Tokens);
    }
}
