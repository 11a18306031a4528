using AutoGlm.Runtime.Generation;
using Microsoft.Extensions.AI;

namespace AutoGlm.Runtime.Tests.Generation;

[Collection(TinyModelCollection.Name)]
public sealed class LocalEngineTests(TinyModelFixture model)
{
    private static readonly ChatMessage[] Hello = [new(ChatRole.User, "Hello, what do you see?")];

    [Fact]
    public async Task GetResponseAsync_Greedy_ProducesTextAndUsage()
    {
        var response = await model.Engine.GetResponseAsync(Hello, new ChatOptions { Temperature = 0, MaxOutputTokens = 12 });

        Assert.False(string.IsNullOrEmpty(response.Text));
        Assert.NotNull(response.Usage);
        Assert.Equal(model.Engine.RenderPrompt(Hello).Count, response.Usage!.InputTokenCount);
        Assert.InRange(response.Usage.OutputTokenCount!.Value, 1, 12);
    }
}
