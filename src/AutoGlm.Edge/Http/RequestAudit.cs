namespace AutoGlm.Edge.Http;

/// <summary>What the audit line of one request says, filled in as the request goes (an <c>HttpContext</c> feature).</summary>
/// <remarks>Belongs to one request; not thread-safe.</remarks>
public sealed class RequestAudit
{
    /// <summary>The caller's key id (never the key), or <see cref="RequestGate.Anonymous"/>; <c>-</c> before authentication.</summary>
    public string KeyId { get; set; } = "-";

    /// <summary>Prompt tokens of the generation, when there was one.</summary>
    public int PromptTokens { get; set; }

    /// <summary>Generated tokens, when there was a generation.</summary>
    public int CompletionTokens { get; set; }

    /// <summary>Whether the client went away before the answer was complete.</summary>
    public bool ClientGone { get; set; }
}
