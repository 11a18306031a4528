using Microsoft.Extensions.AI;

namespace AutoGlm.Runtime.Generation;

/// <summary>
/// What answers requests, as front doors and metrics report it: whether it serves, the model id, what runs it and the
/// <c>served_by</c> name of a local answer.
/// </summary>
/// <remarks>
/// Reached from any chat client of the pipeline with <c>GetService&lt;IEngineStatus&gt;()</c>
/// (<see cref="ChatClientExtensions.GetService{TService}(IChatClient, object?)"/>). Implementations are thread-safe.
/// </remarks>
public interface IEngineStatus
{
    /// <summary>Whether requests can be handed over now (the model is loaded, or the backend's client is made).</summary>
    bool IsReady { get; }

    /// <summary>The model id requests name and <c>/v1/models</c> lists.</summary>
    /// <exception cref="RuntimeException"><see cref="RuntimeErrorCode.ModelUnavailable"/> while not <see cref="IsReady"/>.</exception>
    string ModelId { get; }

    /// <summary>What runs the model: the execution provider (<c>cpu</c>, <c>cuda</c>, <c>tensorrt</c>), or <c>openai</c>.</summary>
    /// <exception cref="RuntimeException"><see cref="RuntimeErrorCode.ModelUnavailable"/> while not <see cref="IsReady"/>.</exception>
    string Provider { get; }

    /// <summary>What a result reports in <c>served_by</c> when this engine answers: <c>local:&lt;model&gt;@&lt;provider&gt;</c>.</summary>
    string ServedBy => $"local:{ModelId}@{Provider}";

    /// <summary>Whether requests can be served now, asking the engine behind when there is one (a backend's readiness check); by default <see cref="IsReady"/>.</summary>
    Task<bool> IsServingAsync(CancellationToken cancellationToken) => Task.FromResult(IsReady);
}
