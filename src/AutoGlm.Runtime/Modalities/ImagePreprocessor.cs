using AutoGlm.Runtime.Packages;
using SkiaSharp;

namespace AutoGlm.Runtime.Modalities;

/// <summary>An image made ready for the vision encoder: <c>float [tiles, 3, size, size]</c>, normalized.</summary>
/// <param name="Pixels">Planar RGB per tile, normalized with the adapter's mean and std.</param>
/// <param name="Tiles">How many squares (thumbnail included).</param>
/// <param name="Size">The side of each square.</param>
/// <param name="SourceWidth">The image's width after EXIF orientation.</param>
/// <param name="SourceHeight">The image's height after EXIF orientation.</param>
public sealed record PreparedImage(float[] Pixels, int Tiles, int Size, int SourceWidth, int SourceHeight)
{
    /// <summary>
    /// With <c>resize</c> <c>smart</c>: the image's patch grid, and <see cref="Pixels"/> is
    /// <c>float [patches, 3 · temporal · patch²]</c> (<see cref="SmartResizeInfo"/>); null for <c>pad</c> and <c>tile</c>.
    /// </summary>
    public PatchGrid? Grid { get; init; }
}

/// <summary>
/// Decodes JPEG, PNG, WebP, GIF (first frame) and BMP with SkiaSharp, applies the EXIF orientation, and lays the
/// image out as the adapter's manifest says (see <see cref="VisionAdapterInfo.Resize"/>).
/// </summary>
/// <remarks>
/// The declared size is checked against <see cref="MediaLimits.MaxImagePixels"/> before any pixel is decoded, so a
/// small file that claims a huge image (a "PNG bomb") costs nothing. Thread-safe: every call has its own objects.
/// </remarks>
public sealed class ImagePreprocessor
{
    private static readonly SKSamplingOptions Sampling = new(SKCubicResampler.Mitchell);

    private readonly VisionAdapterInfo _info;
    private readonly MediaLimits _limits;

    public ImagePreprocessor(VisionAdapterInfo info, MediaLimits limits)
    {
        _info = info;
        _limits = limits;
    }

    /// <summary>The image tokens an image of this size takes with <c>resize</c> <c>smart</c>.</summary>
    public PatchGrid GridFor(int width, int height)
    {
        var smart = _info.Smart ?? throw new InvalidOperationException("the vision adapter does not resize smart");
        var (h, w) = SmartResize.Compute(height, width, smart.PatchSize * smart.MergeSize, smart.MinPixels, smart.MaxPixels, smart.TemporalPatchSize, smart.TemporalPatchSize);
        return new PatchGrid(h / smart.PatchSize, w / smart.PatchSize, smart.MergeSize);
    }

    /// <summary>Embedding rows an image of this many tiles takes.</summary>
    public int TokensFor(int tiles) => tiles * _info.TokensPerTile;

    /// <summary>Decodes and lays out one image.</summary>
    /// <exception cref="RuntimeException"><see cref="RuntimeErrorCode.UnsupportedMedia"/> or <see cref="RuntimeErrorCode.PayloadTooLarge"/>, naming the problem.</exception>
    public PreparedImage Prepare(ReadOnlyMemory<byte> data, string label = "image")
    {
        using var bitmap = Decode(data.Span, label, out var sourceWidth, out var sourceHeight);
        if (_info.Smart is { } smart && _info.Resize == "smart")
        {
            return PrepareSmart(bitmap, smart, sourceWidth, sourceHeight);
        }

        var size = _info.ImageSize;
        List<SKBitmap> squares = [];
        try
        {
            squares.Add(Letterbox(bitmap, size, size));
            if (_info.Resize == "tile" && _info.MaxTiles > 1)
            {
                var (columns, rows) = ChooseGrid(bitmap.Width, bitmap.Height, _info.MaxTiles, size);
                if (columns * rows > 1)
                {
                    using var grid = Letterbox(bitmap, columns * size, rows * size);
                    for (var r = 0; r < rows; r++)
                    {
                        for (var c = 0; c < columns; c++)
                        {
                            var tile = new SKBitmap(new SKImageInfo(size, size, SKColorType.Rgba8888, SKAlphaType.Premul));
                            if (!grid.ExtractSubset(tile, SKRectI.Create(c * size, r * size, size, size)))
                            {
                                throw new RuntimeException(RuntimeErrorCode.Internal, "could not cut an image tile");
                            }

                            squares.Add(tile);
                        }
                    }
                }
            }

            var plane = size * size;
            var pixels = new float[squares.Count * 3 * plane];
            for (var t = 0; t < squares.Count; t++)
            {
                Normalize(squares[t], pixels.AsSpan(t * 3 * plane, 3 * plane));
            }

            return new PreparedImage(pixels, squares.Count, size, sourceWidth, sourceHeight);
        }
        finally
        {
            foreach (var square in squares)
            {
                square.Dispose();
            }
        }
    }

    /// <summary>
    /// GLM-4.1V's processor: <c>smart_resize</c>, PIL's bicubic resize of the 8-bit RGB image, rescale by 1/255 (in
    /// double, stored as float) and CLIP normalization (in float), then the patches in the processor's order, each
    /// holding its frame <see cref="SmartResizeInfo.TemporalPatchSize"/> times.
    /// </summary>
    private PreparedImage PrepareSmart(SKBitmap bitmap, SmartResizeInfo smart, int sourceWidth, int sourceHeight)
    {
        var grid = GridFor(bitmap.Width, bitmap.Height);
        int width = bitmap.Width, height = bitmap.Height;
        var rgba = bitmap.GetPixelSpan();
        var rgb = new byte[width * height * 3];
        for (var i = 0; i < width * height; i++)
        {
            rgb[i * 3] = rgba[i * 4];
            rgb[(i * 3) + 1] = rgba[(i * 4) + 1];
            rgb[(i * 3) + 2] = rgba[(i * 4) + 2];
        }

        var p = smart.PatchSize;
        int newHeight = grid.Rows * p, newWidth = grid.Columns * p;
        var resized = PilBicubicResampler.Resize(rgb, width, height, newWidth, newHeight);
        var levels = new float[3][];
        for (var c = 0; c < 3; c++)
        {
            levels[c] = new float[256];
            for (var v = 0; v < 256; v++)
            {
                var rescaled = (float)(v * (1.0 / 255));
                levels[c][v] = (rescaled - _info.Mean[c]) / _info.Std[c];
            }
        }

        var frames = smart.TemporalPatchSize;
        var values = smart.PatchValues;
        var pixels = new float[grid.Patches * values];
        for (var index = 0; index < grid.Patches; index++)
        {
            var (row, column) = grid.PatchAt(index);
            var o = index * values;
            for (var c = 0; c < 3; c++)
            {
                var lut = levels[c];
                for (var t = 0; t < frames; t++)
                {
                    for (var y = 0; y < p; y++)
                    {
                        var line = (((row * p) + y) * newWidth) + (column * p);
                        for (var x = 0; x < p; x++)
                        {
                            pixels[o++] = lut[resized[((line + x) * 3) + c]];
                        }
                    }
                }
            }
        }

        return new PreparedImage(pixels, 1, 0, sourceWidth, sourceHeight) { Grid = grid };
    }

    /// <summary>
    /// The grid of at most <paramref name="maxTiles"/> squares whose aspect ratio is closest to the image's; on a tie,
    /// the larger grid when the image has at least half its pixels (more detail, never blowing up a small image).
    /// </summary>
    internal static (int Columns, int Rows) ChooseGrid(int width, int height, int maxTiles, int tileSize)
    {
        var aspect = Math.Log((double)width / height);
        (int, int) best = (1, 1);
        var bestScore = double.MaxValue;
        for (var rows = 1; rows <= maxTiles; rows++)
        {
            for (var columns = 1; columns * rows <= maxTiles; columns++)
            {
                var score = Math.Abs(Math.Log((double)columns / rows) - aspect);
                var worthMore = (double)width * height > 0.5 * columns * rows * tileSize * tileSize;
                if (score < bestScore - 1e-9 || (Math.Abs(score - bestScore) <= 1e-9 && worthMore && columns * rows > best.Item1 * best.Item2))
                {
                    best = (columns, rows);
                    bestScore = score;
                }
            }
        }

        return best;
    }

    /// <summary>How much of the image's resolution the layout uses: the scale of the largest square or grid it is drawn into.</summary>
    private double UsedScale(int width, int height)
    {
        if (_info.Resize == "smart")
        {
            return 1; // the processor resizes from the full image
        }

        var size = _info.ImageSize;
        var scale = Math.Min((double)size / width, (double)size / height);
        if (_info.Resize == "tile" && _info.MaxTiles > 1)
        {
            var (columns, rows) = ChooseGrid(width, height, _info.MaxTiles, size);
            scale = Math.Max(scale, Math.Min((double)columns * size / width, (double)rows * size / height));
        }

        return scale;
    }

    private SKBitmap Decode(ReadOnlySpan<byte> bytes, string label, out int sourceWidth, out int sourceHeight)
    {
        if (bytes.IsEmpty)
        {
            throw new RuntimeException(RuntimeErrorCode.UnsupportedMedia, $"the {label} is empty");
        }

        using var stream = new SKMemoryStream(bytes.ToArray());
        using var codec = SKCodec.Create(stream, out var created);
        if (codec is null)
        {
            throw new RuntimeException(RuntimeErrorCode.UnsupportedMedia, $"the {label} is not an image this device decodes (JPEG, PNG, WebP, GIF, BMP): {Describe(created)}");
        }

        if (codec.EncodedFormat is not (SKEncodedImageFormat.Jpeg or SKEncodedImageFormat.Png or SKEncodedImageFormat.Webp or SKEncodedImageFormat.Gif or SKEncodedImageFormat.Bmp))
        {
            throw new RuntimeException(RuntimeErrorCode.UnsupportedMedia, $"the {label} is {codec.EncodedFormat}; this device decodes JPEG, PNG, WebP, GIF and BMP");
        }

        // A GIF's header is only its screen size: garbage after a valid-looking header declares any size it likes but
        // holds no frame, which is broken media, not an image too large.
        if (codec.EncodedFormat == SKEncodedImageFormat.Gif && codec.FrameCount == 0)
        {
            throw new RuntimeException(RuntimeErrorCode.UnsupportedMedia, $"the {label} is a GIF without an image frame: it is truncated or not a GIF");
        }

        var (width, height) = (codec.Info.Width, codec.Info.Height);
        if (width <= 0 || height <= 0)
        {
            throw new RuntimeException(RuntimeErrorCode.UnsupportedMedia, $"the {label} declares an empty size {width}×{height}");
        }

        if ((long)width * height > _limits.MaxImagePixels)
        {
            throw new RuntimeException(RuntimeErrorCode.PayloadTooLarge, $"the {label} declares {width}×{height} = {(long)width * height} pixels; Runtime:Media:MaxImagePixels allows {_limits.MaxImagePixels}");
        }

        var transposed = codec.EncodedOrigin is SKEncodedOrigin.LeftTop or SKEncodedOrigin.RightTop or SKEncodedOrigin.RightBottom or SKEncodedOrigin.LeftBottom;
        (sourceWidth, sourceHeight) = transposed ? (height, width) : (width, height);

        // JPEG and WebP decode straight to 1/2, 1/4 or 1/8 size, far faster than decoding everything to throw most of
        // it away: decode at the smallest such size that still holds twice the pixels the layout uses.
        var wanted = Math.Min(1.0, 2 * UsedScale(sourceWidth, sourceHeight));
        var decodeSize = new SKSizeI(width, height);
        if (wanted < 0.5)
        {
            var scaled = codec.GetScaledDimensions((float)wanted);
            if (scaled.Width >= Math.Ceiling(width * wanted) && scaled.Height >= Math.Ceiling(height * wanted) && scaled.Width < width)
            {
                decodeSize = scaled;
            }
        }

        // PIL's convert("RGB") drops alpha without premultiplying, so the smart (GLM-4.1V) path decodes unpremultiplied.
        var info = new SKImageInfo(decodeSize.Width, decodeSize.Height, SKColorType.Rgba8888, _info.Resize == "smart" ? SKAlphaType.Unpremul : SKAlphaType.Premul);
        var decoded = new SKBitmap(info);
        try
        {
            var result = codec.GetPixels(info, decoded.GetPixels());
            if (result != SKCodecResult.Success)
            {
                throw new RuntimeException(RuntimeErrorCode.UnsupportedMedia, $"the {label} ({codec.EncodedFormat}, {width}×{height}) could not be decoded: {Describe(result)}");
            }

            var oriented = Orient(decoded, codec.EncodedOrigin);
            if (!ReferenceEquals(oriented, decoded))
            {
                decoded.Dispose();
            }

            return oriented;
        }
        catch
        {
            decoded.Dispose();
            throw;
        }
    }

    /// <summary>Applies the EXIF orientation, so the encoder sees the picture the way a viewer shows it.</summary>
    private static SKBitmap Orient(SKBitmap source, SKEncodedOrigin origin)
    {
        float w = source.Width, h = source.Height;

        // Where source pixel (x, y) lands: x' = ScaleX·x + SkewX·y + TransX, y' = SkewY·x + ScaleY·y + TransY.
        SKMatrix? matrix = origin switch
        {
            SKEncodedOrigin.TopRight => new SKMatrix(-1, 0, w, 0, 1, 0, 0, 0, 1),
            SKEncodedOrigin.BottomRight => new SKMatrix(-1, 0, w, 0, -1, h, 0, 0, 1),
            SKEncodedOrigin.BottomLeft => new SKMatrix(1, 0, 0, 0, -1, h, 0, 0, 1),
            SKEncodedOrigin.LeftTop => new SKMatrix(0, 1, 0, 1, 0, 0, 0, 0, 1),
            SKEncodedOrigin.RightTop => new SKMatrix(0, -1, h, 1, 0, 0, 0, 0, 1),
            SKEncodedOrigin.RightBottom => new SKMatrix(0, -1, h, -1, 0, w, 0, 0, 1),
            SKEncodedOrigin.LeftBottom => new SKMatrix(0, 1, 0, -1, 0, w, 0, 0, 1),
            _ => null,
        };
        if (matrix is not { } m)
        {
            return source;
        }

        var swap = origin is SKEncodedOrigin.LeftTop or SKEncodedOrigin.RightTop or SKEncodedOrigin.RightBottom or SKEncodedOrigin.LeftBottom;
        var result = new SKBitmap(new SKImageInfo(swap ? source.Height : source.Width, swap ? source.Width : source.Height, SKColorType.Rgba8888, SKAlphaType.Premul));
        using var canvas = new SKCanvas(result);
        canvas.SetMatrix(m);
        using var image = SKImage.FromBitmap(source);
        canvas.DrawImage(image, 0, 0);
        return result;
    }

    /// <summary>Scales the image to fit a <paramref name="width"/>×<paramref name="height"/> canvas, aspect kept, centred, the rest the mean colour.</summary>
    private SKBitmap Letterbox(SKBitmap source, int width, int height)
    {
        var result = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Premul));
        using var canvas = new SKCanvas(result);
        canvas.Clear(new SKColor(ToByte(_info.Mean[0]), ToByte(_info.Mean[1]), ToByte(_info.Mean[2])));
        var scale = Math.Min((float)width / source.Width, (float)height / source.Height);
        var w = source.Width * scale;
        var h = source.Height * scale;
        var destination = SKRect.Create((width - w) / 2, (height - h) / 2, w, h);
        using var image = SKImage.FromBitmap(source);
        canvas.DrawImage(image, destination, Sampling);
        return result;
    }

    private void Normalize(SKBitmap square, Span<float> destination)
    {
        var plane = square.Width * square.Height;
        var rgba = square.GetPixelSpan();
        Span<float> scale = [1f / (255f * _info.Std[0]), 1f / (255f * _info.Std[1]), 1f / (255f * _info.Std[2])];
        Span<float> offset = [_info.Mean[0] / _info.Std[0], _info.Mean[1] / _info.Std[1], _info.Mean[2] / _info.Std[2]];
        for (var i = 0; i < plane; i++)
        {
            for (var c = 0; c < 3; c++)
            {
                destination[(c * plane) + i] = (rgba[(i * 4) + c] * scale[c]) - offset[c];
            }
        }
    }

    private static byte ToByte(float unit) => (byte)Math.Clamp(MathF.Round(unit * 255f), 0, 255);

    private static string Describe(SKCodecResult result) => result switch
    {
        SKCodecResult.IncompleteInput => "the data ends early (truncated)",
        SKCodecResult.ErrorInInput => "the data is corrupt",
        SKCodecResult.InvalidInput => "the data is not a valid image",
        SKCodecResult.Unimplemented => "this variant of the format is not supported",
        _ => result.ToString(),
    };
}
