using MQTTnet;
using AutoGlm.Cluster.Contract;

namespace AutoGlm.Edge.Mqtt;

/// <summary>
/// Which MQTT 5 response topics a job may choose for its result. Always refused: a topic that is empty, longer than
/// 1024 characters, <c>$</c>-prefixed (broker system topics), holding a wildcard (<c>+</c>, <c>#</c>) or NUL, one of
/// this device's own topics outside its <c>…/results/</c> subtree (<c>…/status</c>, <c>…/jobs</c>, <c>…/sensors/…</c>),
/// or any device's job topics (<c>autoglm/+/jobs/#</c>). When <c>Mqtt:AllowedResponseTopics</c> is set, a topic must
/// also match one of its filters. A job with a refused topic is not run: it gets an error result
/// <c>forbidden_response_topic</c> (or its parse error) on its default topic; the refusal is logged as a warning at
/// most once a minute.
/// </summary>
/// <remarks>Thread-safe: immutable apart from the warning's throttle.</remarks>
public sealed partial class ResponseTopicPolicy
{
    /// <summary>The longest response topic taken, in characters.</summary>
    public const int MaxLength = 1024;

    private static readonly TimeSpan WarningInterval = TimeSpan.FromMinutes(1);
    private readonly MqttTopics _topics;
    private readonly IReadOnlyList<string> _forbiddenJobTopics;
    private readonly IReadOnlyList<string> _allowed;
    private readonly LogThrottle _warnings;
    private readonly ILogger _logger;

    public ResponseTopicPolicy(MqttOptions options, MqttTopics topics, TimeProvider time, ILogger<ResponseTopicPolicy> logger)
    {
        _topics = topics;
        _forbiddenJobTopics = topics.AnyDeviceJobsFilters;
        _allowed = [.. options.AllowedResponseTopics];
        _warnings = new LogThrottle(time, WarningInterval);
        _logger = logger;
    }

    /// <summary>Why <paramref name="topic"/> may not be a response topic, in a sentence for the error result; null when it may.</summary>
    public string? Check(string topic)
    {
        if (string.IsNullOrEmpty(topic))
        {
            return "the response topic is empty";
        }

        if (topic.Length > MaxLength)
        {
            return $"the response topic is longer than {MaxLength} characters ({topic.Length})";
        }

        var shown = topic.Length > 120 ? topic[..120] + "…" : topic;
        if (topic[0] == '$')
        {
            return $"the response topic '{shown}' is a broker system topic ($…)";
        }

        if (topic.AsSpan().IndexOfAny('+', '#', '\0') >= 0)
        {
            return $"the response topic '{shown}' holds a wildcard (+, #) or NUL";
        }

        if (_topics.IsOwn(topic) && !_topics.IsInResults(topic))
        {
            return $"the response topic '{shown}' is one of this device's own topics; under {_topics.Prefix}/ only {_topics.Prefix}/results/… may be chosen";
        }

        if (_forbiddenJobTopics.Any(filter => Matches(topic, filter)))
        {
            return $"the response topic '{shown}' is a device's job topic (…/jobs); a result there would be taken as a job";
        }

        if (_allowed.Count > 0 && !_allowed.Any(filter => Matches(topic, filter)))
        {
            return $"the response topic '{shown}' matches none of Mqtt:AllowedResponseTopics ({string.Join(", ", _allowed)})";
        }

        return null;
    }

    /// <summary>
    /// <see cref="Check"/> for the job <paramref name="jobId"/>, with a warning in the log when refused (at most once
    /// a minute, counting the refusals held back).
    /// </summary>
    public string? Refusal(string topic, string? jobId)
    {
        var refusal = Check(topic);
        if (refusal is not null && _warnings.ShouldLog(out var heldBack))
        {
            Log.Refused(_logger, jobId ?? "(no id)", refusal, heldBack);
        }

        return refusal;
    }

    /// <summary>Whether <paramref name="filter"/> is a valid MQTT topic filter (<c>+</c> and <c>#</c> whole levels, <c>#</c> last).</summary>
    public static bool IsValidFilter(string? filter)
    {
        if (string.IsNullOrEmpty(filter) || filter.Contains('\0', StringComparison.Ordinal) || filter.Length > MaxLength)
        {
            return false;
        }

        var levels = filter.Split('/');
        for (var i = 0; i < levels.Length; i++)
        {
            var level = levels[i];
            if (level.AsSpan().IndexOfAny('+', '#') >= 0 && !(level == "+" || (level == "#" && i == levels.Length - 1)))
            {
                return false;
            }
        }

        return true;
    }

    private static bool Matches(string topic, string filter) =>
        MqttTopicFilterComparer.Compare(topic, filter) == MqttTopicFilterCompareResult.IsMatch;

    private static partial class Log
    {
        [LoggerMessage(4451, LogLevel.Warning, "Refused the response topic of job {JobId}: {Reason}; its result goes to its default result topic ({HeldBack} more refused since the last such warning)")]
        public static partial void Refused(ILogger logger, string jobId, string reason, int heldBack);
    }
}
