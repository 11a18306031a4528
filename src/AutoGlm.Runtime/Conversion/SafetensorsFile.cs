using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace AutoGlm.Runtime.Conversion;

/// <summary>One tensor's entry in a safetensors header.</summary>
/// <param name="Name">The tensor's name.</param>
/// <param name="DType">The element type as written (<c>BF16</c>, <c>F16</c>, <c>F32</c>, …).</param>
/// <param name="Shape">Its dimensions.</param>
/// <param name="Begin">Offset of its first byte, from the start of the data section.</param>
/// <param name="End">Offset one past its last byte.</param>
public sealed record SafetensorsTensor(string Name, string DType, long[] Shape, long Begin, long End)
{
    /// <summary>How many elements the shape holds.</summary>
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);

    /// <summary>The shape as <c>[a, b]</c>, for messages.</summary>
    public string ShapeText => "[" + string.Join(", ", Shape) + "]";
}

/// <summary>A <c>.safetensors</c> file read through a memory map: an 8-byte little-endian header length, a JSON header, then the raw tensors.</summary>
/// <remarks>
/// Each read maps only the tensor being read and unmaps it afterwards, so the checkpoint's pages do not stay in the
/// process's resident set as the conversion walks through it; nothing of the file is copied but the floats asked for.
/// Thread-safe for reads; owns the map.
/// </remarks>
public sealed unsafe class SafetensorsFile : IDisposable
{
    private readonly MemoryMappedFile _file;
    private readonly long _dataStart, _length;

    /// <summary>Opens and parses the header of <paramref name="path"/>.</summary>
    /// <exception cref="RuntimeException"><see cref="RuntimeErrorCode.InvalidRequest"/> naming the file when it is not valid safetensors.</exception>
    public SafetensorsFile(string path)
    {
        Path = path;
        var name = System.IO.Path.GetFileName(path);
        _length = new FileInfo(path).Length;
        if (_length < 8)
        {
            throw Invalid(name, "is shorter than a safetensors header");
        }

        _file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        try
        {
            long headerLength;
            using (var lengthView = new View(_file, 0, 8))
            {
                headerLength = *(long*)lengthView.Pointer;
            }

            if (headerLength <= 0 || headerLength > _length - 8 || headerLength > 100_000_000)
            {
                throw Invalid(name, $"has a header length of {headerLength}, which does not fit its {_length} bytes");
            }

            _dataStart = 8 + headerLength;
            using var header = new View(_file, 8, headerLength);
            Tensors = ParseHeader(name, new ReadOnlySpan<byte>(header.Pointer, (int)headerLength), _length - _dataStart);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>The file's path.</summary>
    public string Path { get; }

    /// <summary>Every tensor of the file by name.</summary>
    public IReadOnlyDictionary<string, SafetensorsTensor> Tensors { get; }

    /// <summary>Reads a tensor as float32 (bf16 and fp16 widened exactly) into <paramref name="destination"/>.</summary>
    public void ReadFloats(SafetensorsTensor tensor, Span<float> destination)
    {
        if (destination.Length != tensor.ElementCount)
        {
            throw new ArgumentException($"tensor '{tensor.Name}' has {tensor.ElementCount} elements, the destination {destination.Length}");
        }

        var count = destination.Length;
        if (count == 0)
        {
            return;
        }

        using var view = new View(_file, _dataStart + tensor.Begin, tensor.End - tensor.Begin);
        var source = view.Pointer;
        switch (tensor.DType)
        {
            case "F32":
                new ReadOnlySpan<float>(source, count).CopyTo(destination);
                break;
            case "BF16":
                var bf16 = new ReadOnlySpan<ushort>(source, count);
                var bits = MemoryMarshal.Cast<float, uint>(destination);
                for (var i = 0; i < count; i++)
                {
                    bits[i] = (uint)bf16[i] << 16;
                }

                break;
            case "F16":
                var f16 = new ReadOnlySpan<Half>(source, count);
                for (var i = 0; i < count; i++)
                {
                    destination[i] = (float)f16[i];
                }

                break;
            default:
                throw new RuntimeException(RuntimeErrorCode.InvalidRequest, $"tensor '{tensor.Name}' in '{System.IO.Path.GetFileName(Path)}' has dtype {tensor.DType}; only BF16, F16 and F32 are read");
        }
    }

    /// <summary>Reads an <c>I32</c> tensor (GPTQ's and AWQ's packed codes, zero points and group indices) into <paramref name="destination"/>.</summary>
    public void ReadInt32s(SafetensorsTensor tensor, Span<int> destination)
    {
        if (tensor.DType != "I32")
        {
            throw new RuntimeException(RuntimeErrorCode.InvalidRequest, $"tensor '{tensor.Name}' in '{System.IO.Path.GetFileName(Path)}' has dtype {tensor.DType}; a packed 4-bit tensor is I32");
        }

        if (destination.Length != tensor.ElementCount)
        {
            throw new ArgumentException($"tensor '{tensor.Name}' has {tensor.ElementCount} elements, the destination {destination.Length}");
        }

        if (destination.Length == 0)
        {
            return;
        }

        using var view = new View(_file, _dataStart + tensor.Begin, tensor.End - tensor.Begin);
        new ReadOnlySpan<int>(view.Pointer, destination.Length).CopyTo(destination);
    }

    public void Dispose() => _file.Dispose();

    private static Dictionary<string, SafetensorsTensor> ParseHeader(string file, ReadOnlySpan<byte> json, long dataLength)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json.ToArray());
        }
        catch (JsonException ex)
        {
            throw Invalid(file, $"has a header that is not JSON: {ex.Message}");
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw Invalid(file, "has a header that is not a JSON object");
            }

            var tensors = new Dictionary<string, SafetensorsTensor>(StringComparer.Ordinal);
            foreach (var entry in document.RootElement.EnumerateObject())
            {
                if (entry.Name == "__metadata__")
                {
                    continue;
                }

                try
                {
                    var dtype = entry.Value.GetProperty("dtype").GetString()!;
                    long[] shape = [.. entry.Value.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64())];
                    var offsets = entry.Value.GetProperty("data_offsets");
                    var tensor = new SafetensorsTensor(entry.Name, dtype, shape, offsets[0].GetInt64(), offsets[1].GetInt64());
                    var size = ElementSize(dtype);
                    if (tensor.Begin < 0 || tensor.End > dataLength || tensor.End - tensor.Begin != tensor.ElementCount * size && size > 0)
                    {
                        throw Invalid(file, $"has tensor '{entry.Name}' {dtype} {tensor.ShapeText} at bytes {tensor.Begin}–{tensor.End}, which does not fit its shape or the file");
                    }

                    tensors[entry.Name] = tensor;
                }
                catch (Exception ex) when (ex is KeyNotFoundException or InvalidOperationException or FormatException or IndexOutOfRangeException)
                {
                    throw Invalid(file, $"has a malformed entry for tensor '{entry.Name}': {ex.Message}");
                }
            }

            return tensors;
        }
    }

    /// <summary>Bytes per element of the types this reader knows; 0 for others (checked when read).</summary>
    private static int ElementSize(string dtype) => dtype switch
    {
        "F64" or "I64" or "U64" => 8,
        "F32" or "I32" or "U32" => 4,
        "BF16" or "F16" or "I16" or "U16" => 2,
        "I8" or "U8" or "BOOL" or "F8_E4M3" or "F8_E5M2" => 1,
        _ => 0,
    };

    /// <summary>A read-only view of part of the file, unmapped on dispose.</summary>
    private readonly struct View : IDisposable
    {
        private readonly MemoryMappedViewAccessor _accessor;

        public View(MemoryMappedFile file, long offset, long length)
        {
            _accessor = file.CreateViewAccessor(offset, length, MemoryMappedFileAccess.Read);
            byte* pointer = null;
            _accessor.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
            Pointer = pointer + _accessor.PointerOffset;
        }

        public byte* Pointer { get; }

        public void Dispose()
        {
            _accessor.SafeMemoryMappedViewHandle.ReleasePointer();
            _accessor.Dispose();
        }
    }

    private static RuntimeException Invalid(string file, string message) =>
        new(RuntimeErrorCode.InvalidRequest, $"checkpoint file '{file}' {message}");
}
