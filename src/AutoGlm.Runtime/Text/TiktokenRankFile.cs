using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace AutoGlm.Runtime.Text;

/// <summary>Loads a checkpoint's tiktoken rank file (GLM-4's <c>tokenizer.model</c>: one <c>base64 rank</c> line per token) into <see cref="TiktokenTokenizer"/>.</summary>
/// <remarks>
/// The word split is not in the file: GLM-4's <c>tokenization_chatglm.py</c> fixes it in code, and it is the same
/// pattern its <c>tokenizer.json</c> exports (<see cref="Glm4Pattern"/>).
/// </remarks>
internal static class TiktokenRankFile
{
    /// <summary>GLM-4's pre-tokenizer split (<c>tokenization_chatglm.py</c>'s <c>pat_str</c>).</summary>
    public const string Glm4Pattern = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>The tokenizer and the bytes of each rank (null where the file has none).</summary>
    public static (Tokenizer Tokenizer, byte[][] TokenBytes) Load(string path, IReadOnlyDictionary<string, int> specialTokens, int vocabSize)
    {
        var name = Path.GetFileName(path);
        if (!File.Exists(path))
        {
            throw new RuntimeException(RuntimeErrorCode.ModelUnavailable, $"tokenizer file '{name}' is missing");
        }

        var bytes = new byte[vocabSize][];
        var lineNumber = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNumber++;
            if (line.Length == 0)
            {
                continue;
            }

            var space = line.IndexOf(' ', StringComparison.Ordinal);
            if (space <= 0 || !int.TryParse(line.AsSpan(space + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var rank))
            {
                throw new RuntimeException(RuntimeErrorCode.ModelUnavailable, $"tokenizer file '{name}' line {lineNumber} is not 'base64 rank'");
            }

            if (rank < vocabSize)
            {
                try
                {
                    bytes[rank] = Convert.FromBase64String(line[..space]);
                }
                catch (FormatException)
                {
                    throw new RuntimeException(RuntimeErrorCode.ModelUnavailable, $"tokenizer file '{name}' line {lineNumber} has invalid base64");
                }
            }
        }

        using var stream = File.OpenRead(path);
        var special = specialTokens.ToDictionary(kv => kv.Key, kv => kv.Value);
        var tokenizer = TiktokenTokenizer.Create(stream, new RegexPreTokenizer(new Regex(Glm4Pattern, RegexOptions.Compiled | RegexOptions.CultureInvariant), special), normalizer: null, special);
        return (tokenizer, bytes);
    }
}
