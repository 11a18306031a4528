using System.Text.Json;
using AutoGlm.Runtime.Packages;
using AutoGlm.Runtime.Text;

namespace AutoGlm.Runtime.Conversion;

/// <summary>A checkpoint's own tokenizer, special tokens, stop tokens and chat-template family.</summary>
/// <param name="Info">The manifest's tokenizer entry; its <see cref="TokenizerInfo.File"/> is copied from the checkpoint under the same name.</param>
/// <param name="ChatTemplate">The family template the package uses (<see cref="GlmChatTemplate.Glm4"/> or <see cref="GlmChatTemplate.Glm4_0414"/>).</param>
/// <param name="Notes">What the checkpoint's <c>chat_template</c> asks for that the family template does not do.</param>
public sealed record CheckpointTokenizer(TokenizerInfo Info, string ChatTemplate, IReadOnlyList<string> Notes)
{
    public const string TokenizerFileName = "tokenizer.json";
    public const string TokenizerConfigFileName = "tokenizer_config.json";
    public const string GenerationConfigFileName = "generation_config.json";

    /// <summary>GLM-4's tiktoken rank file, read when the checkpoint has no <c>tokenizer.json</c>.</summary>
    public const string RankFileName = "tokenizer.model";

    /// <summary>Role tokens every GLM chat template needs.</summary>
    private static readonly string[] RoleTokens =
        [GlmSpecialTokens.GMask, GlmSpecialTokens.Sop, GlmSpecialTokens.System, GlmSpecialTokens.User, GlmSpecialTokens.Assistant, GlmSpecialTokens.Observation];

    /// <summary>Reads <c>tokenizer.json</c>, <c>tokenizer_config.json</c> and <c>generation_config.json</c> of a checkpoint.</summary>
    /// <exception cref="RuntimeException"><see cref="RuntimeErrorCode.InvalidRequest"/> naming the missing file, token or key.</exception>
    public static CheckpointTokenizer Read(string checkpointDirectory, CheckpointConfig config)
    {
        var tokenizerPath = Path.Combine(checkpointDirectory, TokenizerFileName);
        string type, file;
        IReadOnlyDictionary<string, int> special;
        if (File.Exists(tokenizerPath))
        {
            try
            {
                special = HuggingFaceBpe.Load(tokenizerPath, config.Architecture.VocabSize).SpecialTokens;
            }
            catch (RuntimeException ex)
            {
                throw Error(ex.Message);
            }

            (type, file) = (TokenizerInfo.HuggingFaceType, TokenizerFileName);
        }
        else if (File.Exists(Path.Combine(checkpointDirectory, RankFileName)))
        {
            special = ReadAddedSpecialTokens(checkpointDirectory);
            try
            {
                TiktokenRankFile.Load(Path.Combine(checkpointDirectory, RankFileName), special, config.Architecture.VocabSize);
            }
            catch (RuntimeException ex)
            {
                throw Error(ex.Message);
            }

            (type, file) = (TokenizerInfo.TiktokenType, RankFileName);
        }
        else
        {
            throw Error($"checkpoint '{checkpointDirectory}' has neither {TokenizerFileName} nor {RankFileName}");
        }

        var missing = RoleTokens.Where(t => !special.ContainsKey(t)).ToList();
        if (missing.Count > 0)
        {
            throw Error($"{file} has no special token {string.Join(", ", missing)}, which the GLM chat template needs");
        }

        var outside = special.Where(kv => kv.Value >= config.Architecture.VocabSize).Select(kv => $"{kv.Key} ({kv.Value})").ToList();
        if (outside.Count > 0)
        {
            throw Error($"{file} has special tokens outside vocab_size {config.Architecture.VocabSize}: {string.Join(", ", outside)}");
        }

        var byId = special.GroupBy(kv => kv.Value).ToDictionary(g => g.Key, g => g.First().Key);
        var eosIds = ReadEosIds(checkpointDirectory) ?? config.EosTokenIds;
        if (eosIds.Count == 0)
        {
            throw Error($"neither {GenerationConfigFileName} nor {CheckpointConfig.FileName} has an eos_token_id");
        }

        var stops = new List<string>();
        foreach (var id in eosIds)
        {
            stops.Add(byId.TryGetValue(id, out var name) ? name : throw Error($"eos_token_id {id} is not a special token of {file}"));
        }

        var template = ReadChatTemplate(checkpointDirectory);
        var notes = new List<string>();
        var family = GlmChatTemplate.Glm4_0414;
        if (template is not null)
        {
            if (!template.Contains("[gMASK]<sop>", StringComparison.Ordinal))
            {
                notes.Add("the checkpoint's chat_template does not open with [gMASK]<sop>, as the GLM family template does");
            }

            if (template.Contains("<think>", StringComparison.Ordinal) && special.ContainsKey(GlmSpecialTokens.ThinkStart) && special.ContainsKey(GlmSpecialTokens.ThinkEnd))
            {
                family = GlmChatTemplate.Glm4;
            }

            if (template.Contains("tools", StringComparison.Ordinal))
            {
                notes.Add("the checkpoint's chat_template renders tool definitions, which the family template does not");
            }
        }
        else
        {
            notes.Add($"{TokenizerConfigFileName} has no chat_template; the GLM-4-0414 family template is used");
        }

        var info = new TokenizerInfo
        {
            Type = type,
            Encoding = string.Empty,
            File = file,
            SpecialTokens = new SortedDictionary<string, int>(special.ToDictionary(), StringComparer.Ordinal),
            StopTokens = stops,
        };
        return new CheckpointTokenizer(info, family, notes);
    }

    /// <summary>The special tokens of <c>tokenizer_config.json</c>'s <c>added_tokens_decoder</c> (<c>{"151329": {"content": "…", "special": true}}</c>).</summary>
    private static Dictionary<string, int> ReadAddedSpecialTokens(string directory)
    {
        var path = Path.Combine(directory, TokenizerConfigFileName);
        if (!File.Exists(path))
        {
            throw Error($"checkpoint has {RankFileName} but no {TokenizerConfigFileName} to name its special tokens");
        }

        using var document = Parse(path);
        if (!document.RootElement.TryGetProperty("added_tokens_decoder", out var added) || added.ValueKind != JsonValueKind.Object)
        {
            throw Error($"{TokenizerConfigFileName} has no 'added_tokens_decoder' naming the special tokens of {RankFileName}");
        }

        var special = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var entry in added.EnumerateObject())
        {
            if (!int.TryParse(entry.Name, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var id)
                || !entry.Value.TryGetProperty("content", out var content) || content.ValueKind != JsonValueKind.String)
            {
                throw Error($"{TokenizerConfigFileName} key 'added_tokens_decoder.{entry.Name}' must be an id with a 'content' string");
            }

            if (!entry.Value.TryGetProperty("special", out var isSpecial) || isSpecial.ValueKind != JsonValueKind.False)
            {
                special[content.GetString()!] = id;
            }
        }

        return special;
    }

    private static List<int>? ReadEosIds(string directory)
    {
        var path = Path.Combine(directory, GenerationConfigFileName);
        if (!File.Exists(path))
        {
            return null;
        }

        using var document = Parse(path);
        if (!document.RootElement.TryGetProperty("eos_token_id", out var eos))
        {
            return null;
        }

        return eos.ValueKind switch
        {
            JsonValueKind.Number => [eos.GetInt32()],
            JsonValueKind.Array => [.. eos.EnumerateArray().Select(e => e.GetInt32())],
            _ => throw Error($"{GenerationConfigFileName} key 'eos_token_id' must be an integer or a list of integers"),
        };
    }

    private static string? ReadChatTemplate(string directory)
    {
        var path = Path.Combine(directory, TokenizerConfigFileName);
        if (!File.Exists(path))
        {
            return null;
        }

        using var document = Parse(path);
        return document.RootElement.TryGetProperty("chat_template", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
    }

    private static JsonDocument Parse(string path)
    {
        try
        {
            return JsonDocument.Parse(File.ReadAllBytes(path));
        }
        catch (JsonException ex)
        {
            throw Error($"{Path.GetFileName(path)} is not valid JSON: {ex.Message}");
        }
    }

    private static RuntimeException Error(string message) => new(RuntimeErrorCode.InvalidRequest, message);
}
