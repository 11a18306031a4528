using AutoGlm.Edge.Pipeline;
using AutoGlm.Runtime.Generation;
using Microsoft.Extensions.AI;
using RoutingChatClient = AutoGlm.Cluster.Routing.RoutingChatClient;

namespace AutoGlm.Edge.Tests.Pipeline;

/// <summary>One update stream read into one answer, as every front door reads it.</summary>
public sealed class AnswerCollectorTests
{
    [Fact]
    public void Add_TextReasoningUsageAndStamps_CollectedInOrder()
    {
        var answer = new AnswerCollector();

        answer.Add(Stamped("remote:gpu:8000", "policy remote-first"));
        var (_, thought) = answer.Add(new ChatResponseUpdate(ChatRole.Assistant, [new TextReasoningContent("hmm")]));
        var (text, _) = answer.Add(new ChatResponseUpdate(ChatRole.Assistant, "Hel"));
        answer.Add(new ChatResponseUpdate(ChatRole.Assistant, "lo"));
        answer.Add(new ChatResponseUpdate(ChatRole.Assistant, [new UsageContent(new UsageDetails { InputTokenCount = 4, OutputTokenCount = 2 })]) { FinishReason = ChatFinishReason.Stop });

        Assert.Equal(("hmm", "Hel"), (thought, text));
        Assert.Equal("Hello", answer.Text);
        Assert.Equal("hmm", answer.Reasoning);
        Assert.Equal(ChatFinishReason.Stop, answer.FinishReason);
        Assert.Equal(("remote:gpu:8000", "policy remote-first"), (answer.ServedBy, answer.RouteReason));
        Assert.Equal((4, 2), (answer.PromptTokens(() => throw new InvalidOperationException("the engine counted")), answer.CompletionTokens));
    }

    [Theory]
    [InlineData("do(action=\"Tap\", element=[500, 300])", "Tap")]
    [InlineData("<think>the button is top left</think><answer>do(action=\"Tap\", element=[12,40])</answer>", "Tap")]
    [InlineData("finish(message=\"Done: the alarm is set\")", "finish")]
    public void Action_AnswerIsAnAutoGlmAction_ParsedBesideTheText(string reply, string name)
    {
        var answer = new AnswerCollector();
        answer.Add(new ChatResponseUpdate(ChatRole.Assistant, reply[..5]));
        answer.Add(new ChatResponseUpdate(ChatRole.Assistant, reply[5..]));

        Assert.Equal(reply, answer.Text);
        Assert.Equal(name, answer.Action?.Name);
    }

    [Theory]
    [InlineData("The door is open.")]
    [InlineData("You could do(action=\"Tap\", element=[5,5]) next.")]
    [InlineData("do(action=\"Tap\", element=[5000, 5])")]
    public void Action_OrdinaryOrMalformedAnswer_NoAction(string reply)
    {
        var answer = new AnswerCollector();
        answer.Add(new ChatResponseUpdate(ChatRole.Assistant, reply));

        Assert.Null(answer.Action);
    }

    [Fact]
    public void Add_RouterRestart_VoidsWhatCameBefore()
    {
        var answer = new AnswerCollector();
        answer.Add(new ChatResponseUpdate(ChatRole.Assistant, "from the failed node"));

        answer.Add(new ChatResponseUpdate
        {
            AdditionalProperties = new() { [RoutingChatClient.RestartedProperty] = true, [RoutingChatClient.ServedByProperty] = "local:m@cpu", [RoutingChatClient.RouteReasonProperty] = "restarted" },
        });
        Assert.True(answer.RestartedNow);
        answer.Add(new ChatResponseUpdate(ChatRole.Assistant, "local"));

        Assert.False(answer.RestartedNow);
        Assert.Equal("local", answer.Text);
        Assert.Null(answer.Reasoning);
        Assert.Equal("local:m@cpu", answer.ServedBy);
    }

    [Fact]
    public void PromptTokens_CutShortWithoutUsage_AsksForTheCountOnlyAfterText()
    {
        var silent = new AnswerCollector();
        var spoken = new AnswerCollector();
        spoken.Add(new ChatResponseUpdate(ChatRole.Assistant, "a"));
        spoken.Add(new ChatResponseUpdate(ChatRole.Assistant, "b"));

        Assert.Equal(0, silent.PromptTokens(() => 99));
        Assert.Equal(99, spoken.PromptTokens(() => 99));
        Assert.Equal(2, spoken.CompletionTokens);
        Assert.Null(spoken.Timings);
    }

    private static ChatResponseUpdate Stamped(string servedBy, string reason) => new()
    {
        AdditionalProperties = new() { [RoutingChatClient.ServedByProperty] = servedBy, [RoutingChatClient.RouteReasonProperty] = reason },
    };

    [Fact]
    public void Add_TimingsOnTheLastUpdate_Kept()
    {
        var answer = new AnswerCollector();

        answer.Add(new ChatResponseUpdate(ChatRole.Assistant, "x") { AdditionalProperties = new() { [EngineProperties.TimingsProperty] = new GenerationTimings(1, 2, 3, 4) } });

        Assert.Equal(4, answer.Timings!.DecodeMs);
    }
}
