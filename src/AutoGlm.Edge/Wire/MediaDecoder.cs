namespace AutoGlm.Edge.Wire;

/// <summary>How a media string reads: not a data URI, a data URI that is not base64, or a base64 data URI.</summary>
public enum DataUriKind
{
    /// <summary>It does not start with <c>data:</c>: bare base64, or (over HTTP) a URL this offline device does not fetch.</summary>
    NotDataUri,

    /// <summary>A <c>data:</c> URI without <c>;base64,</c>.</summary>
    NotBase64,

    /// <summary>A <c>data:&lt;type&gt;;base64,&lt;data&gt;</c> URI.</summary>
    Base64,
}

/// <summary>
/// Decodes the media both front doors take inline: <c>data:&lt;type&gt;;base64,…</c> URIs and bare base64. Each door
/// words its own errors; the reading is the same.
/// </summary>
/// <remarks>Stateless; thread-safe.</remarks>
public static class MediaDecoder
{
    /// <summary>Splits a data URI into its declared media type (as written, possibly empty) and its base64 data.</summary>
    /// <param name="text">The string a request carries.</param>
    /// <param name="comparison">How <c>data:</c> and <c>;base64</c> are matched (HTTP takes any case, MQTT lower case).</param>
    /// <param name="mediaType">The declared type, when <see cref="DataUriKind.Base64"/>.</param>
    /// <param name="data">The base64 after the comma, when <see cref="DataUriKind.Base64"/>; otherwise the whole text.</param>
    public static DataUriKind SplitDataUri(string text, StringComparison comparison, out string mediaType, out ReadOnlyMemory<char> data)
    {
        mediaType = "";
        data = text.AsMemory();
        if (!text.StartsWith("data:", comparison))
        {
            return DataUriKind.NotDataUri;
        }

        var comma = text.IndexOf(',', StringComparison.Ordinal);
        var header = comma < 0 ? "" : text[5..comma];
        if (comma < 0 || !header.EndsWith(";base64", comparison))
        {
            return DataUriKind.NotBase64;
        }

        mediaType = header[..^";base64".Length];
        data = text.AsMemory(comma + 1);
        return DataUriKind.Base64;
    }

    /// <summary>The bytes <paramref name="base64"/> decodes to (possibly none); null when it is not valid base64.</summary>
    public static byte[]? DecodeBase64(ReadOnlySpan<char> base64)
    {
        var buffer = new byte[(base64.Length * 3 / 4) + 3];
        return Convert.TryFromBase64Chars(base64, buffer, out var written) ? buffer[..written] : null;
    }

    /// <summary>The bytes a base64 string of <paramref name="chars"/> characters holds, about (for size limits before decoding).</summary>
    public static long DecodedLength(int chars) => (long)chars * 3 / 4;
}
