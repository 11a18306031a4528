using AutoGlm.Runtime.Building;
using AutoGlm.Runtime.Packages;
using AutoGlm.Runtime.Text;

namespace AutoGlm.Bench;

/// <summary>
/// Writes a synthetic package's weights as a GGUF file for llama.cpp, so that llama.cpp and the engine read the same
/// numbers: the package's INT4 codes as <c>Q4_0</c> (block 32, value = scale × (code − 8), as <c>MatMulNBits</c>
/// with its default zero point), scales rounded to fp16 (the one difference), norms and the QKV bias as f32.
/// </summary>
/// <remarks>
/// The architecture is llama.cpp's <c>chatglm</c>: RMSNorm, fused QKV with bias (Q, then K, then V), rotary on the
/// first <c>rope.dimension_count</c> dimensions of each head in consecutive pairs (llama.cpp's "normal" rope, ONNX
/// Runtime's <c>rotary_interleaved=1</c>), output projection, RMSNorm, fused gate|up with SwiGLU on the first half,
/// down projection, no sandwich norms (which rule out <c>glm4</c>) and partial rotary (which rules out <c>llama</c>,
/// whose loader requires the rotary width to be the whole head). The LM head is the embedding (tied), which
/// llama.cpp's loader falls back to when there is no <c>output.weight</c>.
/// The weights are regenerated from the spec's seed and quantized by the same quantizer as the package (the same
/// codes); <see cref="Export"/> checks that against the package's embedding bytes before writing.
/// The tokenizer metadata is a placeholder byte-level BPE vocabulary of the right size: the benchmark feeds token
/// ids, never text.
/// </remarks>
internal static class GgufExport
{
    public static long Export(SyntheticModelSpec spec, string packageDirectory, string path)
    {
        var a = spec.Architecture;
        var q = spec.Quantization;
        var weights = new SyntheticGlmWeights(a, spec.Seed);
        var gguf = new GgufWriter();
        const string arch = "chatglm";
        gguf.Add("general.architecture", arch);
        gguf.Add("general.name", spec.Name);
        gguf.Add("general.file_type", 2u); // MOSTLY_Q4_0
        gguf.Add($"{arch}.context_length", (uint)a.ContextLength);
        gguf.Add($"{arch}.embedding_length", (uint)a.HiddenSize);
        gguf.Add($"{arch}.block_count", (uint)a.Layers);
        gguf.Add($"{arch}.feed_forward_length", (uint)a.FfnSize);
        gguf.Add($"{arch}.attention.head_count", (uint)a.NumHeads);
        gguf.Add($"{arch}.attention.head_count_kv", (uint)a.NumKvHeads);
        gguf.Add($"{arch}.attention.layer_norm_rms_epsilon", a.RmsNormEps);
        gguf.Add($"{arch}.rope.dimension_count", (uint)a.RotaryDim);
        gguf.Add($"{arch}.rope.freq_base", a.RopeTheta);
        AddTokenizer(gguf, a.VocabSize);

        var h = a.HiddenSize;
        var (embedPacked, embedScales) = Int4Quantizer.Quantize(weights.Embedding(), a.VocabSize, h, q.BlockSize);
        CheckAgainstPackage(packageDirectory, embedPacked, embedScales);
        gguf.AddTensor("token_embd.weight", [h, a.VocabSize], GgmlType.Q4_0, ToQ4_0(embedPacked, embedScales, a.VocabSize, h, q.BlockSize));
        gguf.AddTensor("output_norm.weight", [h], GgmlType.F32, Bytes(weights.FinalNorm()));
        for (var layer = 0; layer < a.Layers; layer++)
        {
            var w = weights.Layer(layer);
            var p = $"blk.{layer}.";
            gguf.AddTensor(p + "attn_norm.weight", [h], GgmlType.F32, Bytes(w.InputNorm));
            gguf.AddTensor(p + "attn_qkv.weight", [h, weights.QkvSize], GgmlType.Q4_0, Quantized(w.QkvWeight, weights.QkvSize, h, q.BlockSize));
            gguf.AddTensor(p + "attn_qkv.bias", [weights.QkvSize], GgmlType.F32, Bytes(w.QkvBias));
            gguf.AddTensor(p + "attn_output.weight", [a.NumHeads * a.HeadSize, h], GgmlType.Q4_0, Quantized(w.OutputWeight, h, a.NumHeads * a.HeadSize, q.BlockSize));
            gguf.AddTensor(p + "ffn_norm.weight", [h], GgmlType.F32, Bytes(w.PostAttentionNorm));
            gguf.AddTensor(p + "ffn_up.weight", [h, 2 * a.FfnSize], GgmlType.Q4_0, Quantized(w.GateUpWeight, 2 * a.FfnSize, h, q.BlockSize));
            gguf.AddTensor(p + "ffn_down.weight", [a.FfnSize, h], GgmlType.Q4_0, Quantized(w.DownWeight, h, a.FfnSize, q.BlockSize));
        }

        gguf.Write(path);
        return gguf.TensorBytes;
    }

    /// <summary>The bytes of the tensors <see cref="Export"/> writes for <paramref name="spec"/> (what llama.cpp reads per forward pass).</summary>
    public static long TensorBytes(SyntheticModelSpec spec)
    {
        var a = spec.Architecture;
        long h = a.HiddenSize, qkv = (a.NumHeads + (2L * a.NumKvHeads)) * a.HeadSize, q = (long)a.NumHeads * a.HeadSize, f = a.FfnSize;
        var quantized = ((long)a.VocabSize * h) + (a.Layers * ((qkv * h) + (q * h) + (2 * f * h) + (f * h)));
        var floats = h + (a.Layers * (h + qkv + h));
        return (quantized / 32 * 18) + (floats * sizeof(float));
    }

    /// <summary>
    /// Repacks <c>MatMulNBits</c> codes (<c>[rows, cols/32, 16]</c>, element 2j in the low nibble of byte j and
    /// 2j+1 in its high nibble) and float scales into <c>Q4_0</c> blocks: an fp16 scale, then 16 bytes whose low
    /// nibbles are elements 0–15 of the block and whose high nibbles are elements 16–31.
    /// </summary>
    public static byte[] ToQ4_0(ReadOnlySpan<byte> packed, ReadOnlySpan<float> scales, int rows, int cols, int blockSize)
    {
        if (blockSize != 32)
        {
            throw new ArgumentException($"Q4_0 has blocks of 32; the package uses {blockSize}");
        }

        var blocks = (long)rows * cols / 32;
        var result = new byte[blocks * 18];
        Span<byte> codes = stackalloc byte[32];
        for (long b = 0; b < blocks; b++)
        {
            var source = packed.Slice((int)(b * 16), 16);
            for (var j = 0; j < 16; j++)
            {
                codes[2 * j] = (byte)(source[j] & 0x0F);
                codes[(2 * j) + 1] = (byte)(source[j] >> 4);
            }

            var target = result.AsSpan((int)(b * 18), 18);
            BitConverter.TryWriteBytes(target, (Half)scales[(int)b]);
            for (var j = 0; j < 16; j++)
            {
                target[2 + j] = (byte)(codes[j] | (codes[j + 16] << 4));
            }
        }

        return result;
    }

    private static byte[] Quantized(float[] values, int rows, int cols, int blockSize)
    {
        var (packed, scales) = Int4Quantizer.Quantize(values, rows, cols, blockSize);
        return ToQ4_0(packed, scales, rows, cols, blockSize);
    }

    private static byte[] Bytes(float[] values) => System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray();

    /// <summary>The regenerated embedding must be the package's bytes: otherwise the two engines would not read the same weights.</summary>
    private static void CheckAgainstPackage(string packageDirectory, byte[] packed, float[] scales)
    {
        var package = ModelPackage.Load(packageDirectory);
        var info = package.Manifest.Decoder.Embedding;
        using var file = File.OpenRead(package.PathOf(info.File));
        var stored = new byte[1 << 16];
        file.Position = info.WeightOffset;
        file.ReadExactly(stored);
        var storedScales = new byte[1 << 12];
        file.Position = info.ScalesOffset;
        file.ReadExactly(storedScales);
        if (!stored.AsSpan().SequenceEqual(packed.AsSpan(0, stored.Length))
            || !storedScales.AsSpan().SequenceEqual(System.Runtime.InteropServices.MemoryMarshal.AsBytes(scales.AsSpan()).Slice(0, storedScales.Length)))
        {
            throw new InvalidOperationException($"the package in {packageDirectory} was not built from this spec and seed: its embedding differs from the regenerated one");
        }
    }

    /// <summary>A byte-level BPE vocabulary of <paramref name="size"/> tokens (the 256 byte symbols, then placeholders), the GLM special tokens as control tokens.</summary>
    private static void AddTokenizer(GgufWriter gguf, int size)
    {
        var tokens = new List<string>(size);
        var types = new int[size];
        var byteSymbols = ByteSymbols();
        for (var i = 0; i < size; i++)
        {
            tokens.Add(i < 256 ? byteSymbols[i] : $"[t{i}]");
            types[i] = 1; // normal
        }

        foreach (var (name, id) in GlmSpecialTokens.DefaultIds)
        {
            if (id < size)
            {
                tokens[id] = name;
                types[id] = 3; // control
            }
        }

        var eos = (uint)GlmSpecialTokens.DefaultIds[GlmSpecialTokens.EndOfText];
        gguf.Add("tokenizer.ggml.model", "gpt2");
        gguf.Add("tokenizer.ggml.pre", "default");
        gguf.Add("tokenizer.ggml.tokens", tokens);
        gguf.Add("tokenizer.ggml.token_type", types);
        gguf.Add("tokenizer.ggml.merges", Array.Empty<string>());
        gguf.Add("tokenizer.ggml.bos_token_id", eos);
        gguf.Add("tokenizer.ggml.eos_token_id", eos);
        gguf.Add("tokenizer.ggml.padding_token_id", eos);
    }

    /// <summary>GPT-2's byte-to-symbol table: printable bytes stand for themselves, the others map to U+0100 onwards.</summary>
    private static string[] ByteSymbols()
    {
        var symbols = new string[256];
        var next = 256;
        for (var b = 0; b < 256; b++)
        {
            var printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            symbols[b] = ((char)(printable ? b : next++)).ToString();
        }

        return symbols;
    }
}
