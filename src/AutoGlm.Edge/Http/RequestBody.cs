using System.Text.Json;

namespace AutoGlm.Edge.Http;

/// <summary>Reads a JSON request body within <see cref="HttpOptions.MaxRequestBodyBytes"/> and <see cref="HttpOptions.MaxJsonDepth"/>.</summary>
internal static class RequestBody
{
    /// <summary>A body parser: the typed request, or the error to answer.</summary>
    public delegate ApiError? Parser<TRequest>(JsonElement root, out TRequest? request)
        where TRequest : class;

    /// <summary>
    /// Reads the body and parses it with <paramref name="parse"/>; on a bad body or a refused request answers the error
    /// itself (telling <paramref name="refused"/> about a refusal first) and returns null.
    /// </summary>
    public static async Task<TRequest?> ReadRequestAsync<TRequest>(HttpContext context, HttpOptions options, Parser<TRequest> parse, Action<ApiError> refused)
        where TRequest : class
    {
        var (document, bodyError) = await ReadAsync(context, options).ConfigureAwait(false);
        if (bodyError is not null)
        {
            await bodyError.WriteAsync(context.Response).ConfigureAwait(false);
            return null;
        }

        TRequest? request;
        ApiError? error;
        using (document)
        {
            error = parse(document!.RootElement, out request);
        }

        if (error is not null)
        {
            refused(error);
            await error.WriteAsync(context.Response).ConfigureAwait(false);
            return null;
        }

        return request;
    }

    /// <summary>The parsed body, or the error to answer (the document is null then).</summary>
    public static async Task<(JsonDocument? Document, ApiError? Error)> ReadAsync(HttpContext context, HttpOptions options)
    {
        if (context.Request.ContentLength > options.MaxRequestBodyBytes)
        {
            return (null, ApiError.TooLarge(options.MaxRequestBodyBytes));
        }

        try
        {
            var document = await JsonDocument.ParseAsync(context.Request.Body, new JsonDocumentOptions { MaxDepth = options.MaxJsonDepth }, context.RequestAborted).ConfigureAwait(false);
            return (document, null);
        }
        catch (JsonException ex)
        {
            return (null, ApiError.BadRequest($"the body is not valid JSON (nesting is limited to {options.MaxJsonDepth} levels): {ex.Message}"));
        }
    }
}
