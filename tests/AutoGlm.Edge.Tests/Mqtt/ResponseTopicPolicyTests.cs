using AutoGlm.Cluster.Contract;
using AutoGlm.Edge.Mqtt;
using AutoGlm.Edge.Tests.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace AutoGlm.Edge.Tests.Mqtt;

/// <summary>The response-topic rules on their own, for the device <c>autoglm/dev1</c> unless a test says otherwise.</summary>
public sealed class ResponseTopicPolicyTests
{
    private static ResponseTopicPolicy Policy(string prefix = "autoglm/dev1", string[]? allowed = null, TimeProvider? time = null, ILoggerProvider? logs = null)
    {
        // Not disposed: the policy's logger must outlive this method.
        var factory = LoggerFactory.Create(b =>
        {
            if (logs is not null)
            {
                b.AddProvider(logs);
            }
        });
        var options = new MqttOptions { TopicPrefix = prefix, AllowedResponseTopics = [.. allowed ?? []] };
        return new ResponseTopicPolicy(options, new MqttTopics(options.ResolvedTopicPrefix), time ?? TimeProvider.System, factory.CreateLogger<ResponseTopicPolicy>());
    }

    [Theory]
    [InlineData("reply/abc/1")]
    [InlineData("autoglm/dev1/results/job-1")]
    [InlineData("autoglm/dev1/results/job-1/mine")]
    [InlineData("autoglm/dev2/results/job-1")]
    [InlineData("autoglm-bridge/autoglm-bridge-0123456789ab/req-1")]
    [InlineData("autoglm/dev2/jobsdone")]
    public void Check_OrdinaryTopic_IsAllowed(string topic)
    {
        Assert.Null(Policy().Check(topic));
    }

    [Theory]
    [InlineData("$SYS/broker/clients", "system topic")]
    [InlineData("$share/g/reply", "system topic")]
    [InlineData("reply/+/x", "wildcard")]
    [InlineData("reply/#", "wildcard")]
    [InlineData("reply/a\0b", "NUL")]
    [InlineData("autoglm/dev1", "own topics")]
    [InlineData("autoglm/dev1/status", "own topics")]
    [InlineData("autoglm/dev1/stats", "own topics")]
    [InlineData("autoglm/dev1/jobs", "own topics")]
    [InlineData("autoglm/dev1/jobs/image", "own topics")]
    [InlineData("autoglm/dev1/jobs/x/cancel", "own topics")]
    [InlineData("autoglm/dev1/sensors/porch/capture", "own topics")]
    [InlineData("autoglm/dev1/results", "own topics")]
    [InlineData("autoglm/dev1/results/", "own topics")]
    [InlineData("autoglm/dev2/jobs", "job topic")]
    [InlineData("autoglm/dev2/jobs/audio", "job topic")]
    [InlineData("autoglm/dev2/jobs/j1/cancel", "job topic")]
    public void Check_ForbiddenTopic_SaysWhy(string topic, string reason)
    {
        var refusal = Policy().Check(topic);

        Assert.NotNull(refusal);
        Assert.Contains(reason, refusal, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_OverLongTopic_IsRefused()
    {
        var refusal = Policy().Check("reply/" + new string('a', ResponseTopicPolicy.MaxLength));

        Assert.NotNull(refusal);
        Assert.Contains("longer than 1024", refusal, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("site/edge2/jobs", "job topic")]
    [InlineData("autoglm/dev9/jobs", "job topic")]
    [InlineData("site/edge1/status", "own topics")]
    public void Check_CustomPrefix_RefusesItsOwnAndSiblingsJobTopics(string topic, string reason)
    {
        var policy = Policy("site/edge1");

        Assert.Contains(reason, policy.Check(topic) ?? "(allowed)", StringComparison.Ordinal);
        Assert.Null(policy.Check("site/edge2/results/x"));
        Assert.Null(policy.Check("autoglm/dev1/results/x"));
    }

    [Fact]
    public void Check_AllowedResponseTopicsSet_OnlyMatchingTopicsPass()
    {
        var policy = Policy(allowed: ["reply/+/results", "autoglm-bridge/#"]);

        Assert.Null(policy.Check("reply/a/results"));
        Assert.Null(policy.Check("autoglm-bridge/c1/req-1"));
        Assert.Contains("Mqtt:AllowedResponseTopics", policy.Check("reply/a/b") ?? "(allowed)", StringComparison.Ordinal);
        Assert.Contains("Mqtt:AllowedResponseTopics", policy.Check("autoglm/dev2/results/x") ?? "(allowed)", StringComparison.Ordinal);
    }

    [Fact]
    public void Check_AllowedResponseTopicsMatchEverything_FixedRulesStillHold()
    {
        var policy = Policy(allowed: ["#"]);

        Assert.Null(policy.Check("reply/a"));
        Assert.Contains("own topics", policy.Check("autoglm/dev1/status") ?? "(allowed)", StringComparison.Ordinal);
        Assert.Contains("job topic", policy.Check("autoglm/dev2/jobs") ?? "(allowed)", StringComparison.Ordinal);
    }

    [Fact]
    public void Refusal_ManyRefusals_OneWarningPerMinuteCountingTheRest()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        using var logs = new CapturedLogs();
        var policy = Policy(time: time, logs: logs);

        for (var i = 0; i < 5; i++)
        {
            Assert.NotNull(policy.Refusal("autoglm/dev1/status", $"j{i}"));
        }

        Assert.Null(policy.Refusal("reply/ok", "fine"));
        time.Advance(TimeSpan.FromSeconds(59));
        Assert.NotNull(policy.Refusal("$SYS/x", "j5"));
        Assert.Single(logs.Entries, e => e.EventId.Id == 4451);

        time.Advance(TimeSpan.FromSeconds(2));
        Assert.NotNull(policy.Refusal("$SYS/x", "j6"));

        var warnings = logs.Entries.Where(e => e.EventId.Id == 4451).ToList();
        Assert.Equal(2, warnings.Count);
        Assert.All(warnings, w => Assert.Equal(LogLevel.Warning, w.Level));
        Assert.Contains("j0", warnings[0].Message, StringComparison.Ordinal);
        Assert.Contains("j6", warnings[1].Message, StringComparison.Ordinal);
        Assert.Contains("(5 more refused", warnings[1].Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("reply/#", true)]
    [InlineData("#", true)]
    [InlineData("+/results/+", true)]
    [InlineData("reply/plain", true)]
    [InlineData("", false)]
    [InlineData("reply/#/more", false)]
    [InlineData("reply/a#", false)]
    [InlineData("reply/a+/b", false)]
    [InlineData("reply/\0", false)]
    public void IsValidFilter_Filter_IsJudged(string filter, bool valid)
    {
        Assert.Equal(valid, ResponseTopicPolicy.IsValidFilter(filter));
    }
}
