using AutoGlm.Edge.Tests.Support;
using AutoGlm.Tests.Media;
using SkiaSharp;

namespace AutoGlm.Edge.Tests.Cli;

/// <summary><c>autoglm-edge chat --image/--audio</c>: media from files, answered or refused by name.</summary>
public sealed class ChatCommandTests : IDisposable
{
    private readonly string _folder = TestPaths.NewFolder("chat");

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private string Write(string name, byte[] bytes)
    {
        var path = Path.Combine(_folder, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Fact]
    public async Task Chat_WithImageAndAudio_AnswerDependsOnTheImage()
    {
        var first = Write("a.jpg", TestMedia.TwoColourImage(80, 60, SKColors.Purple, SKColors.Yellow, SKEncodedImageFormat.Jpeg));
        var second = Write("b.png", TestMedia.Checkerboard(80, 4));
        var clip = Write("c.wav", TestMedia.Wav(TestMedia.Tone(500, 0.5, 16000), 16000));
        string[] Args(string image) => ["chat", "--model", TinyModel.Directory, "--prompt", "What is this?", "--max-tokens", "10", "--seed", "3", "--temperature", "1", "--image", image, "--audio", clip];

        var a = await CliRunner.RunAsync(Args(first));
        var b = await CliRunner.RunAsync(Args(second));

        Assert.True(a.ExitCode == 0, a.Error);
        Assert.True(b.ExitCode == 0, b.Error);
        Assert.NotEqual(a.Output, b.Output);
        Assert.Equal(a.Output, (await CliRunner.RunAsync(Args(first))).Output);
    }

    [Fact]
    public async Task Chat_WithATextFileAsImage_FailsNamingIt()
    {
        var notImage = Write("notes.jpg", "shopping list"u8.ToArray());

        var (exit, _, error) = await CliRunner.RunAsync("chat", "--model", TinyModel.Directory, "--prompt", "What is this?", "--image", notImage);

        Assert.Equal(2, exit);
        Assert.Contains("error (unsupported_media): the image 1", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Chat_WithAMissingFile_IsAUsageError()
    {
        var (exit, _, error) = await CliRunner.RunAsync("chat", "--model", TinyModel.Directory, "--prompt", "Hi", "--image", Path.Combine(_folder, "nope.jpg"));

        Assert.NotEqual(0, exit);
        Assert.Contains("nope.jpg", error, StringComparison.Ordinal);
    }
}
