using System.Buffers;
using System.Globalization;
using System.Text.Json;
using AutoGlm.Runtime.Generation;
using AutoGlm.Runtime.Text;
using Microsoft.Extensions.AI;

namespace AutoGlm.Edge.Http;

/// <summary>Writes OpenAI's legacy <c>text_completion</c> objects, whole or as SSE chunks, with their <c>logprobs</c>.</summary>
internal static class CompletionWriter
{
    /// <summary>The log probability written for an impossible token (JSON has no infinity; vLLM writes the same).</summary>
    private const float Impossible = -9999f;

    /// <summary>A whole answer.</summary>
    public static void WriteCompletion(IBufferWriter<byte> output, CompletionIdentity id, string text, Logprobs? logprobs, string finishReason, UsageDetails? usage)
    {
        using var json = new Utf8JsonWriter(output);
        json.WriteStartObject();
        ChatCompletionWriter.WriteHeader(json, id, "text_completion");
        WriteChoice(json, text, logprobs, finishReason);
        ChatCompletionWriter.WriteUsage(json, usage);
        json.WriteEndObject();
    }

    /// <summary>One streamed piece of text (with the log probabilities of the tokens that made it), as an SSE <c>data:</c> line.</summary>
    public static void WriteChunk(IBufferWriter<byte> output, CompletionIdentity id, string text, Logprobs? logprobs, string? finishReason)
    {
        output.Write("data: "u8);
        using (var json = new Utf8JsonWriter(output))
        {
            json.WriteStartObject();
            ChatCompletionWriter.WriteHeader(json, id, "text_completion");
            WriteChoice(json, text, logprobs, finishReason);
            json.WriteEndObject();
        }

        output.Write("\n\n"u8);
    }

    private static void WriteChoice(Utf8JsonWriter json, string text, Logprobs? logprobs, string? finishReason)
    {
        json.WriteStartArray("choices");
        json.WriteStartObject();
        json.WriteString("text", text);
        json.WriteNumber("index", 0);
        if (logprobs is null)
        {
            json.WriteNull("logprobs");
        }
        else
        {
            logprobs.Write(json);
        }

        json.WriteString("finish_reason", finishReason);
        json.WriteEndObject();
        json.WriteEndArray();
    }

    /// <summary>
    /// The legacy <c>logprobs</c> object of some generated tokens: <c>tokens</c>, <c>token_logprobs</c>,
    /// <c>top_logprobs</c> (one object per token, most likely first) and <c>text_offset</c> (where each token's text
    /// starts in the choice's whole text).
    /// </summary>
    public sealed class Logprobs(GlmTokenizer tokenizer, bool tokensAsIds, int startOffset)
    {
        private readonly List<TokenScored> _tokens = [];
        private int _offset = startOffset;
        private int _written;

        /// <summary>Tokens added since the last <see cref="Write"/>.</summary>
        public bool HasPending => _written < _tokens.Count;

        public void Add(TokenScored token) => _tokens.Add(token);

        /// <summary>Writes the tokens added since the last call (all of them, for a whole answer).</summary>
        public void Write(Utf8JsonWriter json)
        {
            var tokens = _tokens.Skip(_written).ToList();
            _written = _tokens.Count;
            json.WriteStartObject("logprobs");
            json.WriteStartArray("tokens");
            foreach (var token in tokens)
            {
                json.WriteStringValue(Name(token.TokenId));
            }

            json.WriteEndArray();
            json.WriteStartArray("token_logprobs");
            foreach (var token in tokens)
            {
                json.WriteNumberValue(Finite(token.Logprob));
            }

            json.WriteEndArray();
            json.WriteStartArray("top_logprobs");
            foreach (var token in tokens)
            {
                json.WriteStartObject();
                var names = new HashSet<string>(StringComparer.Ordinal);
                foreach (var alternative in token.Top)
                {
                    // Two ids can decode to the same text; the more likely one keeps the key.
                    var name = Name(alternative.TokenId);
                    if (names.Add(name))
                    {
                        json.WriteNumber(name, Finite(alternative.Logprob));
                    }
                }

                // As vLLM does: the sampled token is always listed, after the top ones when it is not among them.
                if (names.Add(Name(token.TokenId)))
                {
                    json.WriteNumber(Name(token.TokenId), Finite(token.Logprob));
                }

                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteStartArray("text_offset");
            foreach (var token in tokens)
            {
                json.WriteNumberValue(_offset);
                _offset += tokenizer.Decode([token.TokenId]).Length;
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        private string Name(int id) => TokenName(tokenizer, id, tokensAsIds);
    }

    /// <summary>How a token is named in either <c>logprobs</c> shape: its text, or vLLM's <c>token_id:N</c> when asked.</summary>
    internal static string TokenName(GlmTokenizer tokenizer, int id, bool tokensAsIds) =>
        tokensAsIds ? "token_id:" + id.ToString(CultureInfo.InvariantCulture) : tokenizer.Decode([id]);

    /// <summary>A log probability JSON can hold: an id that can never be sampled (negative infinity) is written as <see cref="Impossible"/>.</summary>
    internal static float Finite(float logprob) => float.IsFinite(logprob) ? logprob : Impossible;
}
