using System.ClientModel;
using AutoGlm.Tests.Media;
using OpenAI;
using OpenAI.Chat;
using SkiaSharp;

// The client marks input_audio parts (and Seed) as evaluation-only; the server implements both.
#pragma warning disable OPENAI001

namespace AutoGlm.Edge.Tests.Http;

/// <summary>Images (<c>image_url</c> data URIs) and audio (<c>input_audio</c>) through the official OpenAI .NET client.</summary>
[Collection(DefaultServerCollection.Name)]
public sealed class MultimodalHttpTests(DefaultServerFixture fixture) : IDisposable
{
    private static readonly byte[] Photo = TestMedia.TwoColourImage(160, 120, SKColors.ForestGreen, SKColors.Gold, SKEncodedImageFormat.Jpeg);
    private static readonly byte[] OtherPhoto = TestMedia.Checkerboard(120, 5, SKEncodedImageFormat.Webp);
    private static readonly byte[] Clip = TestMedia.Wav(TestMedia.Tone(330, 1.2, 22050), 22050, TestMedia.WavEncoding.Pcm24);
    private static readonly byte[] OtherClip = TestMedia.Wav(TestMedia.Tone(2000, 1.2, 16000), 16000);

    private readonly EdgeServer _server = fixture.Server;

    public void Dispose() => _server.Logs.AssertNoErrors();

    private static ChatCompletionOptions Options() => new() { MaxOutputTokenCount = 12, Temperature = 1, Seed = 99 };

    private ChatClient Client() =>
        new(EdgeServer.ModelId, new ApiKeyCredential("no-key-needed-on-loopback"), new OpenAIClientOptions { Endpoint = new Uri(_server.BaseAddress, "v1") });

    private async Task<string> AskAsync(ChatMessageContentPart media, string prompt)
    {
        ChatCompletion completion = await Client().CompleteChatAsync([new UserChatMessage(ChatMessageContentPart.CreateTextPart(prompt), media)], Options());
        return completion.Content[0].Text;
    }

    [Fact]
    public async Task ImageUrlDataUri_AnswerDependsOnTheImage()
    {
        var first = await AskAsync(ChatMessageContentPart.CreateImagePart(BinaryData.FromBytes(Photo), "image/jpeg"), "Describe the picture.");
        var again = await AskAsync(ChatMessageContentPart.CreateImagePart(BinaryData.FromBytes(Photo), "image/jpeg"), "Describe the picture.");
        var other = await AskAsync(ChatMessageContentPart.CreateImagePart(BinaryData.FromBytes(OtherPhoto), "image/webp"), "Describe the picture.");

        Assert.Equal(first, again);
        Assert.NotEqual(first, other);
    }

    [Fact]
    public async Task InputAudio_AnswerDependsOnTheClip()
    {
        var first = await AskAsync(ChatMessageContentPart.CreateInputAudioPart(BinaryData.FromBytes(Clip), ChatInputAudioFormat.Wav), "What is this sound?");
        var again = await AskAsync(ChatMessageContentPart.CreateInputAudioPart(BinaryData.FromBytes(Clip), ChatInputAudioFormat.Wav), "What is this sound?");
        var other = await AskAsync(ChatMessageContentPart.CreateInputAudioPart(BinaryData.FromBytes(OtherClip), ChatInputAudioFormat.Wav), "What is this sound?");

        Assert.Equal(first, again);
        Assert.NotEqual(first, other);
    }

    [Fact]
    public async Task Streaming_ImageAndAudioTogether_GivesTheSameTextAsOneAnswer()
    {
        UserChatMessage Message() => new(
            ChatMessageContentPart.CreateImagePart(BinaryData.FromBytes(Photo), "image/jpeg"),
            ChatMessageContentPart.CreateInputAudioPart(BinaryData.FromBytes(Clip), ChatInputAudioFormat.Wav),
            ChatMessageContentPart.CreateTextPart("What is happening?"));

        ChatCompletion whole = await Client().CompleteChatAsync([Message()], Options());
        var streamed = new System.Text.StringBuilder();
        await foreach (var update in Client().CompleteChatStreamingAsync([Message()], Options()))
        {
            foreach (var part in update.ContentUpdate)
            {
                streamed.Append(part.Text);
            }
        }

        Assert.Equal(whole.Content[0].Text, streamed.ToString());
    }

    [Theory]
    [InlineData("truncated jpeg", 400, "unsupported_media")]
    [InlineData("png bomb", 413, "payload_too_large")]
    [InlineData("lying wav", 400, "unsupported_media")]
    [InlineData("mp3", 400, "unsupported_media")]
    public async Task BadMedia_ClearErrorWithStatus_AndTheServerKeepsServing(string kind, int status, string code)
    {
        var wav = (byte[])Clip.Clone();
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(wav.AsSpan(40), 90_000_000);
        var part = kind switch
        {
            "truncated jpeg" => ChatMessageContentPart.CreateImagePart(BinaryData.FromBytes(Photo[..(Photo.Length / 3)]), "image/jpeg"),
            "png bomb" => ChatMessageContentPart.CreateImagePart(BinaryData.FromBytes(TestMedia.PngBomb(30_000, 30_000)), "image/png"),
            "lying wav" => ChatMessageContentPart.CreateInputAudioPart(BinaryData.FromBytes(wav), ChatInputAudioFormat.Wav),
            _ => ChatMessageContentPart.CreateInputAudioPart(BinaryData.FromBytes([0x49, 0x44, 0x33, 4, 0, 0, 0, 0, 0, 0]), ChatInputAudioFormat.Mp3),
        };

        var error = await Assert.ThrowsAsync<ClientResultException>(() => AskAsync(part, "What is it?"));

        Assert.Equal(status, error.Status);
        Assert.Contains(code, error.Message, StringComparison.Ordinal);
        Assert.NotEmpty(await AskAsync(ChatMessageContentPart.CreateImagePart(BinaryData.FromBytes(Photo), "image/jpeg"), "Still there?"));
    }
}
