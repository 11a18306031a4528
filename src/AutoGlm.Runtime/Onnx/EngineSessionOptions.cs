using AutoGlm.Runtime.Generation;
using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;

namespace AutoGlm.Runtime.Onnx;

/// <summary>The ONNX Runtime session options every session of the engine (decoder and adapters) starts from.</summary>
internal static class EngineSessionOptions
{
    /// <summary>
    /// Full graph optimization, intra-op threads per <see cref="EngineOptions.IntraOpThreads"/> (one per core by
    /// default), one inter-op thread, spinning as asked, and the configured execution provider (with its fallbacks).
    /// </summary>
    /// <param name="options">Engine settings.</param>
    /// <param name="allowSpinning">Whether worker threads spin between operators.</param>
    /// <param name="logger">Receives provider fallbacks.</param>
    /// <param name="executionProvider">The provider that will run.</param>
    /// <returns>Options the caller owns and disposes.</returns>
    public static SessionOptions Create(EngineOptions options, bool allowSpinning, ILogger logger, out string executionProvider)
    {
        // Before the first call into the native library: ONNX Runtime decides on telemetry when it is first used.
        OrtEnvironment.EnsureCreated();
        var session = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            IntraOpNumThreads = options.IntraOpThreads > 0 ? options.IntraOpThreads : Environment.ProcessorCount,
            InterOpNumThreads = 1,
        };
        try
        {
            session.AddSessionConfigEntry("session.intra_op.allow_spinning", allowSpinning ? "1" : "0");
            executionProvider = ExecutionProviderSelector.Apply(session, options.ExecutionProvider, options.DeviceId, options.TensorRtCacheDirectory, logger);
            return session;
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }
}
