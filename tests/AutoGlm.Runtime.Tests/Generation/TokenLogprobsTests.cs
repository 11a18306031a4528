using AutoGlm.Runtime.Generation;
using AutoGlm.Runtime.Onnx;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging.Abstractions;

namespace AutoGlm.Runtime.Tests.Generation;

/// <summary>Log probabilities: the log-softmax itself, and what the engine reports against the decoder's own logits.</summary>
[Collection(TinyModelCollection.Name)]
public sealed class TokenLogprobsTests(TinyModelFixture model)
{
    [Fact]
    public void Score_WholeRow_ExpSumIsOneAndEachIsItsLogSoftmax()
    {
        var random = new Random(7);
        var row = Enumerable.Range(0, 1000).Select(_ => (float)(random.NextDouble() * 60 - 30)).ToArray();

        var scored = TokenLogprobs.Score(row, 17, row.Length);

        var logZ = Math.Log(row.Sum(x => Math.Exp(x - 30))) + 30;
        Assert.Equal(row.Length, scored.Top.Count);
        Assert.Equal(1, scored.Top.Sum(t => Math.Exp(t.Logprob)), 4);
        Assert.All(scored.Top, t => Assert.Equal(row[t.TokenId] - logZ, t.Logprob, 3));
        Assert.Equal(row[17] - logZ, scored.Logprob, 3);
    }

    [Fact]
    public void Score_TopN_TheNLargestMostLikelyFirst()
    {
        var random = new Random(11);
        var row = Enumerable.Range(0, 5000).Select(_ => (float)random.NextDouble()).ToArray();

        var scored = TokenLogprobs.Score(row, 0, 20);

        var expected = Enumerable.Range(0, row.Length).OrderByDescending(i => row[i]).Take(20);
        Assert.Equal(expected, scored.Top.Select(t => t.TokenId));
    }

    [Fact]
    public void Score_NegativeInfinityIds_HaveNoMass()
    {
        float[] row = [1, float.NegativeInfinity, 2, float.NegativeInfinity];

        var scored = TokenLogprobs.Score(row, 2, 2);

        Assert.Equal([2, 0], scored.Top.Select(t => t.TokenId));
        Assert.Equal(1, Math.Exp(scored.Top[0].Logprob) + Math.Exp(scored.Top[1].Logprob), 5);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_RawPromptWithLogprobs_MatchesDecoderLogitsAndIgnoresTemperature()
    {
        int[] prompt = [.. model.Engine.TokenizeRaw("Raw prompt for scoring", addSpecialTokens: true)];
        var reference = ReferenceLogprobs(prompt);

        var greedy = await FirstScoredAsync(prompt, temperature: 0);
        var hot = await FirstScoredAsync(prompt, temperature: 1.5f);

        var best = Enumerable.Range(0, reference.Length).OrderByDescending(i => reference[i]).Take(20).ToArray();
        Assert.Equal(best, greedy.Top.Select(t => t.TokenId));
        Assert.All(greedy.Top, t => Assert.Equal(reference[t.TokenId], t.Logprob, 3));
        Assert.Equal(best[0], greedy.TokenId);
        Assert.Equal(reference[greedy.TokenId], greedy.Logprob, 3);

        // The distribution reported is the model's, before temperature: the same at any temperature. The second run
        // reuses the first's cached prompt and recomputes only its last position, so the floats agree to rounding.
        Assert.Equal(greedy.Top.Select(t => t.TokenId), hot.Top.Select(t => t.TokenId));
        Assert.All(greedy.Top.Zip(hot.Top), pair => Assert.Equal(pair.First.Logprob, pair.Second.Logprob, 4));
        Assert.Equal(reference[hot.TokenId], hot.Logprob, 3);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_RawPromptWithMessages_InvalidRequest()
    {
        var options = new ChatOptions { AdditionalProperties = new() { [LocalEngine.PromptTokensProperty] = (IReadOnlyList<int>)[5, 6] } };

        var error = await Assert.ThrowsAsync<RuntimeException>(() => model.Engine.GetResponseAsync([new(ChatRole.User, "hi")], options));

        Assert.Equal(RuntimeErrorCode.InvalidRequest, error.Code);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_RawPromptUndefinedId_InvalidRequestNamingIt()
    {
        var options = new ChatOptions { AdditionalProperties = new() { [LocalEngine.PromptTokensProperty] = (IReadOnlyList<int>)[5, model.Engine.Tokenizer.VocabSize + 3] } };

        var error = await Assert.ThrowsAsync<RuntimeException>(() => model.Engine.GetResponseAsync([], options));

        Assert.Equal(RuntimeErrorCode.InvalidRequest, error.Code);
        Assert.Contains((model.Engine.Tokenizer.VocabSize + 3).ToString(System.Globalization.CultureInfo.InvariantCulture), error.Message, StringComparison.Ordinal);
    }

    private async Task<TokenScored> FirstScoredAsync(int[] prompt, float temperature)
    {
        var options = new ChatOptions
        {
            Temperature = temperature,
            Seed = 3,
            MaxOutputTokens = 1,
            AdditionalProperties = new() { [LocalEngine.PromptTokensProperty] = (IReadOnlyList<int>)prompt, [LocalEngine.LogprobsProperty] = 20 },
        };
        await foreach (var update in model.Engine.GetStreamingResponseAsync([], options))
        {
            if (update.AdditionalProperties?.TryGetValue(LocalEngine.LogprobsProperty, out var value) == true && value is TokenScored scored)
            {
                return scored;
            }
        }

        throw new InvalidOperationException("the engine reported no logprobs");
    }

    /// <summary>The decoder's logits after the prompt, through a session of our own, log-softmaxed in double over the ids the model can sample.</summary>
    private double[] ReferenceLogprobs(int[] prompt)
    {
        var package = model.Engine.Package;
        using var embedding = new TokenEmbedding(package);
        using var session = new DecoderSession(package, new EngineOptions { MaxBatchSize = 1 }, NullLogger.Instance);
        var hidden = embedding.HiddenSize;
        for (var start = 0; start < prompt.Length; start += session.PrefillChunk)
        {
            var count = Math.Min(session.PrefillChunk, prompt.Length - start);
            for (var t = 0; t < count; t++)
            {
                embedding.Lookup(prompt[start + t], session.Embeds(count).Slice(t * hidden, hidden));
            }

            session.Run(0, 1, count, [start]);
        }

        var logits = session.Logits(0).ToArray();
        var tokenizer = model.Engine.Tokenizer;
        var allowed = Enumerable.Range(0, logits.Length).Where(tokenizer.IsDefined).ToArray();
        var max = allowed.Max(i => (double)logits[i]);
        var logZ = max + Math.Log(allowed.Sum(i => Math.Exp(logits[i] - max)));
        var result = Enumerable.Repeat(double.NegativeInfinity, logits.Length).ToArray();
        foreach (var i in allowed)
        {
            result[i] = logits[i] - logZ;
        }

        return result;
    }
}
