using System.Diagnostics;
using AutoGlm.Runtime.Generation;
using AutoGlm.Runtime.Onnx;
using AutoGlm.Runtime.Packages;
using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;

namespace AutoGlm.Runtime.Modalities;

/// <summary>What an adapter is doing, for status documents and metrics.</summary>
/// <param name="Name"><c>vision</c> or <c>audio</c>.</param>
/// <param name="Loaded">Whether its ONNX session is in memory now.</param>
/// <param name="MemoryBytes">While loaded: the bytes of its ONNX file, which ONNX Runtime holds as weights; else 0.</param>
/// <param name="Loads">How many times it was loaded since start.</param>
/// <param name="Encodes">Inputs it encoded since start.</param>
/// <param name="LastUsed">When it last encoded something; null if never.</param>
public sealed record AdapterStatus(string Name, bool Loaded, long MemoryBytes, int Loads, long Encodes, DateTimeOffset? LastUsed);

/// <summary>A further named float input of an adapter (the patch positions of a variable-grid vision encoder).</summary>
internal sealed record AdapterInput(string Name, float[] Data, long[] Shape);

/// <summary>One adapter encoder: its ONNX session is created on first use and dropped after an idle time.</summary>
/// <remarks>
/// <see cref="Encode"/> and <see cref="UnloadIfIdle"/> run on the scheduler's thread only; <see cref="Status"/> may be
/// read from any thread.
/// </remarks>
internal sealed partial class AdapterSession : IDisposable
{
    private readonly string _path;
    private readonly string _inputName, _outputName;
    private readonly int _hidden;
    private readonly EngineOptions _options;
    private readonly TimeSpan _idleTimeout;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly long _fileBytes;
    private readonly RunOptions _runOptions = new();
    private InferenceSession? _session;
    private int _loads;
    private long _encodes;
    private long _lastUsedTicks = -1;

    public AdapterSession(string name, ModelPackage package, string model, string inputName, string outputName, EngineOptions options, TimeProvider time, ILogger logger)
    {
        Name = name;
        _path = package.PathOf(model);
        _inputName = inputName;
        _outputName = outputName;
        _hidden = package.Manifest.Architecture.HiddenSize;
        _options = options;
        _idleTimeout = options.Media.AdapterIdleTimeout;
        _time = time;
        _logger = logger;
        _fileBytes = new FileInfo(_path).Length;
    }

    public string Name { get; }

    public bool IsLoaded => Volatile.Read(ref _session) is not null;

    public AdapterStatus Status
    {
        get
        {
            var loaded = IsLoaded;
            var last = Interlocked.Read(ref _lastUsedTicks);
            return new AdapterStatus(Name, loaded, loaded ? _fileBytes : 0, Volatile.Read(ref _loads), Interlocked.Read(ref _encodes),
                last < 0 ? null : new DateTimeOffset(last, TimeSpan.Zero));
        }
    }

    /// <summary>When the session becomes idle long enough to unload; null while unloaded.</summary>
    public DateTimeOffset? UnloadDue => IsLoaded ? new DateTimeOffset(Interlocked.Read(ref _lastUsedTicks), TimeSpan.Zero) + _idleTimeout : null;

    /// <summary>Runs the encoder on one input (and any further named inputs) and returns its rows, <c>[rows, hidden]</c> flattened.</summary>
    /// <exception cref="RuntimeException"><see cref="RuntimeErrorCode.ModelUnavailable"/> when the adapter cannot load or breaks its contract.</exception>
    public float[] Encode(float[] input, long[] shape, int expectedRows, IReadOnlyList<AdapterInput>? extra = null)
    {
        var session = _session ?? Load();
        extra ??= [];
        var values = new List<OrtValue> { OrtValue.CreateTensorValueFromMemory(input, shape) };
        try
        {
            values.AddRange(extra.Select(e => OrtValue.CreateTensorValueFromMemory(e.Data, e.Shape)));
            using var results = session.Run(_runOptions, [_inputName, .. extra.Select(e => e.Name)], values, [_outputName]);
            var output = results[0];
            var outShape = output.GetTensorTypeAndShape().Shape;
            var rows = outShape.Length switch
            {
                3 when outShape[2] == _hidden => outShape[0] * outShape[1],
                2 when outShape[1] == _hidden => outShape[0],
                _ => -1,
            };
            if (rows != expectedRows)
            {
                throw new RuntimeException(RuntimeErrorCode.ModelUnavailable,
                    $"the {Name} adapter returned shape [{string.Join(", ", outShape)}]; the package's manifest promises {expectedRows} rows of {_hidden}");
            }

            Interlocked.Increment(ref _encodes);
            return output.GetTensorDataAsSpan<float>().ToArray();
        }
        catch (OnnxRuntimeException ex)
        {
            throw new RuntimeException(RuntimeErrorCode.ModelUnavailable, $"the {Name} adapter failed: {ex.Message}", ex);
        }
        finally
        {
            foreach (var value in values)
            {
                value.Dispose();
            }

            Interlocked.Exchange(ref _lastUsedTicks, _time.GetUtcNow().UtcTicks);
        }
    }

    /// <summary>Drops the session if it has not been used for the idle timeout; returns whether it did.</summary>
    public bool UnloadIfIdle()
    {
        if (UnloadDue is not { } due || _time.GetUtcNow() < due)
        {
            return false;
        }

        Unload();
        Log.Unloaded(_logger, Name, _fileBytes, _idleTimeout.TotalSeconds);
        return true;
    }

    public void Dispose()
    {
        Unload();
        _runOptions.Dispose();
    }

    private InferenceSession Load()
    {
        var started = Stopwatch.GetTimestamp();
        // Encoders run now and then; spinning threads left behind by one would compete with the decoder's own pool
        // for the same cores during the prefill that follows.
        using var options = EngineSessionOptions.Create(_options, allowSpinning: false, _logger, out _);
        try
        {
            var session = new InferenceSession(_path, options);
            Volatile.Write(ref _session, session);
            Interlocked.Increment(ref _loads);
            Log.Loaded(_logger, Name, _fileBytes, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            return session;
        }
        catch (OnnxRuntimeException ex)
        {
            throw new RuntimeException(RuntimeErrorCode.ModelUnavailable, $"the {Name} adapter '{Path.GetFileName(_path)}' could not be loaded: {ex.Message}", ex);
        }
    }

    private void Unload()
    {
        Interlocked.Exchange(ref _session, null)?.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(3101, LogLevel.Information, "Loaded the {Adapter} adapter ({Bytes} bytes of weights) in {Milliseconds:0} ms")]
        public static partial void Loaded(ILogger logger, string adapter, long bytes, double milliseconds);

        [LoggerMessage(3102, LogLevel.Information, "Unloaded the {Adapter} adapter ({Bytes} bytes of weights freed) after {Seconds:0.#} s unused")]
        public static partial void Unloaded(ILogger logger, string adapter, long bytes, double seconds);
    }
}
