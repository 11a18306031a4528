using AutoGlm.Runtime.Generation;
using AutoGlm.Runtime.Packages;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using SkiaSharp;

namespace AutoGlm.Runtime.Modalities;

/// <summary>The package's adapters and their preprocessing: turns a request's images and clips into media segments.</summary>
/// <remarks>
/// Preprocessing (decoding, resizing, features) runs on the caller's thread, so bad media fails before the request
/// queues; encoders run on the scheduler's thread. Thread-safe for <see cref="Prepare"/> and <see cref="Status"/>.
/// </remarks>
internal sealed class MediaInputs : IDisposable
{
    private readonly MediaLimits _limits;
    private readonly ImagePreprocessor? _images;
    private readonly AudioPreprocessor? _audio;
    private readonly VisionAdapterInfo? _visionInfo;

    public MediaInputs(ModelPackage package, EngineOptions options, TimeProvider time, ILogger logger)
    {
        _limits = options.Media;
        var adapters = package.Manifest.Adapters;
        if (adapters?.Vision is { } vision)
        {
            _visionInfo = vision;
            _images = new ImagePreprocessor(vision, _limits);
            Vision = new AdapterSession("vision", package, vision.Model, vision.InputName, vision.OutputName, options, time, logger);
        }

        if (adapters?.Audio is { } audio)
        {
            _audio = new AudioPreprocessor(audio, _limits);
            Audio = new AdapterSession("audio", package, audio.Model, audio.InputName, audio.OutputName, options, time, logger);
        }
    }

    public AdapterSession? Vision { get; }

    public AdapterSession? Audio { get; }

    public IEnumerable<AdapterSession> Sessions => new[] { Vision, Audio }.OfType<AdapterSession>();

    public IReadOnlyList<AdapterStatus> Status => [.. Sessions.Select(s => s.Status)];

    /// <summary>Decodes and preprocesses every image and clip of a conversation, in order, enforcing the limits.</summary>
    /// <exception cref="RuntimeException">
    /// <see cref="RuntimeErrorCode.UnsupportedModality"/> when the package has no adapter for a kind,
    /// <see cref="RuntimeErrorCode.UnsupportedMedia"/> or <see cref="RuntimeErrorCode.PayloadTooLarge"/> naming the input.
    /// </exception>
    public Dictionary<AIContent, MediaSegment> Prepare(IReadOnlyList<ChatMessage> messages)
    {
        var segments = new Dictionary<AIContent, MediaSegment>(ReferenceEqualityComparer.Instance);
        int images = 0, clips = 0;
        foreach (var content in messages.SelectMany(m => m.Contents))
        {
            switch (KindOf(content))
            {
                case MediaKind.Image:
                    images++;
                    if (images > _limits.MaxImages)
                    {
                        throw new RuntimeException(RuntimeErrorCode.PayloadTooLarge, $"the request holds more than {_limits.MaxImages} images (Runtime:Media:MaxImages)");
                    }

                    if (_images is null || Vision is null)
                    {
                        throw new RuntimeException(RuntimeErrorCode.UnsupportedModality, "this model package has no vision adapter; it cannot read images");
                    }

                    var image = _images.Prepare(((DataContent)content).Data, $"image {images}");
                    segments[content] = image.Grid is { } grid && _visionInfo?.Smart is { } smart
                        ? MediaSegment.ForGrid(Vision, image.Pixels, grid, smart)
                        : MediaSegment.Create(Vision, image.Pixels, [image.Tiles, 3, image.Size, image.Size], _images.TokensFor(image.Tiles));
                    break;
                case MediaKind.Audio:
                    clips++;
                    if (clips > _limits.MaxAudioClips)
                    {
                        throw new RuntimeException(RuntimeErrorCode.PayloadTooLarge, $"the request holds more than {_limits.MaxAudioClips} audio clips (Runtime:Media:MaxAudioClips)");
                    }

                    if (_audio is null || Audio is null)
                    {
                        throw new RuntimeException(RuntimeErrorCode.UnsupportedModality, "this model package has no audio adapter; it cannot listen to audio");
                    }

                    var clip = _audio.Prepare(((DataContent)content).Data.Span, $"audio clip {clips}");
                    if (clip.Tokens == 0)
                    {
                        throw new RuntimeException(RuntimeErrorCode.UnsupportedMedia, $"audio clip {clips} is too short to encode");
                    }

                    segments[content] = MediaSegment.Create(Audio, clip.Features, clip.Shape, clip.Tokens);
                    break;
            }
        }

        return segments;
    }

    /// <summary>
    /// Placeholder rows an image or clip will take, read from its header only (no decoding): for cost estimates.
    /// Zero when the package cannot read it (the request itself will then fail with the reason).
    /// </summary>
    public int EstimateRows(AIContent content)
    {
        try
        {
            switch (KindOf(content))
            {
                case MediaKind.Image when _visionInfo is not null && _images is not null:
                    using (var stream = new SKMemoryStream(((DataContent)content).Data.ToArray()))
                    using (var codec = SKCodec.Create(stream))
                    {
                        if (codec is null)
                        {
                            return 0;
                        }

                        if (_visionInfo.Resize == "smart")
                        {
                            return _images.GridFor(codec.Info.Width, codec.Info.Height).Tokens;
                        }

                        var tiles = 1;
                        if (_visionInfo.Resize == "tile" && _visionInfo.MaxTiles > 1)
                        {
                            var (columns, rows) = ImagePreprocessor.ChooseGrid(codec.Info.Width, codec.Info.Height, _visionInfo.MaxTiles, _visionInfo.ImageSize);
                            tiles += columns * rows > 1 ? columns * rows : 0;
                        }

                        return _images.TokensFor(tiles);
                    }

                case MediaKind.Audio when _audio is not null:
                    return _audio.RowsFor(((DataContent)content).Data.Span);
                default:
                    return 0;
            }
        }
        catch (RuntimeException)
        {
            return 0;
        }
    }

    /// <summary>Unloads adapters idle past their timeout; returns the earliest time another may become due.</summary>
    public DateTimeOffset? UnloadIdle()
    {
        DateTimeOffset? next = null;
        foreach (var session in Sessions)
        {
            session.UnloadIfIdle();
            if (session.UnloadDue is { } due && (next is null || due < next))
            {
                next = due;
            }
        }

        return next;
    }

    public void Dispose()
    {
        foreach (var session in Sessions)
        {
            session.Dispose();
        }
    }

    /// <summary>Whether a content is an image, a clip, or neither (text and the like).</summary>
    /// <exception cref="RuntimeException">A URL (the device is offline) or a data kind no adapter reads.</exception>
    public static MediaKind KindOf(AIContent content) => content switch
    {
        DataContent data when data.HasTopLevelMediaType("image") => MediaKind.Image,
        DataContent data when data.HasTopLevelMediaType("audio") => MediaKind.Audio,
        DataContent data => throw new RuntimeException(RuntimeErrorCode.UnsupportedModality, $"this model reads text, images and audio, not '{data.MediaType}'"),
        UriContent uri => throw new RuntimeException(RuntimeErrorCode.InvalidRequest, $"media must be sent inline (base64 or a data URI); this device is offline and does not fetch '{uri.Uri}'"),
        _ => MediaKind.None,
    };
}

/// <summary>What a piece of content is to the adapters.</summary>
internal enum MediaKind
{
    None,
    Image,
    Audio,
}
