using System.Text.Json;
using AutoGlm.Runtime.Building;
using AutoGlm.Runtime.Packages;

namespace AutoGlm.Runtime.Conversion;

/// <summary>
/// GLM-4.1V's vision tower as its checkpoint describes it: <c>vision_config</c> of <c>config.json</c> and the
/// processor's <c>preprocessor_config.json</c> (its pixel bounds, mean and std; the processor class's defaults when
/// the file is absent).
/// </summary>
/// <param name="Spec">The tower's shape.</param>
/// <param name="Layout">The patch grid's parameters for the package's manifest.</param>
/// <param name="Mean">The processor's <c>image_mean</c>.</param>
/// <param name="Std">The processor's <c>image_std</c>.</param>
public sealed record Glm4vVisionConfig(Glm4vVisionSpec Spec, SmartResizeInfo Layout, IReadOnlyList<float> Mean, IReadOnlyList<float> Std)
{
    public const string PreprocessorFileName = "preprocessor_config.json";
    public const string TensorPrefix = "model.visual.";

    /// <summary>The tensors whose presence means the checkpoint holds a whole tower (a text-only export may carry a stub).</summary>
    public static IReadOnlyList<string> MarkerTensors { get; } = [TensorPrefix + "patch_embed.proj.weight", TensorPrefix + "merger.proj.weight"];

    // Glm4vImageProcessor's class defaults and OpenAI CLIP's mean and std.
    private static readonly float[] ClipMean = [0.48145466f, 0.4578275f, 0.40821073f];
    private static readonly float[] ClipStd = [0.26862954f, 0.26130258f, 0.27577711f];

    /// <summary>Reads the tower's configuration.</summary>
    /// <exception cref="RuntimeException"><see cref="RuntimeErrorCode.InvalidRequest"/> naming a missing or bad key, or a shape the graph cannot run.</exception>
    public static Glm4vVisionConfig Read(string checkpointDirectory)
    {
        using var config = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(checkpointDirectory, CheckpointConfig.FileName)));
        if (!config.RootElement.TryGetProperty("vision_config", out var vision) || vision.ValueKind != JsonValueKind.Object)
        {
            throw Error($"{CheckpointConfig.FileName} has no 'vision_config' but the checkpoint holds model.visual.* tensors");
        }

        var v = new CheckpointConfig.KeyReader(vision, "vision_config.");
        var act = v.OptionalString("hidden_act") ?? "silu";
        if (act != "silu")
        {
            throw Error($"{CheckpointConfig.FileName} key 'vision_config.hidden_act' is '{act}'; the vision graph runs silu");
        }

        if ((v.OptionalInt("in_channels") ?? 3) != 3)
        {
            throw Error($"{CheckpointConfig.FileName} key 'vision_config.in_channels' must be 3 (RGB)");
        }

        var spec = new Glm4vVisionSpec(
            v.Int("hidden_size"),
            v.Int("depth"),
            v.Int("num_heads"),
            v.Int("intermediate_size"),
            v.Int("out_hidden_size"),
            v.OptionalInt("patch_size") ?? 14,
            v.OptionalInt("image_size") ?? 336,
            v.OptionalInt("spatial_merge_size") ?? 2,
            v.OptionalInt("temporal_patch_size") ?? 2,
            (float)(v.OptionalDouble("rms_norm_eps") ?? 1e-5),
            v.OptionalBool("attention_bias") ?? false);
        var problems = spec.Validate();
        if (problems.Count > 0)
        {
            throw Error($"{CheckpointConfig.FileName} describes a vision tower the graph cannot run: {string.Join("; ", problems)}");
        }

        long minPixels = 112 * 112, maxPixels = 28 * 28 * 15000;
        IReadOnlyList<float> mean = ClipMean, std = ClipStd;
        var preprocessor = Path.Combine(checkpointDirectory, PreprocessorFileName);
        if (File.Exists(preprocessor))
        {
            try
            {
                ReadPreprocessor(preprocessor, spec, ref minPixels, ref maxPixels, ref mean, ref std);
            }
            catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException)
            {
                throw Error($"{PreprocessorFileName} is not what GLM-4.1V's processor writes: {ex.Message}");
            }
        }

        var layout = new SmartResizeInfo
        {
            PatchSize = spec.PatchSize,
            MergeSize = spec.MergeSize,
            TemporalPatchSize = spec.TemporalPatchSize,
            MinPixels = minPixels,
            MaxPixels = maxPixels,
        };
        return new Glm4vVisionConfig(spec, layout, mean, std);
    }

    private static void ReadPreprocessor(string preprocessor, Glm4vVisionSpec spec, ref long minPixels, ref long maxPixels, ref IReadOnlyList<float> mean, ref IReadOnlyList<float> std)
    {
        using var document = JsonDocument.Parse(File.ReadAllBytes(preprocessor));
        var root = document.RootElement;
        if (root.TryGetProperty("size", out var size) && size.ValueKind == JsonValueKind.Object)
        {
            minPixels = size.TryGetProperty("shortest_edge", out var min) ? min.GetInt64() : minPixels;
            maxPixels = size.TryGetProperty("longest_edge", out var max) ? max.GetInt64() : maxPixels;
        }

        mean = Triple(root, "image_mean") ?? mean;
        std = Triple(root, "image_std") ?? std;
        Check(root, "patch_size", spec.PatchSize);
        Check(root, "merge_size", spec.MergeSize);
        Check(root, "temporal_patch_size", spec.TemporalPatchSize);
    }

    private static float[]? Triple(JsonElement root, string key)
    {
        if (!root.TryGetProperty(key, out var value))
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.Array || value.GetArrayLength() != 3)
        {
            throw Error($"{PreprocessorFileName} key '{key}' must be a list of three numbers");
        }

        return [.. value.EnumerateArray().Select(e => e.GetSingle())];
    }

    private static void Check(JsonElement root, string key, int expected)
    {
        if (root.TryGetProperty(key, out var value) && value.GetInt32() != expected)
        {
            throw Error($"{PreprocessorFileName} key '{key}' is {value.GetInt32()} but config.json's vision_config says {expected}");
        }
    }

    private static RuntimeException Error(string message) => new(RuntimeErrorCode.InvalidRequest, message);
}
