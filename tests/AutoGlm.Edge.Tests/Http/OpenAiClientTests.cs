using System.ClientModel;
using System.Text;
using Microsoft.Extensions.AI;
using OpenAI;
using OpenAI.Chat;

namespace AutoGlm.Edge.Tests.Http;

/// <summary>The official OpenAI .NET client and Microsoft.Extensions.AI's OpenAI chat client against the running server.</summary>
[Collection(DefaultServerCollection.Name)]
public sealed class OpenAiClientTests(DefaultServerFixture fixture) : IDisposable
{
    private readonly EdgeServer _server = fixture.Server;

    [Fact]
    public async Task CompleteChat_OfficialClient_AnswersWithTextAndUsage()
    {
        var client = CreateChatClient();

        ChatCompletion completion = await client.CompleteChatAsync(
            [new UserChatMessage("Hello! What can you do?")],
            new ChatCompletionOptions { MaxOutputTokenCount = 16, Temperature = 0 });

        Assert.Equal(ChatMessageRole.Assistant, completion.Role);
        Assert.False(string.IsNullOrEmpty(completion.Content[0].Text));
        Assert.Equal(EdgeServer.ModelId, completion.Model);
        Assert.True(completion.FinishReason is OpenAI.Chat.ChatFinishReason.Stop or OpenAI.Chat.ChatFinishReason.Length);
        Assert.True(completion.Usage.InputTokenCount > 0);
        Assert.InRange(completion.Usage.OutputTokenCount, 1, 16);
        Assert.Equal(completion.Usage.InputTokenCount + completion.Usage.OutputTokenCount, completion.Usage.TotalTokenCount);
    }

    [Fact]
    public async Task CompleteChatStreaming_SameSeed_DeltasEqualNonStreamedText()
    {
        var client = CreateChatClient();
        OpenAI.Chat.ChatMessage[] messages = [new SystemChatMessage("You are terse."), new UserChatMessage("Tell me about the camera.")];
#pragma warning disable OPENAI001 // Seed is marked experimental in the client; the server honours it.
        ChatCompletionOptions Options() => new() { MaxOutputTokenCount = 24, Temperature = 0.9f, Seed = 4242 };
#pragma warning restore OPENAI001

        ChatCompletion whole = await client.CompleteChatAsync(messages, Options());
        var streamed = new StringBuilder();
        ChatTokenUsage? usage = null;
        OpenAI.Chat.ChatFinishReason? finish = null;
        await foreach (var update in client.CompleteChatStreamingAsync(messages, Options()))
        {
            foreach (var part in update.ContentUpdate)
            {
                streamed.Append(part.Text);
            }

            usage ??= update.Usage;
            finish ??= update.FinishReason;
        }

        Assert.Equal(whole.Content[0].Text, streamed.ToString());
        Assert.NotNull(usage);
        Assert.Equal(whole.Usage.InputTokenCount, usage!.InputTokenCount);
        Assert.Equal(whole.Usage.OutputTokenCount, usage.OutputTokenCount);
        Assert.Equal(whole.FinishReason, finish);
    }

    [Fact]
    public async Task GetResponseAsync_ExtensionsAiChatClient_AnswersWithUsage()
    {
        using IChatClient client = CreateChatClient().AsIChatClient();

        var response = await client.GetResponseAsync("Describe the weather.", new ChatOptions { MaxOutputTokens = 12, Temperature = 0 });

        Assert.False(string.IsNullOrEmpty(response.Text));
        Assert.NotNull(response.Usage);
        Assert.True(response.Usage!.InputTokenCount > 0);
        Assert.InRange(response.Usage.OutputTokenCount!.Value, 1, 12);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_ExtensionsAiChatClient_MatchesNonStreamed()
    {
        using IChatClient client = CreateChatClient().AsIChatClient();
        var options = new ChatOptions { MaxOutputTokens = 12, Temperature = 0.7f, Seed = 7 };

        var whole = await client.GetResponseAsync("Count the people.", options);
        var streamed = await client.GetStreamingResponseAsync("Count the people.", options).ToChatResponseAsync();

        Assert.Equal(whole.Text, streamed.Text);
        Assert.Equal(whole.Usage?.OutputTokenCount, streamed.Usage?.OutputTokenCount);
    }

    public void Dispose() => _server.Logs.AssertNoErrors();

    private ChatClient CreateChatClient() =>
        new(EdgeServer.ModelId, new ApiKeyCredential("no-key-needed-on-loopback"), new OpenAIClientOptions { Endpoint = new Uri(_server.BaseAddress, "v1") });
}
