namespace AutoGlm.Cluster;

/// <summary>What went wrong with a remote engine, as a code a front door maps to an MQTT error code or an HTTP status.</summary>
public enum ClusterErrorCode
{
    /// <summary>A remote engine was required (route <c>remote</c>, or policy) but no node could take the request.</summary>
    RemoteUnavailable,

    /// <summary>Route <c>remote</c> was asked where no heavy node is configured (<c>Cluster:Nodes</c> empty, or a heavy node): asking again will not help.</summary>
    RemoteNotConfigured,

    /// <summary>The remote node failed after it had streamed part of the answer; the answer is incomplete.</summary>
    RemoteInterrupted,
}

/// <summary>The one exception type the cluster layer throws for its own failures.</summary>
public sealed class ClusterException : Exception
{
    public ClusterException(ClusterErrorCode code, string message, Exception? inner = null)
        : base(message, inner)
    {
        Code = code;
    }

    /// <summary>The failure's code.</summary>
    public ClusterErrorCode Code { get; }

    /// <summary>The wire name of <see cref="Code"/>: <c>remote_unavailable</c> or <c>remote_interrupted</c>.</summary>
    public string WireCode => Code switch
    {
        ClusterErrorCode.RemoteUnavailable or ClusterErrorCode.RemoteNotConfigured => "remote_unavailable",
        _ => "remote_interrupted",
    };
}
