namespace AutoGlm.Runtime.Text;

/// <summary>Removes AutoGLM's <c>&lt;answer&gt;</c> and <c>&lt;/answer&gt;</c> wrappers from streamed text.</summary>
/// <remarks>Holds back a tail that could be the start of a tag until the next piece shows whether it is one. Not thread-safe.</remarks>
public sealed class AnswerTagFilter
{
    private static readonly string[] Tags = ["<answer>", "</answer>"];
    private string _pending = string.Empty;

    /// <summary>Adds text; returns what can be emitted now.</summary>
    public string Push(string text)
    {
        var buffer = _pending + text;
        foreach (var tag in Tags)
        {
            buffer = buffer.Replace(tag, string.Empty, StringComparison.Ordinal);
        }

        var keep = LongestTagPrefixAtEnd(buffer);
        _pending = buffer[^keep..];
        return buffer[..^keep];
    }

    /// <summary>Emits whatever is held back.</summary>
    public string Flush()
    {
        var rest = _pending;
        _pending = string.Empty;
        return rest;
    }

    private static int LongestTagPrefixAtEnd(string buffer)
    {
        for (var length = Math.Min(buffer.Length, Tags[1].Length - 1); length > 0; length--)
        {
            var tail = buffer.AsSpan(buffer.Length - length);
            foreach (var tag in Tags)
            {
                if (tag.AsSpan().StartsWith(tail, StringComparison.Ordinal))
                {
                    return length;
                }
            }
        }

        return 0;
    }
}
