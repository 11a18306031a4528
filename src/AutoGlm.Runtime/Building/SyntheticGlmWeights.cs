using AutoGlm.Runtime.Numerics;
using AutoGlm.Runtime.Packages;

namespace AutoGlm.Runtime.Building;

/// <summary>The float weights of one GLM decoder layer, row-major with rows as output features.</summary>
/// <param name="InputNorm">RMSNorm before attention.</param>
/// <param name="QkvWeight"><c>[q + 2·kv, hidden]</c>: queries, then keys, then values.</param>
/// <param name="QkvBias"><c>[q + 2·kv]</c>.</param>
/// <param name="OutputWeight"><c>[hidden, q]</c>.</param>
/// <param name="PostAttentionNorm">RMSNorm before the MLP.</param>
/// <param name="GateUpWeight"><c>[2·ffn, hidden]</c>: gate rows, then up rows.</param>
/// <param name="DownWeight"><c>[hidden, ffn]</c>.</param>
/// <param name="PostSelfAttentionNorm">GLM-4-0414's sandwich norm on the attention output; null when the model has none.</param>
/// <param name="PostMlpNorm">GLM-4-0414's sandwich norm on the MLP output; null when the model has none.</param>
/// <param name="Quantized">
/// Linear weights that arrive already in 4 bits (a GPTQ or AWQ checkpoint), by kind (<c>qkv</c>, <c>o_proj</c>,
/// <c>gate_up</c>, <c>down</c>): an INT4 package writes their codes as they are, and their float array is empty.
/// </param>
public sealed record GlmLayerWeights(
    float[] InputNorm,
    float[] QkvWeight,
    float[] QkvBias,
    float[] OutputWeight,
    float[] PostAttentionNorm,
    float[] GateUpWeight,
    float[] DownWeight,
    float[]? PostSelfAttentionNorm = null,
    float[]? PostMlpNorm = null,
    IReadOnlyDictionary<string, Int4Matrix>? Quantized = null);

/// <summary>A weight <c>[N, K]</c> already in <c>MatMulNBits</c>'s 4-bit layout.</summary>
/// <param name="Packed">Codes <c>[N, K/block, block/2]</c>, the lower index in the low nibble.</param>
/// <param name="Scales">One scale per row and block, <c>[N · K/block]</c>.</param>
/// <param name="ZeroPoints">Null for the default zero point 8; else <c>[N · ceil((K/block)/2)]</c>, two a byte, the lower block in the low nibble.</param>
public sealed record Int4Matrix(byte[] Packed, float[] Scales, byte[]? ZeroPoints);

/// <summary>Where the decoder builder takes its float weights from, one tensor (or one layer) at a time.</summary>
/// <remarks>
/// The builder asks for each piece once, in order, and drops it once written, so an implementation that reads
/// lazily (a checkpoint through a memory map) keeps memory bounded by the largest tensor, not by the model.
/// </remarks>
public interface IGlmWeights
{
    /// <summary>The token embedding <c>[vocab, hidden]</c>.</summary>
    float[] Embedding();

    /// <summary>The final RMSNorm <c>[hidden]</c>.</summary>
    float[] FinalNorm();

    /// <summary>The weights of layer <paramref name="index"/>.</summary>
    GlmLayerWeights Layer(int index);

    /// <summary>The LM head <c>[vocab, hidden]</c> when it is not the embedding; null when tied.</summary>
    float[]? LmHead();
}

/// <summary>Seeded random weights for a GLM-shaped decoder, generated tensor by tensor.</summary>
/// <remarks>
/// Each tensor has its own named stream, so a tensor's values depend only on the seed and its name. Scales keep
/// activations near unit size (linear layers ~ 1/sqrt(fan-in)) and give logits a spread of about 3 so that
/// sampling at temperature 1 is varied while greedy decoding is stable.
/// </remarks>
public sealed class SyntheticGlmWeights : IGlmWeights
{
    private readonly ModelArchitecture _arch;
    private readonly ulong _seed;

    public SyntheticGlmWeights(ModelArchitecture architecture, ulong seed)
    {
        _arch = architecture;
        _seed = seed;
    }

    public int QkvSize => (_arch.NumHeads + 2 * _arch.NumKvHeads) * _arch.HeadSize;

    /// <summary>The token embedding <c>[vocab, hidden]</c>, also the LM head.</summary>
    public float[] Embedding() => Uniform("embed_tokens", (long)_arch.VocabSize * _arch.HiddenSize, 3f / MathF.Sqrt(_arch.HiddenSize));

    public float[] FinalNorm() => Norm("final_norm");

    /// <summary>Always null: the synthetic models tie the LM head to the embedding.</summary>
    public float[]? LmHead() => null;

    public GlmLayerWeights Layer(int index)
    {
        var h = _arch.HiddenSize;
        var q = _arch.NumHeads * _arch.HeadSize;
        var f = _arch.FfnSize;
        var p = $"layers.{index}.";
        return new GlmLayerWeights(
            InputNorm: Norm(p + "input_norm"),
            QkvWeight: Linear(p + "qkv", QkvSize, h),
            QkvBias: Uniform(p + "qkv_bias", QkvSize, 0.1f),
            OutputWeight: Linear(p + "o_proj", h, q),
            PostAttentionNorm: Norm(p + "post_attention_norm"),
            GateUpWeight: Linear(p + "gate_up", 2 * f, h),
            DownWeight: Linear(p + "down", h, f));
    }

    private float[] Linear(string name, int rows, int cols) => Uniform(name, (long)rows * cols, MathF.Sqrt(3f / cols));

    private float[] Norm(string name)
    {
        var values = Uniform(name, _arch.HiddenSize, 0.1f);
        for (var i = 0; i < values.Length; i++)
        {
            values[i] += 1f;
        }

        return values;
    }

    private float[] Uniform(string name, long count, float limit)
    {
        var values = new float[count];
        SeededRandom.ForStream(_seed, name).FillUniform(values, limit);
        return values;
    }
}
