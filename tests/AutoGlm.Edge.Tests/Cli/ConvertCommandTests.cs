using AutoGlm.Edge.Tests.Support;
using AutoGlm.Runtime.Tests.Conversion;

namespace AutoGlm.Edge.Tests.Cli;

/// <summary><c>autoglm-edge model convert</c> on a tiny Hugging Face checkpoint, then <c>model verify</c> and <c>chat</c> on the result.</summary>
public sealed class ConvertCommandTests : IDisposable
{
    private readonly string _folder = TestPaths.NewFolder("convert");

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public async Task Convert_Checkpoint_WritesPackageThatVerifiesAndChats()
    {
        var checkpoint = Path.Combine(_folder, "glm4-tiny");
        PyTorchReference.MakeCheckpoint(checkpoint, "Glm4ForCausalLM");
        var package = Path.Combine(_folder, "package");

        var (exit, output, error) = await CliRunner.RunAsync("model", "convert", checkpoint, "--out", package, "--block-size", "32", "--accuracy-level", "0", "--name", "tiny-glm4");

        Assert.True(exit == 0, error);
        Assert.Contains($"wrote tiny-glm4 (Glm4ForCausalLM, ", output, StringComparison.Ordinal);
        Assert.Contains("INT4 block 32", output, StringComparison.Ordinal);
        Assert.Matches(@"quantization error  gate_up +\d+\.\d+ ?% relative RMS", output);
        Assert.Contains("layer 3/3", error, StringComparison.Ordinal);

        var verify = await CliRunner.RunAsync("model", "verify", package);
        Assert.True(verify.ExitCode == 0, verify.Error);
        Assert.Contains("source   Glm4ForCausalLM checkpoint, converted by autoglm-edge convert", verify.Output, StringComparison.Ordinal);
        Assert.Contains("ok       tokenizer.json", verify.Output, StringComparison.Ordinal);

        var chat = await CliRunner.RunAsync("chat", "--model", package, "--prompt", "hello world", "--max-tokens", "3", "--temperature", "0");
        Assert.True(chat.ExitCode == 0, chat.Error);
    }

    [Fact]
    public async Task Convert_ZeroPointsAndGptqCheckpoint_RecordedInSourceAndChat()
    {
        var checkpoint = Path.Combine(_folder, "glm4-tiny");
        PyTorchReference.MakeCheckpoint(checkpoint, "Glm4ForCausalLM");
        var package = Path.Combine(_folder, "package");
        var (exit, _, error) = await CliRunner.RunAsync("model", "convert", checkpoint, "--out", package, "--zero-points");
        Assert.True(exit == 0, error);
        var verify = await CliRunner.RunAsync("model", "verify", package);
        Assert.True(verify.ExitCode == 0, verify.Error);
        Assert.Contains("zero_points true", verify.Output, StringComparison.Ordinal);

        var gptq = Path.Combine(_folder, "glm4-gptq");
        PyTorchReference.MakeQuantizedCheckpoint(gptq, "gptq-asym", 32);
        var gptqPackage = Path.Combine(_folder, "gptq-package");
        (exit, var output, error) = await CliRunner.RunAsync("model", "convert", gptq, "--out", gptqPackage, "--block-size", "64");
        Assert.True(exit == 0, error);
        Assert.Contains("INT4 block 32", output, StringComparison.Ordinal); // the checkpoint's group size wins
        Assert.DoesNotContain("quantization error  gate_up", output, StringComparison.Ordinal); // its codes were kept, not rounded
        verify = await CliRunner.RunAsync("model", "verify", gptqPackage);
        Assert.Contains("prequantized gptq", verify.Output, StringComparison.Ordinal);
        var chat = await CliRunner.RunAsync("chat", "--model", gptqPackage, "--prompt", "hello world", "--max-tokens", "3", "--temperature", "0");
        Assert.True(chat.ExitCode == 0, chat.Error);
    }

    [Fact]
    public async Task Convert_UnsupportedArchitecture_FailsNamingIt()
    {
        var checkpoint = Path.Combine(_folder, "llama");
        PyTorchReference.MakeCheckpoint(checkpoint, "Glm4ForCausalLM");
        var config = Path.Combine(checkpoint, "config.json");
        File.WriteAllText(config, File.ReadAllText(config).Replace("Glm4ForCausalLM", "LlamaForCausalLM", StringComparison.Ordinal));
        var package = Path.Combine(_folder, "package");

        var (exit, _, error) = await CliRunner.RunAsync("model", "convert", checkpoint, "--out", package);

        Assert.Equal(2, exit);
        Assert.Contains("error (invalid_request): architecture 'LlamaForCausalLM' is not supported", error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(package));
    }

    [Fact]
    public async Task Convert_BadBlockSize_IsAUsageError()
    {
        var (exit, _, error) = await CliRunner.RunAsync("model", "convert", _folder, "--out", Path.Combine(_folder, "p"), "--block-size", "48");

        Assert.NotEqual(0, exit);
        Assert.Contains("48", error, StringComparison.Ordinal);
    }
}
