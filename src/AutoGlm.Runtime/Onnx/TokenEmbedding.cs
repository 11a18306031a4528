using AutoGlm.Runtime.Numerics;
using System.Runtime.InteropServices;
using AutoGlm.Runtime.Packages;
using Microsoft.Win32.SafeHandles;

namespace AutoGlm.Runtime.Onnx;

/// <summary>Looks token embeddings up in the package's INT4 (float16, float32) table, one positioned read per row.</summary>
/// <remarks>
/// Rows are read from the file (<c>pread</c>), not through a memory map: a mapped table stays in the process's
/// resident set page by page as tokens are looked up — and the kernel maps the neighbouring pages of each row as well
/// (fault-around), so a map of the 100k-token table of the <c>small</c> preset held 61 MB after one 128-token prompt
/// (docs/benchmarks.md). The page cache serves repeated rows either way. Thread-safe for lookups; owns the file handle.
/// </remarks>
public sealed class TokenEmbedding : IDisposable
{
    private readonly SafeFileHandle _file;
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

        _file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
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
            Read(MemoryMarshal.AsBytes(destination[.._hidden]), _weightOffset + ((long)tokenId * _hidden * sizeof(float)));
            return;
        }

        if (_floatBytes == 2)
        {
            Span<Half> row = _hidden <= 8192 ? stackalloc Half[_hidden] : new Half[_hidden];
            Read(MemoryMarshal.AsBytes(row), _weightOffset + ((long)tokenId * _hidden * 2));
            for (var i = 0; i < row.Length; i++)
            {
                destination[i] = (float)row[i];
            }

            return;
        }

        var blocks = _hidden / _blockSize;
        Span<byte> packed = _hidden <= 16384 ? stackalloc byte[_hidden / 2] : new byte[_hidden / 2];
        Span<float> scales = blocks <= 1024 ? stackalloc float[blocks] : new float[blocks];
        Read(packed, _weightOffset + ((long)tokenId * _hidden / 2));
        Read(MemoryMarshal.AsBytes(scales), _scalesOffset + ((long)tokenId * blocks * sizeof(float)));
        Int4Blocks.DequantizeRow(packed, scales, _blockSize, destination);
    }

    private void Read(Span<byte> destination, long offset)
    {
        while (destination.Length > 0)
        {
            var read = RandomAccess.Read(_file, destination, offset);
            if (read <= 0)
            {
                throw new RuntimeException(RuntimeErrorCode.ModelUnavailable, $"the embedding file ended at byte {offset}, inside a row");
            }

            destination = destination[read..];
            offset += read;
        }
    }

    public void Dispose() => _file.Dispose();
}
