using System.Text.Json;
using AutoGlm.Runtime.Building;

namespace AutoGlm.Runtime.Conversion;

/// <summary>A pre-quantized 4-bit checkpoint's <c>quantization_config</c>: GPTQ or AWQ (GEMM), and its group size.</summary>
/// <param name="Method"><c>gptq</c> or <c>awq</c>.</param>
/// <param name="GroupSize">Inputs per scale: 32, 64 or 128; the package's block size.</param>
/// <remarks>
/// Each quantized linear <c>X</c> has <c>X.qweight</c>, <c>X.qzeros</c>, <c>X.scales</c> (and for GPTQ <c>X.g_idx</c>)
/// instead of <c>X.weight</c>; <see cref="Repack"/> moves their integer codes and scales into <c>MatMulNBits</c>'s
/// layout unchanged, so the package computes exactly the checkpoint's dequantized weights.
/// </remarks>
public sealed record CheckpointQuantization(string Method, int GroupSize)
{
    /// <summary>The key of <c>config.json</c> read.</summary>
    public const string Key = "quantization_config";

    /// <summary>AWQ's GEMM packing: nibble <c>i</c> of an int32 holds output column <c>8·c + Order[i]</c>.</summary>
    private static readonly int[] AwqOrder = [0, 2, 4, 6, 1, 3, 5, 7];

    /// <summary>The nibble of an AWQ int32 that holds column <c>8·c + j</c> (the inverse of <see cref="AwqOrder"/>).</summary>
    private static readonly int[] AwqNibble = Inverse(AwqOrder);

    /// <summary>Reads <c>quantization_config</c> of <c>config.json</c>; null when the checkpoint is not quantized.</summary>
    /// <exception cref="RuntimeException"><see cref="RuntimeErrorCode.InvalidRequest"/> naming the method, bit width, group size or option the converter does not repack.</exception>
    public static CheckpointQuantization? Read(string checkpointDirectory)
    {
        using var document = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(checkpointDirectory, CheckpointConfig.FileName)));
        var root = document.RootElement;
        if (!root.TryGetProperty(Key, out var q) && !(root.TryGetProperty("text_config", out var text) && text.ValueKind == JsonValueKind.Object && text.TryGetProperty(Key, out q)))
        {
            return null;
        }

        if (q.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (q.ValueKind != JsonValueKind.Object)
        {
            throw Error($"{Key} must be an object");
        }

        var method = String(q, "quant_method")?.ToLowerInvariant() ?? throw Error($"{Key} has no 'quant_method'");
        if (method is not ("gptq" or "awq"))
        {
            throw Error($"{Key}.quant_method '{method}' is not supported (the converter repacks gptq and awq)");
        }

        var bits = Int(q, method == "awq" && !q.TryGetProperty("bits", out _) ? "w_bit" : "bits");
        if (bits != 4)
        {
            throw Error($"{Key}.bits is {bits}; only 4-bit {method} checkpoints are repacked");
        }

        var group = Int(q, method == "awq" && !q.TryGetProperty("group_size", out _) ? "q_group_size" : "group_size");
        if (group is not (32 or 64 or 128))
        {
            throw Error($"{Key}.group_size is {group}; the converter repacks group sizes 32, 64 and 128");
        }

        if (method == "gptq")
        {
            if (Bool(q, "desc_act") == true)
            {
                throw Error($"{Key}.desc_act is true (act-order): its groups are not contiguous runs of inputs, which MatMulNBits needs; quantize with desc_act false");
            }

            var format = String(q, "checkpoint_format") ?? "gptq";
            if (format != "gptq")
            {
                throw Error($"{Key}.checkpoint_format '{format}' is not supported (the converter reads 'gptq')");
            }
        }
        else
        {
            var version = String(q, "version") ?? "gemm";
            if (!version.Equals("gemm", StringComparison.OrdinalIgnoreCase))
            {
                throw Error($"{Key}.version '{version}' is not supported (the converter reads AWQ's GEMM layout)");
            }

            if (Bool(q, "zero_point") == false)
            {
                throw Error($"{Key}.zero_point is false; the converter reads AWQ with zero points");
            }
        }

        return new CheckpointQuantization(method, group);
    }

    /// <summary>Whether <paramref name="linear"/> (a name without <c>.weight</c>) is stored quantized.</summary>
    public static bool IsQuantized(SafetensorsCheckpoint checkpoint, string linear) => checkpoint.Contains(linear + ".qweight");

    /// <summary>Reads the quantized linear <paramref name="linear"/> of shape <c>[rows, cols]</c> (out × in) into <c>MatMulNBits</c>'s layout.</summary>
    /// <exception cref="RuntimeException">Naming the tensor that is missing, of the wrong shape, or (GPTQ) a <c>g_idx</c> that is not sequential.</exception>
    public Int4Matrix Repack(SafetensorsCheckpoint checkpoint, string linear, int rows, int cols)
    {
        var n = rows;
        var k = cols;
        var groups = k / GroupSize;
        if (k % GroupSize != 0 || n % 8 != 0)
        {
            throw Error($"quantized tensor '{linear}' has {k} inputs and {n} outputs; the inputs must be a multiple of the group size {GroupSize} and the outputs of 8");
        }

        var scales = Require(checkpoint, linear + ".scales");
        var scaleValues = checkpoint.ReadFloats(scales, groups, n);
        var zeros = checkpoint.ReadInt32s(Require(checkpoint, linear + ".qzeros"), groups, n / 8);
        var packed = new byte[(long)n * k / 2];
        var outScales = new float[(long)n * groups];
        var zeroCodes = new byte[(long)n * groups];
        if (Method == "gptq")
        {
            // AutoGPTQ's QuantLinear: qweight [K/8, N], input k of column n in bits 4·(k % 8) of row k / 8;
            // qzeros [groups, N/8], column n in bits 4·(n % 8); the stored zero is the real one minus 1.
            var qweight = checkpoint.ReadInt32s(Require(checkpoint, linear + ".qweight"), k / 8, n);
            CheckGroupIndex(checkpoint, linear, k);
            Parallel.For(0, n, row =>
            {
                for (var i = 0; i < k; i += 2)
                {
                    var lo = (qweight[((long)(i / 8) * n) + row] >> (4 * (i % 8))) & 0xF;
                    var hi = (qweight[((long)((i + 1) / 8) * n) + row] >> (4 * ((i + 1) % 8))) & 0xF;
                    packed[((long)row * k / 2) + (i / 2)] = (byte)(lo | (hi << 4));
                }

                for (var g = 0; g < groups; g++)
                {
                    outScales[((long)row * groups) + g] = scaleValues[((long)g * n) + row];
                    zeroCodes[((long)row * groups) + g] = (byte)((((zeros[(g * (n / 8)) + (row / 8)] >> (4 * (row % 8))) & 0xF) + 1) & 0xF);
                }
            });
        }
        else
        {
            // AutoAWQ's WQLinear_GEMM: qweight [K, N/8] and qzeros [groups, N/8], column 8·c + j in nibble AwqNibble[j]; zeros as they are.
            var qweight = checkpoint.ReadInt32s(Require(checkpoint, linear + ".qweight"), k, n / 8);
            Parallel.For(0, n, row =>
            {
                var shift = 4 * AwqNibble[row % 8];
                var column = row / 8;
                for (var i = 0; i < k; i += 2)
                {
                    var lo = (qweight[((long)i * (n / 8)) + column] >> shift) & 0xF;
                    var hi = (qweight[((long)(i + 1) * (n / 8)) + column] >> shift) & 0xF;
                    packed[((long)row * k / 2) + (i / 2)] = (byte)(lo | (hi << 4));
                }

                for (var g = 0; g < groups; g++)
                {
                    outScales[((long)row * groups) + g] = scaleValues[((long)g * n) + row];
                    zeroCodes[((long)row * groups) + g] = (byte)((zeros[(g * (n / 8)) + column] >> shift) & 0xF);
                }
            });
        }

        return new Int4Matrix(packed, outScales, PackZeroPoints(zeroCodes, n, groups));
    }

    /// <summary>Null when every zero point is the kernel's default 8 (symmetric); else two a byte per row, the lower block in the low nibble.</summary>
    private static byte[]? PackZeroPoints(byte[] codes, int rows, int groups)
    {
        if (codes.All(c => c == Int4Quantizer.ZeroPoint))
        {
            return null;
        }

        var perRow = (groups + 1) / 2;
        var packed = new byte[(long)rows * perRow];
        for (var row = 0; row < rows; row++)
        {
            for (var g = 0; g < groups; g++)
            {
                var code = codes[((long)row * groups) + g];
                packed[((long)row * perRow) + (g / 2)] |= (byte)(g % 2 == 0 ? code : code << 4);
            }
        }

        return packed;
    }

    private void CheckGroupIndex(SafetensorsCheckpoint checkpoint, string linear, int k)
    {
        if (!checkpoint.Contains(linear + ".g_idx"))
        {
            return;
        }

        var index = checkpoint.ReadInt32s(linear + ".g_idx", k);
        for (var i = 0; i < k; i++)
        {
            if (index[i] != i / GroupSize)
            {
                throw Error($"checkpoint tensor '{linear}.g_idx' is not sequential (input {i} is in group {index[i]}, not {i / GroupSize}): act-order (desc_act) checkpoints are not repacked");
            }
        }
    }

    private static string Require(SafetensorsCheckpoint checkpoint, string name) =>
        checkpoint.Contains(name) ? name : throw Error($"checkpoint has no tensor '{name}', which its {Key} needs");

    private static int[] Inverse(int[] order)
    {
        var inverse = new int[order.Length];
        for (var i = 0; i < order.Length; i++)
        {
            inverse[order[i]] = i;
        }

        return inverse;
    }

    private static string? String(JsonElement q, string key) =>
        q.TryGetProperty(key, out var v) && v.ValueKind != JsonValueKind.Null
            ? v.ValueKind == JsonValueKind.String ? v.GetString() : throw Error($"{Key}.{key} must be a string (got {v.GetRawText()})")
            : null;

    private static int Int(JsonElement q, string key) =>
        q.TryGetProperty(key, out var v) && v.ValueKind != JsonValueKind.Null
            ? v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i) ? i : throw Error($"{Key}.{key} must be an integer (got {v.GetRawText()})")
            : throw Error($"{Key} has no '{key}'");

    private static bool? Bool(JsonElement q, string key) =>
        q.TryGetProperty(key, out var v) && v.ValueKind != JsonValueKind.Null
            ? v.ValueKind switch { JsonValueKind.True => true, JsonValueKind.False => false, _ => throw Error($"{Key}.{key} must be true or false (got {v.GetRawText()})") }
            : null;

    private static RuntimeException Error(string message) => new(RuntimeErrorCode.InvalidRequest, message);
}
