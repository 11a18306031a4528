using System.Diagnostics;
using System.Text.Json;

namespace AutoGlm.Runtime.Tests.Conversion;

/// <summary>Runs <c>glm_reference.py</c> with Debian's Python and PyTorch: it writes tiny Hugging Face checkpoints and computes their logits.</summary>
internal static class PyTorchReference
{
    private const string Python = "/usr/bin/python3";

    private static string Script => Path.Combine(AppContext.BaseDirectory, "Conversion", "glm_reference.py");

    /// <summary>Writes a tiny random checkpoint of <paramref name="architecture"/> (bf16, in <paramref name="shards"/> shards).</summary>
    /// <param name="directory">The folder to write.</param>
    /// <param name="architecture">The <c>architectures[0]</c> of its config.json.</param>
    /// <param name="shards">Safetensors files (more than one adds an index).</param>
    /// <param name="seed">The weights' seed.</param>
    /// <param name="tokenizer"><c>json</c> (tokenizer.json) or <c>tiktoken</c> (GLM-4's tokenizer.model).</param>
    public static void MakeCheckpoint(string directory, string architecture, int shards = 2, int seed = 7, string tokenizer = "json") =>
        Run($"make \"{directory}\" --arch {architecture} --shards {shards} --seed {seed} --tokenizer {tokenizer}");

    /// <summary>Writes a tiny checkpoint whose decoder linears are stored as a 4-bit GPTQ or AWQ checkpoint stores them.</summary>
    /// <param name="directory">The folder to write.</param>
    /// <param name="quant"><c>gptq-sym</c>, <c>gptq-asym</c> or <c>awq</c>.</param>
    /// <param name="group">The quantization group size.</param>
    /// <param name="shapeJson">Overrides of the tiny shape (e.g. a hidden size that the group divides).</param>
    /// <param name="actOrder">Write a GPTQ <c>g_idx</c> that is not sequential (as act-order does) while <c>desc_act</c> says false.</param>
    public static void MakeQuantizedCheckpoint(string directory, string quant, int group, string shapeJson = "{}", bool actOrder = false) =>
        Run($"make \"{directory}\" --arch Glm4ForCausalLM --shards 2 --seed 11 --quant {quant} --group {group}{(actOrder ? " --act-order" : string.Empty)} --shape \"{shapeJson.Replace("\"", "\\\"", StringComparison.Ordinal)}\"");

    /// <summary>The reference logits of positions <paramref name="first"/> to the end of <paramref name="tokens"/>.</summary>
    /// <param name="directory">The checkpoint folder.</param>
    /// <param name="tokens">The whole sequence.</param>
    /// <param name="first">The first position whose logits are returned.</param>
    /// <param name="int4Block">When positive, the weights are first rounded as an INT4 package of this block size holds them.</param>
    /// <param name="int4Rule"><c>full</c> (the converter's symmetric rule), <c>asym</c> (its <c>--zero-points</c>) or <c>max7</c>.</param>
    public static double[][] Logits(string directory, IReadOnlyList<int> tokens, int first, int int4Block = 0, string int4Rule = "full")
    {
        var json = Run($"forward \"{directory}\" --tokens {string.Join(',', tokens)} --first {first} --int4 {int4Block} --int4-rule {int4Rule}");
        return JsonSerializer.Deserialize<double[][]>(json)!;
    }

    private static string Run(string arguments)
    {
        if (!File.Exists(Python))
        {
            throw new InvalidOperationException($"{Python} is missing: the conversion tests need Debian's python3-torch (scripts/test.sh installs it)");
        }

        var start = new ProcessStartInfo(Python, $"\"{Script}\" {arguments}")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(3)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"glm_reference.py {arguments} did not finish in 3 minutes");
        }

        if (process.ExitCode != 0)
        {
            var error = stderr.Result;
            var hint = error.Contains("No module named 'torch'", StringComparison.Ordinal) ? " (install python3-torch: scripts/test.sh does)" : string.Empty;
            throw new InvalidOperationException($"glm_reference.py {arguments} failed with exit code {process.ExitCode}{hint}: {error}");
        }

        return stdout.Result;
    }
}
