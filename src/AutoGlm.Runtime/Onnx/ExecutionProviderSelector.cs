using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;

namespace AutoGlm.Runtime.Onnx;

/// <summary>Adds the configured execution provider to session options, falling back to CPU when it is not there.</summary>
public static partial class ExecutionProviderSelector
{
    /// <summary>The names configuration accepts.</summary>
    public static IReadOnlyList<string> KnownProviders { get; } = ["cpu", "cuda", "tensorrt"];

    /// <summary>The providers this ONNX Runtime build offers, in ONNX Runtime's names.</summary>
    public static IReadOnlyList<string> Available() => OrtEnvironment.Instance.GetAvailableProviders();

    /// <summary>Appends the requested provider (or its fallbacks) and returns the one that will run.</summary>
    /// <param name="options">Options to configure.</param>
    /// <param name="requested"><c>cpu</c>, <c>cuda</c> or <c>tensorrt</c>.</param>
    /// <param name="deviceId">The GPU ordinal for CUDA and TensorRT.</param>
    /// <param name="tensorRtCacheDirectory">Where TensorRT keeps built engines; null disables the cache.</param>
    /// <param name="logger">Receives a warning for every fallback.</param>
    public static string Apply(SessionOptions options, string requested, int deviceId, string? tensorRtCacheDirectory, ILogger logger)
    {
        var name = requested.Trim().ToLowerInvariant();
        if (!KnownProviders.Contains(name))
        {
            throw new RuntimeException(RuntimeErrorCode.InvalidRequest, $"Runtime:ExecutionProvider '{requested}' is not one of {string.Join(", ", KnownProviders)}");
        }

        var available = Available();
        if (name == "tensorrt")
        {
            if (TryAppend(available, "TensorrtExecutionProvider", () => AppendTensorRt(options, deviceId, tensorRtCacheDirectory), logger))
            {
                // CUDA takes whatever TensorRT cannot run.
                TryAppend(available, "CUDAExecutionProvider", () => options.AppendExecutionProvider_CUDA(deviceId), logger);
                return "tensorrt";
            }

            Log.Fallback(logger, "tensorrt", "cuda");
            name = "cuda";
        }

        if (name == "cuda")
        {
            if (TryAppend(available, "CUDAExecutionProvider", () => options.AppendExecutionProvider_CUDA(deviceId), logger))
            {
                return "cuda";
            }

            Log.Fallback(logger, "cuda", "cpu");
        }

        return "cpu";
    }

    private static void AppendTensorRt(SessionOptions options, int deviceId, string? cacheDirectory)
    {
        using var trt = new OrtTensorRTProviderOptions();
        var settings = new Dictionary<string, string>
        {
            ["device_id"] = deviceId.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["trt_fp16_enable"] = "1",
        };
        if (cacheDirectory is not null)
        {
            Directory.CreateDirectory(cacheDirectory);
            settings["trt_engine_cache_enable"] = "1";
            settings["trt_engine_cache_path"] = cacheDirectory;
        }

        trt.UpdateOptions(settings);
        options.AppendExecutionProvider_Tensorrt(trt);
    }

    private static bool TryAppend(IReadOnlyList<string> available, string ortName, Action append, ILogger logger)
    {
        if (!available.Contains(ortName))
        {
            Log.ProviderMissing(logger, ortName, string.Join(", ", available));
            return false;
        }

        try
        {
            append();
            return true;
        }
        catch (OnnxRuntimeException ex)
        {
            Log.ProviderFailed(logger, ortName, ex.Message);
            return false;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1001, LogLevel.Warning, "Execution provider {Provider} is not in this ONNX Runtime build (it offers {Available})")]
        public static partial void ProviderMissing(ILogger logger, string provider, string available);

        [LoggerMessage(1002, LogLevel.Warning, "Execution provider {Provider} could not be created: {Reason}")]
        public static partial void ProviderFailed(ILogger logger, string provider, string reason);

        [LoggerMessage(1003, LogLevel.Warning, "Falling back from the {Requested} execution provider to {Fallback}")]
        public static partial void Fallback(ILogger logger, string requested, string fallback);
    }
}
