using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using AutoGlm.Runtime.Conversion;

namespace AutoGlm.Edge.Cli;

/// <summary><c>model convert</c>: a Hugging Face GLM checkpoint folder into a verified model package.</summary>
internal static class ConvertCommand
{
    public static Command Create()
    {
        var checkpoint = new Argument<DirectoryInfo>("checkpoint-dir") { Description = "The checkpoint folder (config.json, *.safetensors, tokenizer.json, …)." };
        var output = new Option<DirectoryInfo>("--out") { Description = "The package folder to create (must not exist, or be empty).", Required = true };
        var weights = new Option<string>("--weights") { Description = "int4 (default: MatMulNBits), fp16 or fp32 (full precision, to check a conversion).", DefaultValueFactory = _ => "int4" };
        weights.AcceptOnlyFromAmong("int4", "fp16", "fp32");
        var blockSize = new Option<int>("--block-size") { Description = "INT4 block size: 32 (default), 64 or 128.", DefaultValueFactory = _ => 32 };
        blockSize.AcceptOnlyFromAmong("32", "64", "128");
        var accuracy = new Option<int>("--accuracy-level") { Description = "MatMulNBits accuracy level: 4 (default, int8 compute) or 0 (float compute).", DefaultValueFactory = _ => 4 };
        accuracy.AcceptOnlyFromAmong("0", "4");
        var zeroPoints = new Option<bool>("--zero-points") { Description = "Asymmetric INT4: per-block min/max with a uint8 zero point (default: symmetric over the full 4-bit range)." };
        var name = new Option<string?>("--name") { Description = "The package's name (default: the checkpoint folder's name)." };
        var command = new Command("convert", "Convert a Hugging Face GLM checkpoint (Glm4ForCausalLM, Glm4vForConditionalGeneration text, GlmForCausalLM, ChatGLMModel) into a model package.")
        {
            checkpoint, output, weights, blockSize, accuracy, zeroPoints, name,
        };
        command.SetAction((parse, cancellationToken) => CliSupport.GuardAsync(parse, () =>
        {
            var options = new ConversionOptions
            {
                Weights = parse.GetValue(weights)!,
                BlockSize = parse.GetValue(blockSize),
                AccuracyLevel = parse.GetValue(accuracy),
                ZeroPoints = parse.GetValue(zeroPoints),
                Name = parse.GetValue(name),
            };
            var log = parse.InvocationConfiguration.Error;
            var clock = Stopwatch.StartNew();

            // A bar redrawn in place on a terminal; plain timestamped lines when stderr is a file or a pipe.
            var bar = ReferenceEquals(log, Console.Error) && !Console.IsErrorRedirected ? new ConversionProgressBar(log, TimeProvider.System) : null;
            var progress = new SynchronousProgress(step =>
            {
                if (bar is null)
                {
                    log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"convert  {clock.Elapsed.TotalSeconds,7:F1} s  {step}"));
                }
                else
                {
                    bar.Note(step);
                }
            });
            var target = parse.GetValue(output)!.FullName;
            ConversionResult result;
            try
            {
                result = CheckpointConverter.Convert(parse.GetValue(checkpoint)!.FullName, target, options, progress, cancellationToken, bar is null ? null : new SynchronousDetail(bar.Report));
            }
            finally
            {
                bar?.Finish();
            }

            var o = parse.InvocationConfiguration.Output;
            var m = result.Manifest;
            o.WriteLine($"wrote {m.Name} ({m.Source!.Architecture}, {m.Architecture.ParameterCount / 1e6:F1} M parameters, {(m.Quantization.Bits == 4 ? $"INT4 block {m.Quantization.BlockSize}" : $"fp{m.Quantization.Bits}")}) to {target} in {clock.Elapsed.TotalSeconds:F1} s");
            foreach (var (kind, error) in result.RelativeRmsError.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                o.WriteLine(string.Create(CultureInfo.InvariantCulture, $"quantization error  {kind,-14} {error:P2} relative RMS"));
            }

            foreach (var note in result.Notes)
            {
                o.WriteLine($"note: {note}");
            }

            return Task.FromResult(0);
        }));
        return command;
    }

    /// <summary>Reports on the converter's thread, in order (<see cref="Progress{T}"/> would post to the thread pool).</summary>
    private sealed class SynchronousProgress(Action<string> report) : IProgress<string>
    {
        public void Report(string value) => report(value);
    }

    private sealed class SynchronousDetail(Action<ConversionProgress> report) : IProgress<ConversionProgress>
    {
        public void Report(ConversionProgress value) => report(value);
    }
}
