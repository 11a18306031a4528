using System.Buffers;
using System.Text;
using System.Text.Json;
using AutoGlm.Edge.Http;
using AutoGlm.Runtime.Text;

namespace AutoGlm.Edge.Tests.Http;

/// <summary>The chat completion objects as written, for what the tiny random model cannot be made to say: an AutoGLM action.</summary>
public sealed class ChatCompletionWriterTests
{
    private static readonly CompletionIdentity Id = new("chatcmpl-1", 1_700_000_000, "autoglm-phone-9b", "fp_1");

    [Fact]
    public void WriteCompletion_AnswerIsAnAction_MessageCarriesItParsed()
    {
        const string text = "do(action=\"Type\", text=\"hello \\\"world\\\"\")";
        var output = new ArrayBufferWriter<byte>();

        ChatCompletionWriter.WriteCompletion(output, Id, text, withReasoning: false, reasoning: null, "stop", usage: null, AutoGlmActionParser.ActionOf(text));

        using var json = JsonDocument.Parse(output.WrittenMemory);
        var message = json.RootElement.GetProperty("choices")[0].GetProperty("message");
        Assert.Equal(text, message.GetProperty("content").GetString());
        Assert.Equal("Type", message.GetProperty("action").GetProperty("name").GetString());
        Assert.Equal("hello \"world\"", message.GetProperty("action").GetProperty("args").GetProperty("text").GetString());
    }

    [Fact]
    public void WriteChunk_LastChunkOfAnAction_DeltaCarriesIt()
    {
        var output = new ArrayBufferWriter<byte>();

        ChatCompletionWriter.WriteChunk(output, Id, withRole: false, content: null, reasoning: null, finishReason: "stop", action: AutoGlmActionParser.ActionOf("finish(message=\"Done\")"));

        var line = Encoding.UTF8.GetString(output.WrittenSpan).Trim();
        using var json = JsonDocument.Parse(line["data: ".Length..]);
        var action = json.RootElement.GetProperty("choices")[0].GetProperty("delta").GetProperty("action");
        Assert.Equal("finish", action.GetProperty("name").GetString());
        Assert.Equal("Done", action.GetProperty("args").GetProperty("message").GetString());
    }
}
