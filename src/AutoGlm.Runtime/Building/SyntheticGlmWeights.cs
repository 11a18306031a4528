using AutoGlm.Runtime.Packages;

namespace AutoGlm.Runtime.Building;

/// <summary>The float weights of one GLM decoder layer, row-major with rows as output features.</summary>
public sealed record GlmLayerWeights(
    float[] InputNorm,
    float[] QkvWeight,
    float[] QkvBias,
    float[] OutputWeight,
    float[] PostAttentionNorm,
    float[] GateUpWeight,
    float[] DownWeight);

/// <summary>Seeded random weights for a GLM-shaped decoder, generated tensor by tensor.</summary>
/// <remarks>
/// Each tensor has its own named stream, so a tensor's values depend only on the seed and its name. Scales keep
/// activations near unit size (linear layers ~ 1/sqrt(fan-in)) and give logits a spread of about 3 so that
/// sampling at temperature 1 is varied while greedy decoding is stable.
/// </remarks>
public sealed class SyntheticGlmWeights
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
