using AutoGlm.Runtime.Building;

namespace AutoGlm.Runtime.Conversion;

/// <summary>A Hugging Face GLM checkpoint's decoder weights in the builder's layout, read tensor by tensor.</summary>
/// <remarks>
/// <c>q_proj</c>, <c>k_proj</c> and <c>v_proj</c> (and their biases) are stacked into one QKV matrix; <c>gate_up_proj</c>
/// is already fused (gate rows first). Each tensor's shape is checked against <c>config.json</c> before it is read.
/// Only one layer is held at a time. Not thread-safe.
/// </remarks>
public sealed class CheckpointGlmWeights : IGlmWeights
{
    private readonly SafetensorsCheckpoint _checkpoint;
    private readonly CheckpointConfig _config;
    private readonly CheckpointQuantization? _quantization;
    private readonly HashSet<string> _read = new(StringComparer.Ordinal);

    /// <param name="checkpoint">The checkpoint's tensors.</param>
    /// <param name="config">Its config.json.</param>
    /// <param name="quantization">Its <c>quantization_config</c>: the linears stored in 4 bits are repacked, not widened.</param>
    public CheckpointGlmWeights(SafetensorsCheckpoint checkpoint, CheckpointConfig config, CheckpointQuantization? quantization = null)
    {
        _checkpoint = checkpoint;
        _config = config;
        _quantization = quantization;
    }

    /// <summary>Every tensor read so far.</summary>
    public IReadOnlyCollection<string> TensorsRead => _read;

    public float[] Embedding() => _config.ChatGlmLayout
        ? Read("transformer.embedding.word_embeddings.weight", Arch.VocabSize, Arch.HiddenSize)
        : Read(_config.TensorPrefix + "embed_tokens.weight", Arch.VocabSize, Arch.HiddenSize);

    public float[] FinalNorm() => _config.ChatGlmLayout
        ? Read("transformer.encoder.final_layernorm.weight", Arch.HiddenSize)
        : Read(_config.TensorPrefix + "norm.weight", Arch.HiddenSize);

    public float[]? LmHead() => Arch.TiedEmbeddings
        ? null
        : Read(_config.ChatGlmLayout ? "transformer.output_layer.weight" : "lm_head.weight", Arch.VocabSize, Arch.HiddenSize);

    public GlmLayerWeights Layer(int index) => _config.ChatGlmLayout ? ChatGlmLayer(index) : HuggingFaceLayer(index);

    /// <summary>THUDM's layout: <c>query_key_value</c> is already the stacked QKV (queries, keys, values), <c>dense_h_to_4h</c> the fused gate and up.</summary>
    private GlmLayerWeights ChatGlmLayer(int index)
    {
        var a = Arch;
        var h = a.HiddenSize;
        var q = a.NumHeads * a.HeadSize;
        var qkv = q + 2 * a.NumKvHeads * a.HeadSize;
        var p = $"transformer.encoder.layers.{index}.";
        var quantized = new Dictionary<string, Int4Matrix>(StringComparer.Ordinal);
        return new GlmLayerWeights(
            InputNorm: Read(p + "input_layernorm.weight", h),
            QkvWeight: Linear(p + "self_attention.query_key_value", qkv, h, "qkv", quantized),
            QkvBias: _config.AttentionBias ? Read(p + "self_attention.query_key_value.bias", qkv) : new float[qkv],
            OutputWeight: Linear(p + "self_attention.dense", h, q, "o_proj", quantized),
            PostAttentionNorm: Read(p + "post_attention_layernorm.weight", h),
            GateUpWeight: Linear(p + "mlp.dense_h_to_4h", 2 * a.FfnSize, h, "gate_up", quantized),
            DownWeight: Linear(p + "mlp.dense_4h_to_h", h, a.FfnSize, "down", quantized),
            Quantized: quantized.Count > 0 ? quantized : null);
    }

    private GlmLayerWeights HuggingFaceLayer(int index)
    {
        var a = Arch;
        var h = a.HiddenSize;
        var q = a.NumHeads * a.HeadSize;
        var kv = a.NumKvHeads * a.HeadSize;
        var p = $"{_config.TensorPrefix}layers.{index}.";
        var quantized = new Dictionary<string, Int4Matrix>(StringComparer.Ordinal);
        float[] qkv;
        if (_quantization is { } quantization && CheckpointQuantization.IsQuantized(_checkpoint, p + "self_attn.q_proj"))
        {
            // The three projections' rows stacked: codes, scales and per-row zero points concatenate as they are.
            var parts = new[] { ("q_proj", q), ("k_proj", kv), ("v_proj", kv) }
                .Select(x => Repack(quantization, p + "self_attn." + x.Item1, x.Item2, h))
                .ToList();
            quantized["qkv"] = new Int4Matrix(
                [.. parts.SelectMany(m => m.Packed)],
                [.. parts.SelectMany(m => m.Scales)],
                parts.Any(m => m.ZeroPoints is not null) ? [.. parts.SelectMany(m => m.ZeroPoints ?? DefaultZeroPoints(m.Scales.Length, h / quantization.GroupSize))] : null);
            qkv = [];
        }
        else
        {
            qkv = new float[(long)(q + 2 * kv) * h];
            Read(p + "self_attn.q_proj.weight", q, h).CopyTo(qkv, 0);
            Read(p + "self_attn.k_proj.weight", kv, h).CopyTo(qkv, (long)q * h);
            Read(p + "self_attn.v_proj.weight", kv, h).CopyTo(qkv, (long)(q + kv) * h);
        }

        var bias = new float[q + 2 * kv];
        if (_config.AttentionBias)
        {
            Read(p + "self_attn.q_proj.bias", q).CopyTo(bias, 0);
            Read(p + "self_attn.k_proj.bias", kv).CopyTo(bias, q);
            Read(p + "self_attn.v_proj.bias", kv).CopyTo(bias, q + kv);
        }

        return new GlmLayerWeights(
            InputNorm: Read(p + "input_layernorm.weight", h),
            QkvWeight: qkv,
            QkvBias: bias,
            OutputWeight: Linear(p + "self_attn.o_proj", h, q, "o_proj", quantized),
            PostAttentionNorm: Read(p + "post_attention_layernorm.weight", h),
            GateUpWeight: Linear(p + "mlp.gate_up_proj", 2 * a.FfnSize, h, "gate_up", quantized),
            DownWeight: Linear(p + "mlp.down_proj", h, a.FfnSize, "down", quantized),
            PostSelfAttentionNorm: a.SandwichNorms ? Read(p + "post_self_attn_layernorm.weight", h) : null,
            PostMlpNorm: a.SandwichNorms ? Read(p + "post_mlp_layernorm.weight", h) : null,
            Quantized: quantized.Count > 0 ? quantized : null);
    }

    private Packages.ModelArchitecture Arch => _config.Architecture;

    /// <summary>Zero points of 8 (the symmetric default) for <paramref name="scales"/> blocks in rows of <paramref name="blocksPerRow"/>.</summary>
    private static byte[] DefaultZeroPoints(int scales, int blocksPerRow)
    {
        var rows = scales / blocksPerRow;
        var perRow = (blocksPerRow + 1) / 2;
        var packed = new byte[rows * perRow];
        for (var row = 0; row < rows; row++)
        {
            for (var g = 0; g < blocksPerRow; g++)
            {
                packed[(row * perRow) + (g / 2)] |= (byte)(g % 2 == 0 ? Int4Quantizer.ZeroPoint : Int4Quantizer.ZeroPoint << 4);
            }
        }

        return packed;
    }

    /// <summary>A linear's float weight, or, when the checkpoint stores it in 4 bits, its repacked codes under <paramref name="kind"/> and an empty array.</summary>
    private float[] Linear(string name, int rows, int cols, string kind, Dictionary<string, Int4Matrix> quantized)
    {
        if (_quantization is { } quantization && CheckpointQuantization.IsQuantized(_checkpoint, name))
        {
            quantized[kind] = Repack(quantization, name, rows, cols);
            return [];
        }

        return Read(name + ".weight", rows, cols);
    }

    private Int4Matrix Repack(CheckpointQuantization quantization, string name, int rows, int cols)
    {
        foreach (var part in new[] { ".qweight", ".qzeros", ".scales", ".g_idx" })
        {
            if (_checkpoint.Contains(name + part))
            {
                _read.Add(name + part);
            }
        }

        return quantization.Repack(_checkpoint, name, rows, cols);
    }

    private float[] Read(string name, params long[] shape)
    {
        if (!_checkpoint.Contains(name))
        {
            throw new RuntimeException(RuntimeErrorCode.InvalidRequest, $"checkpoint has no tensor '{name}', which {_config.ArchitectureName} needs");
        }

        _read.Add(name);
        return _checkpoint.ReadFloats(name, shape);
    }
}
