using System.Runtime.InteropServices;
using AutoGlm.Runtime.Onnx;
using AutoGlm.Runtime.Packages;

namespace AutoGlm.Runtime.Building;

/// <summary>Builds the ONNX graph of a GLM decoder with INT4 (or float32) linear layers and writes its weights.</summary>
/// <remarks>
/// Per layer: RMSNorm → QKV (<c>MatMulNBits</c> + bias) → <c>GroupQueryAttention</c> (rotary on the first
/// <c>rotary_dim</c> dims of each head, interleaved pairs; KV cache in BNSH, shareable between past and present)
/// → output projection → [sandwich RMSNorm] → residual add fused into the next RMSNorm
/// (<c>SkipSimplifiedLayerNormalization</c>) → SwiGLU MLP → [sandwich RMSNorm]. The bracketed norms are GLM-4-0414's
/// (<see cref="ModelArchitecture.SandwichNorms"/>). A tied INT4 LM head reuses the embedding's bytes; an untied one
/// has its own; either runs on the last position only. With <see cref="QuantizationInfo.Bits"/> 32 every linear layer
/// is a float <c>MatMul</c> over a transposed <c>[in, out]</c> weight (for checking a conversion against a float
/// reference); with 16 the weights are stored as float16 and cast to float32 once, at session start.
/// </remarks>
internal sealed class GlmDecoderGraph
{
    private const int Alignment = 4096;

    private readonly ModelArchitecture _arch;
    private readonly QuantizationInfo _quant;
    private readonly List<OnnxNode> _nodes = [];
    private readonly List<OnnxInitializer> _initializers = [];
    private readonly Stream _data;

    private readonly bool _genAiInterface;
    private readonly HashSet<string> _withZeroPoints = new(StringComparer.Ordinal);
    private IReadOnlyDictionary<string, Int4Matrix>? _layerQuantized;
    private (List<OnnxValueInfo> Inputs, List<OnnxValueInfo> Outputs, string DataFile)? _built;

    /// <param name="architecture">The shape.</param>
    /// <param name="quantization">The INT4 settings.</param>
    /// <param name="externalData">Where weights are written.</param>
    /// <param name="genAiInterface">
    /// Write ONNX Runtime GenAI's decoder interface instead of the engine's: <c>input_ids</c> and
    /// <c>attention_mask</c> in (the INT4 embedding gathered in the graph), logits of every position out. Same
    /// weights, same layers; used only to measure GenAI side by side with the engine.
    /// </param>
    public GlmDecoderGraph(ModelArchitecture architecture, QuantizationInfo quantization, Stream externalData, bool genAiInterface = false)
    {
        _arch = architecture;
        _quant = quantization;
        _data = externalData;
        _genAiInterface = genAiInterface;
    }

    /// <summary>
    /// When set, each INT4 tensor's quantization error is added here by kind (<c>qkv</c>, <c>o_proj</c>, <c>gate_up</c>,
    /// <c>down</c>, <c>embed_tokens</c>, <c>lm_head</c>): the sum of squared errors and the sum of squared weights.
    /// </summary>
    public Dictionary<string, (double ErrorSquares, double WeightSquares)>? QuantizationErrors { get; init; }

    /// <summary>
    /// How float weights are rounded to INT4 (the synthetic builder's <see cref="Int4Rule.MaxOver7"/> by default). The
    /// embedding is never given zero points (the engine's lookup reads it with the default zero point 8): under
    /// <see cref="Int4Rule.ZeroPoints"/> it is rounded by <see cref="Int4Rule.FullRange"/>.
    /// </summary>
    public Int4Rule Rule { get; init; } = Int4Rule.MaxOver7;

    /// <summary>Offsets of the embedding's INT4 bytes and scales in the external-data file.</summary>
    public (long Weight, long Scales) EmbeddingOffsets { get; private set; }

    /// <summary>Writes the weights to the external-data stream and returns the serialized model.</summary>
    public byte[] Build(IGlmWeights weights, string externalDataFileName)
    {
        var h = _arch.HiddenSize;
        var q = _arch.NumHeads * _arch.HeadSize;
        var f = _arch.FfnSize;
        var qkv = (_arch.NumHeads + 2 * _arch.NumKvHeads) * _arch.HeadSize;
        if (_genAiInterface && !IsInt4)
        {
            throw new RuntimeException(RuntimeErrorCode.InvalidRequest, "the GenAI variant needs INT4 weights");
        }

        string lmHead;
        var embeddingValues = weights.Embedding();
        if (IsInt4)
        {
            lmHead = QuantizedInitializer("embed_tokens", embeddingValues, _arch.VocabSize, h);
            EmbeddingOffsets = (_initializers[^2].ExternalOffset, _initializers[^1].ExternalOffset);
        }
        else
        {
            if (_quant.Bits == 16)
            {
                Half16("embed_tokens.weight", embeddingValues, [_arch.VocabSize, h]);
            }
            else
            {
                Float("embed_tokens.weight", embeddingValues, [_arch.VocabSize, h]);
            }

            EmbeddingOffsets = (_initializers[^1].ExternalOffset, 0);
            lmHead = _arch.TiedEmbeddings ? LinearWeight("lm_head", embeddingValues, _arch.VocabSize, h) : string.Empty;
        }

        embeddingValues = null; // the largest tensor: let it go before the next is read
        if (!_arch.TiedEmbeddings)
        {
            var untied = weights.LmHead() ?? throw new RuntimeException(RuntimeErrorCode.InvalidRequest, "the architecture has an untied LM head but the weights have none");
            lmHead = LinearWeight("lm_head", untied, _arch.VocabSize, h);
        }

        if (Mrope)
        {
            AddMropeInputs();
        }
        else
        {
            AddRotaryCaches();
        }

        Inline("split_gate_up", OnnxDataType.Int64, [2], MemoryMarshal.AsBytes<long>([f, f]).ToArray());
        Inline("slice_starts", OnnxDataType.Int64, [1], MemoryMarshal.AsBytes<long>([-1L]).ToArray());
        Inline("slice_ends", OnnxDataType.Int64, [1], MemoryMarshal.AsBytes<long>([long.MaxValue]).ToArray());
        Inline("slice_axes", OnnxDataType.Int64, [1], MemoryMarshal.AsBytes<long>([1L]).ToArray());
        if (_genAiInterface)
        {
            AddGenAiInputs();
        }

        string residual = DecoderIo.InputsEmbeds;
        string? pendingAdd = null; // MLP output waiting to be added to the residual stream
        for (var layer = 0; layer < _arch.Layers; layer++)
        {
            var w = weights.Layer(layer);
            _layerQuantized = w.Quantized;
            var p = $"layers.{layer}.";
            var inputNorm = Float(p + "input_norm.weight", w.InputNorm, [h]);
            string normed;
            if (pendingAdd is null)
            {
                normed = p + "input_norm";
                Node("SimplifiedLayerNormalization", "", [residual, inputNorm], [normed], Epsilon(), new OnnxAttribute("axis", Int: -1));
            }
            else
            {
                normed = p + "input_norm";
                var sum = p + "residual_in";
                Node("SkipSimplifiedLayerNormalization", "com.microsoft", [pendingAdd, residual, inputNorm], [normed, "", "", sum], Epsilon());
                residual = sum;
            }

            var qkvWeight = LinearWeight(p + "qkv", w.QkvWeight, qkv, h);
            MatMul(normed, qkvWeight, h, qkv, p + "qkv_nobias");
            Node("Add", "", [p + "qkv_nobias", Float(p + "qkv.bias", w.QkvBias, [qkv])], [p + "qkv"]);
            Node(
                "GroupQueryAttention",
                "com.microsoft",
                Mrope
                    ? [RotateMrope(p), "", "", DecoderIo.PastKey(layer), DecoderIo.PastValue(layer), DecoderIo.SeqlensK, DecoderIo.TotalSequenceLength]
                    : [p + "qkv", "", "", DecoderIo.PastKey(layer), DecoderIo.PastValue(layer), DecoderIo.SeqlensK, DecoderIo.TotalSequenceLength, "cos_cache", "sin_cache"],
                [p + "attention", DecoderIo.PresentKey(layer), DecoderIo.PresentValue(layer)],
                new("num_heads", Int: _arch.NumHeads),
                new("kv_num_heads", Int: _arch.NumKvHeads),
                new("do_rotary", Int: Mrope ? 0 : 1),
                new("rotary_interleaved", Int: 1));
            MatMul(p + "attention", LinearWeight(p + "o_proj", w.OutputWeight, h, q), q, h, p + "attention_out");
            var attentionOut = SandwichNorm(p + "attention_out", p + "post_self_attn_norm", w.PostSelfAttentionNorm);

            var postNorm = Float(p + "post_attention_norm.weight", w.PostAttentionNorm, [h]);
            Node("SkipSimplifiedLayerNormalization", "com.microsoft", [attentionOut, residual, postNorm], [p + "post_attention_norm", "", "", p + "residual_mid"], Epsilon());
            residual = p + "residual_mid";

            MatMul(p + "post_attention_norm", LinearWeight(p + "gate_up", w.GateUpWeight, 2 * f, h), h, 2 * f, p + "gate_up");
            Node("Split", "", [p + "gate_up", "split_gate_up"], [p + "gate", p + "up"], new OnnxAttribute("axis", Int: -1));
            Node("Sigmoid", "", [p + "gate"], [p + "gate_sigmoid"]);
            Node("Mul", "", [p + "gate", p + "gate_sigmoid"], [p + "gate_silu"]);
            Node("Mul", "", [p + "gate_silu", p + "up"], [p + "swiglu"]);
            MatMul(p + "swiglu", LinearWeight(p + "down", w.DownWeight, h, f), f, h, p + "mlp_out");
            pendingAdd = SandwichNorm(p + "mlp_out", p + "post_mlp_norm", w.PostMlpNorm);
        }

        var finalNorm = Float("final_norm.weight", weights.FinalNorm(), [h]);
        Node("SkipSimplifiedLayerNormalization", "com.microsoft", [pendingAdd!, residual, finalNorm], ["final_hidden"], Epsilon());
        List<OnnxValueInfo> inputs, outputs;
        if (_genAiInterface)
        {
            MatMul("final_hidden", lmHead, h, _arch.VocabSize, DecoderIo.Logits);
            inputs =
            [
                new("input_ids", OnnxDataType.Int64, ["batch_size", "sequence_length"]),
                new("attention_mask", OnnxDataType.Int64, ["batch_size", "total_sequence_length"]),
            ];
            outputs = [new(DecoderIo.Logits, OnnxDataType.Float, ["batch_size", "sequence_length", _arch.VocabSize])];
        }
        else
        {
            Node("Slice", "", ["final_hidden", "slice_starts", "slice_ends", "slice_axes"], ["last_hidden"]);
            MatMul("last_hidden", lmHead, h, _arch.VocabSize, DecoderIo.Logits);
            inputs =
            [
                new(DecoderIo.InputsEmbeds, OnnxDataType.Float, ["batch_size", "sequence_length", h]),
                new(DecoderIo.SeqlensK, OnnxDataType.Int32, ["batch_size"]),
                new(DecoderIo.TotalSequenceLength, OnnxDataType.Int32, []),
            ];
            if (Mrope)
            {
                inputs.Add(new(DecoderIo.RotaryCos, OnnxDataType.Float, ["batch_size", "sequence_length", _arch.RotaryDim / 2]));
                inputs.Add(new(DecoderIo.RotarySin, OnnxDataType.Float, ["batch_size", "sequence_length", _arch.RotaryDim / 2]));
            }
            outputs = [new(DecoderIo.Logits, OnnxDataType.Float, ["batch_size", 1, _arch.VocabSize])];
        }

        for (var layer = 0; layer < _arch.Layers; layer++)
        {
            object[] past = ["batch_size", _arch.NumKvHeads, "past_sequence_length", _arch.HeadSize];
            object[] present = ["batch_size", _arch.NumKvHeads, "present_sequence_length", _arch.HeadSize];
            inputs.Add(new(DecoderIo.PastKey(layer), OnnxDataType.Float, past));
            inputs.Add(new(DecoderIo.PastValue(layer), OnnxDataType.Float, past));
            outputs.Add(new(DecoderIo.PresentKey(layer), OnnxDataType.Float, present));
            outputs.Add(new(DecoderIo.PresentValue(layer), OnnxDataType.Float, present));
        }

        if (!(IsInt4 && _arch.TiedEmbeddings))
        {
            // No node reads the embedding (the engine looks tokens up itself): keep its bytes, not an initializer
            // that ONNX Runtime would warn about and drop.
            _initializers.RemoveAll(i => i.Name is "embed_tokens.weight" or "embed_tokens.weight.scales");
        }

        _built = (inputs, outputs, externalDataFileName);
        return OnnxModelWriter.Write(
            "glm_decoder",
            _nodes,
            _initializers,
            inputs,
            outputs,
            externalDataFileName,
            new Dictionary<string, long> { [""] = 17, ["com.microsoft"] = 1 });
    }

    /// <summary>
    /// After <see cref="Build"/>: the same decoder over the same external data with its KV cache (<c>past_*</c>,
    /// <c>present.*</c>) in float16. Every <c>GroupQueryAttention</c> runs in float16 — its float inputs cast down, its
    /// output cast back up — so the cache is half the size; everything else stays float32.
    /// </summary>
    public byte[] BuildKvFloat16()
    {
        var (inputs, outputs, dataFile) = _built ?? throw new InvalidOperationException("build the float32 decoder first");
        var nodes = new List<OnnxNode>(_nodes.Count + (3 * _arch.Layers));
        var halves = new HashSet<string>(StringComparer.Ordinal);
        string Half(string name)
        {
            var half = name + ".f16";
            if (halves.Add(half))
            {
                nodes.Add(new OnnxNode("Cast", "", [name], [half], [new OnnxAttribute("to", Int: (long)OnnxDataType.Float16)]));
            }

            return half;
        }

        // GroupQueryAttention's inputs of its type T: query, key, value, cos and sin caches, attention bias, head sink.
        int[] typed = [0, 1, 2, 7, 8, 10, 11];
        foreach (var node in _nodes)
        {
            if (node.OpType != "GroupQueryAttention")
            {
                nodes.Add(node);
                continue;
            }

            var nodeInputs = node.Inputs.ToArray();
            foreach (var i in typed.Where(i => i < nodeInputs.Length && nodeInputs[i].Length > 0))
            {
                nodeInputs[i] = Half(nodeInputs[i]);
            }

            var nodeOutputs = node.Outputs.ToArray();
            var attention = nodeOutputs[0];
            nodeOutputs[0] = attention + ".f16";
            nodes.Add(node with { Inputs = nodeInputs, Outputs = nodeOutputs });
            nodes.Add(new OnnxNode("Cast", "", [nodeOutputs[0]], [attention], [new OnnxAttribute("to", Int: (long)OnnxDataType.Float)]));
        }

        static bool IsCache(string name) => name.StartsWith("past_key_values.", StringComparison.Ordinal) || name.StartsWith("present.", StringComparison.Ordinal);
        List<OnnxValueInfo> Retyped(List<OnnxValueInfo> values) => [.. values.Select(v => IsCache(v.Name) ? v with { Type = OnnxDataType.Float16 } : v)];
        return OnnxModelWriter.Write(
            "glm_decoder",
            nodes,
            _initializers,
            Retyped(inputs),
            Retyped(outputs),
            dataFile,
            new Dictionary<string, long> { [""] = 17, ["com.microsoft"] = 1 });
    }

    /// <summary>
    /// GenAI's inputs turned into the engine's: the embedding gathered from the same INT4 bytes
    /// (<c>GatherBlockQuantized</c>), <c>seqlens_k</c> = sum(mask) − 1, total length = the mask's width.
    /// </summary>
    private void AddGenAiInputs()
    {
        var h = _arch.HiddenSize;
        var weight = _initializers.Single(i => i.Name == "embed_tokens.weight");
        var scales = _initializers.Single(i => i.Name == "embed_tokens.weight.scales");
        _initializers.Add(weight with { Name = "embed_tokens.gather", Dims = [_arch.VocabSize, h / 2] });
        _initializers.Add(scales with { Name = "embed_tokens.gather.scales", Dims = [_arch.VocabSize, h / _quant.BlockSize] });
        Node(
            "GatherBlockQuantized",
            "com.microsoft",
            ["embed_tokens.gather", "input_ids", "embed_tokens.gather.scales"],
            [DecoderIo.InputsEmbeds],
            new OnnxAttribute("gather_axis", Int: 0),
            new OnnxAttribute("quantize_axis", Int: 1),
            new OnnxAttribute("block_size", Int: _quant.BlockSize),
            new OnnxAttribute("bits", Int: _quant.Bits));
        Inline("one", OnnxDataType.Int64, [], MemoryMarshal.AsBytes<long>([1L]).ToArray());
        Inline("axis_one", OnnxDataType.Int64, [1], MemoryMarshal.AsBytes<long>([1L]).ToArray());
        Node("ReduceSum", "", ["attention_mask", "axis_one"], ["mask_sum"], new OnnxAttribute("keepdims", Int: 0));
        Node("Sub", "", ["mask_sum", "one"], ["seqlens_k_int64"]);
        Node("Cast", "", ["seqlens_k_int64"], [DecoderIo.SeqlensK], new OnnxAttribute("to", Int: (long)OnnxDataType.Int32));
        Node("Shape", "", ["attention_mask"], ["mask_shape"]);
        Node("Gather", "", ["mask_shape", "one"], ["total_int64"], new OnnxAttribute("axis", Int: 0));
        Node("Cast", "", ["total_int64"], [DecoderIo.TotalSequenceLength], new OnnxAttribute("to", Int: (long)OnnxDataType.Int32));
    }

    /// <summary>Whether the graph takes per-token M-RoPE tables (GLM-4.1V) instead of rotating inside GroupQueryAttention.</summary>
    private bool Mrope => _arch.MropeSection is not null && !_genAiInterface;

    /// <summary>The per-token cos/sin <c>[batch, seq, rotary_dim/2]</c>, as <c>[batch, seq, 1, rotary_dim/2, 1]</c> to broadcast over heads and pairs.</summary>
    private void AddMropeInputs()
    {
        Inline("mrope_axes", OnnxDataType.Int64, [2], MemoryMarshal.AsBytes<long>([2L, 4L]).ToArray());
        Node("Unsqueeze", "", [DecoderIo.RotaryCos, "mrope_axes"], ["mrope_cos"]);
        Node("Unsqueeze", "", [DecoderIo.RotarySin, "mrope_axes"], ["mrope_sin"]);
        int heads = _arch.NumHeads, kv = _arch.NumKvHeads, hd = _arch.HeadSize, rd = _arch.RotaryDim;
        Inline("mrope_split_qkv", OnnxDataType.Int64, [3], MemoryMarshal.AsBytes<long>([(long)heads * hd, (long)kv * hd, (long)kv * hd]).ToArray());
        Inline("mrope_split_rot", OnnxDataType.Int64, [2], MemoryMarshal.AsBytes<long>([rd, hd - rd]).ToArray());
        Inline("mrope_q_heads", OnnxDataType.Int64, [4], MemoryMarshal.AsBytes<long>([0L, 0L, heads, hd]).ToArray());
        Inline("mrope_k_heads", OnnxDataType.Int64, [4], MemoryMarshal.AsBytes<long>([0L, 0L, kv, hd]).ToArray());
        Inline("mrope_pairs", OnnxDataType.Int64, [5], MemoryMarshal.AsBytes<long>([0L, 0L, 0L, rd / 2, 2L]).ToArray());
        Inline("mrope_rot_back", OnnxDataType.Int64, [4], MemoryMarshal.AsBytes<long>([0L, 0L, 0L, rd]).ToArray());
        Inline("mrope_flat", OnnxDataType.Int64, [3], MemoryMarshal.AsBytes<long>([0L, 0L, -1L]).ToArray());
    }

    /// <summary>
    /// Turns the query and key parts of a layer's packed QKV by the per-token tables, in GLM's interleaved pairs
    /// (<c>x[2i], x[2i+1]</c> by frequency i) on the first rotary_dim of each head, and packs them back.
    /// </summary>
    private string RotateMrope(string p)
    {
        Node("Split", "", [p + "qkv", "mrope_split_qkv"], [p + "q_flat", p + "k_flat", p + "v_flat"], new OnnxAttribute("axis", Int: -1));
        string Turn(string flat, string heads, string name)
        {
            Node("Reshape", "", [flat, heads], [name + "_heads"]);
            var partial = _arch.RotaryDim < _arch.HeadSize;
            var rot = name + "_heads";
            if (partial)
            {
                Node("Split", "", [name + "_heads", "mrope_split_rot"], [name + "_rot", name + "_pass"], new OnnxAttribute("axis", Int: -1));
                rot = name + "_rot";
            }

            Node("Reshape", "", [rot, "mrope_pairs"], [name + "_pairs"]);
            Node("Split", "", [name + "_pairs"], [name + "_even", name + "_odd"], new OnnxAttribute("axis", Int: -1));
            Node("Mul", "", [name + "_even", "mrope_cos"], [name + "_ec"]);
            Node("Mul", "", [name + "_odd", "mrope_sin"], [name + "_os"]);
            Node("Sub", "", [name + "_ec", name + "_os"], [name + "_even2"]);
            Node("Mul", "", [name + "_odd", "mrope_cos"], [name + "_oc"]);
            Node("Mul", "", [name + "_even", "mrope_sin"], [name + "_es"]);
            Node("Add", "", [name + "_oc", name + "_es"], [name + "_odd2"]);
            Node("Concat", "", [name + "_even2", name + "_odd2"], [name + "_pairs2"], new OnnxAttribute("axis", Int: -1));
            Node("Reshape", "", [name + "_pairs2", "mrope_rot_back"], [name + "_rot2"]);
            var turned = name + "_rot2";
            if (partial)
            {
                Node("Concat", "", [name + "_rot2", name + "_pass"], [name + "_heads2"], new OnnxAttribute("axis", Int: -1));
                turned = name + "_heads2";
            }

            Node("Reshape", "", [turned, "mrope_flat"], [name + "_turned"]);
            return name + "_turned";
        }

        var q = Turn(p + "q_flat", "mrope_q_heads", p + "q");
        var k = Turn(p + "k_flat", "mrope_k_heads", p + "k");
        Node("Concat", "", [q, k, p + "v_flat"], [p + "qkv_turned"], new OnnxAttribute("axis", Int: -1));
        return p + "qkv_turned";
    }

    /// <summary>GLM rotary tables: <c>[context, rotary_dim/2]</c>, frequency i = theta^(-2i/rotary_dim).</summary>
    private void AddRotaryCaches()
    {
        var half = _arch.RotaryDim / 2;
        var cos = new float[(long)_arch.ContextLength * half];
        var sin = new float[cos.Length];
        for (var pos = 0; pos < _arch.ContextLength; pos++)
        {
            for (var i = 0; i < half; i++)
            {
                var angle = pos * Math.Pow(_arch.RopeTheta, -2.0 * i / _arch.RotaryDim);
                cos[(pos * half) + i] = (float)Math.Cos(angle);
                sin[(pos * half) + i] = (float)Math.Sin(angle);
            }
        }

        Float("cos_cache", cos, [_arch.ContextLength, half]);
        Float("sin_cache", sin, [_arch.ContextLength, half]);
    }

    private bool IsInt4 => _quant.Bits == 4;

    /// <summary>GLM-4-0414's extra RMSNorm on a sublayer's output, when the layer has one; returns the tensor to add.</summary>
    private string SandwichNorm(string input, string name, float[]? weight)
    {
        if (!_arch.SandwichNorms)
        {
            return input;
        }

        if (weight is null)
        {
            throw new RuntimeException(RuntimeErrorCode.InvalidRequest, $"the architecture has sandwich norms but the weights have no '{name}'");
        }

        Node("SimplifiedLayerNormalization", "", [input, Float(name + ".weight", weight, [_arch.HiddenSize])], [name], Epsilon(), new OnnxAttribute("axis", Int: -1));
        return name;
    }

    /// <summary>Writes a linear layer's <c>[rows, cols]</c> (out × in) weight in the format <see cref="MatMul"/> reads.</summary>
    private string LinearWeight(string baseName, float[] weights, int rows, int cols)
    {
        if (IsInt4)
        {
            return QuantizedInitializer(baseName, weights, rows, cols);
        }

        // MatMul multiplies [.., in] by [in, out]: write the transpose.
        var transposed = new float[weights.LongLength];
        Parallel.For(0, rows, r =>
        {
            for (var c = 0; c < cols; c++)
            {
                transposed[((long)c * rows) + r] = weights[((long)r * cols) + c];
            }
        });
        if (_quant.Bits != 16)
        {
            return Float(baseName + ".weight", transposed, [cols, rows]);
        }

        // fp16 on disk, widened once when the session folds the Cast; the MatMul itself runs in float32.
        Half16(baseName + ".weight", transposed, [cols, rows]);
        Node("Cast", "", [baseName + ".weight"], [baseName + ".weight.float"], new OnnxAttribute("to", Int: (long)OnnxDataType.Float));
        return baseName + ".weight.float";
    }

    private void MatMul(string input, string weight, int k, int n, string output)
    {
        if (!IsInt4)
        {
            Node("MatMul", "", [input, weight], [output]);
            return;
        }

        Node(
            "MatMulNBits",
            "com.microsoft",
            _withZeroPoints.Contains(weight) ? [input, weight, weight + ".scales", weight + ".zero_points"] : [input, weight, weight + ".scales"],
            [output],
            new("K", Int: k),
            new("N", Int: n),
            new("bits", Int: _quant.Bits),
            new("block_size", Int: _quant.BlockSize),
            new("accuracy_level", Int: _quant.AccuracyLevel));
    }

    private OnnxAttribute Epsilon() => new("epsilon", Float: _arch.RmsNormEps);

    private void Node(string op, string domain, string[] inputs, string[] outputs, params OnnxAttribute[] attributes) =>
        _nodes.Add(new OnnxNode(op, domain, inputs, outputs, attributes));

    private string QuantizedInitializer(string baseName, float[] weights, int rows, int cols)
    {
        var name = baseName + ".weight";
        var kind = baseName.StartsWith("layers.", StringComparison.Ordinal) ? baseName[(baseName.IndexOf('.', 7) + 1)..] : baseName;
        if (_layerQuantized is { } given && given.TryGetValue(kind, out var given4))
        {
            return PrequantizedInitializer(name, given4, rows, cols);
        }

        if (weights.LongLength != (long)rows * cols)
        {
            throw new RuntimeException(RuntimeErrorCode.InvalidRequest, $"weight '{name}' has {weights.LongLength} values, its shape [{rows}, {cols}] needs {(long)rows * cols}");
        }

        var rule = kind == "embed_tokens" && Rule == Int4Rule.ZeroPoints ? Int4Rule.FullRange : Rule;
        var matrix = Int4Quantizer.Quantize(weights, rows, cols, _quant.BlockSize, rule);
        if (QuantizationErrors is { } errors)
        {
            var (e, w) = Int4Quantizer.ErrorSquares(weights, matrix, rows, cols, _quant.BlockSize);
            errors[kind] = errors.TryGetValue(kind, out var sum) ? (sum.ErrorSquares + e, sum.WeightSquares + w) : (e, w);
        }

        return PrequantizedInitializer(name, matrix, rows, cols);
    }

    /// <summary>Writes 4-bit codes, scales and (when any) zero points; codes that arrive in 4 bits are written as they are.</summary>
    private string PrequantizedInitializer(string name, Int4Matrix matrix, int rows, int cols)
    {
        var blocks = cols / _quant.BlockSize;
        if (matrix.Packed.LongLength != (long)rows * cols / 2 || matrix.Scales.LongLength != (long)rows * blocks
            || (matrix.ZeroPoints is { } z && z.LongLength != (long)rows * ((blocks + 1) / 2)))
        {
            throw new RuntimeException(RuntimeErrorCode.InvalidRequest, $"4-bit weight '{name}' does not have the shape [{rows}, {cols}] at block size {_quant.BlockSize}");
        }

        External(name, OnnxDataType.UInt8, [rows, blocks, _quant.BlockSize / 2], matrix.Packed);
        External(name + ".scales", OnnxDataType.Float, [matrix.Scales.LongLength], MemoryMarshal.AsBytes(matrix.Scales.AsSpan()));
        if (matrix.ZeroPoints is { } zeroPoints)
        {
            External(name + ".zero_points", OnnxDataType.UInt8, [zeroPoints.LongLength], zeroPoints);
            _withZeroPoints.Add(name);
        }

        return name;
    }

    private void Half16(string name, float[] values, long[] dims)
    {
        var halves = new Half[values.LongLength];
        Parallel.For(0, values.Length, i => halves[i] = (Half)values[i]);
        External(name, OnnxDataType.Float16, dims, MemoryMarshal.AsBytes(halves.AsSpan()));
    }

    private string Float(string name, float[] values, long[] dims)
    {
        External(name, OnnxDataType.Float, dims, MemoryMarshal.AsBytes(values.AsSpan()));
        return name;
    }

    private void Inline(string name, OnnxDataType type, long[] dims, byte[] bytes) =>
        _initializers.Add(new OnnxInitializer(name, type, dims, bytes, 0, 0));

    private void External(string name, OnnxDataType type, long[] dims, ReadOnlySpan<byte> bytes)
    {
        var padding = (Alignment - (_data.Position % Alignment)) % Alignment;
        _data.Write(new byte[padding]);
        var offset = _data.Position;
        _data.Write(bytes);
        _initializers.Add(new OnnxInitializer(name, type, dims, null, offset, bytes.Length));
    }
}
