using System.Text.Json;

namespace AutoGlm.Edge.Http;

/// <summary>Reads a JSON request body within <see cref="HttpOptions.MaxRequestBodyBytes"/> and <see cref="HttpOptions.MaxJsonDepth"/>.</summary>
internal static class RequestBody
{
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
