using AutoGlm.Cluster.Nodes;
using AutoGlm.Cluster.Replicas;
using AutoGlm.Edge.Hosting;
using AutoGlm.Runtime;
using AutoGlm.Runtime.Conversion;
using AutoGlm.Runtime.Generation;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Options;

namespace AutoGlm.Edge.Engine;

/// <summary>
/// Loads the model when the host starts (before systemd hears READY=1) and owns the engine; with
/// <c>Runtime:Backend=openai</c> it loads nothing and owns the OpenAI chat client that reaches the backend engine instead.
/// </summary>
/// <remarks>
/// The engine at the root of the chat pipeline (<see cref="Pipeline.ChatPipelineServiceCollectionExtensions.AddChatPipeline"/>) is
/// <see cref="ChatClient"/>; front doors read its state through <see cref="IEngineStatus"/> and the local engine, when
/// there is one, through <see cref="LocalEngine"/>.
/// </remarks>
public sealed partial class EngineHost : IHostedService, IEngineStatus, IDisposable
{
    private readonly RuntimeOptions _runtime;
    private readonly EngineOptions _engineOptions;
    private readonly StateLocation _state;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private LocalEngine? _engine;
    private IChatClient? _backend;
    private HttpClient? _backendHealth;
    private Uri? _backendHealthUrl;
    private LocalEngine[] _replicas = [];
    private ReplicaDispatcher? _dispatcher;

    public EngineHost(IOptions<RuntimeOptions> runtime, IOptions<EngineOptions> engineOptions, StateLocation state, ILoggerFactory loggerFactory)
    {
        _runtime = runtime.Value;
        _engineOptions = engineOptions.Value;
        _state = state;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger<EngineHost>();
    }

    /// <summary>Whether the model is loaded and serving (or the OpenAI backend's client is made).</summary>
    public bool IsReady => _engine is not null || _backend is not null;

    /// <summary>The loaded engine.</summary>
    /// <exception cref="RuntimeException"><see cref="RuntimeErrorCode.ModelUnavailable"/> before the model is loaded, or always with <c>Runtime:Backend=openai</c>.</exception>
    public LocalEngine Engine => _engine ?? throw new RuntimeException(
        RuntimeErrorCode.ModelUnavailable,
        _runtime.IsOpenAi ? "Runtime:Backend is openai: this daemon runs no model of its own" : "the model is still loading");

    /// <summary>The local engine (with several <c>Runtime:Devices</c>, the first replica); null before it is loaded and with <c>Runtime:Backend=openai</c>.</summary>
    public LocalEngine? LocalEngine => _engine;

    /// <summary>Every local engine: the replicas with several <c>Runtime:Devices</c>, else the one engine (none with <c>Runtime:Backend=openai</c>).</summary>
    public IReadOnlyList<LocalEngine> LocalEngines => _replicas.Length > 0 ? _replicas : _engine is { } engine ? [engine] : [];

    /// <summary>With several <c>Runtime:Devices</c>, the dispatcher over their replicas; else null.</summary>
    public ReplicaDispatcher? Replicas => _dispatcher;

    /// <summary>What answers requests: the local engine, the dispatcher over its replicas, or the OpenAI backend's chat client.</summary>
    /// <exception cref="RuntimeException"><see cref="RuntimeErrorCode.ModelUnavailable"/> before the model is loaded.</exception>
    public IChatClient ChatClient => (IChatClient?)_dispatcher ?? (IChatClient?)_engine ?? _backend ?? Engine;

    /// <summary>The model id requests name and <c>/v1/models</c> lists: the package's name, or <c>Runtime:OpenAi:Model</c>.</summary>
    public string ModelId => _runtime.IsOpenAi ? _runtime.OpenAi.Model! : Engine.Package.Manifest.Name;

    /// <summary>What runs the model: the execution provider (<c>cpu</c>, <c>cuda</c>, <c>tensorrt</c>), or <c>openai</c>.</summary>
    public string Provider => _runtime.IsOpenAi ? RuntimeBackends.OpenAi : Engine.ExecutionProvider;

    /// <summary>What results report in <c>served_by</c> when this daemon answers: <c>local:&lt;model&gt;@&lt;provider&gt;</c>.</summary>
    public string ServedBy => $"local:{ModelId}@{Provider}";

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (_runtime.IsOpenAi)
        {
            var backend = _runtime.OpenAi;

            // One retry: the engine is on loopback, and a caller (an edge) retries and fails over on its side.
            _backend = new BackendFailureChatClient(OpenAiEndpoint.CreateChatClient(backend.Url!, backend.Model!, backend.ApiKey, backend.Timeout, maxRetries: 1));
            _backendHealthUrl = OpenAiEndpoint.HealthUrl(backend.Url!, backend.HealthPath);
            _backendHealth = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
            if (!string.IsNullOrEmpty(backend.ApiKey))
            {
                _backendHealth.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", backend.ApiKey);
            }

            Log.Fronting(_logger, new Uri(backend.Url!.TrimEnd('/')), backend.Model!);
            return Task.CompletedTask;
        }

        var path = string.IsNullOrWhiteSpace(_runtime.ModelPath)
            ? StatePaths.EnsureBuiltInModel(_state.Directory, message => Log.Building(_logger, message))
            : CheckpointImport.IsCheckpoint(_runtime.ModelPath)
                ? CheckpointImport.EnsurePackage(_runtime.ModelPath, Path.Combine(_state.Directory, "models"), report: message => Log.Importing(_logger, message), cancellationToken: cancellationToken)
                : _runtime.ModelPath;
        var options = _engineOptions with { TensorRtCacheDirectory = _engineOptions.TensorRtCacheDirectory ?? Path.Combine(_state.CacheDirectory, "tensorrt") };
        if (_runtime.Devices.Count <= 1)
        {
            _engine = LocalEngine.Load(path, _runtime.Devices.Count == 1 ? options with { DeviceId = _runtime.Devices[0] } : options, _loggerFactory);
            return Task.CompletedTask;
        }

        // One engine (its own ONNX session, KV cache and inference thread) per device, behind one dispatcher.
        var replicas = new List<LocalEngine>();
        try
        {
            foreach (var device in _runtime.Devices)
            {
                replicas.Add(LocalEngine.Load(path, options with { DeviceId = device }, _loggerFactory));
            }
        }
        catch
        {
            replicas.ForEach(r => r.Dispose());
            throw;
        }

        _replicas = [.. replicas];
        _dispatcher = new ReplicaDispatcher(_replicas.Select((r, i) => ($"{r.ExecutionProvider}:{_runtime.Devices[i]}", (IChatClient)r)));
        _engine = _replicas[0];
        Log.Replicas(_logger, _replicas.Length, string.Join(", ", _dispatcher.Replicas.Select(r => r.Name)));
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>
    /// Whether requests can be served now: the model is loaded, or (<c>Runtime:Backend=openai</c>) the backend engine's
    /// readiness path answers 2xx within 2 s.
    /// </summary>
    public async Task<bool> IsServingAsync(CancellationToken cancellationToken)
    {
        if (_backendHealth is not { } http || _backendHealthUrl is null)
        {
            return IsReady;
        }

        try
        {
            using var response = await http.GetAsync(_backendHealthUrl, cancellationToken).ConfigureAwait(false);
            return response.IsSuccessStatusCode;
        }
        catch (HttpRequestException)
        {
            return false;
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    // Idempotent: the container disposes this instance twice (as itself and as the hosted service its factory returned).
    public void Dispose()
    {
        _dispatcher = null;
        foreach (var replica in Interlocked.Exchange(ref _replicas, []))
        {
            replica.Dispose();
        }

        Interlocked.Exchange(ref _engine, null)?.Dispose();
        (Interlocked.Exchange(ref _backend, null) as IDisposable)?.Dispose();
        Interlocked.Exchange(ref _backendHealth, null)?.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(1104, LogLevel.Information, "Checkpoint import: {Message}")]
        public static partial void Importing(ILogger logger, string message);

        [LoggerMessage(1101, LogLevel.Information, "Built-in model: {Message}")]
        public static partial void Building(ILogger logger, string message);

        [LoggerMessage(1102, LogLevel.Information, "Runtime:Backend openai: serving model {Model} through the OpenAI-compatible engine at {Url}; no local model is loaded")]
        public static partial void Fronting(ILogger logger, Uri url, string model);

        [LoggerMessage(1103, LogLevel.Information, "Loaded {Count} engine replicas ({Replicas}); each request goes to the one with the fewest outstanding requests")]
        public static partial void Replicas(ILogger logger, int count, string replicas);
    }
}
