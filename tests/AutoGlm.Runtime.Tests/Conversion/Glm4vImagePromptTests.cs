using AutoGlm.Runtime.Conversion;
using AutoGlm.Runtime.Generation;
using AutoGlm.Runtime.Modalities;
using AutoGlm.Runtime.Onnx;
using AutoGlm.Runtime.Packages;
using AutoGlm.Tests.Media;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging.Abstractions;

namespace AutoGlm.Runtime.Tests.Conversion;

/// <summary>
/// GLM-4.1V end to end on a tiny random checkpoint: an image in the middle of text goes through the converted vision
/// adapter and the M-RoPE decoder, against the float64 PyTorch forward of <c>glm4v_reference.py</c> (vision tower,
/// <c>get_rope_index</c>, <c>apply_multimodal_rotary_pos_emb</c>).
/// </summary>
public sealed class Glm4vImagePromptTests : IDisposable
{
    private const int ImageToken = 312, BeginImage = 310, EndImage = 311;
    private readonly string _root = Path.Combine(Path.GetTempPath(), "autoglm-tests", "glm4v-prompt-" + Guid.NewGuid().ToString("N")[..8]);

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    [Theory]
    [InlineData(150, 100)]   // 8×10 patches: a 4×5 merged grid, wider than tall
    [InlineData(60, 170)]    // a tall one
    public void Convert_ImageBetweenTextThenEightDecodeSteps_LogitsMatchPyTorch(int width, int height)
    {
        var checkpoint = Path.Combine(_root, "checkpoint");
        Glm4vReference.MakeCheckpoint(checkpoint);
        var packageDir = Path.Combine(_root, "package");
        CheckpointConverter.Convert(checkpoint, packageDir, new ConversionOptions { Weights = "fp32", AccuracyLevel = 0 });
        var package = ModelPackage.Load(packageDir);
        Assert.Equal([2, 3, 3], package.Manifest.Architecture.MropeSection);
        Assert.Equal(ImageToken, package.Manifest.Tokenizer.SpecialTokens["<|image|>"]);
        var info = package.Manifest.Adapters!.Vision!;
        var image = new ImagePreprocessor(info, new MediaLimits()).Prepare(TestMedia.NoiseImage(width, height, seed: 5));
        var grid = image.Grid!;
        using var adapter = new AdapterSession("vision", package, info.Model, info.InputName, info.OutputName, new EngineOptions(), TimeProvider.System, NullLogger.Instance);
        var segment = MediaSegment.ForGrid(adapter, image.Pixels, grid, info.Smart!);
        segment.Encode();

        int[] before = [302, 304, 307, 104, 101, 108, 108, 111, BeginImage];
        int[] after = [EndImage, 32, 119, 111, 114, 108, 100, 308];
        List<int> tokens = [.. before, .. Enumerable.Repeat(ImageToken, grid.Tokens), .. after];
        segment.Start = before.Length;
        var positions = MropePositions.For(tokens.Count, [(segment.Start, grid.TokenRows, grid.TokenColumns)]);

        var hidden = package.Manifest.Architecture.HiddenSize;
        using var embedding = new TokenEmbedding(package);
        using var session = new DecoderSession(package, new EngineOptions { MaxBatchSize = 1, PrefillChunkSize = 64 }, NullLogger.Instance);
        Assert.True(session.MultimodalRotary);
        var embeds = session.Embeds(tokens.Count);
        for (var t = 0; t < tokens.Count; t++)
        {
            embedding.Lookup(tokens[t], embeds.Slice(t * hidden, hidden));
        }

        MediaSegment.Splice([segment], 0, tokens.Count, hidden, embeds);
        var prompt = tokens.Count;
        session.Run(0, 1, prompt, [0], [.. Enumerable.Range(0, prompt).Select(i => positions[i])]);
        var actual = new List<float[]> { session.Logits(0).ToArray() };
        for (var step = 0; step < 8; step++)
        {
            var next = Array.IndexOf(actual[^1], actual[^1].Max());
            tokens.Add(next);
            embedding.Lookup(next, session.Embeds(1));
            session.Run(0, 1, 1, [tokens.Count - 1], [positions[tokens.Count - 1]]);
            actual.Add(session.Logits(0).ToArray());
        }

        var pixelsFile = Path.Combine(_root, "pixels.f32");
        File.WriteAllBytes(pixelsFile, System.Runtime.InteropServices.MemoryMarshal.AsBytes(image.Pixels.AsSpan()).ToArray());
        var expected = Glm4vReference.Logits(checkpoint, pixelsFile, grid.Rows, grid.Columns, tokens, prompt - 1);
        Assert.Equal(actual.Count, expected.Length);
        for (var i = 0; i < actual.Count; i++)
        {
            Glm4vVisionConversionTests.AssertClose(expected[i], actual[i], 1e-3, 0.99999, i == 0 ? "after the prompt" : $"at decode step {i}");
        }
    }

    /// <summary>
    /// Through the engine's front: template, preprocessing, the scheduler's chunked prefill (the image spans chunks)
    /// and M-RoPE positions. Greedy tokens equal the reference's argmax at every step; the same request again (its
    /// prefix, image included, reused from the cache) and beside a text request (a batch of two) answers the same.
    /// </summary>
    [Fact]
    public async Task Engine_ImageBetweenText_GreedyTokensMatchPyTorch_AgainAndBatched()
    {
        var checkpoint = Path.Combine(_root, "checkpoint");
        Glm4vReference.MakeCheckpoint(checkpoint);
        var packageDir = Path.Combine(_root, "package");
        CheckpointConverter.Convert(checkpoint, packageDir, new ConversionOptions { Weights = "fp32", AccuracyLevel = 0 });
        using var engine = LocalEngine.Load(packageDir, new EngineOptions { MaxBatchSize = 2, PrefillChunkSize = 16 });
        var png = TestMedia.NoiseImage(150, 100, seed: 9);
        ChatMessage[] messages = [new(ChatRole.User, [new TextContent("hello "), new DataContent(png, "image/png"), new TextContent(" world")])];
        var prompt = engine.RenderPrompt(messages);

        var first = await GreedyIds(engine, messages);

        var info = engine.Package.Manifest.Adapters!.Vision!;
        var image = new ImagePreprocessor(info, new MediaLimits()).Prepare(png);
        var pixelsFile = Path.Combine(_root, "pixels.f32");
        File.WriteAllBytes(pixelsFile, System.Runtime.InteropServices.MemoryMarshal.AsBytes(image.Pixels.AsSpan()).ToArray());
        Assert.Equal(image.Grid!.Tokens, prompt.Count(t => t == ImageToken));
        var expected = Glm4vReference.Logits(checkpoint, pixelsFile, image.Grid.Rows, image.Grid.Columns, [.. prompt, .. first], prompt.Count - 1);
        Assert.NotEmpty(first);
        for (var i = 0; i < first.Count; i++)
        {
            Assert.Equal(Array.IndexOf(expected[i], expected[i].Max()), first[i]);
        }

        var again = await GreedyIds(engine, messages);
        var beside = GreedyIds(engine, [new ChatMessage(ChatRole.User, "hello world hello world")]);
        var batched = GreedyIds(engine, messages);
        await Task.WhenAll(beside, batched);
        Assert.Equal(first, again);
        Assert.Equal(first, await batched);
    }

    private static async Task<List<int>> GreedyIds(LocalEngine engine, ChatMessage[] messages)
    {
        var options = new ChatOptions { Temperature = 0, MaxOutputTokens = 8, AdditionalProperties = new() { [LocalEngine.LogprobsProperty] = 0 } };
        var ids = new List<int>();
        await foreach (var update in engine.GetStreamingResponseAsync(messages, options))
        {
            if (update.AdditionalProperties?.TryGetValue(LocalEngine.LogprobsProperty, out var value) == true && value is TokenScored scored)
            {
                ids.Add(scored.TokenId);
            }
        }

        return ids;
    }

    [Fact]
    public void For_TextImageTextImageText_MatchesGetRopeIndex()
    {
        // two images (merged grids 2×3 and 4×1) between text runs, the second right after one text token
        var first = (Start: 3, Rows: 2, Columns: 3);
        var second = (Start: 3 + 6 + 1, Rows: 4, Columns: 1);
        var tokens = new List<int> { 1, 2, 3 };
        tokens.AddRange(Enumerable.Repeat(ImageToken, 6));
        tokens.Add(4);
        tokens.AddRange(Enumerable.Repeat(ImageToken, 4));
        tokens.AddRange([5, 6, 7]);

        var positions = MropePositions.For(tokens.Count, [first, second]);

        var expected = Glm4vReference.RopeIndex(tokens, [(first.Rows * 2, first.Columns * 2), (second.Rows * 2, second.Columns * 2)], ImageToken);
        Assert.Equal(expected[0], Enumerable.Range(0, tokens.Count).Select(i => (long)positions[i].Temporal));
        Assert.Equal(expected[1], Enumerable.Range(0, tokens.Count).Select(i => (long)positions[i].Height));
        Assert.Equal(expected[2], Enumerable.Range(0, tokens.Count).Select(i => (long)positions[i].Width));
        // decode continues from the largest position + 1, in all three streams
        var last = expected.Max(stream => stream.Max());
        Assert.Equal(MropePosition.Text((int)last + 1), positions[tokens.Count]);
    }

    [Fact]
    public void For_TextOnly_IsSequential()
    {
        var positions = MropePositions.For(5, []);

        Assert.Equal(0, positions.Delta);
        Assert.Equal(Enumerable.Range(0, 7).Select(MropePosition.Text), Enumerable.Range(0, 7).Select(i => positions[i]));
    }
}
