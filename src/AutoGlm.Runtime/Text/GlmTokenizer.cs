using System.Text;
using AutoGlm.Runtime.Packages;
using Microsoft.ML.Tokenizers;

namespace AutoGlm.Runtime.Text;

/// <summary>A package's BPE plus its GLM special tokens: the bundled tiktoken <c>cl100k_base</c>, or the checkpoint's own <c>tokenizer.json</c>.</summary>
/// <remarks>Thread-safe: encoding and decoding keep no state; <see cref="CreateStreamDecoder"/> makes the stateful part.</remarks>
public sealed class GlmTokenizer
{
    private readonly Tokenizer _bpe;
    private readonly byte[][] _tokenBytes;
    private readonly Dictionary<string, int> _special;
    private readonly string[] _specialByLength;

    /// <param name="info">The manifest's tokenizer.</param>
    /// <param name="vocabSize">The model's vocabulary (ids at or above it are never produced).</param>
    /// <param name="packageDirectory">Where <see cref="TokenizerInfo.File"/> lives (for <c>huggingface</c> tokenizers).</param>
    public GlmTokenizer(TokenizerInfo info, int vocabSize, string? packageDirectory = null)
    {
        if (info.Type == TokenizerInfo.HuggingFaceType)
        {
            var file = info.File ?? throw new RuntimeException(RuntimeErrorCode.ModelUnavailable, "tokenizer.file is required for a huggingface tokenizer");
            var loaded = HuggingFaceBpe.Load(Path.Combine(packageDirectory ?? ".", file), vocabSize);
            _bpe = loaded.Tokenizer;
            _tokenBytes = loaded.TokenBytes;
            _special = new Dictionary<string, int>(loaded.SpecialTokens, StringComparer.Ordinal);
            foreach (var (name, id) in info.SpecialTokens)
            {
                if (!_special.TryGetValue(name, out var existing) || existing != id)
                {
                    throw new RuntimeException(RuntimeErrorCode.ModelUnavailable, $"special token '{name}' has id {id} in the manifest but {(_special.ContainsKey(name) ? existing.ToString(System.Globalization.CultureInfo.InvariantCulture) : "none")} in '{file}'");
                }
            }
        }
        else if (info.Type == TokenizerInfo.TiktokenType && info.File is { } rankFile)
        {
            // A checkpoint's own rank file (GLM-4's tokenizer.model) with its special tokens.
            (_bpe, _tokenBytes) = TiktokenRankFile.Load(Path.Combine(packageDirectory ?? ".", rankFile), info.SpecialTokens, vocabSize);
            _special = new Dictionary<string, int>(info.SpecialTokens, StringComparer.Ordinal);
        }
        else if (info.Type == TokenizerInfo.TiktokenType)
        {
            var builtIn = TiktokenTokenizer.CreateForEncoding(info.Encoding);
            var extra = info.SpecialTokens
                .Where(kv => !(builtIn.SpecialTokens?.ContainsKey(kv.Key) ?? false))
                .ToDictionary(kv => kv.Key, kv => kv.Value);
            var tiktoken = TiktokenTokenizer.CreateForEncoding(info.Encoding, extra);
            _bpe = tiktoken;
            _special = new Dictionary<string, int>(tiktoken.SpecialTokens ?? new Dictionary<string, int>(), StringComparer.Ordinal);
            foreach (var (name, id) in info.SpecialTokens)
            {
                if (_special.TryGetValue(name, out var existing) && existing != id)
                {
                    throw new RuntimeException(RuntimeErrorCode.ModelUnavailable, $"special token '{name}' has id {id} in the manifest but {existing} in {info.Encoding}");
                }

                _special[name] = id;
            }

            _tokenBytes = LoadRankBytes(info.Encoding, vocabSize);
        }
        else
        {
            throw new RuntimeException(RuntimeErrorCode.ModelUnavailable, $"tokenizer type '{info.Type}' is not supported (expected {TokenizerInfo.TiktokenType} or {TokenizerInfo.HuggingFaceType})");
        }

        _specialByLength = [.. _special.Keys.OrderByDescending(k => k.Length)];
        IsSpecial = new bool[vocabSize];
        foreach (var id in _special.Values.Where(id => id >= 0 && id < vocabSize))
        {
            IsSpecial[id] = true;
        }

        StopTokenIds = [.. info.StopTokens.Select(IdOf)];
    }

    /// <summary>Whether the tokenizer has a special token (families differ in which they have).</summary>
    public bool HasSpecial(string specialToken) => _special.ContainsKey(specialToken);

    public int VocabSize => _tokenBytes.Length;

    /// <summary>For each id, whether it is a special token (decoded to no text).</summary>
    public bool[] IsSpecial { get; }

    /// <summary>Ids that end an assistant turn.</summary>
    public IReadOnlyList<int> StopTokenIds { get; }

    /// <summary>The id of a special token.</summary>
    public int IdOf(string specialToken) =>
        _special.TryGetValue(specialToken, out var id)
            ? id
            : throw new RuntimeException(RuntimeErrorCode.ModelUnavailable, $"the tokenizer has no special token '{specialToken}'");

    /// <summary>Whether an id has bytes or is special: ids in neither (gaps, padding) must never be sampled.</summary>
    public bool IsDefined(int id) => id >= 0 && id < _tokenBytes.Length && (_tokenBytes[id] is not null || IsSpecial[id]);

    /// <summary>Encodes text as plain text: special-token strings inside it are not turned into special tokens.</summary>
    public void EncodeText(string text, List<int> destination)
    {
        var start = 0;
        while (start < text.Length)
        {
            var (at, token) = FindSpecial(text, start);
            if (at < 0)
            {
                destination.AddRange(_bpe.EncodeToIds(text.AsSpan(start).ToString()));
                return;
            }

            if (at > start)
            {
                destination.AddRange(_bpe.EncodeToIds(text[start..at]));
            }

            // Split the special string so that user text can never inject a control token.
            destination.AddRange(_bpe.EncodeToIds(token[..1]));
            destination.AddRange(_bpe.EncodeToIds(token[1..]));
            start = at + token.Length;
        }
    }

    /// <summary>Encodes text in which special-token strings are special tokens (templates, tests).</summary>
    public IReadOnlyList<int> EncodeWithSpecialTokens(string text) => _bpe.EncodeToIds(text);

    /// <summary>Decodes ids to text; special tokens are written as their names.</summary>
    public string Decode(IEnumerable<int> ids) => _bpe.Decode(ids);

    /// <summary>The bytes of an ordinary token; empty for special and undefined ids.</summary>
    public ReadOnlySpan<byte> BytesOf(int id) => id >= 0 && id < _tokenBytes.Length && _tokenBytes[id] is { } b ? b : [];

    /// <summary>A decoder that turns a stream of token ids into text, holding back incomplete UTF-8.</summary>
    public TokenStreamDecoder CreateStreamDecoder() => new(this);

    /// <summary>
    /// Reads each rank's bytes from the encoding's data package (the same resource the BPE was built from),
    /// because the tokenizer's own id→bytes table is not public and decoding one id to a string loses bytes
    /// of a character split across tokens.
    /// </summary>
    private static byte[][] LoadRankBytes(string encoding, int vocabSize)
    {
        var assemblyName = encoding switch
        {
            "cl100k_base" => "Microsoft.ML.Tokenizers.Data.Cl100kBase",
            _ => throw new RuntimeException(RuntimeErrorCode.ModelUnavailable, $"tiktoken encoding '{encoding}' is not bundled (expected cl100k_base)"),
        };
        var assembly = System.Reflection.Assembly.Load(assemblyName);
        using var resource = assembly.GetManifestResourceStream($"{encoding}.tiktoken.deflate")
            ?? throw new RuntimeException(RuntimeErrorCode.ModelUnavailable, $"{assemblyName} has no {encoding} ranks");
        using var inflated = new System.IO.Compression.DeflateStream(resource, System.IO.Compression.CompressionMode.Decompress);
        using var reader = new StreamReader(inflated, Encoding.UTF8);
        // Either "base64 rank" lines (the .tiktoken format) or, as this package ships it, a "Capacity: N"
        // header and one base64 token per line in rank order.
        var table = new byte[vocabSize][];
        var nextRank = 0;
        while (reader.ReadLine() is { } line)
        {
            if (line.Length == 0 || line.StartsWith("Capacity:", StringComparison.Ordinal))
            {
                continue;
            }

            var space = line.IndexOf(' ', StringComparison.Ordinal);
            var rank = space > 0 ? int.Parse(line.AsSpan(space + 1), System.Globalization.CultureInfo.InvariantCulture) : nextRank;
            nextRank = rank + 1;
            if (rank < vocabSize)
            {
                table[rank] = Convert.FromBase64String(space > 0 ? line[..space] : line);
            }
        }

        return table;
    }

    private (int At, string Token) FindSpecial(string text, int start)
    {
        var best = -1;
        var bestToken = string.Empty;
        foreach (var token in _specialByLength)
        {
            var at = text.IndexOf(token, start, StringComparison.Ordinal);
            if (at >= 0 && (best < 0 || at < best))
            {
                best = at;
                bestToken = token;
            }
        }

        return (best, bestToken);
    }
}

/// <summary>Turns token ids into text one at a time; a character split across tokens comes out whole.</summary>
/// <remarks>Not thread-safe: one per sequence.</remarks>
public sealed class TokenStreamDecoder
{
    private readonly GlmTokenizer _tokenizer;
    private readonly Decoder _utf8 = new UTF8Encoding(false, false).GetDecoder();
    private readonly char[] _chars = new char[256];

    internal TokenStreamDecoder(GlmTokenizer tokenizer) => _tokenizer = tokenizer;

    /// <summary>The text that the token completes (possibly empty while a character is incomplete).</summary>
    public string Push(int id)
    {
        var bytes = _tokenizer.BytesOf(id);
        if (bytes.IsEmpty)
        {
            return string.Empty;
        }

        var count = _utf8.GetChars(bytes, _chars, flush: false);
        return new string(_chars, 0, count);
    }

    /// <summary>What is left at the end (an incomplete character becomes U+FFFD).</summary>
    public string Flush()
    {
        var count = _utf8.GetChars(ReadOnlySpan<byte>.Empty, _chars, flush: true);
        return new string(_chars, 0, count);
    }
}
