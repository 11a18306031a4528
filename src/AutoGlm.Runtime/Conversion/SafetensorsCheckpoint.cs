using System.Text.Json;

namespace AutoGlm.Runtime.Conversion;

/// <summary>The weights of a Hugging Face checkpoint folder: <c>model.safetensors</c>, or shards named by <c>model.safetensors.index.json</c>.</summary>
/// <remarks>Every shard is memory-mapped; a tensor is widened to float only when asked for. Not thread-safe; owns the maps.</remarks>
public sealed class SafetensorsCheckpoint : IDisposable
{
    public const string SingleFileName = "model.safetensors";
    public const string IndexFileName = "model.safetensors.index.json";

    private readonly List<SafetensorsFile> _files = [];
    private readonly Dictionary<string, (SafetensorsFile File, SafetensorsTensor Tensor)> _tensors = new(StringComparer.Ordinal);

    /// <summary>Opens the checkpoint in <paramref name="directory"/>.</summary>
    /// <exception cref="RuntimeException"><see cref="RuntimeErrorCode.InvalidRequest"/> naming a missing shard, a tensor the index places in another shard, or no weights at all.</exception>
    public SafetensorsCheckpoint(string directory)
    {
        var index = Path.Combine(directory, IndexFileName);
        var single = Path.Combine(directory, SingleFileName);
        try
        {
            if (File.Exists(index))
            {
                OpenSharded(directory, index);
            }
            else if (File.Exists(single))
            {
                Add(new SafetensorsFile(single));
                ShardNames = [SingleFileName];
            }
            else
            {
                throw new RuntimeException(RuntimeErrorCode.InvalidRequest, $"checkpoint '{directory}' has neither {SingleFileName} nor {IndexFileName}");
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>The weight files, relative to the checkpoint folder.</summary>
    public IReadOnlyList<string> ShardNames { get; private set; } = [];

    /// <summary>Bytes of tensor data read so far (for progress: MB/s and ETA).</summary>
    public long BytesRead { get; private set; }

    /// <summary>Bytes of tensor data in all shards.</summary>
    public long TotalBytes => _tensors.Values.Sum(t => t.Tensor.End - t.Tensor.Begin);

    /// <summary>Every tensor name.</summary>
    public IEnumerable<string> TensorNames => _tensors.Keys;

    /// <summary>Whether the checkpoint has a tensor.</summary>
    public bool Contains(string name) => _tensors.ContainsKey(name);

    /// <summary>A tensor's header entry.</summary>
    public SafetensorsTensor Describe(string name) =>
        _tensors.TryGetValue(name, out var entry)
            ? entry.Tensor
            : throw new RuntimeException(RuntimeErrorCode.InvalidRequest, $"checkpoint has no tensor '{name}'");

    /// <summary>Reads a tensor as float32 after checking its shape.</summary>
    /// <exception cref="RuntimeException">Naming the tensor when it is missing or its shape is not <paramref name="shape"/>.</exception>
    public float[] ReadFloats(string name, params long[] shape)
    {
        var tensor = Describe(name);
        if (!tensor.Shape.SequenceEqual(shape))
        {
            throw new RuntimeException(RuntimeErrorCode.InvalidRequest, $"checkpoint tensor '{name}' has shape {tensor.ShapeText}; config.json implies [{string.Join(", ", shape)}]");
        }

        var values = new float[tensor.ElementCount];
        _tensors[name].File.ReadFloats(tensor, values);
        BytesRead += tensor.End - tensor.Begin;
        return values;
    }

    /// <summary>Reads an <c>I32</c> tensor after checking its shape.</summary>
    /// <exception cref="RuntimeException">Naming the tensor when it is missing, not I32, or its shape is not <paramref name="shape"/>.</exception>
    public int[] ReadInt32s(string name, params long[] shape)
    {
        var tensor = Describe(name);
        if (!tensor.Shape.SequenceEqual(shape))
        {
            throw new RuntimeException(RuntimeErrorCode.InvalidRequest, $"checkpoint tensor '{name}' has shape {tensor.ShapeText}; config.json implies [{string.Join(", ", shape)}]");
        }

        var values = new int[tensor.ElementCount];
        _tensors[name].File.ReadInt32s(tensor, values);
        BytesRead += tensor.End - tensor.Begin;
        return values;
    }

    public void Dispose()
    {
        foreach (var file in _files)
        {
            file.Dispose();
        }

        _files.Clear();
    }

    private void OpenSharded(string directory, string indexPath)
    {
        Dictionary<string, string> map;
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(indexPath));
            map = document.RootElement.GetProperty("weight_map").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!, StringComparer.Ordinal);
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new RuntimeException(RuntimeErrorCode.InvalidRequest, $"checkpoint file '{IndexFileName}' has no valid weight_map: {ex.Message}");
        }

        var shards = map.Values.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        foreach (var shard in shards)
        {
            var path = Path.GetFullPath(Path.Combine(directory, shard));
            if (Path.GetDirectoryName(path) != Path.GetFullPath(directory).TrimEnd(Path.DirectorySeparatorChar))
            {
                throw new RuntimeException(RuntimeErrorCode.InvalidRequest, $"checkpoint file '{IndexFileName}' names shard '{shard}' outside the checkpoint folder");
            }

            if (!File.Exists(path))
            {
                throw new RuntimeException(RuntimeErrorCode.InvalidRequest, $"checkpoint shard '{shard}' named by {IndexFileName} is missing");
            }

            Add(new SafetensorsFile(path));
        }

        foreach (var (tensor, shard) in map)
        {
            if (!_tensors.TryGetValue(tensor, out var entry) || Path.GetFileName(entry.File.Path) != Path.GetFileName(shard))
            {
                throw new RuntimeException(RuntimeErrorCode.InvalidRequest, $"checkpoint tensor '{tensor}' is not in shard '{shard}' where {IndexFileName} places it");
            }
        }

        ShardNames = shards;
    }

    private void Add(SafetensorsFile file)
    {
        _files.Add(file);
        foreach (var (name, tensor) in file.Tensors)
        {
            if (!_tensors.TryAdd(name, (file, tensor)))
            {
                throw new RuntimeException(RuntimeErrorCode.InvalidRequest, $"checkpoint tensor '{name}' is in both '{Path.GetFileName(_tensors[name].File.Path)}' and '{Path.GetFileName(file.Path)}'");
            }
        }
    }
}
