using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace AutoGlm.Runtime.Text;

/// <summary>Loads a Hugging Face <c>tokenizer.json</c> holding a byte-level BPE into <see cref="BpeTokenizer"/>.</summary>
/// <remarks>
/// Reads <c>model.vocab</c> and <c>model.merges</c> (either spelling: <c>"a b"</c> strings or <c>["a", "b"]</c> pairs),
/// the pre-tokenizer's <c>Split</c> regex, and <c>added_tokens</c> (those marked <c>special</c> become special tokens).
/// The GPT-2 byte-to-character table maps each vocabulary entry back to its bytes, for streaming decode.
/// </remarks>
internal static class HuggingFaceBpe
{
    /// <summary>The loaded tokenizer, the bytes of each id (null for specials and gaps), and the special tokens.</summary>
    public sealed record Result(Tokenizer Tokenizer, byte[][] TokenBytes, IReadOnlyDictionary<string, int> SpecialTokens);

    public static Result Load(string path, int vocabSize)
    {
        var name = Path.GetFileName(path);
        if (!File.Exists(path))
        {
            throw Error(name, "is missing");
        }

        using var document = ParseJson(path, name);
        var root = document.RootElement;
        if (!root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object)
        {
            throw Error(name, "has no 'model'");
        }

        var type = model.TryGetProperty("type", out var t) ? t.GetString() : null;
        if (type != "BPE")
        {
            throw Error(name, $"has model.type '{type}'; only BPE is read");
        }

        if (!IsByteLevel(root))
        {
            throw Error(name, "is not a byte-level BPE (no ByteLevel pre-tokenizer or decoder)");
        }

        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var entry in model.GetProperty("vocab").EnumerateObject())
        {
            vocab[entry.Name] = entry.Value.GetInt32();
        }

        var merges = new List<string>();
        if (model.TryGetProperty("merges", out var m) && m.ValueKind == JsonValueKind.Array)
        {
            foreach (var merge in m.EnumerateArray())
            {
                merges.Add(merge.ValueKind == JsonValueKind.Array ? $"{merge[0].GetString()} {merge[1].GetString()}" : merge.GetString()!);
            }
        }

        var special = new Dictionary<string, int>(StringComparer.Ordinal);
        if (root.TryGetProperty("added_tokens", out var added) && added.ValueKind == JsonValueKind.Array)
        {
            foreach (var token in added.EnumerateArray())
            {
                var content = token.GetProperty("content").GetString()!;
                var id = token.GetProperty("id").GetInt32();
                if (token.TryGetProperty("special", out var isSpecial) && isSpecial.ValueKind == JsonValueKind.True)
                {
                    special[content] = id;
                }
                else
                {
                    vocab.TryAdd(content, id);
                }
            }
        }

        var pattern = SplitPattern(root) ?? throw Error(name, "has no Split pre-tokenizer with a regex; the converter does not guess the word split");
        Regex regex;
        try
        {
            regex = new Regex(pattern, RegexOptions.Compiled | RegexOptions.CultureInvariant);
        }
        catch (ArgumentException ex)
        {
            throw Error(name, $"has a pre-tokenizer regex .NET cannot compile: {ex.Message}");
        }

        var options = new BpeOptions(vocab.Where(kv => !special.ContainsKey(kv.Key)))
        {
            Merges = merges,
            SpecialTokens = special,
            PreTokenizer = new RegexPreTokenizer(regex, special),
            ByteLevel = true,
        };
        var tokenizer = BpeTokenizer.Create(options);

        var decoder = ByteDecoder();
        var bytes = new byte[vocabSize][];
        foreach (var (token, id) in vocab)
        {
            if (id < 0 || id >= vocabSize || special.ContainsKey(token))
            {
                continue;
            }

            var b = new byte[token.Length];
            var ok = true;
            for (var i = 0; i < token.Length && ok; i++)
            {
                ok = decoder.TryGetValue(token[i], out b[i]);
            }

            bytes[id] = ok ? b : System.Text.Encoding.UTF8.GetBytes(token);
        }

        return new Result(tokenizer, bytes, special);
    }

    /// <summary>GPT-2's table from the printable stand-in characters back to bytes.</summary>
    public static Dictionary<char, byte> ByteDecoder()
    {
        var printable = new List<int>();
        printable.AddRange(Enumerable.Range('!', '~' - '!' + 1));
        printable.AddRange(Enumerable.Range('¡', '¬' - '¡' + 1));
        printable.AddRange(Enumerable.Range('®', 'ÿ' - '®' + 1));
        var table = new Dictionary<char, byte>();
        var next = 0;
        for (var b = 0; b < 256; b++)
        {
            table[printable.Contains(b) ? (char)b : (char)(256 + next++)] = (byte)b;
        }

        return table;
    }

    private static JsonDocument ParseJson(string path, string name)
    {
        try
        {
            return JsonDocument.Parse(File.ReadAllBytes(path));
        }
        catch (JsonException ex)
        {
            throw Error(name, $"is not valid JSON: {ex.Message}");
        }
    }

    private static bool IsByteLevel(JsonElement root) =>
        Mentions(root, "pre_tokenizer", "ByteLevel") || Mentions(root, "decoder", "ByteLevel");

    private static bool Mentions(JsonElement root, string property, string type) =>
        root.TryGetProperty(property, out var element) && Flatten(element).Any(e => e.TryGetProperty("type", out var t) && t.GetString() == type);

    private static string? SplitPattern(JsonElement root) =>
        root.TryGetProperty("pre_tokenizer", out var pre)
            ? Flatten(pre)
                .Where(e => e.TryGetProperty("type", out var t) && t.GetString() == "Split")
                .Select(e => e.TryGetProperty("pattern", out var p) && p.TryGetProperty("Regex", out var r) ? r.GetString() : null)
                .FirstOrDefault(r => r is not null)
            : null;

    /// <summary>A pre-tokenizer or decoder and, for a <c>Sequence</c>, its members.</summary>
    private static IEnumerable<JsonElement> Flatten(JsonElement element)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            yield break;
        }

        yield return element;
        foreach (var key in new[] { "pretokenizers", "decoders" })
        {
            if (element.TryGetProperty(key, out var list) && list.ValueKind == JsonValueKind.Array)
            {
                foreach (var inner in list.EnumerateArray().SelectMany(Flatten))
                {
                    yield return inner;
                }
            }
        }
    }

    private static RuntimeException Error(string file, string message) =>
        new(RuntimeErrorCode.ModelUnavailable, $"tokenizer file '{file}' {message}");
}
