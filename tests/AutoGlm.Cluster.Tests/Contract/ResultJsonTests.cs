using AutoGlm.Cluster.Contract;
using AutoGlm.Runtime.Generation;
using Microsoft.Extensions.AI;

namespace AutoGlm.Cluster.Tests.Contract;

/// <summary>The result the device writes is the result the bridge reads.</summary>
public sealed class ResultJsonTests
{
    [Fact]
    public void Read_SuccessWritten_SameAnswerBack()
    {
        var usage = new UsageDetails { InputTokenCount = 7, OutputTokenCount = 3, TotalTokenCount = 10 };
        var written = ResultJson.Success("j1", "a \"quoted\" answer", "some thought", ChatFinishReason.Length, usage, "local:m@cpu", new GenerationTimings(1, 2, 3, 4), 12.5);

        var (answer, code, message) = ResultJson.Read(written);

        Assert.Null(code);
        Assert.Null(message);
        Assert.NotNull(answer);
        Assert.Equal("a \"quoted\" answer", answer.Text);
        Assert.Equal("some thought", Assert.Single(answer.Messages[0].Contents.OfType<TextReasoningContent>()).Text);
        Assert.Equal(ChatFinishReason.Length, answer.FinishReason);
        Assert.Equal((7L, 3L, 10L), (answer.Usage!.InputTokenCount!.Value, answer.Usage.OutputTokenCount!.Value, answer.Usage.TotalTokenCount!.Value));
    }

    [Fact]
    public void Success_AnswerIsAnAction_ActionWrittenBesideTheText()
    {
        var text = "do(action=\"Swipe\", start=[500,800], end=[500,200])";
        var action = AutoGlm.Runtime.Text.AutoGlmActionParser.ActionOf(text);

        using var json = System.Text.Json.JsonDocument.Parse(ResultJson.Success("j3", text, null, ChatFinishReason.Stop, null, "local:m@cpu", null, 1, action: action));

        var written = json.RootElement.GetProperty("action");
        Assert.Equal(text, json.RootElement.GetProperty("text").GetString());
        Assert.Equal("Swipe", written.GetProperty("name").GetString());
        Assert.Equal("[500,800]", written.GetProperty("args").GetProperty("start").GetRawText());
        Assert.Equal("[500,200]", written.GetProperty("args").GetProperty("end").GetRawText());
        Assert.False(System.Text.Json.JsonDocument.Parse(ResultJson.Success("j4", "plain text", null, ChatFinishReason.Stop, null, "local:m@cpu", null, 1)).RootElement.TryGetProperty("action", out _));
    }

    [Fact]
    public void Read_ErrorWritten_CodeAndMessageBack()
    {
        var (answer, code, message) = ResultJson.Read(ResultJson.Error("j2", "overloaded", "the queue is full"));

        Assert.Null(answer);
        Assert.Equal(("overloaded", "the queue is full"), (code, message));
        Assert.Equal("overloaded", ResultJson.ErrorCode(ResultJson.Error("j2", "overloaded", "the queue is full")));
    }

    [Fact]
    public void Topics_OfOnePrefix_JobsCancelAndResultsUnderIt()
    {
        var topics = new MqttTopics("autoglm/heavy");

        Assert.Equal("autoglm/heavy/jobs", topics.Jobs);
        Assert.Equal("autoglm/heavy/jobs/j1/cancel", topics.Cancel("j1"));
        Assert.Equal("j1", topics.CancelledJobId(topics.Cancel("j1")));
        Assert.Equal("j1", topics.ResultJobId(topics.Result("j1")));
    }
}
