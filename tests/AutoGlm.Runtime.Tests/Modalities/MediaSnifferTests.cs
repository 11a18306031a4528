using AutoGlm.Runtime.Modalities;

namespace AutoGlm.Runtime.Tests.Modalities;

public sealed class MediaSnifferTests
{
    [Theory]
    [InlineData(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D }, "image/png")]
    [InlineData(new byte[] { 0xFF, 0xD8, 0xFF, 0xE0 }, "image/jpeg")]
    [InlineData(new byte[] { (byte)'G', (byte)'I', (byte)'F', (byte)'8', (byte)'9', (byte)'a' }, "image/gif")]
    [InlineData(new byte[] { (byte)'R', (byte)'I', (byte)'F', (byte)'F', 0, 0, 0, 0, (byte)'W', (byte)'E', (byte)'B', (byte)'P' }, "image/webp")]
    [InlineData(new byte[] { (byte)'R', (byte)'I', (byte)'F', (byte)'F', 0, 0, 0, 0, (byte)'W', (byte)'A', (byte)'V', (byte)'E' }, "audio/wav")]
    [InlineData(new byte[] { (byte)'I', (byte)'D', (byte)'3', 4 }, "audio/mpeg")]
    [InlineData(new byte[] { 1, 2, 3, 4 }, null)]
    [InlineData(new byte[0], null)]
    public void Detect_KnownHeaders_MediaType(byte[] bytes, string? expected) => Assert.Equal(expected, MediaSniffer.Detect(bytes));

    [Fact]
    public void SniffImage_JpegWithoutEnd_SaysIncomplete()
    {
        var (type, problem) = MediaSniffer.SniffImage([0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 0x4A]);

        Assert.Null(type);
        Assert.Contains("not a complete JPEG", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void SniffImage_JpegPaddedWithZerosAfterItsEnd_IsAJpeg()
    {
        var frame = AutoGlm.Tests.Media.TestMedia.Checkerboard(32, 2, SkiaSharp.SKEncodedImageFormat.Jpeg);

        Assert.Equal(("image/jpeg", (string?)null), MediaSniffer.SniffImage([.. frame, 0, 0, 0, 0]));
        Assert.Equal(2, new ImagePreprocessor(new AutoGlm.Runtime.Packages.VisionAdapterInfo { Model = "v.onnx", ImageSize = 32, TokensPerTile = 4 }, new MediaLimits()).Prepare(frame.Concat(new byte[16]).ToArray()).Size / 16);
    }
}
