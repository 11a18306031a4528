using AutoGlm.Runtime.Numerics;
using AutoGlm.Runtime.Building;
using AutoGlm.Runtime.Packages;

namespace AutoGlm.Runtime.Tests.Building;

/// <summary>
/// A plain float32 GLM decoder written from the architecture (not from the ONNX graph): RMSNorm, QKV with bias,
/// rotary on the first rotary_dim dims of each head in interleaved pairs, grouped-query causal attention over a
/// KV cache, SwiGLU MLP, tied LM head. Weights are the synthetic ones after an INT4 round trip, as the model holds them.
/// </summary>
internal sealed class ReferenceGlmDecoder
{
    private readonly ModelArchitecture _a;
    private readonly float[] _embedding;
    private readonly float[] _finalNorm;
    private readonly Layer[] _layers;
    private readonly List<float[]>[] _keys;
    private readonly List<float[]>[] _values;

    public ReferenceGlmDecoder(ModelArchitecture architecture, QuantizationInfo quantization, ulong seed)
    {
        _a = architecture;
        var weights = new SyntheticGlmWeights(architecture, seed);
        var bs = quantization.BlockSize;
        float[] Q(float[] w, int rows, int cols)
        {
            var (packed, scales) = Int4Quantizer.Quantize(w, rows, cols, bs);
            return Int4Blocks.Dequantize(packed, scales, rows, cols, bs);
        }

        var h = _a.HiddenSize;
        var q = _a.NumHeads * _a.HeadSize;
        _embedding = Q(weights.Embedding(), _a.VocabSize, h);
        _finalNorm = weights.FinalNorm();
        _layers = new Layer[_a.Layers];
        for (var i = 0; i < _a.Layers; i++)
        {
            var w = weights.Layer(i);
            _layers[i] = new Layer(
                w.InputNorm,
                Q(w.QkvWeight, weights.QkvSize, h),
                w.QkvBias,
                Q(w.OutputWeight, h, q),
                w.PostAttentionNorm,
                Q(w.GateUpWeight, 2 * _a.FfnSize, h),
                Q(w.DownWeight, h, _a.FfnSize));
        }

        _keys = [.. Enumerable.Range(0, _a.Layers).Select(_ => new List<float[]>())];
        _values = [.. Enumerable.Range(0, _a.Layers).Select(_ => new List<float[]>())];
    }

    public int Position => _keys[0].Count;

    public float[] EmbeddingOf(int token) => _embedding.AsSpan(token * _a.HiddenSize, _a.HiddenSize).ToArray();

    /// <summary>Runs one token at the next position and returns its logits.</summary>
    public float[] Step(int token)
    {
        var h = _a.HiddenSize;
        var x = EmbeddingOf(token);
        var position = Position;
        foreach (var (layer, index) in _layers.Select((l, i) => (l, i)))
        {
            var n = RmsNorm(x, layer.InputNorm);
            var qkv = MatVec(layer.Qkv, n, n.Length);
            for (var i = 0; i < qkv.Length; i++)
            {
                qkv[i] += layer.QkvBias[i];
            }

            var qSize = _a.NumHeads * _a.HeadSize;
            var kvSize = _a.NumKvHeads * _a.HeadSize;
            var query = qkv[..qSize];
            var key = qkv[qSize..(qSize + kvSize)];
            var value = qkv[(qSize + kvSize)..];
            Rotate(query, _a.NumHeads, position);
            Rotate(key, _a.NumKvHeads, position);
            _keys[index].Add(key);
            _values[index].Add(value);
            var attention = Attend(query, _keys[index], _values[index]);
            var projected = MatVec(layer.Output, attention, attention.Length);
            for (var i = 0; i < h; i++)
            {
                x[i] += projected[i];
            }

            var m = RmsNorm(x, layer.PostAttentionNorm);
            var gateUp = MatVec(layer.GateUp, m, h);
            var f = _a.FfnSize;
            var act = new float[f];
            for (var i = 0; i < f; i++)
            {
                var g = gateUp[i];
                act[i] = g / (1 + MathF.Exp(-g)) * gateUp[f + i];
            }

            var down = MatVec(layer.Down, act, f);
            for (var i = 0; i < h; i++)
            {
                x[i] += down[i];
            }
        }

        var final = RmsNorm(x, _finalNorm);
        return MatVec(_embedding, final, h);
    }

    private float[] RmsNorm(float[] x, float[] gamma)
    {
        double sum = 0;
        foreach (var v in x)
        {
            sum += v * (double)v;
        }

        var scale = (float)(1 / Math.Sqrt((sum / x.Length) + _a.RmsNormEps));
        return [.. x.Select((v, i) => v * scale * gamma[i])];
    }

    private static float[] MatVec(float[] w, float[] x, int cols)
    {
        var rows = w.Length / cols;
        var y = new float[rows];
        for (var r = 0; r < rows; r++)
        {
            double acc = 0;
            for (var c = 0; c < cols; c++)
            {
                acc += w[(r * cols) + c] * (double)x[c];
            }

            y[r] = (float)acc;
        }

        return y;
    }

    private void Rotate(float[] heads, int count, int position)
    {
        var hd = _a.HeadSize;
        for (var head = 0; head < count; head++)
        {
            for (var i = 0; i < _a.RotaryDim / 2; i++)
            {
                var angle = position * Math.Pow(_a.RopeTheta, -2.0 * i / _a.RotaryDim);
                var cos = (float)Math.Cos(angle);
                var sin = (float)Math.Sin(angle);
                var at = (head * hd) + (2 * i);
                var x0 = heads[at];
                var x1 = heads[at + 1];
                heads[at] = (x0 * cos) - (x1 * sin);
                heads[at + 1] = (x1 * cos) + (x0 * sin);
            }
        }
    }

    private float[] Attend(float[] query, List<float[]> keys, List<float[]> values)
    {
        var hd = _a.HeadSize;
        var group = _a.NumHeads / _a.NumKvHeads;
        var output = new float[_a.NumHeads * hd];
        var scale = 1 / Math.Sqrt(hd);
        for (var head = 0; head < _a.NumHeads; head++)
        {
            var kvHead = head / group;
            var scores = new double[keys.Count];
            for (var t = 0; t < keys.Count; t++)
            {
                double dot = 0;
                for (var d = 0; d < hd; d++)
                {
                    dot += query[(head * hd) + d] * (double)keys[t][(kvHead * hd) + d];
                }

                scores[t] = dot * scale;
            }

            var max = scores.Max();
            var exp = scores.Select(s => Math.Exp(s - max)).ToArray();
            var sum = exp.Sum();
            for (var t = 0; t < keys.Count; t++)
            {
                for (var d = 0; d < hd; d++)
                {
                    output[(head * hd) + d] += (float)(exp[t] / sum * values[t][(kvHead * hd) + d]);
                }
            }
        }

        return output;
    }

    private sealed record Layer(float[] InputNorm, float[] Qkv, float[] QkvBias, float[] Output, float[] PostAttentionNorm, float[] GateUp, float[] Down);
}
