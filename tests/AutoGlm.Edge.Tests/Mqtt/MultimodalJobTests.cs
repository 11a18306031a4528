using System.Globalization;
using AutoGlm.Edge.Tests.Support;
using AutoGlm.Tests.Media;
using SkiaSharp;

namespace AutoGlm.Edge.Tests.Mqtt;

/// <summary>Image and audio jobs over a real Mosquitto: JSON with base64 and raw bytes on <c>…/jobs/image</c> and <c>…/jobs/audio</c>.</summary>
public sealed class MultimodalJobTests(MosquittoDaemonFixture fixture) : IClassFixture<MosquittoDaemonFixture>
{
    private static readonly byte[] Frame = TestMedia.TwoColourImage(128, 96, SKColors.OrangeRed, SKColors.SteelBlue, SKEncodedImageFormat.Jpeg);
    private static readonly byte[] OtherFrame = TestMedia.Checkerboard(96, 6, SKEncodedImageFormat.Jpeg);
    private static readonly byte[] Clip = TestMedia.Wav(TestMedia.Tone(440, 1, 16000), 16000);
    private static readonly byte[] OtherClip = TestMedia.Wav(TestMedia.Tone(1500, 1, 22050), 22050, TestMedia.WavEncoding.Pcm16, channels: 2);

    private static string Id(string name) => $"{name}-{Guid.NewGuid():N}"[..(name.Length + 9)];

    private async Task<Received> JsonJobAsync(string field, byte[] media, string prompt)
    {
        var id = Id(field);
        await fixture.Client.PublishAsync(fixture.Prefix + "/jobs",
            $$"""{"id":"{{id}}","prompt":"{{prompt}}","{{field}}":"{{Convert.ToBase64String(media)}}","max_tokens":12,"temperature":1,"seed":11}""");
        return await fixture.Client.WaitForTopicAsync($"{fixture.Prefix}/results/{id}");
    }

    private async Task<Received> RawJobAsync(string kind, byte[] media, string prompt)
    {
        var id = Id(kind);
        await fixture.Client.PublishAsync($"{fixture.Prefix}/jobs/{kind}", media,
            userProperties: [("id", id), ("prompt", prompt), ("max_tokens", "12"), ("temperature", "1"), ("seed", "11")]);
        return await fixture.Client.WaitForTopicAsync($"{fixture.Prefix}/results/{id}");
    }

    private static string TextOf(Received result)
    {
        Assert.True(result.ErrorCode is null, $"the job failed: {result.Text}");
        return result.Json.GetProperty("text").GetString()!;
    }

    [Fact]
    public async Task ImageJob_Base64AndRaw_AnswerDependsOnTheImage()
    {
        var first = TextOf(await JsonJobAsync("image", Frame, "What is in front of the camera?"));
        var raw = TextOf(await RawJobAsync("image", Frame, "What is in front of the camera?"));
        var other = TextOf(await JsonJobAsync("image", OtherFrame, "What is in front of the camera?"));

        Assert.Equal(first, raw);
        Assert.NotEqual(first, other);
        fixture.Daemon.AssertNoUnexpectedErrors();
    }

    [Fact]
    public async Task AudioJob_Base64AndRaw_AnswerDependsOnTheClip()
    {
        var first = TextOf(await JsonJobAsync("audio", Clip, "What do you hear?"));
        var raw = TextOf(await RawJobAsync("audio", Clip, "What do you hear?"));
        var other = TextOf(await RawJobAsync("audio", OtherClip, "What do you hear?"));

        Assert.Equal(first, raw);
        Assert.NotEqual(first, other);
        fixture.Daemon.AssertNoUnexpectedErrors();
    }

    [Fact]
    public async Task ImageJob_UsageCountsTheImageRows()
    {
        var id = Id("usage");
        await fixture.Client.PublishAsync(fixture.Prefix + "/jobs", $$"""{"id":"{{id}}","prompt":"Hi","max_tokens":2}""");
        var textOnly = (await fixture.Client.WaitForTopicAsync($"{fixture.Prefix}/results/{id}")).Json.GetProperty("usage").GetProperty("prompt_tokens").GetInt32();

        var withImage = await JsonJobAsync("image", Frame, "Hi");

        // The default synthetic vision adapter makes 16 rows per image, between a begin and an end marker.
        Assert.Equal(textOnly + 18, withImage.Json.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
    }

    [Fact]
    public async Task ImageJob_StatsAndRetainedStatus_ShowTheVisionAdapterLoaded()
    {
        TextOf(await RawJobAsync("image", Frame, "Anything there?"));

        var stats = await fixture.Client.WaitForAsync(
            m => m.Topic == fixture.Prefix + "/stats" && m.Json.GetProperty("adapters").EnumerateArray().Any(a => a.GetProperty("name").GetString() == "vision" && a.GetProperty("loaded").GetBoolean()),
            "stats showing the vision adapter loaded");
        var vision = stats.Json.GetProperty("adapters").EnumerateArray().Single(a => a.GetProperty("name").GetString() == "vision");
        Assert.True(vision.GetProperty("memory_bytes").GetInt64() > 100_000);
        Assert.True(vision.GetProperty("encodes").GetInt64() >= 1);
        await fixture.Client.WaitForAsync(
            m => m.Topic == fixture.Prefix + "/status" && m.Json.GetProperty("adapters").EnumerateArray().Any(a => a.GetProperty("name").GetString() == "vision" && a.GetProperty("loaded").GetBoolean()),
            "the retained status republished with the vision adapter loaded");
    }

    [Fact]
    public async Task Job_SeveralImagesAndClips_EachTakesItsRows()
    {
        var id = Id("many");
        string B64(byte[] data) => Convert.ToBase64String(data);
        await fixture.Client.PublishAsync(fixture.Prefix + "/jobs",
            $$"""{"id":"{{id}}","prompt":"Compare them.","image":["{{B64(Frame)}}","data:image/jpeg;base64,{{B64(OtherFrame)}}"],"audio":["{{B64(Clip)}}"],"max_tokens":4}""");
        var single = await JsonJobAsync("image", Frame, "Compare them.");

        var result = await fixture.Client.WaitForTopicAsync($"{fixture.Prefix}/results/{id}");

        // One more image (16 rows + 2 markers) and a 1 s clip (13 rows of 8 frames + 2 markers) than the single-image job.
        Assert.True(result.ErrorCode is null, result.Text);
        Assert.Equal(single.Json.GetProperty("usage").GetProperty("prompt_tokens").GetInt32() + 18 + 15, result.Json.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
    }

    [Fact]
    public async Task Job_EmptyImageArray_IsAnInvalidJob()
    {
        var id = Id("none");

        await fixture.Client.PublishAsync(fixture.Prefix + "/jobs", $$"""{"id":"{{id}}","prompt":"Hi","image":[]}""");
        var result = await fixture.Client.WaitForTopicAsync($"{fixture.Prefix}/results/{id}");

        Assert.Equal("invalid_job", result.ErrorCode);
        Assert.Contains("'image' is an empty array", result.Json.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    public static TheoryData<string, string, string> BadMedia => new()
    {
        { "truncated jpeg", "image", "unsupported_media" },
        { "png bomb", "image", "payload_too_large" },
        { "lying wav", "audio", "unsupported_media" },
        { "empty wav", "audio", "unsupported_media" },
        { "adpcm wav", "audio", "unsupported_media" },
    };

    [Theory]
    [MemberData(nameof(BadMedia))]
    public async Task BadMedia_GetsItsError_AndTheDaemonKeepsServing(string kind, string topic, string code)
    {
        var clip = (byte[])Clip.Clone();
        byte[] media = kind switch
        {
            "truncated jpeg" => Frame[..(Frame.Length - 200)],
            "png bomb" => TestMedia.PngBomb(40_000, 40_000),
            "lying wav" => Lie(clip),
            "empty wav" => TestMedia.Wav([], 16000),
            _ => Adpcm(clip),
        };

        var result = await RawJobAsync(topic, media, "What is this?");

        Assert.Equal(code, result.ErrorCode);
        Assert.False(string.IsNullOrEmpty(result.Json.GetProperty("error").GetProperty("message").GetString()));
        Assert.NotEmpty(TextOf(await JsonJobAsync("image", Frame, "And this?")));
        fixture.Daemon.AssertNoUnexpectedErrors();

        static byte[] Lie(byte[] wav)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(wav.AsSpan(40), 50_000_000);
            return wav;
        }

        static byte[] Adpcm(byte[] wav)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(wav.AsSpan(20), 2);
            return wav;
        }
    }

    [Fact]
    public async Task MosquittoPub_FrameFromAFile_IsAnswered()
    {
        // What docs/multimodal.md tells a camera script to run.
        var file = Path.Combine(Path.GetTempPath(), $"frame-{Guid.NewGuid():N}.jpg");
        await File.WriteAllBytesAsync(file, Frame);
        var id = Id("cli");
        try
        {
            var run = ProcessRunner.Run("mosquitto_pub",
            [
                "-V", "mqttv5", "-h", "127.0.0.1", "-p", fixture.Broker.Port.ToString(CultureInfo.InvariantCulture), "-q", "1",
                "-t", fixture.Prefix + "/jobs/image", "-f", file,
                "-D", "publish", "user-property", "id", id,
                "-D", "publish", "user-property", "prompt", "Is anyone at the door?",
                "-D", "publish", "user-property", "max_tokens", "8",
            ]);
            Assert.True(run.ExitCode == 0, run.ToString());

            var result = await fixture.Client.WaitForTopicAsync($"{fixture.Prefix}/results/{id}");

            Assert.NotEmpty(TextOf(result));
        }
        finally
        {
            File.Delete(file);
        }
    }
}
