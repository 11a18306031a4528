using AutoGlm.Runtime.Generation;
using Microsoft.Extensions.AI;

namespace AutoGlm.Edge.Pipeline;

/// <summary>
/// The root of the pipeline: the engine (local, replicas, or the OpenAI backend) as the pipeline's innermost client,
/// answering <see cref="IEngineStatus"/> and <see cref="ChatClientMetadata"/> for whatever runs the model.
/// </summary>
/// <remarks>Thread-safe. Owns nothing: the engine host owns the engine and disposes it.</remarks>
public sealed class EngineStatusChatClient(IChatClient engine, IEngineStatus status) : DelegatingChatClient(engine)
{
    private readonly ChatClientMetadata _metadata = new(status.Provider, null, status.ModelId);

    public override object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is null && serviceType == typeof(IEngineStatus) ? status
        : serviceKey is null && serviceType == typeof(ChatClientMetadata) ? _metadata
        : base.GetService(serviceType, serviceKey);

    // The engine host disposes the engine; the container disposes this client with the pipeline.
    protected override void Dispose(bool disposing)
    {
    }
}
