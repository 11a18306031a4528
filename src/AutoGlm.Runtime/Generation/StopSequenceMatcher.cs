namespace AutoGlm.Runtime.Generation;

/// <summary>Finds stop sequences in streamed text without emitting any part of one.</summary>
/// <remarks>Holds back the longest tail that could begin a stop sequence. Not thread-safe.</remarks>
public sealed class StopSequenceMatcher
{
    private readonly IReadOnlyList<string> _stops;
    private string _pending = string.Empty;

    public StopSequenceMatcher(IReadOnlyList<string> stops) => _stops = stops;

    /// <summary>Whether a stop sequence has been seen; nothing after it is emitted.</summary>
    public bool Stopped { get; private set; }

    /// <summary>Adds text; returns what can be emitted now.</summary>
    public string Push(string text)
    {
        if (Stopped || _stops.Count == 0)
        {
            return Stopped ? string.Empty : text;
        }

        var buffer = _pending + text;
        var first = -1;
        foreach (var stop in _stops)
        {
            var at = buffer.IndexOf(stop, StringComparison.Ordinal);
            if (at >= 0 && (first < 0 || at < first))
            {
                first = at;
            }
        }

        if (first >= 0)
        {
            Stopped = true;
            _pending = string.Empty;
            return buffer[..first];
        }

        var keep = 0;
        foreach (var stop in _stops)
        {
            for (var length = Math.Min(stop.Length - 1, buffer.Length); length > keep; length--)
            {
                if (buffer.AsSpan(buffer.Length - length).SequenceEqual(stop.AsSpan(0, length)))
                {
                    keep = length;
                    break;
                }
            }
        }

        _pending = buffer[^keep..];
        return buffer[..^keep];
    }

    /// <summary>Emits whatever is held back (at the end of generation).</summary>
    public string Flush()
    {
        var rest = Stopped ? string.Empty : _pending;
        _pending = string.Empty;
        return rest;
    }
}
