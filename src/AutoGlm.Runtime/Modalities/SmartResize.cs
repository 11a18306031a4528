namespace AutoGlm.Runtime.Modalities;

/// <summary>
/// GLM-4.1V's (and Qwen2-VL's) resize rule, <c>smart_resize</c> of <c>image_processing_glm4v.py</c>: both sides become
/// multiples of <c>factor</c> (patch × merge, 28), the aspect ratio kept, with the pixel count — counted over
/// <c>frames</c> temporal frames, as the processor counts a single image as <c>temporal_patch_size</c> frames — held
/// within <c>[minPixels, maxPixels]</c>.
/// </summary>
public static class SmartResize
{
    /// <summary>The <c>(height, width)</c> an image of <paramref name="height"/>×<paramref name="width"/> is resized to.</summary>
    /// <param name="height">The image's height.</param>
    /// <param name="width">The image's width.</param>
    /// <param name="factor">Both sides become multiples of it (patch size × merge size).</param>
    /// <param name="minPixels">The least <c>frames × height × width</c> (the processor's <c>size.shortest_edge</c>).</param>
    /// <param name="maxPixels">The most <c>frames × height × width</c> (<c>size.longest_edge</c>).</param>
    /// <param name="frames">Frames the pixels are counted over: the temporal patch size for a single image.</param>
    /// <param name="temporalFactor">The temporal patch size.</param>
    /// <exception cref="RuntimeException"><see cref="RuntimeErrorCode.UnsupportedMedia"/> when one side is over 200 times the other, as the processor refuses.</exception>
    public static (int Height, int Width) Compute(int height, int width, int factor = 28, long minPixels = 112 * 112, long maxPixels = 14 * 14 * 2 * 2 * 2 * 6144, int frames = 2, int temporalFactor = 2)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(frames, temporalFactor);
        if (height < factor || width < factor)
        {
            var scale = Math.Max((double)factor / height, (double)factor / width);
            height = (int)(height * scale);
            width = (int)(width * scale);
        }

        var ratio = (double)Math.Max(height, width) / Math.Min(height, width);
        if (ratio > 200)
        {
            throw new RuntimeException(RuntimeErrorCode.UnsupportedMedia, $"the image's aspect ratio is {ratio:0.#}:1; the vision encoder reads at most 200:1");
        }

        // Python's round() rounds half to even.
        var hBar = (long)Math.Round((double)height / factor, MidpointRounding.ToEven) * factor;
        var wBar = (long)Math.Round((double)width / factor, MidpointRounding.ToEven) * factor;
        var tBar = (long)Math.Round((double)frames / temporalFactor, MidpointRounding.ToEven) * temporalFactor;
        if (tBar * hBar * wBar > maxPixels)
        {
            var beta = Math.Sqrt((double)((long)frames * height * width) / maxPixels);
            hBar = Math.Max(factor, (long)Math.Floor(height / beta / factor) * factor);
            wBar = Math.Max(factor, (long)Math.Floor(width / beta / factor) * factor);
        }
        else if (tBar * hBar * wBar < minPixels)
        {
            var beta = Math.Sqrt(minPixels / (double)((long)frames * height * width));
            hBar = (long)Math.Ceiling(height * beta / factor) * factor;
            wBar = (long)Math.Ceiling(width * beta / factor) * factor;
        }

        return ((int)hBar, (int)wBar);
    }
}
