using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;

namespace AutoGlm.Runtime.Onnx;

/// <summary>
/// The process's ONNX Runtime environment, created with ONNX Runtime's telemetry off. Since 1.31 the Linux builds
/// start a telemetry uploader with the environment, which writes a device id and an event store under
/// <c>$HOME/.cache/Microsoft/DeveloperTools/.onnxruntime</c> (and warns when the service user cannot).
/// </summary>
/// <remarks>
/// The uploader reads <c>ORT_DISABLE_TELEMETRY</c> from the native environment the first time the native library is
/// used (creating <see cref="SessionOptions"/> is enough), so the variable is set with libc's <c>setenv</c> (a managed
/// <see cref="Environment.SetEnvironmentVariable(string, string)"/> is not seen by native code on Unix) before that:
/// <see cref="EnsureCreated"/> comes first in <see cref="EngineSessionOptions.Create"/>, and
/// <see cref="ExecutionProviderSelector.Available"/> goes through <see cref="Instance"/>. A value the operator set is
/// kept. <see cref="OrtEnv.DisableTelemetryEvents"/> then turns off the events of builds that still collect them.
/// Thread-safe: the static constructor runs once.
/// </remarks>
internal static partial class OrtEnvironment
{
    private const string DisableVariable = "ORT_DISABLE_TELEMETRY";

    private static readonly OrtEnv Env = Create();

    /// <summary>The environment; every use of ONNX Runtime in this project goes through it.</summary>
    public static OrtEnv Instance => Env;

    /// <summary>Creates the environment if it is not yet; call before anything else of ONNX Runtime.</summary>
    public static void EnsureCreated() => GC.KeepAlive(Env);

    private static OrtEnv Create()
    {
        if (!OperatingSystem.IsWindows())
        {
            _ = SetEnv(DisableVariable, "1", overwrite: 0);
        }

        var env = OrtEnv.Instance();
        env.DisableTelemetryEvents();
        return env;
    }

    [LibraryImport("libc", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SetEnv(string name, string value, int overwrite);
}
