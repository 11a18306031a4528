using AutoGlm.Runtime.Generation;

namespace AutoGlm.Runtime.Tests.Generation;

public sealed class TokenSamplerTests
{
    private static readonly bool[] AllAllowed = Enumerable.Repeat(true, 8).ToArray();

    [Fact]
    public void Next_TemperatureZero_PicksTheLargestLogit()
    {
        var sampler = new TokenSampler(new SamplingParameters { Temperature = 0 }, AllAllowed, []);

        Assert.Equal(3, sampler.Next(new float[] { 0, 1, 2, 5, 4, 3, 2, 1 }));
    }

    [Fact]
    public void Next_DisallowedToken_NeverChosen()
    {
        var allowed = AllAllowed.ToArray();
        allowed[3] = false;
        var sampler = new TokenSampler(new SamplingParameters { Temperature = 0 }, allowed, []);

        Assert.Equal(4, sampler.Next(new float[] { 0, 1, 2, 5, 4, 3, 2, 1 }));
    }

    [Fact]
    public void Next_TopK1_IsGreedyEvenAtHighTemperature()
    {
        var sampler = new TokenSampler(new SamplingParameters { Temperature = 2, TopK = 1, Seed = 5 }, AllAllowed, []);

        for (var i = 0; i < 20; i++)
        {
            Assert.Equal(3, sampler.Next(new float[] { 0, 1, 2, 5, 4, 3, 2, 1 }));
        }
    }

    [Fact]
    public void Next_TopP_OnlyDrawsFromTheNucleus()
    {
        // Probabilities ~ 0.64, 0.24, 0.09, ...: top_p 0.8 keeps exactly the first two.
        var sampler = new TokenSampler(new SamplingParameters { Temperature = 1, TopP = 0.8f, Seed = 11 }, AllAllowed, []);
        var seen = new HashSet<int>();
        for (var i = 0; i < 300; i++)
        {
            seen.Add(sampler.Next(new float[] { 3, 2, 1, 0, -1, -2, -3, -4 }));
        }

        Assert.Equal([0, 1], seen.Order());
    }

    [Fact]
    public void Next_SameSeed_SameDraws()
    {
        int[] Draw(long seed)
        {
            var sampler = new TokenSampler(new SamplingParameters { Temperature = 1, Seed = seed }, AllAllowed, []);
            return [.. Enumerable.Range(0, 50).Select(_ => sampler.Next(new float[] { 1, 1, 1, 1, 1, 1, 1, 1 }))];
        }

        Assert.Equal(Draw(3), Draw(3));
        Assert.NotEqual(Draw(3), Draw(4));
    }

    [Fact]
    public void Next_FrequencyPenalty_StopsRepeatingTheSameToken()
    {
        var sampler = new TokenSampler(new SamplingParameters { Temperature = 0, FrequencyPenalty = 1.5f }, AllAllowed, []);
        float[] Logits() => [0, 0, 0, 2, 1, 0, 0, 0];

        Assert.Equal(3, sampler.Next(Logits()));
        Assert.Equal(4, sampler.Next(Logits()));  // 2 - 1.5 < 1
    }

    [Fact]
    public void Next_RepetitionPenalty_AppliesToPromptTokens()
    {
        var sampler = new TokenSampler(new SamplingParameters { Temperature = 0, RepetitionPenalty = 3f }, AllAllowed, [3]);

        Assert.Equal(4, sampler.Next(new float[] { 0, 0, 0, 2, 1, 0, 0, 0 }));  // 2 / 3 < 1
    }

    [Theory]
    [InlineData(-1f, 1f, "temperature")]
    [InlineData(1f, 0f, "top_p")]
    [InlineData(1f, 1.5f, "top_p")]
    [InlineData(float.NaN, 1f, "temperature")]
    public void Validate_BadValues_NameTheField(float temperature, float topP, string field)
    {
        var problems = new SamplingParameters { Temperature = temperature, TopP = topP }.Validate().ToList();

        Assert.Contains(problems, p => p.StartsWith(field, StringComparison.Ordinal));
    }
}
