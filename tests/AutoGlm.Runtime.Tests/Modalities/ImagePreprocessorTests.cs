using AutoGlm.Runtime.Modalities;
using AutoGlm.Runtime.Packages;
using AutoGlm.Tests.Media;
using SkiaSharp;

namespace AutoGlm.Runtime.Tests.Modalities;

public sealed class ImagePreprocessorTests
{
    private static readonly VisionAdapterInfo Pad = new() { Model = "vision.onnx", ImageSize = 32, TokensPerTile = 4, Mean = [0.5f, 0.5f, 0.5f], Std = [0.5f, 0.5f, 0.5f] };

    private static ImagePreprocessor Preprocessor(VisionAdapterInfo? info = null, MediaLimits? limits = null) => new(info ?? Pad, limits ?? new MediaLimits());

    /// <summary>Normalized value of one pixel channel: (v/255 − 0.5) / 0.5.</summary>
    private static float At(PreparedImage image, int tile, int channel, int x, int y) =>
        image.Pixels[(tile * 3 * image.Size * image.Size) + (channel * image.Size * image.Size) + (y * image.Size) + x];

    [Theory]
    [InlineData(SKEncodedImageFormat.Png)]
    [InlineData(SKEncodedImageFormat.Jpeg)]
    [InlineData(SKEncodedImageFormat.Webp)]
    public void Prepare_WideImage_KeepsAspectAndPadsWithTheMean(SKEncodedImageFormat format)
    {
        // 64×32 red|blue scaled to 32×16, centred vertically: rows 0–7 and 24–31 are padding.
        var image = Preprocessor().Prepare(TestMedia.TwoColourImage(64, 32, SKColors.Red, SKColors.Blue, format));

        Assert.Equal((1, 32, 64, 32), (image.Tiles, image.Size, image.SourceWidth, image.SourceHeight));
        Assert.Equal(3 * 32 * 32, image.Pixels.Length);
        Assert.InRange(At(image, 0, 0, 4, 2), -0.02f, 0.02f);    // padding is the mean → 0 after normalization
        Assert.InRange(At(image, 0, 2, 28, 29), -0.02f, 0.02f);
        Assert.InRange(At(image, 0, 0, 4, 16), 0.9f, 1.01f);      // red on the left
        Assert.InRange(At(image, 0, 2, 4, 16), -1.01f, -0.9f);
        Assert.InRange(At(image, 0, 2, 28, 16), 0.9f, 1.01f);     // blue on the right
        Assert.InRange(At(image, 0, 0, 28, 16), -1.01f, -0.9f);
    }

    [Fact]
    public void Prepare_ExifRotated_IsTurnedUpright()
    {
        // Stored 64×32 red|blue with orientation 6 (rotate 90° clockwise to view): viewed 32×64 with red on top.
        var jpeg = TestMedia.WithExifOrientation(TestMedia.TwoColourImage(64, 32, SKColors.Red, SKColors.Blue, SKEncodedImageFormat.Jpeg), 6);

        var image = Preprocessor().Prepare(jpeg);

        Assert.Equal((32, 64), (image.SourceWidth, image.SourceHeight));
        Assert.InRange(At(image, 0, 0, 16, 4), 0.8f, 1.01f);      // red at the top
        Assert.InRange(At(image, 0, 2, 16, 28), 0.8f, 1.01f);     // blue at the bottom
        Assert.InRange(At(image, 0, 0, 2, 16), -0.02f, 0.02f);    // padding left and right now
    }

    [Theory]
    [InlineData(SKEncodedImageFormat.Jpeg)]
    [InlineData(SKEncodedImageFormat.Png)]
    public void Prepare_LargePhoto_DecodedSmallerButTheSameLayout(SKEncodedImageFormat format)
    {
        // 1600×800: JPEG decodes at 1/8 (200×100), PNG in full; both land red|blue in the same place.
        var image = Preprocessor().Prepare(TestMedia.TwoColourImage(1600, 800, SKColors.Red, SKColors.Blue, format));

        Assert.Equal((1600, 800), (image.SourceWidth, image.SourceHeight));
        Assert.InRange(At(image, 0, 0, 4, 16), 0.9f, 1.01f);
        Assert.InRange(At(image, 0, 2, 28, 16), 0.9f, 1.01f);
        Assert.InRange(At(image, 0, 1, 4, 2), -0.02f, 0.02f);
    }

    [Fact]
    public void Prepare_TileMode_ThumbnailThenGrid()
    {
        var info = Pad with { Resize = "tile", MaxTiles = 4 };

        var image = Preprocessor(info).Prepare(TestMedia.TwoColourImage(128, 64, SKColors.Red, SKColors.Blue));

        // 2:1 → a 2×1 grid: the thumbnail, then the red tile, then the blue tile.
        Assert.Equal(3, image.Tiles);
        Assert.Equal(3 * 3 * 32 * 32, image.Pixels.Length);
        Assert.InRange(At(image, 1, 0, 16, 16), 0.9f, 1.01f);
        Assert.InRange(At(image, 2, 2, 16, 16), 0.9f, 1.01f);
        Assert.Equal(12, Preprocessor(info).TokensFor(image.Tiles));
    }

    [Theory]
    [InlineData(100, 100, 4, 1, 1)]
    [InlineData(900, 900, 4, 2, 2)]
    [InlineData(200, 100, 4, 2, 1)]
    [InlineData(100, 300, 4, 1, 3)]
    [InlineData(400, 100, 4, 4, 1)]
    [InlineData(300, 200, 6, 3, 2)]
    public void ChooseGrid_FollowsTheAspectRatio(int width, int height, int maxTiles, int columns, int rows)
    {
        Assert.Equal((columns, rows), ImagePreprocessor.ChooseGrid(width, height, maxTiles, tileSize: 448));
    }

    [Fact]
    public void Prepare_TruncatedJpeg_IsUnsupportedMediaSayingTruncated()
    {
        var jpeg = TestMedia.Checkerboard(256, 8, SKEncodedImageFormat.Jpeg);

        var error = Assert.Throws<RuntimeException>(() => Preprocessor().Prepare(jpeg[..(jpeg.Length / 2)]));

        Assert.Equal(RuntimeErrorCode.UnsupportedMedia, error.Code);
        Assert.Contains("truncated", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Prepare_GifHeaderThenGarbage_IsUnsupportedMediaNotTooLarge()
    {
        // A GIF's screen descriptor claiming 65535×65535, then random bytes: no frame, so broken, not too large.
        var gif = new byte[600];
        new Random(7).NextBytes(gif);
        "GIF89a"u8.CopyTo(gif);
        (gif[6], gif[7], gif[8], gif[9]) = (0xFF, 0xFF, 0xFF, 0xFF);

        var error = Assert.Throws<RuntimeException>(() => Preprocessor().Prepare(gif));

        Assert.Equal(RuntimeErrorCode.UnsupportedMedia, error.Code);
        Assert.Contains("GIF", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Prepare_OnePixelGif_Decodes()
    {
        var gif = Convert.FromBase64String("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7");

        var image = Preprocessor().Prepare(gif);

        Assert.Equal((1, 1), (image.SourceWidth, image.SourceHeight));
    }

    [Fact]
    public void Prepare_PngBomb_IsPayloadTooLargeBeforeDecoding()
    {
        var error = Assert.Throws<RuntimeException>(() => Preprocessor().Prepare(TestMedia.PngBomb(50_000, 50_000)));

        Assert.Equal(RuntimeErrorCode.PayloadTooLarge, error.Code);
        Assert.Contains("50000×50000", error.Message, StringComparison.Ordinal);
        Assert.Contains("MaxImagePixels", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Prepare_OverConfiguredPixels_IsPayloadTooLarge()
    {
        var error = Assert.Throws<RuntimeException>(() => Preprocessor(limits: new MediaLimits { MaxImagePixels = 1000 }).Prepare(TestMedia.Checkerboard(64, 2)));

        Assert.Equal(RuntimeErrorCode.PayloadTooLarge, error.Code);
    }

    [Theory]
    [InlineData("empty")]
    [InlineData("text")]
    [InlineData("tiff")]
    [InlineData("png-header-only")]
    public void Prepare_NotAnImage_IsUnsupportedMedia(string kind)
    {
        byte[] data = kind switch
        {
            "empty" => [],
            "text" => "hello, this is not a picture"u8.ToArray(),
            "tiff" => [0x49, 0x49, 0x2A, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
            _ => TestMedia.Checkerboard(64, 2)[..40],
        };

        var error = Assert.Throws<RuntimeException>(() => Preprocessor().Prepare(data));

        Assert.Equal(RuntimeErrorCode.UnsupportedMedia, error.Code);
        Assert.StartsWith("the image", error.Message, StringComparison.Ordinal);
    }
}
