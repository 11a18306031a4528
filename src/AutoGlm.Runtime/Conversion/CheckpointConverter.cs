using System.Globalization;
using System.Text.Json;
using AutoGlm.Runtime.Building;
using AutoGlm.Runtime.Packages;

namespace AutoGlm.Runtime.Conversion;

/// <summary>How to convert: the weight format, the INT4 block and accuracy level, the package's name.</summary>
public sealed record ConversionOptions
{
    /// <summary><c>int4</c> (the default), <c>fp16</c> (half the disk of fp32; bf16 checkpoints convert losslessly but for subnormals) or <c>fp32</c> (full precision, for checking a conversion against a float reference).</summary>
    public string Weights { get; init; } = "int4";

    /// <summary>INT4 block size: 32 (the default), 64 or 128.</summary>
    public int BlockSize { get; init; } = 32;

    /// <summary><c>MatMulNBits</c>'s accuracy level: 4 (the default, int8 compute) or 0 (float compute).</summary>
    public int AccuracyLevel { get; init; } = 4;

    /// <summary>
    /// <c>--zero-points</c>: asymmetric INT4 (per block min/max over 15 steps and a uint8 zero point) for the linears and
    /// the head; else symmetric over the full 4-bit range (ONNX Runtime's rule, scale = the signed extreme / −8).
    /// </summary>
    public bool ZeroPoints { get; init; }

    /// <summary>The package's name; the checkpoint folder's name when null.</summary>
    public string? Name { get; init; }

    /// <summary>Every problem with the options at once, each naming the option.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (Weights is not ("int4" or "fp16" or "fp32"))
        {
            errors.Add($"--weights must be int4, fp16 or fp32 (got '{Weights}')");
        }

        if (BlockSize is not (32 or 64 or 128))
        {
            errors.Add($"--block-size must be 32, 64 or 128 (got {BlockSize})");
        }

        if (AccuracyLevel is not (0 or 4))
        {
            errors.Add($"--accuracy-level must be 0 or 4 (got {AccuracyLevel})");
        }

        if (ZeroPoints && Weights != "int4")
        {
            errors.Add($"--zero-points applies to --weights int4 only (got --weights {Weights})");
        }

        if (Name is { } n && string.IsNullOrWhiteSpace(n))
        {
            errors.Add("--name must not be empty");
        }

        return errors;
    }
}

/// <summary>What a conversion wrote, and what the quantization cost.</summary>
/// <param name="Manifest">The package's manifest.</param>
/// <param name="RelativeRmsError">Per tensor kind, ‖W − Q(W)‖ / ‖W‖ over every tensor of the kind (empty for fp32).</param>
/// <param name="Notes">What the checkpoint's chat template asks for that the family template does not do.</param>
public sealed record ConversionResult(ModelManifest Manifest, IReadOnlyDictionary<string, double> RelativeRmsError, IReadOnlyList<string> Notes);

/// <summary>Where a conversion is: the step about to run (<c>layer 3/40</c>, …) and the checkpoint bytes read so far of all.</summary>
/// <param name="Step">The tensor or layer being read.</param>
/// <param name="BytesRead">Bytes of checkpoint tensor data read before this step.</param>
/// <param name="TotalBytes">Bytes of tensor data in the checkpoint.</param>
public sealed record ConversionProgress(string Step, long BytesRead, long TotalBytes);

/// <summary>Converts a Hugging Face GLM checkpoint folder into a verified model package.</summary>
/// <remarks>
/// Streams tensor by tensor through memory maps: peak memory is about the largest tensor (the embedding) as float32,
/// plus its quantized copy, whatever the number of layers. Everything is written into a sibling temp folder that is
/// renamed to the output at the end, so an interrupted conversion never leaves a package that verifies.
/// </remarks>
public static class CheckpointConverter
{
    /// <summary>The converter's name and version, recorded in the manifest.</summary>
    public static string Version { get; } = "autoglm-edge convert " + (typeof(CheckpointConverter).Assembly.GetName().Version?.ToString(3) ?? "0");

    /// <summary>Converts <paramref name="checkpointDirectory"/> into a new package at <paramref name="outputDirectory"/>.</summary>
    /// <param name="checkpointDirectory">The checkpoint folder (config.json, safetensors, tokenizer.json, …).</param>
    /// <param name="outputDirectory">The package folder to create; must not exist or be empty.</param>
    /// <param name="options">Weight format and quantization.</param>
    /// <param name="progress">Receives one line per step (tensor group written).</param>
    /// <param name="cancellationToken">Checked between layers; a cancelled conversion removes its temp folder.</param>
    /// <param name="detail">Receives each step with the bytes read so far, for a progress bar.</param>
    /// <exception cref="RuntimeException"><see cref="RuntimeErrorCode.InvalidRequest"/> naming what is wrong with the checkpoint or options.</exception>
    public static ConversionResult Convert(string checkpointDirectory, string outputDirectory, ConversionOptions options, IProgress<string>? progress = null, CancellationToken cancellationToken = default, IProgress<ConversionProgress>? detail = null)
    {
        var problems = options.Validate();
        if (problems.Count > 0)
        {
            throw new RuntimeException(RuntimeErrorCode.InvalidRequest, string.Join("; ", problems));
        }

        checkpointDirectory = Path.GetFullPath(checkpointDirectory);
        outputDirectory = Path.GetFullPath(outputDirectory);
        if (!Directory.Exists(checkpointDirectory))
        {
            throw new RuntimeException(RuntimeErrorCode.InvalidRequest, $"checkpoint folder '{checkpointDirectory}' does not exist");
        }

        if (Directory.Exists(outputDirectory) && Directory.EnumerateFileSystemEntries(outputDirectory).Any())
        {
            throw new RuntimeException(RuntimeErrorCode.InvalidRequest, $"output folder '{outputDirectory}' exists and is not empty");
        }

        var config = CheckpointConfig.Read(checkpointDirectory);
        var prequantized = CheckpointQuantization.Read(checkpointDirectory);
        if (prequantized is not null && options.Weights != "int4")
        {
            throw new RuntimeException(RuntimeErrorCode.InvalidRequest, $"--weights {options.Weights}: the checkpoint is already {prequantized.Method} 4-bit ({CheckpointQuantization.Key}); it converts only to int4");
        }

        // A 4-bit checkpoint's group size is the package's block size: its codes are kept, not re-rounded.
        var blockSize = prequantized?.GroupSize ?? options.BlockSize;
        var shapeProblems = config.Validate(blockSize);
        if (shapeProblems.Count > 0)
        {
            throw new RuntimeException(RuntimeErrorCode.InvalidRequest, $"{CheckpointConfig.FileName} describes a shape the engine cannot run at block size {blockSize}: {string.Join("; ", shapeProblems)}");
        }

        var tokenizer = CheckpointTokenizer.Read(checkpointDirectory, config);
        var quantization = new QuantizationInfo
        {
            Bits = options.Weights switch { "fp32" => 32, "fp16" => 16, _ => 4 },
            BlockSize = blockSize,
            AccuracyLevel = options.AccuracyLevel,
        };

        var parent = Path.GetDirectoryName(outputDirectory.TrimEnd(Path.DirectorySeparatorChar))!;
        Directory.CreateDirectory(parent);
        var temp = Path.Combine(parent, $".{Path.GetFileName(outputDirectory.TrimEnd(Path.DirectorySeparatorChar))}.converting-{Guid.NewGuid():N}");
        Directory.CreateDirectory(temp);
        try
        {
            var errors = new Dictionary<string, (double ErrorSquares, double WeightSquares)>(StringComparer.Ordinal);
            GlmDecoderGraph graph;
            IReadOnlyList<string> shards;
            VisionAdapterInfo? vision = null;
            using (var checkpoint = new SafetensorsCheckpoint(checkpointDirectory))
            {
                shards = checkpoint.ShardNames;
                var weights = new ProgressWeights(new CheckpointGlmWeights(checkpoint, config, prequantized), config.Architecture.Layers, Both(progress, detail, checkpoint), cancellationToken);
                graph = SyntheticModelBuilder.WriteDecoder(config.Architecture, quantization, weights, temp, errors: quantization.Bits == 4 ? errors : null, rule: options.ZeroPoints ? Int4Rule.ZeroPoints : Int4Rule.FullRange);
                if (config.ArchitectureName == "Glm4vForConditionalGeneration" && Glm4vVisionConfig.MarkerTensors.All(checkpoint.Contains))
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    GC.Collect();
                    progress?.Report("vision tower");
                    vision = WriteVision(Glm4vVisionConfig.Read(checkpointDirectory), checkpoint, quantization, config.Architecture.HiddenSize, temp, errors, options.ZeroPoints ? Int4Rule.ZeroPoints : Int4Rule.FullRange);
                }
            }

            cancellationToken.ThrowIfCancellationRequested();
            var tokenizerFile = tokenizer.Info.File!;
            File.Copy(Path.Combine(checkpointDirectory, tokenizerFile), Path.Combine(temp, tokenizerFile));
            progress?.Report("hashing the checkpoint's files");
            var sourceFiles = new List<string> { CheckpointConfig.FileName };
            sourceFiles.AddRange(shards);
            foreach (var extra in new[] { SafetensorsCheckpoint.IndexFileName, tokenizerFile, CheckpointTokenizer.TokenizerConfigFileName, CheckpointTokenizer.GenerationConfigFileName, "special_tokens_map.json", Glm4vVisionConfig.PreprocessorFileName })
            {
                if (File.Exists(Path.Combine(checkpointDirectory, extra)))
                {
                    sourceFiles.Add(extra);
                }
            }

            var manifest = new ModelManifest
            {
                Name = options.Name ?? Path.GetFileName(checkpointDirectory.TrimEnd(Path.DirectorySeparatorChar)),
                Architecture = config.Architecture,
                Quantization = quantization,
                Tokenizer = tokenizer.Info,
                ChatTemplate = tokenizer.ChatTemplate,
                Decoder = new DecoderInfo
                {
                    Model = SyntheticModelBuilder.DecoderFileName,
                    KvFloat16Model = SyntheticModelBuilder.KvFloat16DecoderFileName,
                    Embedding = new EmbeddingInfo
                    {
                        File = SyntheticModelBuilder.DataFileName,
                        WeightOffset = graph.EmbeddingOffsets.Weight,
                        ScalesOffset = graph.EmbeddingOffsets.Scales,
                        Format = quantization.Bits switch { 4 => EmbeddingInfo.Int4Format, 16 => EmbeddingInfo.Float16Format, _ => EmbeddingInfo.Float32Format },
                    },
                },
                Source = new PackageSource(
                    config.ArchitectureName,
                    Version,
                    new SortedDictionary<string, string>(StringComparer.Ordinal)
                    {
                        ["weights"] = options.Weights,
                        ["block_size"] = blockSize.ToString(CultureInfo.InvariantCulture),
                        ["prequantized"] = prequantized?.Method ?? "none",
                        ["zero_points"] = options.ZeroPoints ? "true" : "false",
                        ["accuracy_level"] = options.AccuracyLevel.ToString(CultureInfo.InvariantCulture),
                    },
                    [.. sourceFiles.Distinct(StringComparer.Ordinal).Select(f => SyntheticModelBuilder.Describe(checkpointDirectory, f))]),
                Adapters = vision is null ? null : new AdaptersInfo { Vision = vision },
                Files = [.. new[] { SyntheticModelBuilder.DecoderFileName, SyntheticModelBuilder.KvFloat16DecoderFileName, SyntheticModelBuilder.DataFileName, tokenizerFile }
                    .Concat(vision is null ? [] : [VisionFileName, VisionDataFileName])
                    .Select(f => SyntheticModelBuilder.Describe(temp, f))],
            };
            cancellationToken.ThrowIfCancellationRequested();
            File.WriteAllBytes(Path.Combine(temp, ModelPackage.ManifestFileName), JsonSerializer.SerializeToUtf8Bytes(manifest, ModelManifest.JsonOptions));
            var verification = ModelPackage.Verify(temp);
            if (!verification.IsValid)
            {
                throw new RuntimeException(RuntimeErrorCode.Internal, $"the converted package does not verify: {verification.Problems[0]}");
            }

            if (Directory.Exists(outputDirectory))
            {
                Directory.Delete(outputDirectory);
            }

            Directory.Move(temp, outputDirectory);
            var relative = errors.ToDictionary(kv => kv.Key, kv => kv.Value.WeightSquares > 0 ? Math.Sqrt(kv.Value.ErrorSquares / kv.Value.WeightSquares) : 0.0, StringComparer.Ordinal);
            return new ConversionResult(manifest, relative, tokenizer.Notes);
        }
        catch
        {
            if (Directory.Exists(temp))
            {
                Directory.Delete(temp, recursive: true);
            }

            throw;
        }
    }

    /// <summary>The vision tower's graph and its weights in a converted GLM-4.1V package.</summary>
    public const string VisionFileName = "vision.onnx";
    public const string VisionDataFileName = "vision.onnx.data";

    /// <summary>Writes the vision tower (<c>model.visual.*</c>) as <see cref="VisionFileName"/> and returns its adapter entry.</summary>
    private static VisionAdapterInfo WriteVision(Glm4vVisionConfig vision, SafetensorsCheckpoint checkpoint, QuantizationInfo quantization, int trunkHidden, string directory,
        Dictionary<string, (double ErrorSquares, double WeightSquares)> errors, Int4Rule rule)
    {
        if (vision.Spec.OutHidden != trunkHidden)
        {
            throw new RuntimeException(RuntimeErrorCode.InvalidRequest, $"{CheckpointConfig.FileName} key 'vision_config.out_hidden_size' ({vision.Spec.OutHidden}) must equal the text decoder's hidden_size ({trunkHidden})");
        }

        byte[] model;
        using (var data = new FileStream(Path.Combine(directory, VisionDataFileName), FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
        {
            var graph = new Glm4vVisionGraph(vision.Spec, quantization, data, rule) { QuantizationErrors = quantization.Bits == 4 ? errors : null };
            model = graph.Build((name, shape) => checkpoint.ReadFloats(Glm4vVisionConfig.TensorPrefix + name, shape), vision.Layout, VisionDataFileName);
        }

        File.WriteAllBytes(Path.Combine(directory, VisionFileName), model);
        return new VisionAdapterInfo
        {
            Model = VisionFileName,
            InputName = Glm4vVisionGraph.PixelValues,
            OutputName = Glm4vVisionGraph.Output,
            Resize = "smart",
            Mean = vision.Mean,
            Std = vision.Std,
            Smart = vision.Layout,
        };
    }

    private static IProgress<string>? Both(IProgress<string>? progress, IProgress<ConversionProgress>? detail, SafetensorsCheckpoint checkpoint)
    {
        if (detail is null)
        {
            return progress;
        }

        var total = checkpoint.TotalBytes;
        return new Relay(step =>
        {
            detail.Report(new ConversionProgress(step, checkpoint.BytesRead, total));
            progress?.Report(step);
        });
    }

    private sealed class Relay(Action<string> report) : IProgress<string>
    {
        public void Report(string value) => report(value);
    }

    /// <summary>Reports each layer as it is read, stops between layers when cancelled, and frees what was written before the next read.</summary>
    /// <remarks>
    /// Every tensor is a fresh large array that is garbage once written; left to itself the GC lets such arrays pile
    /// up (measured: peak RSS grew by the size of each layer's floats, 5.5 GB for 20 layers against 2.2 GB for 4). A
    /// blocking collection before each read (milliseconds, the live set is small) keeps the peak at the largest tensor.
    /// </remarks>
    private sealed class ProgressWeights(IGlmWeights inner, int layers, IProgress<string>? progress, CancellationToken cancellationToken) : IGlmWeights
    {
        public float[] Embedding()
        {
            progress?.Report("embedding");
            return inner.Embedding();
        }

        public float[] FinalNorm() => inner.FinalNorm();

        public GlmLayerWeights Layer(int index)
        {
            cancellationToken.ThrowIfCancellationRequested();
            GC.Collect();

            progress?.Report($"layer {index + 1}/{layers}");
            return inner.Layer(index);
        }

        public float[]? LmHead()
        {
            cancellationToken.ThrowIfCancellationRequested();
            GC.Collect();
            progress?.Report("lm_head");
            return inner.LmHead();
        }
    }
}
