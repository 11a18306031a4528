using System.Globalization;
using System.Text.Json;
using AutoGlm.Runtime.Packages;

namespace AutoGlm.Runtime.Conversion;

/// <summary>What <c>config.json</c> says about a checkpoint: its architecture, its shape, and where its decoder's tensors are.</summary>
/// <param name="ArchitectureName">The class in <c>architectures[0]</c>, e.g. <c>Glm4ForCausalLM</c>.</param>
/// <param name="Architecture">The decoder's shape, every value from <c>config.json</c>.</param>
/// <param name="TensorPrefix">The decoder's tensor prefix: <c>model.</c>, or <c>model.language_model.</c> for GLM-4.1V.</param>
/// <param name="AttentionBias">Whether <c>q_proj</c>, <c>k_proj</c> and <c>v_proj</c> have biases.</param>
/// <param name="EosTokenIds">The <c>eos_token_id</c> of <c>config.json</c> (an int or a list), when present.</param>
/// <param name="ChatGlmLayout">THUDM's original layout (<c>transformer.encoder.*</c>, fused <c>query_key_value</c>) rather than transformers'.</param>
public sealed record CheckpointConfig(string ArchitectureName, ModelArchitecture Architecture, string TensorPrefix, bool AttentionBias, IReadOnlyList<int> EosTokenIds, bool ChatGlmLayout = false)
{
    public const string FileName = "config.json";

    /// <summary>The architectures the converter reads, and whether each has GLM-4-0414's sandwich norms.</summary>
    public static IReadOnlyDictionary<string, bool> Supported { get; } = new Dictionary<string, bool>(StringComparer.Ordinal)
    {
        ["Glm4ForCausalLM"] = true,
        ["Glm4vForConditionalGeneration"] = true,
        ["GlmForCausalLM"] = false,
        ["ChatGLMModel"] = false,
        ["ChatGLMForConditionalGeneration"] = false,
    };

    /// <summary>Reads <c>config.json</c> of a checkpoint folder.</summary>
    /// <exception cref="RuntimeException">
    /// <see cref="RuntimeErrorCode.InvalidRequest"/> naming the unsupported architecture, the missing or bad key, or a
    /// shape the engine cannot run.
    /// </exception>
    public static CheckpointConfig Read(string checkpointDirectory)
    {
        var path = Path.Combine(checkpointDirectory, FileName);
        if (!File.Exists(path))
        {
            throw Error($"checkpoint '{checkpointDirectory}' has no {FileName}");
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(File.ReadAllBytes(path));
        }
        catch (JsonException ex)
        {
            throw Error($"{FileName} is not valid JSON: {ex.Message}");
        }

        using (document)
        {
            var root = document.RootElement;
            var architectures = root.TryGetProperty("architectures", out var a) && a.ValueKind == JsonValueKind.Array
                ? a.EnumerateArray().Select(e => e.GetString() ?? string.Empty).ToList()
                : throw Error($"{FileName} has no 'architectures' list");
            var name = architectures.FirstOrDefault(Supported.ContainsKey)
                ?? throw Error($"architecture {string.Join(", ", architectures.Select(x => $"'{x}'"))} is not supported (the converter reads {string.Join(", ", Supported.Keys)})");

            if (name.StartsWith("ChatGLM", StringComparison.Ordinal))
            {
                return ReadChatGlm(root, name);
            }

            var text = root;
            var prefix = "model.";
            var keyPrefix = string.Empty;
            if (name == "Glm4vForConditionalGeneration")
            {
                text = root.TryGetProperty("text_config", out var t) && t.ValueKind == JsonValueKind.Object
                    ? t
                    : throw Error($"{FileName} of {name} has no 'text_config'");
                prefix = "model.language_model.";
                keyPrefix = "text_config.";
            }

            var reader = new KeyReader(text, keyPrefix);
            var hidden = reader.Int("hidden_size");
            var heads = reader.Int("num_attention_heads");
            var headDim = reader.OptionalInt("head_dim") ?? (heads > 0 ? hidden / heads : 0);
            var rope = text.TryGetProperty("rope_parameters", out var rp) && rp.ValueKind == JsonValueKind.Object ? new KeyReader(rp, keyPrefix + "rope_parameters.") : null;
            var ropeTheta = rope?.OptionalDouble("rope_theta") ?? reader.Double("rope_theta");
            var partial = rope?.OptionalDouble("partial_rotary_factor") ?? reader.OptionalDouble("partial_rotary_factor")
                ?? throw Error($"{FileName} has no '{keyPrefix}partial_rotary_factor' (GLM rotates a part of each head; the converter does not guess which)");
            CheckRopeScaling(text, keyPrefix, name);
            var act = reader.OptionalString("hidden_act") ?? "silu";
            if (act != "silu")
            {
                throw Error($"{FileName} key '{keyPrefix}hidden_act' is '{act}'; the engine's MLP is SwiGLU (silu)");
            }

            var arch = new ModelArchitecture
            {
                Family = "glm4",
                Layers = reader.Int("num_hidden_layers"),
                HiddenSize = hidden,
                NumHeads = heads,
                NumKvHeads = reader.Int("num_key_value_heads"),
                HeadSize = headDim,
                FfnSize = reader.Int("intermediate_size"),
                VocabSize = reader.Int("vocab_size"),
                ContextLength = reader.Int("max_position_embeddings"),
                RotaryDim = (int)(headDim * partial),
                RopeTheta = (float)ropeTheta,
                RmsNormEps = (float)reader.Double("rms_norm_eps"),
                TiedEmbeddings = reader.OptionalBool("tie_word_embeddings") ?? (root.TryGetProperty("tie_word_embeddings", out var tie) && tie.ValueKind == JsonValueKind.True),
                SandwichNorms = Supported[name],
                MropeSection = name == "Glm4vForConditionalGeneration" ? MropeSectionOf(text) : null,
            };
            var eos = EosIds(text.TryGetProperty("eos_token_id", out var e) ? e : root.TryGetProperty("eos_token_id", out var e2) ? e2 : default);
            var config = new CheckpointConfig(name, arch, prefix, reader.OptionalBool("attention_bias") ?? true, eos);
            var problems = config.Validate();
            if (problems.Count > 0)
            {
                throw Error($"{FileName} describes a shape the engine cannot run: {string.Join("; ", problems)}");
            }

            return config;
        }
    }

    /// <summary>Checks that the engine's graph can run this shape at <paramref name="blockSize"/>; every problem at once.</summary>
    public IReadOnlyList<string> Validate(int blockSize = 32)
    {
        var a = Architecture;
        var errors = new List<string>();
        void Require(bool ok, string message)
        {
            if (!ok)
            {
                errors.Add(message);
            }
        }

        Require(a.Layers > 0, "num_hidden_layers must be positive");
        Require(a.NumHeads > 0 && a.NumKvHeads > 0 && a.NumHeads % a.NumKvHeads == 0, $"num_attention_heads ({a.NumHeads}) must be a positive multiple of num_key_value_heads ({a.NumKvHeads})");
        Require(a.HeadSize > 0 && a.HeadSize % 2 == 0, $"head_dim ({a.HeadSize}) must be positive and even");
        Require(a.RotaryDim > 0 && a.RotaryDim <= a.HeadSize && a.RotaryDim % 2 == 0, $"head_dim × partial_rotary_factor ({a.RotaryDim}) must be even, positive and at most head_dim");
        Require(a.HiddenSize > 0 && a.HiddenSize % blockSize == 0, $"hidden_size ({a.HiddenSize}) must be a multiple of the block size {blockSize}");
        Require(a.NumHeads * a.HeadSize % blockSize == 0, $"num_attention_heads × head_dim ({a.NumHeads * a.HeadSize}) must be a multiple of the block size {blockSize}");
        Require(a.FfnSize > 0 && a.FfnSize % blockSize == 0, $"intermediate_size ({a.FfnSize}) must be a multiple of the block size {blockSize}");
        Require(a.VocabSize > 0, "vocab_size must be positive");
        Require(a.ContextLength >= 16, "max_position_embeddings must be at least 16");
        Require(a.RmsNormEps > 0, "rms_norm_eps must be positive");
        Require(a.RopeTheta > 0, "rope_theta must be positive");
        Require(a.MropeSection is null || (a.MropeSection.Count == 3 && a.MropeSection.All(x => x >= 0) && a.MropeSection.Sum() == a.RotaryDim / 2),
            $"rope_scaling.mrope_section ({string.Join(", ", a.MropeSection ?? [])}) must be three sections summing to head_dim × partial_rotary_factor / 2 ({a.RotaryDim / 2})");
        return errors;
    }

    /// <summary>
    /// THUDM's <c>modeling_chatglm.py</c> keys: <c>num_layers</c>, <c>ffn_hidden_size</c>, <c>kv_channels</c> (head size),
    /// <c>multi_query_group_num</c> (KV heads), <c>padded_vocab_size</c>, <c>seq_length</c>, <c>layernorm_epsilon</c>,
    /// <c>rope_ratio</c> (theta = 10000 × ratio); rotary on half of each head, interleaved, as GLM-4.
    /// </summary>
    private static CheckpointConfig ReadChatGlm(JsonElement root, string name)
    {
        var reader = new KeyReader(root, string.Empty);
        void Require(string key, bool expected)
        {
            if ((reader.OptionalBool(key) ?? expected) != expected)
            {
                throw Error($"{FileName} key '{key}' is {!expected}; the engine's GLM block needs {expected}");
            }
        }

        Require("rmsnorm", true);
        Require("post_layer_norm", true);
        Require("apply_residual_connection_post_layernorm", false);
        Require("add_bias_linear", false);
        var heads = reader.Int("num_attention_heads");
        var headDim = reader.Int("kv_channels");
        var arch = new ModelArchitecture
        {
            Family = "glm4",
            Layers = reader.Int("num_layers"),
            HiddenSize = reader.Int("hidden_size"),
            NumHeads = heads,
            NumKvHeads = reader.OptionalBool("multi_query_attention") == true ? reader.Int("multi_query_group_num") : heads,
            HeadSize = headDim,
            FfnSize = reader.Int("ffn_hidden_size"),
            VocabSize = reader.Int("padded_vocab_size"),
            ContextLength = reader.Int("seq_length"),
            RotaryDim = headDim / 2,
            RopeTheta = (float)(10000.0 * (reader.OptionalDouble("rope_ratio") ?? 1.0)),
            RmsNormEps = (float)reader.Double("layernorm_epsilon"),
            TiedEmbeddings = reader.OptionalBool("tie_word_embeddings") ?? false,
            SandwichNorms = false,
        };
        var eos = EosIds(root.TryGetProperty("eos_token_id", out var e) ? e : default);
        var config = new CheckpointConfig(name, arch, "transformer.", reader.OptionalBool("add_qkv_bias") ?? false, eos, ChatGlmLayout: true);
        var problems = config.Validate();
        return problems.Count > 0
            ? throw Error($"{FileName} describes a shape the engine cannot run: {string.Join("; ", problems)}")
            : config;
    }

    /// <summary>GLM-4.1V's <c>rope_scaling.mrope_section</c> (or <c>rope_parameters</c>'), when present.</summary>
    private static int[]? MropeSectionOf(JsonElement text)
    {
        foreach (var key in new[] { "rope_scaling", "rope_parameters" })
        {
            if (text.TryGetProperty(key, out var scaling) && scaling.ValueKind == JsonValueKind.Object
                && scaling.TryGetProperty("mrope_section", out var section) && section.ValueKind == JsonValueKind.Array)
            {
                return [.. section.EnumerateArray().Select(v => v.GetInt32())];
            }
        }

        return null;
    }

    private static void CheckRopeScaling(JsonElement text, string keyPrefix, string architecture)
    {
        if (!text.TryGetProperty("rope_scaling", out var scaling) || scaling.ValueKind == JsonValueKind.Null)
        {
            return;
        }

        var type = scaling.TryGetProperty("rope_type", out var t) ? t.GetString() : scaling.TryGetProperty("type", out var t2) ? t2.GetString() : null;

        // GLM-4.1V's text decoder uses multimodal rotary sections; for text alone every section has the same
        // position, which is plain rotary.
        var multimodal = architecture == "Glm4vForConditionalGeneration" && scaling.TryGetProperty("mrope_section", out _);
        if (type is not (null or "default") && !multimodal)
        {
            throw Error($"{FileName} key '{keyPrefix}rope_scaling' asks for rotary scaling '{type}', which the engine does not do");
        }
    }

    private static List<int> EosIds(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Number => [value.GetInt32()],
        JsonValueKind.Array => [.. value.EnumerateArray().Select(v => v.GetInt32())],
        _ => [],
    };

    private static RuntimeException Error(string message) => new(RuntimeErrorCode.InvalidRequest, message);

    /// <summary>Reads typed keys from one JSON object, naming the key (with its path) when it is missing or of the wrong type.</summary>
    internal sealed class KeyReader(JsonElement element, string prefix)
    {
        public int Int(string key) => OptionalInt(key) ?? throw Missing(key);

        public int? OptionalInt(string key) => Get(key) is { } v
            ? v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i) ? i : throw Wrong(key, "an integer", v)
            : null;

        public double Double(string key) => OptionalDouble(key) ?? throw Missing(key);

        public double? OptionalDouble(string key) => Get(key) is { } v
            ? v.ValueKind == JsonValueKind.Number ? v.GetDouble() : throw Wrong(key, "a number", v)
            : null;

        public bool? OptionalBool(string key) => Get(key) is { } v
            ? v.ValueKind switch { JsonValueKind.True => true, JsonValueKind.False => false, _ => throw Wrong(key, "true or false", v) }
            : null;

        public string? OptionalString(string key) => Get(key) is { } v
            ? v.ValueKind == JsonValueKind.String ? v.GetString() : throw Wrong(key, "a string", v)
            : null;

        private JsonElement? Get(string key) =>
            element.TryGetProperty(key, out var value) && value.ValueKind != JsonValueKind.Null ? value : null;

        private RuntimeException Missing(string key) => Error($"{FileName} has no '{prefix}{key}'");

        private RuntimeException Wrong(string key, string expected, JsonElement v) =>
            Error($"{FileName} key '{prefix}{key}' must be {expected} (got {v.GetRawText().ToString(CultureInfo.InvariantCulture)})");
    }
}
