using System.IO.MemoryMappedFiles;
using AutoGlm.Runtime.Building;
using AutoGlm.Runtime.Packages;

namespace AutoGlm.Runtime.Onnx;

/// <summary>Looks token embeddings up in the package's INT4 (or float32) table, read through a memory map (shared with a tied LM head's bytes).</summary>
/// <remarks>Thread-safe for lookups; owns the map.</remarks>
public sealed unsafe class TokenEmbedding : IDisposable
{
    private readonly MemoryMappedFile _file;
    private readonly MemoryMappedViewAccessor _view;
    private readonly byte* _base;
    private readonly long _weightOffset, _scalesOffset;
    private readonly int _hidden, _blockSize, _vocab;
    private readonly int _floatBytes; // 0 for INT4 blocks

    public TokenEmbedding(ModelPackage package)
    {
        var manifest = package.Manifest;
        var info = manifest.Decoder.Embedding;
        _hidden = manifest.Architecture.HiddenSize;
        _vocab = manifest.Architecture.VocabSize;
        _blockSize = manifest.Quantization.BlockSize;
        _weightOffset = info.WeightOffset;
        _scalesOffset = info.ScalesOffset;
        _floatBytes = info.Format switch
        {
            EmbeddingInfo.Int4Format => 0,
            EmbeddingInfo.Float32Format => sizeof(float),
            EmbeddingInfo.Float16Format => 2,
            _ => throw new RuntimeException(RuntimeErrorCode.ModelUnavailable, $"decoder.embedding.format '{info.Format}' is not supported (expected {EmbeddingInfo.Int4Format}, {EmbeddingInfo.Float32Format} or {EmbeddingInfo.Float16Format})"),
        };
        var path = package.PathOf(info.File);
        var needed = _floatBytes > 0
            ? _weightOffset + ((long)_vocab * _hidden * _floatBytes)
            : Math.Max(_weightOffset + ((long)_vocab * _hidden / 2), _scalesOffset + ((long)_vocab * (_hidden / _blockSize) * sizeof(float)));
        if (new FileInfo(path).Length < needed)
        {
            throw new RuntimeException(RuntimeErrorCode.ModelUnavailable, $"model package file '{info.File}' is too short for a {_vocab}×{_hidden} embedding");
        }

        _file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        _view = _file.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        byte* pointer = null;
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
        _base = pointer + _view.PointerOffset;
    }

    public int HiddenSize => _hidden;

    /// <summary>Writes the embedding of <paramref name="tokenId"/> into <paramref name="destination"/> (length hidden).</summary>
    public void Lookup(int tokenId, Span<float> destination)
    {
        if ((uint)tokenId >= (uint)_vocab)
        {
            throw new RuntimeException(RuntimeErrorCode.InvalidRequest, $"token id {tokenId} is outside the vocabulary of {_vocab}");
        }

        if (_floatBytes == sizeof(float))
        {
            new ReadOnlySpan<float>(_base + _weightOffset + ((long)tokenId * _hidden * sizeof(float)), _hidden).CopyTo(destination);
            return;
        }

        if (_floatBytes == 2)
        {
            var row = new ReadOnlySpan<Half>(_base + _weightOffset + ((long)tokenId * _hidden * 2), _hidden);
            for (var i = 0; i < row.Length; i++)
            {
                destination[i] = (float)row[i];
            }

            return;
        }

        var blocks = _hidden / _blockSize;
        var packed = new ReadOnlySpan<byte>(_base + _weightOffset + ((long)tokenId * _hidden / 2), _hidden / 2);
        var scales = new ReadOnlySpan<float>(_base + _scalesOffset + ((long)tokenId * blocks * sizeof(float)), blocks);
        Int4Quantizer.DequantizeRow(packed, scales, _blockSize, destination);
    }

    public void Dispose()
    {
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _file.Dispose();
    }
}
