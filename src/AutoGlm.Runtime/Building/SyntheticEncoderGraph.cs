using AutoGlm.Runtime.Numerics;
using System.Runtime.InteropServices;
using AutoGlm.Runtime.Packages;

namespace AutoGlm.Runtime.Building;

/// <summary>The shape of a synthetic adapter encoder (small, float32, weights inside the model file).</summary>
/// <param name="Width">The encoder's own hidden width.</param>
/// <param name="Layers">Transformer blocks (single-head self-attention and a SiLU MLP, pre-norm).</param>
public sealed record SyntheticEncoderSpec(int Width, int Layers);

/// <summary>
/// Writes the small seeded vision and audio encoders of the synthetic packages: a patch embedding (vision) or a
/// convolutional front end (audio), a few transformer blocks, and a projection onto the trunk's hidden size whose
/// rows have the token embeddings' scale, so that what an image or clip holds moves the trunk's answer.
/// </summary>
/// <remarks>Deterministic: every tensor comes from its own named stream of the seed.</remarks>
internal sealed class SyntheticEncoderGraph
{
    private readonly List<OnnxNode> _nodes = [];
    private readonly List<OnnxInitializer> _initializers = [];
    private readonly ulong _seed;
    private readonly string _prefix;

    private SyntheticEncoderGraph(ulong seed, string prefix)
    {
        _seed = seed;
        _prefix = prefix;
    }

    /// <summary>A ViT-style encoder: <c>[tiles, 3, S, S]</c> → <c>[tiles, (S/patch)², hidden]</c>.</summary>
    public static byte[] Vision(VisionAdapterInfo info, int patchSize, SyntheticEncoderSpec spec, int trunkHidden, ulong seed)
    {
        var g = new SyntheticEncoderGraph(seed, "vision.");
        var d = spec.Width;
        var grid = info.ImageSize / patchSize;
        var patches = grid * grid;
        g.Node("Conv", [info.InputName, g.Weight("patch.weight", [d, 3, patchSize, patchSize], 3 * patchSize * patchSize), g.Weight("patch.bias", [d], 0, 0.02f)], ["patched"],
            new OnnxAttribute("kernel_shape", Ints: [patchSize, patchSize]), new OnnxAttribute("strides", Ints: [patchSize, patchSize]));
        g.Node("Reshape", ["patched", g.Longs("flat_shape", [0, d, -1])], ["flat"]);
        g.Node("Transpose", ["flat"], ["tokens"], new OnnxAttribute("perm", Ints: [0, 2, 1]));
        g.Node("Add", ["tokens", g.Weight("position", [patches, d], 0, 0.5f)], ["x0"]);
        var x = g.Blocks("x0", spec);
        g.Project(x, d, trunkHidden, info.OutputName);
        return g.Write(
            "synthetic-vision-encoder",
            [new OnnxValueInfo(info.InputName, OnnxDataType.Float, ["tiles", 3, info.ImageSize, info.ImageSize])],
            [new OnnxValueInfo(info.OutputName, OnnxDataType.Float, ["tiles", patches, trunkHidden])]);
    }

    /// <summary>A Whisper-style encoder: <c>[1, mel, frames]</c> → <c>[1, frames / frames_per_token, hidden]</c>.</summary>
    public static byte[] Audio(AudioAdapterInfo info, SyntheticEncoderSpec spec, int trunkHidden, ulong seed)
    {
        var g = new SyntheticEncoderGraph(seed, "audio.");
        var d = spec.Width;
        var m = info.MelBins;
        var k = info.FramesPerToken;
        g.Node("Conv", [info.InputName, g.Weight("conv1.weight", [d, m, 3], m * 3), g.Weight("conv1.bias", [d], 0, 0.02f)], ["conv1"],
            new OnnxAttribute("kernel_shape", Ints: [3]), new OnnxAttribute("pads", Ints: [1, 1]));
        g.Silu("conv1", "act1");
        g.Node("Conv", ["act1", g.Weight("conv2.weight", [d, d, k], d * k), g.Weight("conv2.bias", [d], 0, 0.02f)], ["conv2"],
            new OnnxAttribute("kernel_shape", Ints: [k]), new OnnxAttribute("strides", Ints: [k]));
        g.Silu("conv2", "act2");
        g.Node("Transpose", ["act2"], ["x0"], new OnnxAttribute("perm", Ints: [0, 2, 1]));
        var x = g.Blocks("x0", spec);
        g.Project(x, d, trunkHidden, info.OutputName);
        return g.Write(
            "synthetic-audio-encoder",
            [new OnnxValueInfo(info.InputName, OnnxDataType.Float, [1, m, "frames"])],
            [new OnnxValueInfo(info.OutputName, OnnxDataType.Float, [1, "tokens", trunkHidden])]);
    }

    private string Blocks(string x, SyntheticEncoderSpec spec)
    {
        var d = spec.Width;
        for (var layer = 0; layer < spec.Layers; layer++)
        {
            var p = $"blocks.{layer}.";
            var n1 = Norm(x, p + "norm1", d);
            var q = Linear(n1, p + "q", d, d);
            var k = Linear(n1, p + "k", d, d);
            var v = Linear(n1, p + "v", d, d);
            Node("Transpose", [k], [p + "kT"], new OnnxAttribute("perm", Ints: [0, 2, 1]));
            Node("MatMul", [q, p + "kT"], [p + "scores_raw"]);
            Node("Mul", [p + "scores_raw", Scalar(p + "scale", 1f / MathF.Sqrt(d))], [p + "scores"]);
            Node("Softmax", [p + "scores"], [p + "probs"], new OnnxAttribute("axis", Int: -1));
            Node("MatMul", [p + "probs", v], [p + "attended"]);
            var o = Linear(p + "attended", p + "o", d, d);
            Node("Add", [x, o], [p + "x1"]);
            var n2 = Norm(p + "x1", p + "norm2", d);
            var up = Linear(n2, p + "up", d, 2 * d);
            Silu(up, p + "up_act");
            var down = Linear(p + "up_act", p + "down", 2 * d, d);
            Node("Add", [p + "x1", down], [p + "x2"]);
            x = p + "x2";
        }

        return x;
    }

    /// <summary>Projects onto the trunk's width, then normalizes to the token embeddings' RMS (sqrt(3/hidden)).</summary>
    private void Project(string x, int d, int trunkHidden, string output)
    {
        var projected = Linear(x, "projection", d, trunkHidden);
        var gamma = new float[trunkHidden];
        Array.Fill(gamma, MathF.Sqrt(3f / trunkHidden));
        Node("LayerNormalization", [projected, Inline("out_norm.weight", gamma, [trunkHidden]), Inline("out_norm.bias", new float[trunkHidden], [trunkHidden])], [output],
            new OnnxAttribute("axis", Int: -1), new OnnxAttribute("epsilon", Float: 1e-5f));
    }

    private string Linear(string input, string name, int inFeatures, int outFeatures)
    {
        Node("MatMul", [input, Weight(name + ".weight", [inFeatures, outFeatures], inFeatures)], [name + "_mm"]);
        Node("Add", [name + "_mm", Weight(name + ".bias", [outFeatures], 0, 0.02f)], [name]);
        return name;
    }

    private string Norm(string input, string name, int width)
    {
        var gamma = new float[width];
        SeededRandom.ForStream(_seed, _prefix + name + ".weight").FillUniform(gamma, 0.1f);
        for (var i = 0; i < width; i++)
        {
            gamma[i] += 1f;
        }

        Node("LayerNormalization", [input, Inline(name + ".weight", gamma, [width]), Inline(name + ".bias", new float[width], [width])], [name],
            new OnnxAttribute("axis", Int: -1), new OnnxAttribute("epsilon", Float: 1e-5f));
        return name;
    }

    private void Silu(string input, string output)
    {
        Node("Sigmoid", [input], [output + "_gate"]);
        Node("Mul", [input, output + "_gate"], [output]);
    }

    /// <summary>A seeded uniform weight: limit sqrt(3 / fan-in) keeps activations near unit size, or an explicit limit.</summary>
    private string Weight(string name, long[] dims, int fanIn, float limit = 0)
    {
        var count = dims.Aggregate(1L, (a, b) => a * b);
        var values = new float[count];
        SeededRandom.ForStream(_seed, _prefix + name).FillUniform(values, fanIn > 0 ? MathF.Sqrt(3f / fanIn) : limit);
        return Inline(name, values, dims);
    }

    private string Scalar(string name, float value) => Inline(name, [value], []);

    private string Longs(string name, long[] values)
    {
        _initializers.Add(new OnnxInitializer(name, OnnxDataType.Int64, [values.Length], MemoryMarshal.AsBytes<long>(values).ToArray(), 0, 0));
        return name;
    }

    private string Inline(string name, float[] values, long[] dims)
    {
        _initializers.Add(new OnnxInitializer(name, OnnxDataType.Float, dims, MemoryMarshal.AsBytes<float>(values).ToArray(), 0, 0));
        return name;
    }

    private void Node(string op, IReadOnlyList<string> inputs, IReadOnlyList<string> outputs, params OnnxAttribute[] attributes) =>
        _nodes.Add(new OnnxNode(op, "", inputs, outputs, attributes));

    private byte[] Write(string name, IReadOnlyList<OnnxValueInfo> inputs, IReadOnlyList<OnnxValueInfo> outputs) =>
        OnnxModelWriter.Write(name, _nodes, _initializers, inputs, outputs, externalDataFile: "", new Dictionary<string, long> { [""] = 17 });
}
