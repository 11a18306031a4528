using System.Runtime.CompilerServices;
using AutoGlm.Cluster.LoadBalancing;
using Microsoft.Extensions.AI;

namespace AutoGlm.Cluster.Replicas;

/// <summary>One engine replica behind a <see cref="ReplicaDispatcher"/>: its chat client and its load.</summary>
/// <remarks>Thread-safe.</remarks>
public sealed class Replica
{
    private int _outstanding;
    private long _served;

    internal Replica(string name, IChatClient client)
    {
        Name = name;
        Client = client;
    }

    /// <summary>What metrics and status call it (<c>cuda:0</c>).</summary>
    public string Name { get; }

    /// <summary>The replica's engine.</summary>
    public IChatClient Client { get; }

    /// <summary>Requests sent to it and not finished.</summary>
    public int Outstanding => Volatile.Read(ref _outstanding);

    /// <summary>Requests it has been given since start.</summary>
    public long Served => Interlocked.Read(ref _served);

    internal void Enter()
    {
        Interlocked.Increment(ref _outstanding);
        Interlocked.Increment(ref _served);
    }

    internal void Leave() => Interlocked.Decrement(ref _outstanding);
}

/// <summary>
/// One <see cref="IChatClient"/> in front of several engine replicas (one per GPU, <c>Runtime:Devices</c>): each request
/// goes to the replica with the fewest outstanding requests (ties: the one that has served fewest).
/// </summary>
/// <remarks>
/// Thread-safe. Owns none of the replicas. <see cref="GetService"/> answers for the first replica beyond itself, so the
/// router's cost estimate finds a <c>LocalEngine</c> (its tokenizer and measured speeds) as with one engine.
/// </remarks>
public sealed class ReplicaDispatcher : IChatClient
{
    private readonly Replica[] _replicas;
    private readonly Lock _pick = new();

    /// <summary>Creates the dispatcher over <paramref name="replicas"/> (name and engine each; at least one).</summary>
    public ReplicaDispatcher(IEnumerable<(string Name, IChatClient Client)> replicas)
    {
        _replicas = [.. replicas.Select(r => new Replica(r.Name, r.Client))];
        if (_replicas.Length == 0)
        {
            throw new ArgumentException("at least one replica is needed", nameof(replicas));
        }
    }

    /// <summary>The replicas, in device order.</summary>
    public IReadOnlyList<Replica> Replicas => _replicas;

    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var replica = Enter();
        try
        {
            return await replica.Client.GetResponseAsync(messages, options, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            replica.Leave();
        }
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages,
        ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var replica = Enter();
        try
        {
            await foreach (var update in replica.Client.GetStreamingResponseAsync(messages, options, cancellationToken).ConfigureAwait(false))
            {
                yield return update;
            }
        }
        finally
        {
            replica.Leave();
        }
    }

    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is null && serviceType.IsInstanceOfType(this) ? this : _replicas[0].Client.GetService(serviceType, serviceKey);

    /// <summary>Owns no replica: their owner disposes them.</summary>
    public void Dispose()
    {
    }

    private Replica Enter()
    {
        lock (_pick)
        {
            var best = LeastLoaded.Pick(_replicas, static _ => true, static r => r.Outstanding, static r => r.Served)!;
            best.Enter();
            return best;
        }
    }
}
