using AutoGlm.Runtime.Generation;
using AutoGlm.Tests.Media;
using Microsoft.Extensions.AI;
using SkiaSharp;

namespace AutoGlm.Runtime.Tests.Generation;

/// <summary>Prefix KV reuse on the tiny synthetic model: what is reused, what is reported, and that answers never change.</summary>
[Collection(TinyModelCollection.Name)]
public sealed class PrefixCacheTests(TinyModelFixture model)
{
    private static readonly byte[] RedBlue = TestMedia.TwoColourImage(96, 64, SKColors.Red, SKColors.Blue, SKEncodedImageFormat.Jpeg);
    private static readonly byte[] Board = TestMedia.Checkerboard(64, 4);
    private static readonly byte[] Tone = TestMedia.Wav(TestMedia.Tone(440, 1.5, 16000), 16000);

    private static readonly string LongSystemPrompt = string.Join(' ', Enumerable.Range(0, 40).Select(i => $"rule {i}: answer plainly."));

    private static readonly ChatOptions Greedy = new() { Temperature = 0, MaxOutputTokens = 12 };

    private LocalEngine Load(bool prefixCache, int slots) =>
        LocalEngine.Load(model.Directory, new EngineOptions { MaxBatchSize = slots, PrefillChunkSize = 64, PrefixCache = prefixCache });

    private static ChatMessage[] WithSystem(string system, string user) => [new(ChatRole.System, system), new(ChatRole.User, user)];

    private static ChatMessage User(string text, params (byte[] Data, string Type)[] media) =>
        new(ChatRole.User, [.. media.Select(m => (AIContent)new DataContent(m.Data, m.Type)), new TextContent(text)]);

    private static int CachedOf(ChatResponse response) => (int)(response.Usage?.CachedInputTokenCount ?? -1);

    private static int CommonPrefix(IReadOnlyList<int> a, IReadOnlyList<int> b) => a.ToArray().AsSpan().CommonPrefixLength(b.ToArray());

    [Theory]
    [InlineData("text")]
    [InlineData("image")]
    [InlineData("audio")]
    public async Task GetResponseAsync_ConversationOfSeveralTurns_SameGreedyTextWithCacheOnAndOff(string kind)
    {
        (byte[], string)[] media = kind switch
        {
            "image" => [(RedBlue, "image/jpeg")],
            "audio" => [(Tone, "audio/wav")],
            _ => [],
        };
        string[] turns = ["Describe what you have.", "And then?", "Say it once more, shorter."];

        async Task<(List<string> Texts, List<int> Cached, List<int> Shared)> Converse(LocalEngine engine)
        {
            var messages = new List<ChatMessage> { new(ChatRole.System, "You are a careful assistant.") };
            var texts = new List<string>();
            var cached = new List<int>();
            var shared = new List<int>();
            IReadOnlyList<int> previous = [];
            for (var turn = 0; turn < turns.Length; turn++)
            {
                messages.Add(turn == 0 ? User(turns[turn], media) : User(turns[turn]));
                var prompt = engine.RenderPrompt(messages);
                shared.Add(CommonPrefix(previous, prompt));
                previous = prompt;
                var response = await engine.GetResponseAsync(messages, Greedy);
                texts.Add(response.Text);
                cached.Add(CachedOf(response));
                messages.Add(new ChatMessage(ChatRole.Assistant, response.Text));
            }

            return (texts, cached, shared);
        }

        using var on = Load(prefixCache: true, slots: 2);
        using var off = Load(prefixCache: false, slots: 2);

        var withCache = await Converse(on);
        var without = await Converse(off);

        Assert.Equal(without.Texts, withCache.Texts);
        Assert.All(without.Cached, c => Assert.Equal(0, c));
        Assert.Equal(0, withCache.Cached[0]);
        // Each later turn starts like the one before (media rows included): at least that much comes from the cache.
        for (var turn = 1; turn < turns.Length; turn++)
        {
            Assert.True(withCache.Shared[turn] > 10 && withCache.Cached[turn] >= withCache.Shared[turn], $"turn {turn}: cached {withCache.Cached[turn]}, shared {withCache.Shared[turn]}");
        }
    }

    [Fact]
    public async Task GetResponseAsync_SecondRequestWithTheSameLongSystemPrompt_ReportsTheSharedPrefixAsCached()
    {
        using var engine = Load(prefixCache: true, slots: 2);
        var first = WithSystem(LongSystemPrompt, "What is rule three?");
        var second = WithSystem(LongSystemPrompt, "Which rule comes last?");
        var shared = CommonPrefix(engine.RenderPrompt(first), engine.RenderPrompt(second));

        var one = await engine.GetResponseAsync(first, Greedy);
        var two = await engine.GetResponseAsync(second, Greedy);

        Assert.True(shared >= 100, $"the prompts share {shared} tokens");
        Assert.Equal(0, CachedOf(one));
        Assert.Equal(shared, CachedOf(two));
        Assert.Equal(engine.RenderPrompt(second).Count, two.Usage!.InputTokenCount);
    }

    [Fact]
    public async Task GetResponseAsync_SamePromptTwice_ReusesAllButTheLastTokenAndAnswersTheSame()
    {
        using var engine = Load(prefixCache: true, slots: 1);
        var messages = WithSystem(LongSystemPrompt, "Repeat after me.");
        var length = engine.RenderPrompt(messages).Count;

        var one = await engine.GetResponseAsync(messages, Greedy);
        var two = await engine.GetResponseAsync(messages, Greedy);

        // The last prompt position runs again: its logits are what the first answer token is sampled from.
        Assert.Equal(length - 1, CachedOf(two));
        Assert.Equal(one.Text, two.Text);
    }

    [Fact]
    public async Task GetResponseAsync_SlotReusedByADifferentPrompt_AnswersAsAFreshEngine()
    {
        ChatMessage[][] prompts =
        [
            WithSystem(LongSystemPrompt, "A long first question about rule seven, rule eight and rule nine, and how they differ from each other."),
            WithSystem(LongSystemPrompt, "A long"),
            WithSystem("Something else entirely.", "Hi"),
            [new(ChatRole.User, "No system prompt at all.")],
        ];
        var fresh = new List<string>();
        foreach (var prompt in prompts)
        {
            using var alone = Load(prefixCache: false, slots: 1);
            fresh.Add((await alone.GetResponseAsync(prompt, Greedy)).Text);
        }

        using var engine = Load(prefixCache: true, slots: 1);
        var reused = new List<string>();
        var cached = new List<int>();
        foreach (var prompt in prompts)
        {
            var response = await engine.GetResponseAsync(prompt, Greedy);
            reused.Add(response.Text);
            cached.Add(CachedOf(response));
        }

        Assert.Equal(fresh, reused);
        Assert.Equal(CommonPrefix(engine.RenderPrompt(prompts[0]), engine.RenderPrompt(prompts[1])), cached[1]);
        Assert.True(cached[1] > 100);
    }

    [Fact]
    public async Task GetResponseAsync_MoreConversationsThanSlots_EvictsTheLeastRecentlyUsed()
    {
        var conversations = new[] { "alpha", "bravo", "charlie" }
            .Select(name => WithSystem(string.Join(' ', Enumerable.Repeat($"You are {name}, who speaks of {name} only.", 8)), "Who are you?"))
            .ToArray();
        using var off = Load(prefixCache: false, slots: 2);
        var expected = new List<string>();
        foreach (var conversation in conversations)
        {
            expected.Add((await off.GetResponseAsync(conversation, Greedy)).Text);
        }

        using var engine = Load(prefixCache: true, slots: 2);
        var (alpha, bravo, charlie) = (conversations[0], conversations[1], conversations[2]);
        var texts = new List<string>();
        foreach (var conversation in new[] { alpha, bravo, charlie })
        {
            texts.Add((await engine.GetResponseAsync(conversation, Greedy)).Text);
        }

        // Two slots, three conversations: charlie took alpha's slot (the least recently used); bravo's is still there.
        var bravoAgain = await engine.GetResponseAsync(bravo, Greedy);
        var alphaAgain = await engine.GetResponseAsync(alpha, Greedy);

        Assert.Equal(expected, texts);
        Assert.Equal(expected[1], bravoAgain.Text);
        Assert.Equal(expected[0], alphaAgain.Text);
        Assert.Equal(engine.RenderPrompt(bravo).Count - 1, CachedOf(bravoAgain));
        var alphaPrompt = engine.RenderPrompt(alpha);
        var bestLeft = Math.Max(CommonPrefix(alphaPrompt, engine.RenderPrompt(bravo)), CommonPrefix(alphaPrompt, engine.RenderPrompt(charlie)));
        Assert.Equal(bestLeft, CachedOf(alphaAgain));
        Assert.True(bestLeft < 20, $"alpha shares {bestLeft} tokens with the others");
    }

    [Fact]
    public async Task GenerateAsync_SecondRequestWhileTheFirstRuns_CopiesTheSharedSystemPromptRows()
    {
        using var engine = Load(prefixCache: true, slots: 2);
        using var off = Load(prefixCache: false, slots: 2);
        var first = engine.RenderPrompt(WithSystem(LongSystemPrompt, "Keep talking."));
        var second = engine.RenderPrompt(WithSystem(LongSystemPrompt, "Which rule comes last?"));
        var shared = CommonPrefix(first, second);
        var sampling = new SamplingParameters { Temperature = 0 };
        using var stop = new CancellationTokenSource();

        // The first holds its slot (generating through stop tokens) while the second arrives: the second must copy.
        await using var running = engine.GenerateAsync(first, engine.ContextLength - first.Count, sampling, ignoreStopTokens: true, stop.Token).GetAsyncEnumerator();
        Assert.True(await running.MoveNextAsync());
        var done = await CompletionOf(engine.GenerateAsync(second, 12, sampling, ignoreStopTokens: true));
        var reference = await CompletionOf(off.GenerateAsync(second, 12, sampling, ignoreStopTokens: true));
        Assert.Equal(1, engine.ActiveSequences);
        await stop.CancelAsync();

        Assert.True(shared >= 100);
        Assert.Equal(shared, done.Completed.CachedPromptTokens);
        Assert.Equal(0, reference.Completed.CachedPromptTokens);
        Assert.Equal(reference.Text, done.Text);
    }

    [Fact]
    public async Task GetResponseAsync_SameImageTwice_ReusesTheImageRowsWithoutEncodingAgain()
    {
        using var engine = Load(prefixCache: true, slots: 1);
        ChatMessage[] Ask(string text) => [User(text, (RedBlue, "image/jpeg"))];
        long Encodes() => engine.Adapters.Single(a => a.Name == "vision").Encodes;
        var request = engine.CreateRequest(Ask("What is in it?"), Greedy, CancellationToken.None);
        var image = request.Media.Single();

        await engine.GetResponseAsync(Ask("What is in it?"), Greedy);
        var encodedOnce = Encodes();
        var second = await engine.GetResponseAsync(Ask("And which colour is left?"), Greedy);

        Assert.Equal(1, encodedOnce);
        Assert.Equal(1, Encodes());
        Assert.True(CachedOf(second) >= image.Start + image.Rows, $"cached {CachedOf(second)}; the image ends at {image.Start + image.Rows}");
    }

    [Fact]
    public async Task GetResponseAsync_DifferentImageSameText_ReusesOnlyTheTextBeforeTheImage()
    {
        using var engine = Load(prefixCache: true, slots: 1);
        using var off = Load(prefixCache: false, slots: 1);
        ChatMessage[] Ask(byte[] image, string type) => [User("What is in it?", (image, type))];
        var request = engine.CreateRequest(Ask(Board, "image/png"), Greedy, CancellationToken.None);
        var boardStart = request.Media.Single().Start;
        Assert.Equal(engine.RenderPrompt(Ask(RedBlue, "image/jpeg")), request.PromptTokens);

        await engine.GetResponseAsync(Ask(RedBlue, "image/jpeg"), Greedy);
        var board = await engine.GetResponseAsync(Ask(Board, "image/png"), Greedy);
        var reference = await off.GetResponseAsync(Ask(Board, "image/png"), Greedy);

        // Same token ids everywhere (the placeholders too), but the frames differ: the match ends at the first placeholder.
        Assert.Equal(boardStart, CachedOf(board));
        Assert.Equal(reference.Text, board.Text);
    }

    [Fact]
    public void KeysOf_SameFrameAndDifferentFrame_MatchOnlyForTheSameFrame()
    {
        long[] KeysFor(byte[] image, string type) => PrefixCache.KeysOf(model.Engine.CreateRequest([User("x", (image, type))], Greedy, CancellationToken.None));

        var once = KeysFor(RedBlue, "image/jpeg");
        var again = KeysFor(RedBlue, "image/jpeg");
        var other = KeysFor(Board, "image/png");
        var start = model.Engine.CreateRequest([User("x", (Board, "image/png"))], Greedy, CancellationToken.None).Media.Single().Start;

        Assert.Equal(once, again);
        Assert.Equal(start, once.AsSpan().CommonPrefixLength(other));
        Assert.All(once.Skip(start).Take(16), key => Assert.True(key < 0));
    }

    [Theory]
    [InlineData("int8", "must be float32 or float16")]
    [InlineData("bfloat16", "must be float32 or float16")]
    public void Load_UnknownKvCacheType_InvalidRequestNamingTheKey(string type, string reason)
    {
        var error = Assert.Throws<RuntimeException>(() => LocalEngine.Load(model.Directory, new EngineOptions { KvCacheType = type }));

        Assert.Equal(RuntimeErrorCode.InvalidRequest, error.Code);
        Assert.Contains("Runtime:KvCacheType", error.Message);
        Assert.Contains(reason, error.Message);
    }

    [Fact]
    public void KvCacheBytes_ConfiguredSlotsAndContext_IsSlotsTimesContextTimesLayersTimesTwoTimesKvHeadsTimesHeadSizeTimesFour()
    {
        var options = new EngineOptions { MaxBatchSize = 3, MaxSequenceLength = 512 };
        using var engine = LocalEngine.Load(model.Directory, options);
        var a = model.Manifest.Architecture;

        Assert.Equal(3L * 512 * a.Layers * 2 * a.NumKvHeads * a.HeadSize * 4, engine.KvCacheBytes);
        Assert.Equal(engine.KvCacheBytes, options.KvCacheBytes(a));
    }

    private static async Task<(GenerationCompleted Completed, string Text)> CompletionOf(IAsyncEnumerable<GenerationEvent> stream)
    {
        GenerationCompleted? completed = null;
        var text = new System.Text.StringBuilder();
        await foreach (var item in stream)
        {
            switch (item)
            {
                case TextGenerated t:
                    text.Append(t.Text);
                    break;
                case GenerationCompleted c:
                    completed = c;
                    break;
            }
        }

        return (completed ?? throw new InvalidOperationException("no completion"), text.ToString());
    }
}
