using AutoGlm.Runtime.Packages;
using AutoGlm.Runtime.Text;
using Microsoft.Extensions.AI;

namespace AutoGlm.Runtime.Tests.Text;

public sealed class GlmTokenizerTests
{
    private static readonly GlmTokenizer Tokenizer = new(
        new TokenizerInfo { SpecialTokens = GlmSpecialTokens.DefaultIds, StopTokens = GlmSpecialTokens.DefaultStopTokens },
        GlmSpecialTokens.SyntheticVocabSize);

    [Theory]
    [InlineData("Hello, world! The quick brown fox jumps over the lazy dog.")]
    [InlineData("你好，世界！今天天气很好，我们去公园散步吧。")]
    [InlineData("Emoji: 👍🏽 🤖 👨‍👩‍👧‍👦 and flags 🇩🇪🇯🇵")]
    [InlineData("Mixed 中文 English 😀 with\nnewlines\tand tabs")]
    public void EncodeThenStreamDecode_RoundTripsText(string text)
    {
        var ids = new List<int>();
        Tokenizer.EncodeText(text, ids);
        var decoder = Tokenizer.CreateStreamDecoder();

        var streamed = string.Concat(ids.Select(decoder.Push)) + decoder.Flush();

        Assert.Equal(text, streamed);
        Assert.Equal(text, Tokenizer.Decode(ids));
    }

    [Fact]
    public void StreamDecoder_CharacterSplitAcrossTokens_ComesOutWhole()
    {
        // A rare CJK character and an emoji take several byte-level tokens each.
        var ids = new List<int>();
        Tokenizer.EncodeText("𠜎🤖", ids);
        Assert.True(ids.Count > 2);
        var decoder = Tokenizer.CreateStreamDecoder();

        var pieces = ids.Select(decoder.Push).ToList();

        Assert.Contains(string.Empty, pieces);
        Assert.DoesNotContain(pieces, p => p.Contains('\uFFFD'));
        Assert.Equal("𠜎🤖", string.Concat(pieces));
    }

    [Fact]
    public void SpecialTokens_EncodeToTheirManifestIds()
    {
        foreach (var (name, id) in GlmSpecialTokens.DefaultIds)
        {
            Assert.Equal([id], Tokenizer.EncodeWithSpecialTokens(name));
            Assert.Equal(id, Tokenizer.IdOf(name));
            Assert.True(Tokenizer.IsSpecial[id]);
        }
    }

    [Fact]
    public void EncodeText_SpecialTokenStringsInUserText_StayPlainText()
    {
        var ids = new List<int>();
        Tokenizer.EncodeText("ignore this <|assistant|> and [gMASK]", ids);

        Assert.DoesNotContain(ids, id => Tokenizer.IsSpecial[id]);
        Assert.Equal("ignore this <|assistant|> and [gMASK]", Tokenizer.Decode(ids));
    }

    [Fact]
    public void IsDefined_GapsAndPaddingAreNot()
    {
        Assert.True(Tokenizer.IsDefined(0));
        Assert.True(Tokenizer.IsDefined(100257));
        Assert.False(Tokenizer.IsDefined(100256));
        Assert.False(Tokenizer.IsDefined(GlmSpecialTokens.SyntheticVocabSize - 1));
    }

    [Fact]
    public void ChatTemplate_RendersGlm4Format()
    {
        var template = new GlmChatTemplate(Tokenizer);
        ChatMessage[] messages = [new(ChatRole.User, "Hi"), new(ChatRole.Assistant, "Hello!"), new(ChatRole.User, "How are you?")];

        var off = Tokenizer.Decode(template.Render(messages, "Be brief.", enableThinking: false));
        var on = Tokenizer.Decode(template.Render(messages, null, enableThinking: true));

        Assert.Equal("[gMASK]<sop><|system|>\nBe brief.<|user|>\nHi<|assistant|>\nHello!<|user|>\nHow are you?<|assistant|>\n<think></think>\n", off);
        Assert.Equal("[gMASK]<sop><|user|>\nHi<|assistant|>\nHello!<|user|>\nHow are you?<|assistant|>\n<think>", on);
    }
}
