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
    private readonly HashSet<string> _read = new(StringComparer.Ordinal);

    public CheckpointGlmWeights(SafetensorsCheckpoint checkpoint, CheckpointConfig config)
    {
        _checkpoint = checkpoint;
        _config = config;
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
        return new GlmLayerWeights(
            InputNorm: Read(p + "input_layernorm.weight", h),
            QkvWeight: Read(p + "self_attention.query_key_value.weight", qkv, h),
            QkvBias: _config.AttentionBias ? Read(p + "self_attention.query_key_value.bias", qkv) : new float[qkv],
            OutputWeight: Read(p + "self_attention.dense.weight", h, q),
            PostAttentionNorm: Read(p + "post_attention_layernorm.weight", h),
            GateUpWeight: Read(p + "mlp.dense_h_to_4h.weight", 2 * a.FfnSize, h),
            DownWeight: Read(p + "mlp.dense_4h_to_h.weight", h, a.FfnSize));
    }

    private GlmLayerWeights HuggingFaceLayer(int index)
    {
        var a = Arch;
        var h = a.HiddenSize;
        var q = a.NumHeads * a.HeadSize;
        var kv = a.NumKvHeads * a.HeadSize;
        var p = $"{_config.TensorPrefix}layers.{index}.";
        var qkv = new float[(long)(q + 2 * kv) * h];
        Read(p + "self_attn.q_proj.weight", q, h).CopyTo(qkv, 0);
        Read(p + "self_attn.k_proj.weight", kv, h).CopyTo(qkv, (long)q * h);
        Read(p + "self_attn.v_proj.weight", kv, h).CopyTo(qkv, (long)(q + kv) * h);
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
            OutputWeight: Read(p + "self_attn.o_proj.weight", h, q),
            PostAttentionNorm: Read(p + "post_attention_layernorm.weight", h),
            GateUpWeight: Read(p + "mlp.gate_up_proj.weight", 2 * a.FfnSize, h),
            DownWeight: Read(p + "mlp.down_proj.weight", h, a.FfnSize),
            PostSelfAttentionNorm: a.SandwichNorms ? Read(p + "post_self_attn_layernorm.weight", h) : null,
            PostMlpNorm: a.SandwichNorms ? Read(p + "post_mlp_layernorm.weight", h) : null);
    }

    private Packages.ModelArchitecture Arch => _config.Architecture;

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
