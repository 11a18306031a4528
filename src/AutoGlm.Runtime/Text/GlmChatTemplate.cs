using Microsoft.Extensions.AI;

namespace AutoGlm.Runtime.Text;

/// <summary>The GLM-4 chat template, rendered straight to token ids.</summary>
/// <remarks>
/// <c>[gMASK]&lt;sop&gt;&lt;|system|&gt;\n…&lt;|user|&gt;\n…&lt;|assistant|&gt;\n</c>. Thinking on opens the answer
/// with <c>&lt;think&gt;</c> so the model reasons first; thinking off closes an empty
/// <c>&lt;think&gt;&lt;/think&gt;</c> block, as GLM-4.5 does. Role markers are special tokens and message text is
/// encoded as plain text, so a message cannot forge a role marker. Earlier assistant turns are replayed
/// without their reasoning.
/// </remarks>
public sealed class GlmChatTemplate
{
    private readonly GlmTokenizer _tokenizer;
    private readonly int _gMask, _sop, _system, _user, _assistant, _observation, _thinkStart, _thinkEnd;

    public GlmChatTemplate(GlmTokenizer tokenizer)
    {
        _tokenizer = tokenizer;
        _gMask = tokenizer.IdOf(GlmSpecialTokens.GMask);
        _sop = tokenizer.IdOf(GlmSpecialTokens.Sop);
        _system = tokenizer.IdOf(GlmSpecialTokens.System);
        _user = tokenizer.IdOf(GlmSpecialTokens.User);
        _assistant = tokenizer.IdOf(GlmSpecialTokens.Assistant);
        _observation = tokenizer.IdOf(GlmSpecialTokens.Observation);
        _thinkStart = tokenizer.IdOf(GlmSpecialTokens.ThinkStart);
        _thinkEnd = tokenizer.IdOf(GlmSpecialTokens.ThinkEnd);
    }

    /// <summary>Renders a conversation, ending with the assistant's turn opened.</summary>
    /// <param name="messages">The conversation; text content only (media is the adapters' concern).</param>
    /// <param name="instructions">A system prompt placed before the messages, if any.</param>
    /// <param name="enableThinking">Whether the model reasons before it answers.</param>
    public List<int> Render(IEnumerable<ChatMessage> messages, string? instructions, bool enableThinking)
    {
        var ids = new List<int> { _gMask, _sop };
        if (!string.IsNullOrEmpty(instructions))
        {
            AddTurn(ids, _system, instructions);
        }

        foreach (var message in messages)
        {
            var marker = message.Role == ChatRole.System ? _system
                : message.Role == ChatRole.User ? _user
                : message.Role == ChatRole.Assistant ? _assistant
                : message.Role == ChatRole.Tool ? _observation
                : throw new RuntimeException(RuntimeErrorCode.InvalidRequest, $"unknown message role '{message.Role}'");
            var text = string.Concat(message.Contents.OfType<TextContent>().Select(c => c.Text));
            AddTurn(ids, marker, text);
        }

        ids.Add(_assistant);
        _tokenizer.EncodeText("\n", ids);
        ids.Add(_thinkStart);
        if (!enableThinking)
        {
            ids.Add(_thinkEnd);
            _tokenizer.EncodeText("\n", ids);
        }

        return ids;
    }

    private void AddTurn(List<int> ids, int marker, string text)
    {
        ids.Add(marker);
        _tokenizer.EncodeText("\n" + text, ids);
    }
}
