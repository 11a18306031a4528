using System.CommandLine;
using AutoGlm.Runtime;
using AutoGlm.Runtime.Building;
using AutoGlm.Runtime.Packages;

namespace AutoGlm.Edge.Cli;

/// <summary><c>model verify</c>, <c>model build-synthetic</c> and <c>model convert</c>.</summary>
internal static class ModelCommands
{
    public static Command Create()
    {
        var model = new Command("model", "Check and build model packages.");
        model.Subcommands.Add(Verify());
        model.Subcommands.Add(BuildSynthetic());
        model.Subcommands.Add(ConvertCommand.Create());
        return model;
    }

    private static Command Verify()
    {
        var directory = new Argument<DirectoryInfo>("dir") { Description = "The package folder (holding manifest.json)." };
        var command = new Command("verify", "Check every file of a model package against its manifest's SHA-256.") { directory };
        command.SetAction(parse =>
        {
            var report = ModelPackage.Verify(parse.GetValue(directory)!.FullName);
            var output = parse.InvocationConfiguration.Output;
            if (report.Manifest is { } manifest)
            {
                var a = manifest.Architecture;
                output.WriteLine($"package  {report.Directory}");
                output.WriteLine($"model    {manifest.Name}: {a.Layers} layers, hidden {a.HiddenSize}, {a.NumHeads} heads ({a.NumKvHeads} KV), head {a.HeadSize}, FFN {a.FfnSize}, vocabulary {a.VocabSize}, context {a.ContextLength}, {a.ParameterCount / 1e6:F1} M parameters, {(manifest.Quantization.Bits == 4 ? $"INT4 block {manifest.Quantization.BlockSize}" : $"fp{manifest.Quantization.Bits}")}");
                if (manifest.Source is { } source)
                {
                    output.WriteLine($"source   {source.Architecture} checkpoint, converted by {source.Converter} ({string.Join(", ", source.Options.Select(kv => $"{kv.Key} {kv.Value}"))})");
                }

                foreach (var file in report.VerifiedFiles)
                {
                    output.WriteLine($"ok       {file.Path} ({file.Size} bytes, sha256 {file.Sha256})");
                }
            }

            foreach (var problem in report.Problems)
            {
                parse.InvocationConfiguration.Error.WriteLine($"FAILED   {problem}");
            }

            output.WriteLine(report.IsValid ? "package OK" : $"package INVALID: {report.Problems.Count} problem(s)");
            return report.IsValid ? 0 : 1;
        });
        return command;
    }

    private static Command BuildSynthetic()
    {
        var output = new Option<DirectoryInfo>("--out") { Description = "Folder to write the package into.", Required = true };
        var preset = new Option<string>("--preset") { Description = "tiny (tests, demo) or small (367 M parameters, benchmarks).", DefaultValueFactory = _ => "tiny" };
        preset.AcceptOnlyFromAmong("tiny", "small");
        var layers = new Option<int?>("--layers") { Description = "Decoder layers." };
        var hidden = new Option<int?>("--hidden") { Description = "Hidden size (= heads × head size)." };
        var heads = new Option<int?>("--heads") { Description = "Attention heads." };
        var kvHeads = new Option<int?>("--kv-heads") { Description = "Key/value heads (grouped-query attention)." };
        var headSize = new Option<int?>("--head-size") { Description = "Head size (at least 32: GLM rotates half of it)." };
        var ffn = new Option<int?>("--ffn") { Description = "MLP size (a multiple of 32)." };
        var context = new Option<int?>("--context") { Description = "Context length." };
        var seed = new Option<ulong?>("--seed") { Description = "Weight seed (same arguments, same bytes)." };
        var accuracy = new Option<int?>("--accuracy-level") { Description = "MatMulNBits accuracy level: 0 float compute, 4 int8 compute (default, fastest on CPU)." };
        var noAdapters = new Option<bool>("--no-adapters") { Description = "A text-only package: no vision or audio adapter (images and audio are then answered unsupported_modality)." };
        var imageSize = new Option<int?>("--image-size") { Description = "The square the synthetic vision adapter sees (default 64)." };
        var patchSize = new Option<int?>("--patch-size") { Description = "Pixels per patch side; one embedding row per patch (default 16)." };
        var resize = new Option<string?>("--resize") { Description = "pad (one square) or tile (a thumbnail plus a grid)." };
        var maxTiles = new Option<int?>("--max-tiles") { Description = "Grid tiles in tile mode." };
        var command = new Command("build-synthetic", "Write a GLM-shaped INT4 ONNX model with seeded random weights (no downloads).")
        {
            output, preset, layers, hidden, heads, kvHeads, headSize, ffn, context, seed, accuracy, noAdapters, imageSize, patchSize, resize, maxTiles,
        };
        command.SetAction(parse =>
        {
            var spec = SyntheticModelSpec.Preset(parse.GetValue(preset)!);
            var a = spec.Architecture;
            var headCount = parse.GetValue(heads) ?? a.NumHeads;
            var size = parse.GetValue(headSize) ?? a.HeadSize;
            var customShape = parse.GetValue(layers) is not null || parse.GetValue(hidden) is not null || parse.GetValue(heads) is not null
                || parse.GetValue(kvHeads) is not null || parse.GetValue(headSize) is not null || parse.GetValue(ffn) is not null;
            spec = spec with
            {
                Name = customShape ? "glm-synthetic-custom" : spec.Name,
                Seed = parse.GetValue(seed) ?? spec.Seed,
                Quantization = spec.Quantization with { AccuracyLevel = parse.GetValue(accuracy) ?? spec.Quantization.AccuracyLevel },
                Architecture = a with
                {
                    Layers = parse.GetValue(layers) ?? a.Layers,
                    NumHeads = headCount,
                    HeadSize = size,
                    HiddenSize = parse.GetValue(hidden) ?? headCount * size,
                    NumKvHeads = parse.GetValue(kvHeads) ?? a.NumKvHeads,
                    FfnSize = parse.GetValue(ffn) ?? a.FfnSize,
                    ContextLength = parse.GetValue(context) ?? a.ContextLength,
                    RotaryDim = size / 2,
                },
                Adapters = parse.GetValue(noAdapters) ? null : SyntheticAdaptersSpec.Default with
                {
                    ImageSize = parse.GetValue(imageSize) ?? SyntheticAdaptersSpec.Default.ImageSize,
                    PatchSize = parse.GetValue(patchSize) ?? SyntheticAdaptersSpec.Default.PatchSize,
                    Resize = parse.GetValue(resize) ?? SyntheticAdaptersSpec.Default.Resize,
                    MaxTiles = parse.GetValue(maxTiles) ?? SyntheticAdaptersSpec.Default.MaxTiles,
                },
            };
            var directory = parse.GetValue(output)!.FullName;
            try
            {
                var manifest = SyntheticModelBuilder.Build(spec, directory);
                var adapters = manifest.Adapters is null ? "text only" : "vision and audio adapters";
                parse.InvocationConfiguration.Output.WriteLine($"wrote {manifest.Name} ({manifest.Architecture.ParameterCount / 1e6:F1} M parameters, {adapters}) to {directory}");
                return 0;
            }
            catch (RuntimeException ex)
            {
                parse.InvocationConfiguration.Error.WriteLine($"error: {ex.Message}");
                return 2;
            }
        });
        return command;
    }
}
