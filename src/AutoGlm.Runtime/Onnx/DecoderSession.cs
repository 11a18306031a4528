using System.Runtime.InteropServices;
using AutoGlm.Runtime.Generation;
using AutoGlm.Runtime.Packages;
using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace AutoGlm.Runtime.Onnx;

/// <summary>One ONNX Runtime session over the decoder, with a KV cache of fixed slots that the graph updates in place.</summary>
/// <remarks>
/// The cache is one native buffer per layer for keys and one for values, <c>[slots, kv_heads, max_len, head]</c>, in
/// float32 or (with <c>Runtime:KvCacheType=float16</c> and the package's float16-KV graph) float16. A
/// step binds a view of consecutive slots as both <c>past</c> and <c>present</c>, so <c>GroupQueryAttention</c>
/// writes the new positions into the same memory and nothing is copied per token. Pages of the cache that are
/// never written are never touched, so memory grows with the tokens actually held.
/// Not thread-safe: the scheduler's thread is its only caller. Owns its native memory.
/// </remarks>
internal sealed unsafe class DecoderSession : IDisposable
{
    private readonly InferenceSession _session;
    private readonly RunOptions _runOptions = new();
    private readonly int _layers, _kvHeads, _headSize, _hidden, _vocab;
    private readonly int _kvBytes; // bytes per cache element: 4 (float32) or 2 (float16)
    private readonly TensorElementType _kvType;
    private readonly byte*[] _keys, _values;
    private readonly float* _embeds, _logits;
    private readonly int* _seqlens, _total;
    private readonly int _embedCapacity;
    private readonly Dictionary<(int First, int Count), BoundStep> _decodeSteps = [];
    private readonly Modalities.MropeRotary? _mrope;
    private readonly float* _rotaryCos, _rotarySin;

    /// <param name="package">The verified package.</param>
    /// <param name="options">Engine settings.</param>
    /// <param name="logger">Receives provider fallbacks.</param>
    /// <param name="configure">For benchmarks: a last say over the session options (profiling, thread settings).</param>
    public DecoderSession(ModelPackage package, EngineOptions options, ILogger logger, Action<SessionOptions>? configure = null)
    {
        var arch = package.Manifest.Architecture;
        _layers = arch.Layers;
        _kvHeads = arch.NumKvHeads;
        _headSize = arch.HeadSize;
        _hidden = arch.HiddenSize;
        _vocab = arch.VocabSize;
        Slots = options.MaxBatchSize;
        MaxLength = options.MaxSequenceLength > 0 ? Math.Min(options.MaxSequenceLength, arch.ContextLength) : arch.ContextLength;
        PrefillChunk = Math.Min(options.PrefillChunkSize, MaxLength);

        _kvBytes = options.KvCacheElementBytes;
        _kvType = options.KvCacheFloat16 ? TensorElementType.Float16 : TensorElementType.Float;
        var model = options.KvCacheFloat16
            ? package.Manifest.Decoder.KvFloat16Model ?? throw new RuntimeException(RuntimeErrorCode.ModelUnavailable, $"Runtime:KvCacheType float16 needs a package with a float16-KV decoder graph (decoder.kv_float16_model in its manifest); '{package.Manifest.Name}' has none: rebuild or reconvert it, or use float32")
            : package.Manifest.Decoder.Model;
        using var sessionOptions = EngineSessionOptions.Create(options, options.AllowSpinning, logger, out var executionProvider);
        ExecutionProvider = executionProvider;
        configure?.Invoke(sessionOptions);
        try
        {
            _session = new InferenceSession(package.PathOf(model), sessionOptions);
        }
        catch (OnnxRuntimeException ex)
        {
            throw new RuntimeException(RuntimeErrorCode.ModelUnavailable, $"ONNX Runtime could not load '{model}': {ex.Message}", ex);
        }

        if (options.HugePages && executionProvider == "cpu")
        {
            HugePages.Collapse(logger);
        }

        var slotBytes = (nuint)_kvHeads * (nuint)MaxLength * (nuint)_headSize * (nuint)_kvBytes;
        _keys = new byte*[_layers];
        _values = new byte*[_layers];
        for (var layer = 0; layer < _layers; layer++)
        {
            _keys[layer] = (byte*)NativeMemory.AlignedAlloc(slotBytes * (nuint)Slots, 64);
            _values[layer] = (byte*)NativeMemory.AlignedAlloc(slotBytes * (nuint)Slots, 64);
        }

        _embedCapacity = Math.Max(PrefillChunk, Slots);
        _embeds = (float*)NativeMemory.AlignedAlloc((nuint)_embedCapacity * (nuint)_hidden * sizeof(float), 64);
        _logits = (float*)NativeMemory.AlignedAlloc((nuint)Slots * (nuint)_vocab * sizeof(float), 64);
        _seqlens = (int*)NativeMemory.AlignedAlloc((nuint)Slots * sizeof(int), 64);
        _total = (int*)NativeMemory.AlignedAlloc(sizeof(int), 64);
        if (arch.MropeSection is { } section)
        {
            _mrope = new Modalities.MropeRotary(arch.RotaryDim, arch.RopeTheta, section);
            _rotaryCos = (float*)NativeMemory.AlignedAlloc((nuint)_embedCapacity * (nuint)_mrope.Half * sizeof(float), 64);
            _rotarySin = (float*)NativeMemory.AlignedAlloc((nuint)_embedCapacity * (nuint)_mrope.Half * sizeof(float), 64);
        }
    }

    /// <summary>Whether the decoder takes M-RoPE positions (GLM-4.1V): <see cref="Run"/> then needs them for image prompts.</summary>
    public bool MultimodalRotary => _mrope is not null;

    /// <summary>The execution provider the session runs on.</summary>
    public string ExecutionProvider { get; }

    /// <summary>How many sequences the cache holds.</summary>
    public int Slots { get; }

    /// <summary>Positions per sequence.</summary>
    public int MaxLength { get; }

    /// <summary>The most tokens one prefill step takes.</summary>
    public int PrefillChunk { get; }

    /// <summary>Bytes the KV cache reserves: slots × context × layers × 2 (keys, values) × KV heads × head size × 4 (float32) or 2 (float16).</summary>
    public long KvCacheBytes => (long)Slots * MaxLength * _layers * 2 * _kvHeads * _headSize * _kvBytes;

    /// <summary>The KV cache's element type: <c>float32</c> or <c>float16</c>.</summary>
    public string KvCacheType => _kvBytes == 2 ? "float16" : "float32";

    /// <summary>
    /// Copies the KV rows of positions <c>[start, start + count)</c> from one slot to another, every layer and head:
    /// a shared prompt prefix is copied, not recomputed.
    /// </summary>
    public void CopyRows(int from, int to, int start, int count)
    {
        if (from == to || count <= 0)
        {
            return;
        }

        if (start < 0 || start + count > MaxLength || (uint)from >= (uint)Slots || (uint)to >= (uint)Slots)
        {
            throw new ArgumentOutOfRangeException(nameof(count), $"rows [{start}, {start + count}) of slot {from} → {to} are outside the cache");
        }

        var slotBytes = (long)_kvHeads * MaxLength * _headSize * _kvBytes;
        var bytes = (long)count * _headSize * _kvBytes;
        for (var layer = 0; layer < _layers; layer++)
        {
            foreach (var buffer in new[] { (nint)_keys[layer], (nint)_values[layer] })
            {
                var cache = (byte*)buffer;
                for (var head = 0; head < _kvHeads; head++)
                {
                    var offset = (((long)head * MaxLength) + start) * _headSize * _kvBytes;
                    Buffer.MemoryCopy(cache + (from * slotBytes) + offset, cache + (to * slotBytes) + offset, bytes, bytes);
                }
            }
        }
    }

    /// <summary>For benchmarks: ends ONNX Runtime profiling and returns the trace file.</summary>
    public string EndProfiling() => _session.EndProfiling();

    /// <summary>The input embedding rows for the next step: <c>[rows, hidden]</c>, at most <see cref="PrefillChunk"/> (or <see cref="Slots"/>) rows.</summary>
    public Span<float> Embeds(int rows) => (uint)rows <= (uint)_embedCapacity
        ? new(_embeds, rows * _hidden)
        : throw new ArgumentOutOfRangeException(nameof(rows), $"a step takes at most {_embedCapacity} rows (got {rows})");

    /// <summary>The logits row of the <paramref name="index"/>-th sequence of the last step.</summary>
    public Span<float> Logits(int index) => new(_logits + ((long)index * _vocab), _vocab);

    /// <summary>
    /// Runs one step over slots <c>[first, first + count)</c> with <paramref name="length"/> new tokens each (their
    /// embeddings already in <see cref="Embeds"/>). <paramref name="pastLengths"/> gives each slot's valid length
    /// before the step; the new tokens go at the positions after it. An M-RoPE decoder turns them by
    /// <paramref name="positions"/> (<c>count × length</c>, sequence by sequence) when given, else by their sequence
    /// positions in all three streams.
    /// </summary>
    public void Run(int first, int count, int length, ReadOnlySpan<int> pastLengths, ReadOnlySpan<Modalities.MropePosition> positions = default)
    {
        if (_mrope is { } mrope)
        {
            var half = mrope.Half;
            for (var i = 0; i < count; i++)
            {
                for (var t = 0; t < length; t++)
                {
                    var row = (i * length) + t;
                    var position = positions.IsEmpty ? Modalities.MropePosition.Text(pastLengths[i] + t) : positions[row];
                    mrope.Fill(position, new Span<float>(_rotaryCos + ((long)row * half), half), new Span<float>(_rotarySin + ((long)row * half), half));
                }
            }
        }

        var total = 0;
        for (var i = 0; i < count; i++)
        {
            var after = pastLengths[i] + length;
            if (after > MaxLength)
            {
                throw new RuntimeException(RuntimeErrorCode.ContextLengthExceeded, $"sequence would reach {after} tokens; the cache holds {MaxLength}");
            }

            _seqlens[i] = after - 1;
            total = Math.Max(total, after);
        }

        *_total = total;

        // Decode shapes repeat every token and keep their binding; prefill shapes change with the prompt.
        if (length == 1)
        {
            if (!_decodeSteps.TryGetValue((first, count), out var step))
            {
                _decodeSteps[(first, count)] = step = Bind(first, count, length);
            }

            RunBound(step);
        }
        else
        {
            using var prefill = Bind(first, count, length);
            RunBound(prefill);
        }
    }

    private void RunBound(BoundStep step)
    {
        try
        {
            _session.RunWithBinding(_runOptions, step.Binding);
        }
        catch (OnnxRuntimeException ex)
        {
            throw new RuntimeException(RuntimeErrorCode.Internal, $"the decoder failed: {ex.Message}", ex);
        }
    }

    private BoundStep Bind(int first, int count, int length)
    {
        var step = new BoundStep(_session.CreateIoBinding());
        var binding = step.Binding;
        OrtValue View(void* data, long[] shape, TensorElementType type = TensorElementType.Float) => step.Own(CreateView(data, shape, type));

        binding.BindInput(DecoderIo.InputsEmbeds, View(_embeds, [count, length, _hidden]));
        binding.BindInput(DecoderIo.SeqlensK, View(_seqlens, [count], TensorElementType.Int32));
        binding.BindInput(DecoderIo.TotalSequenceLength, View(_total, [], TensorElementType.Int32));
        if (_mrope is { } mrope)
        {
            binding.BindInput(DecoderIo.RotaryCos, View(_rotaryCos, [count, length, mrope.Half]));
            binding.BindInput(DecoderIo.RotarySin, View(_rotarySin, [count, length, mrope.Half]));
        }

        var slotBytes = (long)_kvHeads * MaxLength * _headSize * _kvBytes;
        long[] cacheShape = [count, _kvHeads, MaxLength, _headSize];
        for (var layer = 0; layer < _layers; layer++)
        {
            var keys = View(_keys[layer] + (first * slotBytes), cacheShape, _kvType);
            var values = View(_values[layer] + (first * slotBytes), cacheShape, _kvType);
            binding.BindInput(DecoderIo.PastKey(layer), keys);
            binding.BindInput(DecoderIo.PastValue(layer), values);
            binding.BindOutput(DecoderIo.PresentKey(layer), keys);
            binding.BindOutput(DecoderIo.PresentValue(layer), values);
        }

        binding.BindOutput(DecoderIo.Logits, View(_logits, [count, 1, _vocab]));
        return step;
    }

    private static OrtValue CreateView(void* data, long[] shape, TensorElementType type)
    {
        long elements = 1;
        foreach (var d in shape)
        {
            elements *= d;
        }

        var elementBytes = type == TensorElementType.Float16 ? 2 : 4; // float and int32 are 4 bytes
        return OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, type, shape, (nint)data, elements * elementBytes);
    }

    public void Dispose()
    {
        foreach (var step in _decodeSteps.Values)
        {
            step.Dispose();
        }

        _session.Dispose();
        _runOptions.Dispose();
        for (var layer = 0; layer < _layers; layer++)
        {
            NativeMemory.AlignedFree(_keys[layer]);
            NativeMemory.AlignedFree(_values[layer]);
        }

        NativeMemory.AlignedFree(_embeds);
        NativeMemory.AlignedFree(_logits);
        NativeMemory.AlignedFree(_seqlens);
        NativeMemory.AlignedFree(_total);
        if (_mrope is not null)
        {
            NativeMemory.AlignedFree(_rotaryCos);
            NativeMemory.AlignedFree(_rotarySin);
        }
    }

    /// <summary>An I/O binding and the tensor views it binds, released together.</summary>
    private sealed class BoundStep(OrtIoBinding binding) : IDisposable
    {
        private readonly List<OrtValue> _views = [];

        public OrtIoBinding Binding { get; } = binding;

        public OrtValue Own(OrtValue value)
        {
            _views.Add(value);
            return value;
        }

        public void Dispose()
        {
            Binding.Dispose();
            foreach (var view in _views)
            {
                view.Dispose();
            }
        }
    }
}
