using AutoGlm.Runtime;
using AutoGlm.Runtime.Generation;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Options;

namespace AutoGlm.Edge.Hosting;

/// <summary>Loads the model when the host starts (before systemd hears READY=1) and owns the engine.</summary>
/// <remarks>Other services reach the engine through <see cref="Engine"/> or the registered <see cref="IChatClient"/>.</remarks>
public sealed partial class EngineHost : IHostedService, IDisposable
{
    private readonly RuntimeOptions _runtime;
    private readonly EngineOptions _engineOptions;
    private readonly StateLocation _state;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private LocalEngine? _engine;

    public EngineHost(IOptions<RuntimeOptions> runtime, IOptions<EngineOptions> engineOptions, StateLocation state, ILoggerFactory loggerFactory)
    {
        _runtime = runtime.Value;
        _engineOptions = engineOptions.Value;
        _state = state;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger<EngineHost>();
    }

    /// <summary>Whether the model is loaded and serving.</summary>
    public bool IsReady => _engine is not null;

    /// <summary>The loaded engine.</summary>
    /// <exception cref="RuntimeException"><see cref="RuntimeErrorCode.ModelUnavailable"/> before the model is loaded.</exception>
    public LocalEngine Engine => _engine ?? throw new RuntimeException(RuntimeErrorCode.ModelUnavailable, "the model is still loading");

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var path = string.IsNullOrWhiteSpace(_runtime.ModelPath)
            ? StatePaths.EnsureBuiltInModel(_state.Directory, message => Log.Building(_logger, message))
            : _runtime.ModelPath;
        var options = _engineOptions with { TensorRtCacheDirectory = _engineOptions.TensorRtCacheDirectory ?? Path.Combine(_state.CacheDirectory, "tensorrt") };
        _engine = LocalEngine.Load(path, options, _loggerFactory);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    // The container disposes this twice (as itself and as the hosted service its factory returns); the native
    // sessions must be released once.
    public void Dispose() => Interlocked.Exchange(ref _engine, null)?.Dispose();

    private static partial class Log
    {
        [LoggerMessage(1101, LogLevel.Information, "Built-in model: {Message}")]
        public static partial void Building(ILogger logger, string message);
    }
}

/// <summary>The resolved state and cache folders of this process.</summary>
public sealed record StateLocation(string Directory, string CacheDirectory);
