using AutoGlm.Runtime.Building;
using AutoGlm.Runtime.Generation;
using AutoGlm.Runtime.Modalities;
using AutoGlm.Runtime.Onnx;
using AutoGlm.Runtime.Packages;
using AutoGlm.Runtime.Text;
using AutoGlm.Tests.Media;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Microsoft.ML.OnnxRuntime;
using SkiaSharp;

namespace AutoGlm.Runtime.Tests.Modalities;

[Collection(TinyModelCollection.Name)]
public sealed class MultimodalEngineTests(TinyModelFixture model)
{
    private static readonly byte[] RedBlue = TestMedia.TwoColourImage(96, 64, SKColors.Red, SKColors.Blue, SKEncodedImageFormat.Jpeg);
    private static readonly byte[] Board = TestMedia.Checkerboard(64, 4);
    private static readonly byte[] Tone = TestMedia.Wav(TestMedia.Tone(440, 1.5, 16000), 16000);
    private static readonly byte[] Chirp = TestMedia.Wav([.. Enumerable.Range(0, 24000).Select(i => 0.4f * (float)Math.Sin(2 * Math.PI * (200 + (i / 10.0)) * i / 16000))], 16000);

    private LocalEngine Engine => model.Engine;

    private static ChatMessage[] Ask(string prompt, params (byte[] Data, string Type)[] media) =>
        [new(ChatRole.User, [.. media.Select(m => (AIContent)new DataContent(m.Data, m.Type)), new TextContent(prompt)])];

    private async Task<string> Answer(ChatMessage[] messages, int seed = 7) =>
        (await Engine.GetResponseAsync(messages, new ChatOptions { Temperature = 1, Seed = seed, MaxOutputTokens = 16 })).Text;

    [Fact]
    public async Task Image_AnswerDependsOnTheImage()
    {
        var first = await Answer(Ask("What is in this picture?", (RedBlue, "image/jpeg")));
        var again = await Answer(Ask("What is in this picture?", (RedBlue, "image/jpeg")));
        var other = await Answer(Ask("What is in this picture?", (Board, "image/png")));

        Assert.Equal(first, again);
        Assert.NotEqual(first, other);
    }

    [Fact]
    public async Task Audio_AnswerDependsOnTheClip()
    {
        var first = await Answer(Ask("Transcribe this.", (Tone, "audio/wav")));
        var again = await Answer(Ask("Transcribe this.", (Tone, "audio/wav")));
        var other = await Answer(Ask("Transcribe this.", (Chirp, "audio/wav")));

        Assert.Equal(first, again);
        Assert.NotEqual(first, other);
    }

    [Fact]
    public async Task Usage_CountsTheAdapterRows_AndRenderPromptEstimatesThem()
    {
        var messages = Ask("Both, please.", (RedBlue, "image/jpeg"), (Tone, "audio/wav"));
        var textOnly = Engine.RenderPrompt(Ask("Both, please.")).Count;

        var response = await Engine.GetResponseAsync(messages, new ChatOptions { Temperature = 0, MaxOutputTokens = 2 });

        // 16 rows per 64-pixel image; 1.5 s of audio = 150 frames → 19 rows of 8; plus two begin and two end markers.
        Assert.Equal(textOnly + 16 + 19 + 4, response.Usage!.InputTokenCount);
        Assert.Equal(response.Usage.InputTokenCount, Engine.RenderPrompt(messages).Count);
    }

    [Fact]
    public void Splice_RowsAtThePlaceholders_EqualTheEncoderOutput()
    {
        var messages = Ask("Describe.", (RedBlue, "image/jpeg"), (Board, "image/png"));
        var request = Engine.CreateRequest(messages, new ChatOptions { MaxOutputTokens = 4 }, CancellationToken.None);
        var hidden = model.Manifest.Architecture.HiddenSize;
        var imageToken = Engine.Tokenizer.IdOf(GlmSpecialTokens.Image);
        var placeholders = Enumerable.Range(0, request.PromptTokens.Count).Where(i => request.PromptTokens[i] == imageToken).ToArray();
        foreach (var segment in request.Media)
        {
            segment.Encode();
        }

        var embeds = new float[request.PromptTokens.Count * hidden];
        MediaSegment.Splice(request.Media, 0, request.PromptTokens.Count, hidden, embeds);

        var vision = model.Manifest.Adapters!.Vision!;
        var preprocessor = new ImagePreprocessor(vision, new MediaLimits());
        var expected = new[] { RedBlue, Board }.SelectMany(image => RunEncoder(Path.Combine(model.Directory, vision.Model), preprocessor.Prepare(image))).ToArray();
        Assert.Equal(32, placeholders.Length);
        Assert.Equal(placeholders, request.Media.SelectMany(s => Enumerable.Range(s.Start, s.Rows)));
        for (var row = 0; row < placeholders.Length; row++)
        {
            Assert.Equal(expected.AsSpan(row * hidden, hidden).ToArray(), embeds.AsSpan(placeholders[row] * hidden, hidden).ToArray());
        }
    }

    [Fact]
    public async Task Greedy_WithAnImage_MatchesAReferencePathOverTheRawSessions()
    {
        var messages = Ask("Say what you see.", (Board, "image/png"));
        var options = new EngineOptions { MaxBatchSize = 1, PrefillChunkSize = 64 };
        using var engine = LocalEngine.Load(model.Directory, options);
        var request = engine.CreateRequest(messages, new ChatOptions { MaxOutputTokens = 8 }, CancellationToken.None);

        // Reference: embeddings built by hand (token table + the vision encoder run directly), one raw decoder session.
        var package = ModelPackage.Load(model.Directory);
        var hidden = package.Manifest.Architecture.HiddenSize;
        var vision = package.Manifest.Adapters!.Vision!;
        var rows = RunEncoder(package.PathOf(vision.Model), new ImagePreprocessor(vision, new MediaLimits()).Prepare(Board));
        var imageStart = request.Media.Single().Start;
        using var table = new TokenEmbedding(package);
        using var session = new DecoderSession(package, options, NullLogger.Instance);
        var prompt = request.PromptTokens;
        var embeds = session.Embeds(prompt.Count);
        for (var t = 0; t < prompt.Count; t++)
        {
            if (t >= imageStart && t < imageStart + 16)
            {
                rows.AsSpan((t - imageStart) * hidden, hidden).CopyTo(embeds.Slice(t * hidden, hidden));
            }
            else
            {
                table.Lookup(prompt[t], embeds.Slice(t * hidden, hidden));
            }
        }

        session.Run(0, 1, prompt.Count, [0]);
        var expected = new List<int>();
        for (var step = 0; step < 8; step++)
        {
            var logits = session.Logits(0).ToArray();
            var next = Array.IndexOf(logits, logits.Max());
            expected.Add(next);
            table.Lookup(next, session.Embeds(1));
            session.Run(0, 1, 1, [prompt.Count + step]);
        }

        var response = await engine.GetResponseAsync(messages, new ChatOptions { Temperature = 0, MaxOutputTokens = 8 });

        var stops = engine.Tokenizer.StopTokenIds.ToHashSet();
        var kept = expected.TakeWhile(t => !stops.Contains(t)).Where(t => !engine.Tokenizer.IsSpecial[t]).ToList();
        var decoder = engine.Tokenizer.CreateStreamDecoder();
        var text = string.Concat(kept.Select(decoder.Push)) + decoder.Flush();
        Assert.Equal(text, response.Text);
    }

    [Fact]
    public async Task Adapters_LoadOnFirstUse_AndUnloadAfterTheIdleTime()
    {
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2026-11-25T12:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        var options = new EngineOptions { MaxBatchSize = 1, Media = new MediaLimits { AdapterIdleTimeout = TimeSpan.FromMinutes(2) } };
        using var engine = LocalEngine.Load(model.Directory, options, timeProvider: time);
        AdapterStatus Vision() => engine.Adapters.Single(a => a.Name == "vision");

        Assert.Equal(["vision", "audio"], engine.Adapters.Select(a => a.Name));
        Assert.All(engine.Adapters, a => Assert.False(a.Loaded));
        Assert.All(engine.Adapters, a => Assert.Equal(0, a.MemoryBytes));

        await engine.GetResponseAsync(Ask("Look.", (Board, "image/png")), new ChatOptions { MaxOutputTokens = 2 });

        Assert.True(Vision().Loaded);
        Assert.Equal(new FileInfo(Path.Combine(model.Directory, "vision.onnx")).Length, Vision().MemoryBytes);
        Assert.Equal((1, 1L), (Vision().Loads, Vision().Encodes));
        Assert.False(engine.Adapters.Single(a => a.Name == "audio").Loaded);

        time.Advance(TimeSpan.FromMinutes(1));
        await engine.GetResponseAsync(Ask("Text only."), new ChatOptions { MaxOutputTokens = 2 });
        Assert.True(Vision().Loaded);

        time.Advance(TimeSpan.FromMinutes(1.5));
        await WaitUntil(() => !Vision().Loaded);
        Assert.Equal(0, Vision().MemoryBytes);

        await engine.GetResponseAsync(Ask("Again.", (Board, "image/png")), new ChatOptions { MaxOutputTokens = 2 });
        Assert.Equal((true, 2, 2L), (Vision().Loaded, Vision().Loads, Vision().Encodes));
    }

    [Fact]
    public async Task TileMode_WideImage_EncodesThumbnailAndGridAsOneBatch()
    {
        var directory = Path.Combine(Path.GetTempPath(), "autoglm-tests", "tiles-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            SyntheticModelBuilder.Build(SyntheticModelSpec.Tiny with { Adapters = SyntheticAdaptersSpec.Default with { Resize = "tile", MaxTiles = 4 } }, directory);
            using var engine = LocalEngine.Load(directory);
            var wide = TestMedia.TwoColourImage(256, 128, SKColors.Red, SKColors.Blue);
            var textOnly = engine.RenderPrompt(Ask("Look.")).Count;

            var response = await engine.GetResponseAsync(Ask("Look.", (wide, "image/png")), new ChatOptions { MaxOutputTokens = 2 });

            // A 2:1 image → thumbnail + 2×1 grid = 3 tiles of 16 rows, between the begin and end markers.
            Assert.Equal(textOnly + (3 * 16) + 2, response.Usage!.InputTokenCount);
            Assert.Equal(response.Usage.InputTokenCount, engine.RenderPrompt(Ask("Look.", (wide, "image/png"))).Count);
            Assert.Equal(1L, engine.Adapters.Single(a => a.Name == "vision").Encodes);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void TextOnlyPackage_Image_IsUnsupportedModality()
    {
        var directory = Path.Combine(Path.GetTempPath(), "autoglm-tests", "textonly-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            SyntheticModelBuilder.Build(SyntheticModelSpec.Tiny with { Adapters = null }, directory);
            using var engine = LocalEngine.Load(directory);

            var error = Assert.Throws<RuntimeException>(() => engine.CreateRequest(Ask("Look.", (Board, "image/png")), null, CancellationToken.None));

            Assert.Equal(RuntimeErrorCode.UnsupportedModality, error.Code);
            Assert.Contains("no vision adapter", error.Message, StringComparison.Ordinal);
            Assert.Empty(engine.Adapters);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task TooManyImages_IsPayloadTooLarge_AndTheEngineKeepsServing()
    {
        var nine = Enumerable.Repeat((Board, "image/png"), 9).ToArray();

        var error = await Assert.ThrowsAsync<RuntimeException>(() => Engine.GetResponseAsync(Ask("Count them.", nine)));

        Assert.Equal(RuntimeErrorCode.PayloadTooLarge, error.Code);
        Assert.Contains("MaxImages", error.Message, StringComparison.Ordinal);
        Assert.False(string.IsNullOrEmpty((await Engine.GetResponseAsync(Ask("Hello"), new ChatOptions { MaxOutputTokens = 4, Temperature = 0 })).Text));
    }

    [Theory]
    [InlineData("truncated jpeg", RuntimeErrorCode.UnsupportedMedia)]
    [InlineData("png bomb", RuntimeErrorCode.PayloadTooLarge)]
    [InlineData("lying wav", RuntimeErrorCode.UnsupportedMedia)]
    [InlineData("empty wav", RuntimeErrorCode.UnsupportedMedia)]
    [InlineData("mp3", RuntimeErrorCode.UnsupportedMedia)]
    [InlineData("video", RuntimeErrorCode.UnsupportedModality)]
    public async Task BadMedia_FailsWithItsCode_BeforeQueueing(string kind, RuntimeErrorCode code)
    {
        var jpeg = TestMedia.Checkerboard(128, 8, SKEncodedImageFormat.Jpeg);
        var lying = (byte[])Tone.Clone();
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(lying.AsSpan(40), int.MaxValue);
        var (data, type) = kind switch
        {
            "truncated jpeg" => (jpeg[..(jpeg.Length / 2)], "image/jpeg"),
            "png bomb" => (TestMedia.PngBomb(60_000, 60_000), "image/png"),
            "lying wav" => (lying, "audio/wav"),
            "empty wav" => (TestMedia.Wav([], 16000), "audio/wav"),
            "mp3" => (new byte[] { 0x49, 0x44, 0x33, 0x04, 0, 0, 0, 0, 0, 0 }, "audio/mpeg"),
            _ => (new byte[] { 0, 0, 0, 0x18, (byte)'f', (byte)'t', (byte)'y', (byte)'p' }, "video/mp4"),
        };

        var error = await Assert.ThrowsAsync<RuntimeException>(() => Engine.GetResponseAsync(Ask("What is this?", (data, type))));

        Assert.Equal(code, error.Code);
        Assert.Equal(0, Engine.QueueDepth);
    }

    private static float[] RunEncoder(string path, PreparedImage image)
    {
        using var session = new InferenceSession(path);
        using var input = OrtValue.CreateTensorValueFromMemory(image.Pixels, [image.Tiles, 3, image.Size, image.Size]);
        using var run = new RunOptions();
        using var results = session.Run(run, ["pixel_values"], [input], ["image_embeds"]);
        return results[0].GetTensorDataAsSpan<float>().ToArray();
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the condition did not hold within 10 s");
            await Task.Delay(10);
        }
    }
}
