using AutoGlm.Runtime.Generation;
using AutoGlm.Runtime.Text;

namespace AutoGlm.Runtime.Tests.Text;

public sealed class TextFilterTests
{
    [Theory]
    [InlineData(new[] { "<answer>Open the app</answer>" }, "Open the app")]
    [InlineData(new[] { "<ans", "wer>Tap ", "OK</ans", "wer>" }, "Tap OK")]
    [InlineData(new[] { "a < b and <a", "nswer is near" }, "a < b and <answer is near")]
    [InlineData(new[] { "no tags at all" }, "no tags at all")]
    public void AnswerTagFilter_StreamedPieces_RemovesOnlyTheTags(string[] pieces, string expected)
    {
        var filter = new AnswerTagFilter();

        var output = string.Concat(pieces.Select(filter.Push)) + filter.Flush();

        Assert.Equal(expected, output);
    }

    [Fact]
    public void StopSequenceMatcher_StopSplitAcrossPieces_EmitsNothingOfIt()
    {
        var matcher = new StopSequenceMatcher(["STOP", "\n\n"]);

        var emitted = matcher.Push("Hello ST") + matcher.Push("O") + matcher.Push("P and more");

        Assert.True(matcher.Stopped);
        Assert.Equal("Hello ", emitted + matcher.Flush());
    }

    [Fact]
    public void StopSequenceMatcher_PrefixThatDoesNotComplete_IsReleased()
    {
        var matcher = new StopSequenceMatcher(["STOP"]);

        var first = matcher.Push("Hello ST");
        var second = matcher.Push("ART");

        Assert.Equal("Hello ", first);
        Assert.Equal("START", second);
        Assert.False(matcher.Stopped);
    }

    [Fact]
    public void StopSequenceMatcher_EarliestOfSeveral_Wins()
    {
        var matcher = new StopSequenceMatcher(["world", "lo"]);

        Assert.Equal("Hel", matcher.Push("Hello world"));
        Assert.True(matcher.Stopped);
    }
}
