using AutoGlm.Runtime.Generation;
using Microsoft.Extensions.AI;

namespace AutoGlm.Runtime.Tests.Generation;

[Collection(TinyModelCollection.Name)]
public sealed class LocalEngineTests(TinyModelFixture model)
{
    private static readonly ChatMessage[] Hello = [new(ChatRole.User, "Hello, what do you see?")];

    private LocalEngine Engine => model.Engine;

    [Fact]
    public async Task GetResponseAsync_Greedy_ProducesTextAndUsage()
    {
        var response = await Engine.GetResponseAsync(Hello, new ChatOptions { Temperature = 0, MaxOutputTokens = 12 });

        Assert.False(string.IsNullOrEmpty(response.Text));
        Assert.NotNull(response.Usage);
        Assert.Equal(Engine.RenderPrompt(Hello).Count, response.Usage!.InputTokenCount);
        Assert.InRange(response.Usage.OutputTokenCount!.Value, 1, 12);
        Assert.NotNull(response.FinishReason);
    }

    [Fact]
    public async Task GetResponseAsync_SameSeed_SameText()
    {
        var options = new ChatOptions { Temperature = 1, Seed = 42, MaxOutputTokens = 24 };

        var first = await Engine.GetResponseAsync(Hello, options);
        var second = await Engine.GetResponseAsync(Hello, options);

        Assert.Equal(first.Text, second.Text);
    }

    [Fact]
    public async Task GetResponseAsync_DifferentSeedsAtTemperatureOne_DifferentText()
    {
        var texts = new HashSet<string>();
        foreach (var seed in new long[] { 1, 2, 3 })
        {
            texts.Add((await Engine.GetResponseAsync(Hello, new ChatOptions { Temperature = 1, Seed = seed, MaxOutputTokens = 24 })).Text);
        }

        Assert.Equal(3, texts.Count);
    }

    [Fact]
    public async Task GetResponseAsync_MaxTokens_EndsWithLength()
    {
        var response = await Engine.GetResponseAsync(Hello, new ChatOptions { Temperature = 0, MaxOutputTokens = 3 });

        // Greedy on this prompt does not pick a stop token within three tokens.
        Assert.Equal(ChatFinishReason.Length, response.FinishReason);
        Assert.Equal(3, response.Usage!.OutputTokenCount);
    }

    [Fact]
    public async Task GenerateAsync_IgnoringStopTokens_MakesExactlyMaxTokens()
    {
        var prompt = Engine.RenderPrompt(Hello);
        GenerationCompleted? done = null;
        await foreach (var item in Engine.GenerateAsync(prompt, 40, new SamplingParameters { Temperature = 0 }, ignoreStopTokens: true))
        {
            done = item as GenerationCompleted ?? done;
        }

        Assert.NotNull(done);
        Assert.Equal(FinishReason.Length, done!.Reason);
        Assert.Equal(40, done.CompletionTokens);
        Assert.True(done.Timings.TimeToFirstTokenMs > 0);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_ConcurrentGreedyRequests_EachGetsTheTextItWouldGetAlone()
    {
        ChatMessage[][] prompts =
        [
            [new(ChatRole.User, "Describe the garden.")],
            [new(ChatRole.User, "什么是边缘计算？")],
            [new(ChatRole.System, "Be terse."), new(ChatRole.User, "Count to ten.")],
            [new(ChatRole.User, "A much longer question that takes more prompt tokens than the others, so that its prefill overlaps the other sequences' decoding steps in the batch.")],
            [new(ChatRole.User, "Hi")],
            [new(ChatRole.User, "Is the door open? 🚪")],
        ];
        var options = new ChatOptions { Temperature = 0, MaxOutputTokens = 32 };
        var alone = new List<string>();
        foreach (var prompt in prompts)
        {
            alone.Add((await Engine.GetResponseAsync(prompt, options)).Text);
        }

        // Six requests on four slots: they batch, queue, join and leave the batch at different steps.
        var together = await Task.WhenAll(prompts.Select(async prompt =>
        {
            var text = new System.Text.StringBuilder();
            await foreach (var update in Engine.GetStreamingResponseAsync(prompt, options))
            {
                text.Append(update.Text);
            }

            return text.ToString();
        }));

        Assert.Equal(alone, together);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_Thinking_StreamsReasoningSeparately()
    {
        var options = new ChatOptions
        {
            Temperature = 0,
            MaxOutputTokens = 16,
            AdditionalProperties = new() { [LocalEngine.EnableThinkingProperty] = true },
        };

        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in Engine.GetStreamingResponseAsync(Hello, options))
        {
            updates.Add(update);
        }

        // The template opens <think>, so what the model says first is reasoning.
        var reasoning = string.Concat(updates.SelectMany(u => u.Contents).OfType<TextReasoningContent>().Select(r => r.Text));
        Assert.NotEmpty(reasoning);
        Assert.Equal(Engine.RenderPrompt(Hello, options).Count, Engine.RenderPrompt(Hello).Count - 2);
    }

    [Fact]
    public async Task GetResponseAsync_PromptLongerThanContext_ContextLengthExceeded()
    {
        var longText = string.Join(' ', Enumerable.Repeat("word", Engine.ContextLength + 10));

        var error = await Assert.ThrowsAsync<RuntimeException>(() => Engine.GetResponseAsync([new ChatMessage(ChatRole.User, longText)]));

        Assert.Equal(RuntimeErrorCode.ContextLengthExceeded, error.Code);
        Assert.Equal("context_length_exceeded", error.WireCode);
        Assert.Contains($"the context holds {Engine.ContextLength}", error.Message);
    }

    [Fact]
    public async Task GetResponseAsync_MaxTokensBeyondContext_ContextLengthExceeded()
    {
        var error = await Assert.ThrowsAsync<RuntimeException>(() => Engine.GetResponseAsync(Hello, new ChatOptions { MaxOutputTokens = Engine.ContextLength }));

        Assert.Equal(RuntimeErrorCode.ContextLengthExceeded, error.Code);
    }

    [Theory]
    [InlineData(-0.5f, null, null, "temperature")]
    [InlineData(null, 0f, null, "top_p")]
    [InlineData(null, null, 0, "max_tokens")]
    public async Task GetResponseAsync_BadOptions_InvalidRequestNamingTheField(float? temperature, float? topP, int? maxTokens, string field)
    {
        var options = new ChatOptions { Temperature = temperature, TopP = topP, MaxOutputTokens = maxTokens };

        var error = await Assert.ThrowsAsync<RuntimeException>(() => Engine.GetResponseAsync(Hello, options));

        Assert.Equal(RuntimeErrorCode.InvalidRequest, error.Code);
        Assert.Contains(field, error.Message);
    }

    [Fact]
    public async Task GetResponseAsync_ThreeBytesCalledJpeg_UnsupportedMediaNamingTheImage()
    {
        var message = new ChatMessage(ChatRole.User, [new TextContent("What is this?"), new DataContent(new byte[] { 0xFF, 0xD8, 0xFF }, "image/jpeg")]);

        var error = await Assert.ThrowsAsync<RuntimeException>(() => Engine.GetResponseAsync([message]));

        Assert.Equal(RuntimeErrorCode.UnsupportedMedia, error.Code);
        Assert.StartsWith("the image 1", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_CallerStopsReading_SlotIsFreed()
    {
        var options = new ChatOptions { Temperature = 0, MaxOutputTokens = 500 };
        using var cancel = new CancellationTokenSource();
        var received = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var update in Engine.GetStreamingResponseAsync(Hello, options, cancel.Token))
            {
                if (++received == 3)
                {
                    await cancel.CancelAsync();
                }
            }
        });

        await WaitUntil(() => Engine.ActiveSequences == 0 && Engine.QueueDepth == 0);
        var after = await Engine.GetResponseAsync(Hello, new ChatOptions { Temperature = 0, MaxOutputTokens = 4 });
        Assert.NotNull(after.Usage);
    }

    [Fact]
    public async Task Load_UnavailableExecutionProvider_FallsBackToCpu()
    {
        using var engine = LocalEngine.Load(model.Directory, new EngineOptions { ExecutionProvider = "tensorrt", MaxBatchSize = 1 });

        Assert.Equal("cpu", engine.ExecutionProvider);
        var response = await engine.GetResponseAsync(Hello, new ChatOptions { Temperature = 0, MaxOutputTokens = 4 });
        Assert.NotNull(response.Usage);
    }

    [Fact]
    public async Task Response_EngineOnAnInjectedClock_IsStampedWithThatClocksTime()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(new DateTimeOffset(2031, 5, 6, 7, 8, 9, TimeSpan.Zero));
        using var engine = LocalEngine.Load(model.Directory, new EngineOptions { MaxBatchSize = 1 }, timeProvider: time);

        var response = await engine.GetResponseAsync(Hello, new ChatOptions { Temperature = 0, MaxOutputTokens = 2 });

        Assert.Equal(time.GetUtcNow(), response.CreatedAt);
    }

    [Fact]
    public async Task SinceLastProgress_IdleEngine_IsZero()
    {
        using var engine = LocalEngine.Load(model.Directory, new EngineOptions { MaxBatchSize = 1 });
        await engine.GetResponseAsync(Hello, new ChatOptions { Temperature = 0, MaxOutputTokens = 2 });

        // Waiting for work is not a stall: a watchdog must not restart an idle daemon.
        await WaitUntil(() => engine.SinceLastProgress == TimeSpan.Zero);
        await Task.Delay(50);
        Assert.Equal(TimeSpan.Zero, engine.SinceLastProgress);
    }

    [Fact]
    public async Task Dispose_FromInsideAStreamOnTheInferenceThread_EndsTheStreamWithoutDeadlock()
    {
        var engine = LocalEngine.Load(model.Directory, new EngineOptions { MaxBatchSize = 1 });
        var prompt = engine.RenderPrompt(Hello);
        var seen = 0;

        var reading = Task.Run(async () =>
        {
            await foreach (var item in engine.GenerateAsync(prompt, 200, new SamplingParameters { Temperature = 0 }, ignoreStopTokens: true))
            {
                if (++seen == 2)
                {
                    engine.Dispose();
                }
            }
        });

        var error = await Assert.ThrowsAsync<RuntimeException>(() => reading.WaitAsync(TimeSpan.FromSeconds(60)));
        Assert.Equal(RuntimeErrorCode.ModelUnavailable, error.Code);
        Assert.Contains("disposed", error.Message);
    }

    [Fact]
    public void Load_UnknownExecutionProvider_InvalidRequestNamingTheKey()
    {
        var error = Assert.Throws<RuntimeException>(() => LocalEngine.Load(model.Directory, new EngineOptions { ExecutionProvider = "npu" }));

        Assert.Contains("Runtime:ExecutionProvider", error.Message);
    }

    [Fact]
    public async Task Enqueue_QueueFull_Overloaded()
    {
        using var engine = LocalEngine.Load(model.Directory, new EngineOptions { MaxBatchSize = 1, MaxQueueLength = 1 });
        var prompt = engine.RenderPrompt(Hello);
        using var cancel = new CancellationTokenSource();
        IAsyncEnumerator<GenerationEvent> Start() =>
            engine.GenerateAsync(prompt, engine.ContextLength - prompt.Count, new SamplingParameters { Temperature = 0 }, ignoreStopTokens: true, cancel.Token).GetAsyncEnumerator();

        // One request holds the only slot, one waits in the queue of one, the next two are refused at once.
        var running = Start();
        var firstStep = running.MoveNextAsync().AsTask();
        await WaitUntil(() => engine.ActiveSequences == 1);
        var waiting = Start();
        var waitingStep = waiting.MoveNextAsync().AsTask();
        var refused = new[] { Start(), Start() }.Select(s => s.MoveNextAsync().AsTask()).ToList();

        Assert.All(refused, step => Assert.True(step.IsFaulted && step.Exception!.InnerException is RuntimeException { Code: RuntimeErrorCode.Overloaded }));
        Assert.False(waitingStep.IsCompleted);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await firstStep;
            await DrainAsync(running);
        });
        // Cancelled while waiting, or (on a slow machine, if the first one finished first) while running.
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await waitingStep;
            await DrainAsync(waiting);
        });
        await WaitUntil(() => engine.ActiveSequences == 0 && engine.QueueDepth == 0);
    }

    private static async Task DrainAsync(IAsyncEnumerator<GenerationEvent> stream)
    {
        while (await stream.MoveNextAsync())
        {
        }
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (!condition())
        {
            await Task.Delay(10, timeout.Token);
        }
    }
}
