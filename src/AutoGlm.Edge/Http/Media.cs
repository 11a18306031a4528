using AutoGlm.Edge.Wire;
using AutoGlm.Runtime.Modalities;
using Microsoft.Extensions.AI;

namespace AutoGlm.Edge.Http;

/// <summary>Decodes the images and audio a request carries (data URIs or bare base64, read by <see cref="MediaDecoder"/>) into <see cref="DataContent"/>.</summary>
/// <remarks>Only inline data is accepted: the device is offline, so an <c>https://</c> image URL is refused, not fetched.</remarks>
internal static class Media
{
    /// <summary>A <c>data:&lt;type&gt;;base64,…</c> URI whose media type is <paramref name="kind"/>/*.</summary>
    public static DataContent? FromDataUri(string uri, string kind, string param, out ApiError? error)
    {
        error = null;
        var form = MediaDecoder.SplitDataUri(uri, StringComparison.OrdinalIgnoreCase, out var declared, out var data);
        if (form == DataUriKind.NotDataUri)
        {
            error = ApiError.BadRequest($"{param} must be a data URI (data:{kind}/...;base64,...): this device is offline and does not fetch URLs", param);
            return null;
        }

        if (form == DataUriKind.NotBase64)
        {
            error = ApiError.BadRequest($"{param} must be a base64 data URI (data:{kind}/...;base64,...)", param);
            return null;
        }

        var mediaType = declared.ToLowerInvariant();
        if (!mediaType.StartsWith(kind + "/", StringComparison.Ordinal) || mediaType.Length == kind.Length + 1)
        {
            error = ApiError.BadRequest($"{param} has media type '{mediaType}'; expected {kind}/...", param);
            return null;
        }

        var bytes = Decode(data.Span, param, out error);
        return bytes is null ? null : new DataContent(bytes, mediaType);
    }

    /// <summary>The <c>input_audio</c> part: base64 <paramref name="data"/> in a named <paramref name="format"/>.</summary>
    public static DataContent? FromBase64Audio(string data, string format, string param, out ApiError? error)
    {
        var mediaType = format.ToLowerInvariant() switch
        {
            "wav" => "audio/wav",
            "mp3" => "audio/mpeg",
            _ => null,
        };
        if (mediaType is null)
        {
            error = ApiError.BadRequest($"{param}.format must be wav or mp3 (got '{format}')", param + ".format");
            return null;
        }

        var bytes = Decode(data, param + ".data", out error);
        return bytes is null ? null : new DataContent(bytes, mediaType);
    }

    /// <summary>The top-level <c>image</c> or <c>audio</c> field: a data URI, or bare base64 whose format is recognised from its bytes.</summary>
    public static DataContent? FromTopLevel(string value, string field, out ApiError? error)
    {
        if (value.StartsWith("data:", StringComparison.OrdinalIgnoreCase))
        {
            return FromDataUri(value, field, field, out error);
        }

        var bytes = Decode(value, field, out error);
        if (bytes is null)
        {
            return null;
        }

        var mediaType = MediaSniffer.Detect(bytes);
        if (mediaType is null || !mediaType.StartsWith(field + "/", StringComparison.Ordinal))
        {
            error = ApiError.BadRequest(
                field == "image" ? "image is not a PNG, JPEG, WebP, GIF or BMP file" : "audio is not a WAV or MP3 file",
                field);
            return null;
        }

        return new DataContent(bytes, mediaType);
    }

    private static byte[]? Decode(ReadOnlySpan<char> base64, string param, out ApiError? error)
    {
        error = null;
        var bytes = MediaDecoder.DecodeBase64(base64);
        if (bytes is not { Length: > 0 })
        {
            error = ApiError.BadRequest($"{param} is not valid base64", param);
            return null;
        }

        return bytes;
    }
}
