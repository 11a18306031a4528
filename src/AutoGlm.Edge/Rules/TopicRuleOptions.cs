using AutoGlm.Cluster.Contract;
using Microsoft.Extensions.Options;
using MQTTnet;
using AutoGlm.Edge.Mqtt;

namespace AutoGlm.Edge.Rules;

/// <summary>
/// One topic rule (<c>Mqtt:Rules:N</c>): messages on <see cref="Topic"/> — from Frigate, zigbee2mqtt, any sensor with
/// its own topics — become jobs, and their answers go to <see cref="AnswerTopic"/> and the rule's retained
/// latest-answer topic <c>…/sources/&lt;name&gt;/answer</c>.
/// </summary>
public sealed class TopicRuleOptions
{
    /// <summary>The rule's name (1–48 of <c>A-Z a-z 0-9 _ -</c>): in job ids, logs and its latest-answer topic. Required.</summary>
    public string Name { get; set; } = "";

    /// <summary>The topic filter to subscribe to; <c>+</c> and <c>#</c> allowed (<c>frigate/events</c>, <c>zigbee2mqtt/+</c>). Required.</summary>
    public string Topic { get; set; } = "";

    /// <summary>
    /// What a message is: <c>json</c> (default: a JSON document whose fields the prompt and <see cref="Match"/> use),
    /// <c>text</c>, <c>image</c> (a JPEG/PNG, such as <c>frigate/&lt;camera&gt;/person/snapshot</c>) or <c>audio</c> (a WAV).
    /// </summary>
    public string Payload { get; set; } = "json";

    /// <summary>
    /// The prompt. <c>{a.b.c}</c> is the payload's JSON field (<c>{after.label}</c>, <c>{contact}</c>; arrays by index,
    /// <c>{zones.0}</c>); <c>{payload}</c> the payload as text; <c>{topic}</c>, <c>{rule}</c>, <c>{time}</c> (UTC). A
    /// message lacking a field the prompt names is not used. Default: "Describe this image." for images,
    /// "Transcribe this audio." for audio, else "{payload}".
    /// </summary>
    public string? Prompt { get; set; }

    /// <summary>
    /// Only messages whose JSON fields equal these values become jobs (<c>"Match": {"type": "new", "after.label": "person"}</c>);
    /// the field's JSON text (<c>true</c>, <c>3</c>) or string value is compared. Empty: every message.
    /// </summary>
    public Dictionary<string, string> Match { get; set; } = [];

    /// <summary>At least this long between two jobs of this rule; messages in between are dropped and counted. Default 0.</summary>
    public TimeSpan MinInterval { get; set; } = TimeSpan.Zero;

    /// <summary>At most this many of this rule's jobs waiting for their answer; more messages are dropped and counted. Default 1.</summary>
    public int MaxOutstanding { get; set; } = 1;

    /// <summary>Where each answer (the result JSON, as on <c>…/results/&lt;id&gt;</c>) is published too; empty: only the latest-answer topic.</summary>
    public string? AnswerTopic { get; set; }

    /// <summary>The job's <c>max_tokens</c>; empty leaves it to the daemon.</summary>
    public int? MaxTokens { get; set; }

    /// <summary>The job's <c>route</c>: <c>auto</c> (default), <c>local</c> or <c>remote</c>.</summary>
    public string Route { get; set; } = "auto";

    /// <summary>The job's <c>priority</c>: <c>low</c>, <c>normal</c> (default) or <c>high</c>.</summary>
    public string Priority { get; set; } = "normal";

    /// <summary>The payload kind in use, lower case.</summary>
    public string ResolvedPayload => Payload.ToLowerInvariant();

    /// <summary>The prompt template in use.</summary>
    public string ResolvedPrompt => !string.IsNullOrEmpty(Prompt) ? Prompt : ResolvedPayload switch
    {
        "image" => "Describe this image.",
        "audio" => "Transcribe this audio.",
        _ => "{payload}",
    };
}

/// <summary>Checks <c>Mqtt:Rules</c> and <c>Mqtt:HomeAssistant</c>, naming each bad key.</summary>
public sealed class TopicRulesValidator : IValidateOptions<MqttOptions>
{
    public ValidateOptionsResult Validate(string? name, MqttOptions options)
    {
        var problems = new List<string>();
        var topics = new MqttTopics(options.ResolvedTopicPrefix);
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < options.Rules.Count; i++)
        {
            var r = options.Rules[i];
            var key = $"Mqtt:Rules:{i}";
            void Check(bool ok, string problem)
            {
                if (!ok)
                {
                    problems.Add(problem);
                }
            }

            Check(Sensors.SensorsOptions.NamePattern().IsMatch(r.Name), $"{key}:Name must be 1-48 of A-Z a-z 0-9 _ - (got '{r.Name}')");
            Check(r.Name.Length == 0 || names.Add(r.Name), $"{key}:Name '{r.Name}' is used by another rule");
            Check(IsFilter(r.Topic), $"{key}:Topic must be an MQTT topic filter ('+' and '#' only as whole levels, '#' last; got '{r.Topic}')");
            if (IsFilter(r.Topic))
            {
                // The device's own topics carry its jobs and answers: a rule there would feed on itself.
                Check(
                    !Matches(r.Topic, topics.Jobs) && !Matches(r.Topic, topics.Result("x")) && !Matches(r.Topic, topics.SourceAnswer(r.Name.Length > 0 ? r.Name : "x")),
                    $"{key}:Topic '{r.Topic}' takes the device's own job or result topics (under {topics.Prefix}/); subscribe to the other system's topics");
            }

            Check(r.ResolvedPayload is "json" or "text" or "image" or "audio", $"{key}:Payload must be json, text, image or audio (got '{r.Payload}')");
            Check(r.Match.Count == 0 || r.ResolvedPayload == "json", $"{key}:Match needs Payload json (got '{r.Payload}')");
            Check(r.MinInterval >= TimeSpan.Zero && r.MinInterval <= TimeSpan.FromDays(1), $"{key}:MinInterval must be between 00:00:00 and 1.00:00:00 (got {r.MinInterval})");
            Check(r.MaxOutstanding is >= 1 and <= 1000, $"{key}:MaxOutstanding must be between 1 and 1000 (got {r.MaxOutstanding})");
            Check(r.MaxTokens is null or >= 1, $"{key}:MaxTokens must be at least 1 (got {r.MaxTokens})");
            Check(r.Route.ToLowerInvariant() is "auto" or "local" or "remote", $"{key}:Route must be auto, local or remote (got '{r.Route}')");
            Check(r.Priority.ToLowerInvariant() is "low" or "normal" or "high", $"{key}:Priority must be low, normal or high (got '{r.Priority}')");
            if (!string.IsNullOrEmpty(r.AnswerTopic))
            {
                var answerOk = r.AnswerTopic.IndexOfAny(['+', '#']) < 0 && !r.AnswerTopic.StartsWith('$');
                Check(answerOk, $"{key}:AnswerTopic must be a topic, without wildcards or a leading $ (got '{r.AnswerTopic}')");
                Check(!answerOk || !IsFilter(r.Topic) || !Matches(r.Topic, r.AnswerTopic), $"{key}:AnswerTopic '{r.AnswerTopic}' matches the rule's own Topic '{r.Topic}': each answer would start another job");
                Check(!answerOk || !topics.IsOwn(r.AnswerTopic) || r.AnswerTopic.StartsWith(topics.Prefix + "/sources/", StringComparison.Ordinal), $"{key}:AnswerTopic '{r.AnswerTopic}' is one of the device's own topics");
            }

            try
            {
                TopicRule.Template.Parse(r.ResolvedPrompt);
            }
            catch (FormatException ex)
            {
                problems.Add($"{key}:Prompt {ex.Message}");
            }
        }

        var prefix = options.HomeAssistant.DiscoveryPrefix;
        if (string.IsNullOrEmpty(prefix) || prefix.IndexOfAny(['+', '#']) >= 0 || prefix.StartsWith('$') || prefix.EndsWith('/'))
        {
            problems.Add($"Mqtt:HomeAssistant:DiscoveryPrefix must be a topic prefix without wildcards, a leading $ or a trailing / (got '{prefix}'; Home Assistant's default is homeassistant)");
        }

        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }

    private static bool IsFilter(string filter)
    {
        if (string.IsNullOrEmpty(filter) || filter.StartsWith('$'))
        {
            return false;
        }

        var levels = filter.Split('/');
        for (var i = 0; i < levels.Length; i++)
        {
            var level = levels[i];
            if ((level.Contains('+') && level != "+") || (level.Contains('#') && (level != "#" || i != levels.Length - 1)))
            {
                return false;
            }
        }

        return true;
    }

    private static bool Matches(string filter, string topic) => MqttTopicFilterComparer.Compare(topic, filter) == MqttTopicFilterCompareResult.IsMatch;
}
