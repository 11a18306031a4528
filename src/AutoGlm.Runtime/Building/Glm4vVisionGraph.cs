using System.Runtime.InteropServices;
using AutoGlm.Runtime.Packages;

namespace AutoGlm.Runtime.Building;

/// <summary>The shape of GLM-4.1V's vision tower (<c>vision_config</c> of the checkpoint).</summary>
/// <param name="Hidden"><c>hidden_size</c> (1536 for GLM-4.1V-9B).</param>
/// <param name="Depth"><c>depth</c>: transformer blocks (24).</param>
/// <param name="Heads"><c>num_heads</c> (12).</param>
/// <param name="Intermediate"><c>intermediate_size</c>: the merger's SwiGLU width (13696).</param>
/// <param name="OutHidden"><c>out_hidden_size</c>: the trunk's width, also the blocks' MLP width (4096).</param>
/// <param name="PatchSize"><c>patch_size</c> (14).</param>
/// <param name="ImageSize"><c>image_size</c>: the learned position grid is (image_size / patch_size)² (336 → 24×24).</param>
/// <param name="MergeSize"><c>spatial_merge_size</c> (2).</param>
/// <param name="TemporalPatchSize"><c>temporal_patch_size</c> (2).</param>
/// <param name="RmsNormEps"><c>rms_norm_eps</c>.</param>
/// <param name="AttentionBias"><c>attention_bias</c>: a bias on the fused QKV.</param>
public sealed record Glm4vVisionSpec(int Hidden, int Depth, int Heads, int Intermediate, int OutHidden, int PatchSize, int ImageSize, int MergeSize, int TemporalPatchSize, float RmsNormEps, bool AttentionBias)
{
    public int HeadSize => Hidden / Heads;

    public int PositionSide => ImageSize / PatchSize;

    public int PatchValues => 3 * TemporalPatchSize * PatchSize * PatchSize;

    /// <summary>Every problem with the shape, each naming its <c>vision_config</c> key.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (Hidden <= 0 || Heads <= 0 || Hidden % Heads != 0 || HeadSize % 4 != 0)
        {
            errors.Add($"vision_config.hidden_size ({Hidden}) must be num_heads ({Heads}) × a head size that is a multiple of 4 (2-D rotary halves it twice)");
        }

        if (Depth <= 0 || Intermediate <= 0 || OutHidden <= 0)
        {
            errors.Add("vision_config.depth, intermediate_size and out_hidden_size must be positive");
        }

        if (PatchSize <= 0 || ImageSize < PatchSize || ImageSize % PatchSize != 0)
        {
            errors.Add($"vision_config.image_size ({ImageSize}) must be a positive multiple of patch_size ({PatchSize})");
        }

        if (MergeSize <= 0 || TemporalPatchSize <= 0)
        {
            errors.Add("vision_config.spatial_merge_size and temporal_patch_size must be positive");
        }

        return errors;
    }
}

/// <summary>
/// Writes GLM-4.1V's vision tower (<c>Glm4vVisionModel</c> of transformers' <c>modeling_glm4v.py</c>) as an ONNX
/// graph over one image's patches: the Conv3d patch embedding as a MatMul over the flattened patches, RMSNorm, the
/// learned position embeddings resampled bicubically (<c>GridSample</c>, as <c>F.grid_sample(…, mode="bicubic",
/// align_corners=False, padding_mode="border")</c>) at each patch's centre, <c>Depth</c> blocks (RMSNorm, fused QKV,
/// 2-D rotary over rows and columns, full attention, SwiGLU), the final RMSNorm, the 2×2 downsample convolution as a
/// MatMul over each merge block and the merger (linear, LayerNorm, GELU, SwiGLU).
/// </summary>
/// <remarks>
/// Inputs and output follow <see cref="SmartResizeInfo"/>. With <c>bits</c> 4 the blocks' and the merger's linears
/// are <c>MatMulNBits</c> (where the input width is a multiple of the block size); the patch embedding, the
/// downsample, the norms and the position table stay float (fp16 on disk when bits is 4 or 16).
/// </remarks>
internal sealed class Glm4vVisionGraph
{
    public const string PixelValues = "pixel_values";
    public const string Output = "image_embeds";
    private const int Alignment = 4096;

    private readonly Glm4vVisionSpec _spec;
    private readonly QuantizationInfo _quant;
    private readonly Int4Rule _rule;
    private readonly Stream _data;
    private readonly List<OnnxNode> _nodes = [];
    private readonly List<OnnxInitializer> _initializers = [];

    public Glm4vVisionGraph(Glm4vVisionSpec spec, QuantizationInfo quantization, Stream externalData, Int4Rule rule = Int4Rule.FullRange)
    {
        _spec = spec;
        _quant = quantization;
        _rule = rule;
        _data = externalData;
    }

    /// <summary>Per kind, the INT4 error sums (‖W − Q(W)‖², ‖W‖²); null to skip measuring.</summary>
    public Dictionary<string, (double ErrorSquares, double WeightSquares)>? QuantizationErrors { get; init; }

    /// <summary>Builds the graph; <paramref name="read"/> gives each <c>model.visual.</c> tensor (name without the prefix) as float32 of the shape asked.</summary>
    public byte[] Build(Func<string, long[], float[]> read, SmartResizeInfo io, string externalDataFileName)
    {
        var s = _spec;
        int d = s.Hidden, o = s.OutHidden, hd = s.HeadSize, m = s.MergeSize;

        // Patch embedding: Conv3d with kernel = stride over a patch's (channel, frame, row, column) values is one MatMul.
        var patch = read("patch_embed.proj.weight", [d, 3, s.TemporalPatchSize, s.PatchSize, s.PatchSize]);
        MatMulFloat(PixelValues, Transposed("patch_embed", patch, d, s.PatchValues), "patch_mm");
        Node("Add", ["patch_mm", Vector("patch_embed.bias", read("patch_embed.proj.bias", [d]))], ["patched"]);
        var x = RmsNorm("patched", "post_conv_layernorm", read("post_conv_layernorm.weight", [d]));

        // Learned positions [side², d] as an image [1, d, side, side], sampled at each patch's centre.
        var side = s.PositionSide;
        var table = read("embeddings.position_embedding.weight", [side * side, d]);
        var planes = new float[table.Length];
        for (var p = 0; p < side * side; p++)
        {
            for (var c = 0; c < d; c++)
            {
                planes[(c * side * side) + p] = table[(p * d) + c];
            }
        }

        Node("GridSample", [FloatTensor("position_embedding", planes, [1, d, side, side]), io.GridName], ["pos_sampled"],
            new OnnxAttribute("mode", String: "bicubic"), new OnnxAttribute("align_corners", Int: 0), new OnnxAttribute("padding_mode", String: "border"));
        Node("Reshape", ["pos_sampled", Longs("pos_shape", [d, -1])], ["pos_planes"]);
        Node("Transpose", ["pos_planes"], ["pos_rows"], new OnnxAttribute("perm", Ints: [1, 0]));
        Node("Add", [x, "pos_rows"], ["x_0"]);
        x = "x_0";

        // 2-D rotary: each head's first half turns with the patch's row, the second with its column (rotate_half layout).
        var quarter = hd / 4;
        var invFreq = new float[quarter];
        for (var i = 0; i < quarter; i++)
        {
            invFreq[i] = (float)(1.0 / Math.Pow(10000.0, 2.0 * i / (hd / 2)));
        }

        Node("Unsqueeze", [io.PositionsName, Longs("axis_last", [-1])], ["rot_pos"]);
        Node("Mul", ["rot_pos", FloatTensor("rot_inv_freq", invFreq, [1, 1, quarter])], ["rot_freqs"]);
        Node("Reshape", ["rot_freqs", Longs("rot_half_shape", [-1, hd / 2])], ["rot_half"]);
        Node("Concat", ["rot_half", "rot_half"], ["rot_emb"], new OnnxAttribute("axis", Int: -1));
        Node("Cos", ["rot_emb"], ["rot_cos2"]);
        Node("Sin", ["rot_emb"], ["rot_sin2"]);
        Node("Unsqueeze", ["rot_cos2", Longs("axis_1", [1])], ["rot_cos"]);
        Node("Unsqueeze", ["rot_sin2", "axis_1"], ["rot_sin"]);

        for (var layer = 0; layer < s.Depth; layer++)
        {
            x = Block(x, layer, read);
        }

        x = RmsNorm(x, "post_layernorm", read("post_layernorm.weight", [d]));

        // Downsample Conv2d (kernel = stride = merge) over each block of merge² consecutive patches: one MatMul over
        // the block's (row, column, channel) values.
        var conv = read("downsample.weight", [o, d, m, m]);
        var folded = new float[(long)m * m * d * o];
        for (var oc = 0; oc < o; oc++)
        {
            for (var c = 0; c < d; c++)
            {
                for (var i = 0; i < m; i++)
                {
                    for (var j = 0; j < m; j++)
                    {
                        folded[((((i * m) + j) * d) + c) * (long)o + oc] = conv[(((((long)oc * d) + c) * m) + i) * m + j];
                    }
                }
            }
        }

        Node("Reshape", [x, Longs("merge_shape", [-1, m * m * d])], ["merge_blocks"]);
        MatMulFloat("merge_blocks", FloatWeight("downsample.weight", folded, [m * m * d, o]), "downsample_mm");
        Node("Add", ["downsample_mm", Vector("downsample.bias", read("downsample.bias", [o]))], ["downsampled"]);

        // Patch merger: proj → LayerNorm → GELU (erf) → SwiGLU.
        var proj = Linear("downsampled", "merger.proj", read("merger.proj.weight", [o, o]), o, o);
        Node("LayerNormalization", [proj, Vector("merger.norm.weight", read("merger.post_projection_norm.weight", [o])), Vector("merger.norm.bias", read("merger.post_projection_norm.bias", [o]))], ["merger.normed"],
            new OnnxAttribute("axis", Int: -1), new OnnxAttribute("epsilon", Float: 1e-5f));
        Node("Gelu", "com.microsoft", ["merger.normed"], ["merger.gelu"]);
        var i2 = s.Intermediate;
        var gate = Linear("merger.gelu", "merger.gate_proj", read("merger.gate_proj.weight", [i2, o]), o, i2);
        var up = Linear("merger.gelu", "merger.up_proj", read("merger.up_proj.weight", [i2, o]), o, i2);
        Silu(gate, "merger.gate_act");
        Node("Mul", ["merger.gate_act", up], ["merger.swiglu"]);
        var down = Linear("merger.swiglu", "merger.down_proj", read("merger.down_proj.weight", [o, i2]), i2, o);
        Node("Identity", [down], [Output]);

        return OnnxModelWriter.Write(
            "glm4v-vision",
            _nodes,
            _initializers,
            [
                new OnnxValueInfo(PixelValues, OnnxDataType.Float, ["patches", s.PatchValues]),
                new OnnxValueInfo(io.PositionsName, OnnxDataType.Float, ["patches", 2]),
                new OnnxValueInfo(io.GridName, OnnxDataType.Float, [1, "patches", 1, 2]),
            ],
            [new OnnxValueInfo(Output, OnnxDataType.Float, ["tokens", o])],
            externalDataFileName,
            new Dictionary<string, long> { [""] = 17, ["com.microsoft"] = 1 });
    }

    private string Block(string x, int layer, Func<string, long[], float[]> read)
    {
        var s = _spec;
        int d = s.Hidden, hd = s.HeadSize, h = s.Heads, o = s.OutHidden;
        var p = $"blocks.{layer}.";
        var n1 = RmsNorm(x, p + "norm1", read(p + "norm1.weight", [d]));
        var qkv = Linear(n1, p + "attn.qkv", read(p + "attn.qkv.weight", [3 * d, d]), d, 3 * d);
        if (s.AttentionBias)
        {
            Node("Add", [qkv, Vector(p + "attn.qkv.bias", read(p + "attn.qkv.bias", [3 * d]))], [p + "attn.qkv_b"]);
            qkv = p + "attn.qkv_b";
        }

        Node("Reshape", [qkv, Longs(p + "qkv_shape", [-1, 3, h, hd])], [p + "qkv4"]);
        Node("Split", [p + "qkv4"], [p + "q3", p + "k3", p + "v3"], new OnnxAttribute("axis", Int: 1));
        var q = Rotate(p + "q3", p + "q");
        var k = Rotate(p + "k3", p + "k");
        Node("Reshape", [q, Longs(p + "bsd", [1, -1, d])], [p + "q_bsd"]);
        Node("Reshape", [k, p + "bsd"], [p + "k_bsd"]);
        Node("Reshape", [p + "v3", p + "bsd"], [p + "v_bsd"]);
        Node("MultiHeadAttention", "com.microsoft", [p + "q_bsd", p + "k_bsd", p + "v_bsd"], [p + "attended3"], new OnnxAttribute("num_heads", Int: h));
        Node("Reshape", [p + "attended3", Longs(p + "nd", [-1, d])], [p + "attended"]);
        var projected = Linear(p + "attended", p + "attn.proj", read(p + "attn.proj.weight", [d, d]), d, d);
        Node("Add", [x, projected], [p + "x1"]);
        var n2 = RmsNorm(p + "x1", p + "norm2", read(p + "norm2.weight", [d]));
        var gate = Linear(n2, p + "mlp.gate_proj", read(p + "mlp.gate_proj.weight", [o, d]), d, o);
        var up = Linear(n2, p + "mlp.up_proj", read(p + "mlp.up_proj.weight", [o, d]), d, o);
        Silu(gate, p + "mlp.gate_act");
        Node("Mul", [p + "mlp.gate_act", up], [p + "mlp.swiglu"]);
        var down = Linear(p + "mlp.swiglu", p + "mlp.down_proj", read(p + "mlp.down_proj.weight", [d, o]), o, d);
        Node("Add", [p + "x1", down], [p + "x2"]);
        return p + "x2";
    }

    /// <summary><c>x · cos + rotate_half(x) · sin</c> on <c>[patches, 1, heads, head]</c> (the split's shape), out <c>[patches, heads, head]</c>.</summary>
    private string Rotate(string input, string name)
    {
        Node("Squeeze", [input, "axis_1"], [name + "_nhd"]);
        Node("Split", [name + "_nhd"], [name + "_x1", name + "_x2"], new OnnxAttribute("axis", Int: -1));
        Node("Neg", [name + "_x2"], [name + "_nx2"]);
        Node("Concat", [name + "_nx2", name + "_x1"], [name + "_rot"], new OnnxAttribute("axis", Int: -1));
        Node("Mul", [name + "_nhd", "rot_cos"], [name + "_c"]);
        Node("Mul", [name + "_rot", "rot_sin"], [name + "_s"]);
        Node("Add", [name + "_c", name + "_s"], [name + "_rotated"]);
        return name + "_rotated";
    }

    private string RmsNorm(string input, string name, float[] weight)
    {
        Node("SimplifiedLayerNormalization", [input, Vector(name + ".weight", weight)], [name], new OnnxAttribute("epsilon", Float: _spec.RmsNormEps), new OnnxAttribute("axis", Int: -1));
        return name;
    }

    private void Silu(string input, string output)
    {
        Node("Sigmoid", [input], [output + "_sig"]);
        Node("Mul", [input, output + "_sig"], [output]);
    }

    /// <summary>A bias-free linear of an <c>[out, in]</c> weight: INT4 when the package is and <paramref name="inFeatures"/> fits the block, else float.</summary>
    private string Linear(string input, string name, float[] weight, int inFeatures, int outFeatures)
    {
        var output = name + "_out";
        if (_quant.Bits == 4 && inFeatures % _quant.BlockSize == 0)
        {
            var matrix = Int4Quantizer.Quantize(weight, outFeatures, inFeatures, _quant.BlockSize, _rule);
            if (QuantizationErrors is { } errors)
            {
                var kind = "vision." + (name.StartsWith("blocks.", StringComparison.Ordinal) ? name[(name.IndexOf('.', 7) + 1)..] : name);
                var (e, w) = Int4Quantizer.ErrorSquares(weight, matrix, outFeatures, inFeatures, _quant.BlockSize);
                errors[kind] = errors.TryGetValue(kind, out var sum) ? (sum.ErrorSquares + e, sum.WeightSquares + w) : (e, w);
            }

            var blocks = inFeatures / _quant.BlockSize;
            External(name + ".weight", OnnxDataType.UInt8, [outFeatures, blocks, _quant.BlockSize / 2], matrix.Packed);
            External(name + ".weight.scales", OnnxDataType.Float, [matrix.Scales.LongLength], MemoryMarshal.AsBytes(matrix.Scales.AsSpan()));
            List<string> inputs = [input, name + ".weight", name + ".weight.scales"];
            if (matrix.ZeroPoints is { } zeros)
            {
                External(name + ".weight.zero_points", OnnxDataType.UInt8, [zeros.LongLength], zeros);
                inputs.Add(name + ".weight.zero_points");
            }

            Node("MatMulNBits", "com.microsoft", inputs, [output],
                new("K", Int: inFeatures), new("N", Int: outFeatures), new("bits", Int: 4), new("block_size", Int: _quant.BlockSize), new("accuracy_level", Int: _quant.AccuracyLevel));
            return output;
        }

        MatMulFloat(input, Transposed(name, weight, outFeatures, inFeatures), output);
        return output;
    }

    private void MatMulFloat(string input, string weight, string output) => Node("MatMul", [input, weight], [output]);

    /// <summary>An <c>[rows, cols]</c> (out × in) weight written as its <c>[cols, rows]</c> transpose, for MatMul.</summary>
    private string Transposed(string name, float[] weight, int rows, int cols)
    {
        var transposed = new float[weight.LongLength];
        Parallel.For(0, rows, r =>
        {
            for (var c = 0; c < cols; c++)
            {
                transposed[((long)c * rows) + r] = weight[((long)r * cols) + c];
            }
        });
        return FloatWeight(name + ".weight", transposed, [cols, rows]);
    }

    /// <summary>A matrix weight: float32, or fp16 on disk widened by a Cast that the session folds at load.</summary>
    private string FloatWeight(string name, float[] values, long[] dims)
    {
        if (_quant.Bits == 32)
        {
            return FloatTensor(name, values, dims);
        }

        var halves = new Half[values.LongLength];
        Parallel.For(0, values.Length, i => halves[i] = (Half)values[i]);
        External(name + ".half", OnnxDataType.Float16, dims, MemoryMarshal.AsBytes(halves.AsSpan()));
        Node("Cast", [name + ".half"], [name], new OnnxAttribute("to", Int: (long)OnnxDataType.Float));
        return name;
    }

    /// <summary>A vector (norm weights, biases), always float32.</summary>
    private string Vector(string name, float[] values) => FloatTensor(name, values, [values.Length]);

    private string FloatTensor(string name, float[] values, long[] dims)
    {
        External(name, OnnxDataType.Float, dims, MemoryMarshal.AsBytes(values.AsSpan()));
        return name;
    }

    private string Longs(string name, long[] values)
    {
        if (!_initializers.Any(i => i.Name == name))
        {
            _initializers.Add(new OnnxInitializer(name, OnnxDataType.Int64, [values.Length], MemoryMarshal.AsBytes<long>(values).ToArray(), 0, 0));
        }

        return name;
    }

    private void Node(string op, IReadOnlyList<string> inputs, IReadOnlyList<string> outputs, params OnnxAttribute[] attributes) =>
        _nodes.Add(new OnnxNode(op, "", inputs, outputs, attributes));

    private void Node(string op, string domain, IReadOnlyList<string> inputs, IReadOnlyList<string> outputs, params OnnxAttribute[] attributes) =>
        _nodes.Add(new OnnxNode(op, domain, inputs, outputs, attributes));

    private void External(string name, OnnxDataType type, long[] dims, ReadOnlySpan<byte> bytes)
    {
        var padding = (Alignment - (_data.Position % Alignment)) % Alignment;
        _data.Write(new byte[padding]);
        var offset = _data.Position;
        _data.Write(bytes);
        _initializers.Add(new OnnxInitializer(name, type, dims, null, offset, bytes.Length));
    }
}
