using System.Text;

namespace AutoGlm.Bench;

/// <summary>GGML tensor types this writer emits.</summary>
internal enum GgmlType : uint
{
    F32 = 0,
    Q4_0 = 2,
}

/// <summary>
/// Writes a GGUF v3 file: the header, key/value metadata, tensor infos, then the tensor data, each tensor at an
/// offset aligned to <see cref="Alignment"/> bytes from the start of the data section (llama.cpp's default).
/// </summary>
/// <remarks>
/// Dimensions are given in GGML order: the first is the contiguous one (a weight of <c>N</c> outputs over
/// <c>K</c> inputs is <c>[K, N]</c>). Little-endian throughout, as GGUF is.
/// </remarks>
internal sealed class GgufWriter
{
    public const uint Alignment = 32;

    private enum ValueType : uint
    {
        UInt32 = 4,
        Int32 = 5,
        Float32 = 6,
        String = 8,
        Array = 9,
    }

    private readonly List<(string Key, Action<BinaryWriter> Write)> _metadata = [];
    private readonly List<(string Name, long[] Dims, GgmlType Type, byte[] Data)> _tensors = [];

    public void Add(string key, string value) => _metadata.Add((key, w =>
    {
        w.Write((uint)ValueType.String);
        WriteString(w, value);
    }));

    public void Add(string key, uint value) => _metadata.Add((key, w =>
    {
        w.Write((uint)ValueType.UInt32);
        w.Write(value);
    }));

    public void Add(string key, float value) => _metadata.Add((key, w =>
    {
        w.Write((uint)ValueType.Float32);
        w.Write(value);
    }));

    public void Add(string key, IReadOnlyList<string> values) => _metadata.Add((key, w =>
    {
        w.Write((uint)ValueType.Array);
        w.Write((uint)ValueType.String);
        w.Write((ulong)values.Count);
        foreach (var value in values)
        {
            WriteString(w, value);
        }
    }));

    public void Add(string key, IReadOnlyList<int> values) => _metadata.Add((key, w =>
    {
        w.Write((uint)ValueType.Array);
        w.Write((uint)ValueType.Int32);
        w.Write((ulong)values.Count);
        foreach (var value in values)
        {
            w.Write(value);
        }
    }));

    /// <summary>Adds a tensor; <paramref name="data"/> must hold exactly the bytes its type and dimensions need.</summary>
    public void AddTensor(string name, long[] dims, GgmlType type, byte[] data)
    {
        var elements = dims.Aggregate(1L, (a, b) => a * b);
        var expected = type switch
        {
            GgmlType.F32 => elements * sizeof(float),
            GgmlType.Q4_0 when dims[0] % 32 == 0 => elements / 32 * 18,
            _ => throw new ArgumentException($"tensor {name}: {type} needs a first dimension that is a multiple of 32 (got {dims[0]})"),
        };
        if (data.LongLength != expected)
        {
            throw new ArgumentException($"tensor {name}: {type} [{string.Join(", ", dims)}] needs {expected} bytes, got {data.LongLength}");
        }

        _tensors.Add((name, dims, type, data));
    }

    /// <summary>The bytes all tensors take, without padding.</summary>
    public long TensorBytes => _tensors.Sum(t => t.Data.LongLength);

    public void Write(string path)
    {
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        using var w = new BinaryWriter(stream, Encoding.UTF8);
        w.Write("GGUF"u8);
        w.Write(3u);
        w.Write((ulong)_tensors.Count);
        w.Write((ulong)_metadata.Count);
        foreach (var (key, write) in _metadata)
        {
            WriteString(w, key);
            write(w);
        }

        ulong offset = 0;
        foreach (var (name, dims, type, data) in _tensors)
        {
            WriteString(w, name);
            w.Write((uint)dims.Length);
            foreach (var d in dims)
            {
                w.Write((ulong)d);
            }

            w.Write((uint)type);
            w.Write(offset);
            offset = Align(offset + (ulong)data.LongLength);
        }

        Pad(w);
        var start = stream.Position;
        foreach (var (_, _, _, data) in _tensors)
        {
            w.Write(data);
            var end = (ulong)(stream.Position - start);
            w.Write(new byte[Align(end) - end]);
        }
    }

    private static ulong Align(ulong value) => (value + Alignment - 1) / Alignment * Alignment;

    private static void Pad(BinaryWriter w)
    {
        var position = (ulong)w.BaseStream.Position;
        w.Write(new byte[Align(position) - position]);
    }

    private static void WriteString(BinaryWriter w, string value)
    {
        var bytes = Encoding.UTF8.GetBytes(value);
        w.Write((ulong)bytes.Length);
        w.Write(bytes);
    }
}
