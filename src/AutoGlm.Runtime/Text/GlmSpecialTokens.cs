namespace AutoGlm.Runtime.Text;

/// <summary>GLM's special tokens and the ids the synthetic packages give them on top of <c>cl100k_base</c>.</summary>
/// <remarks>
/// <c>cl100k_base</c> uses ranks 0–100255 and its own <c>&lt;|endoftext|&gt;</c> (100257) and
/// <c>&lt;|endofprompt|&gt;</c> (100276); GLM's tokens follow from 100277, inside a vocabulary of 100352.
/// A package records its own table in its manifest; these are only the builder's defaults.
/// </remarks>
public static class GlmSpecialTokens
{
    public const string EndOfText = "<|endoftext|>";
    public const string GMask = "[gMASK]";
    public const string Sop = "<sop>";
    public const string Eop = "<eop>";
    public const string System = "<|system|>";
    public const string User = "<|user|>";
    public const string Assistant = "<|assistant|>";
    public const string Observation = "<|observation|>";
    public const string ThinkStart = "<think>";
    public const string ThinkEnd = "</think>";
    public const string BeginOfImage = "<|begin_of_image|>";
    public const string Image = "<|image|>";
    public const string EndOfImage = "<|end_of_image|>";
    public const string BeginOfAudio = "<|begin_of_audio|>";
    public const string Audio = "<|audio|>";
    public const string EndOfAudio = "<|end_of_audio|>";

    /// <summary>The vocabulary size of the synthetic packages (cl100k_base, specials, padding to a multiple of 128).</summary>
    public const int SyntheticVocabSize = 100352;

    /// <summary>The default id table.</summary>
    public static IReadOnlyDictionary<string, int> DefaultIds { get; } = new Dictionary<string, int>
    {
        [EndOfText] = 100257,
        [GMask] = 100277,
        [Sop] = 100278,
        [Eop] = 100279,
        [System] = 100280,
        [User] = 100281,
        [Assistant] = 100282,
        [Observation] = 100283,
        [ThinkStart] = 100284,
        [ThinkEnd] = 100285,
        [BeginOfImage] = 100286,
        [Image] = 100287,
        [EndOfImage] = 100288,
        [BeginOfAudio] = 100289,
        [Audio] = 100290,
        [EndOfAudio] = 100291,
    };

    /// <summary>Tokens that end an assistant turn.</summary>
    public static IReadOnlyList<string> DefaultStopTokens { get; } = [EndOfText, User, Observation];
}
