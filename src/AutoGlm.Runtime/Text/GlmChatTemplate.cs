using Microsoft.Extensions.AI;

namespace AutoGlm.Runtime.Text;

/// <summary>The GLM-4 chat template, rendered straight to token ids.</summary>
/// <remarks>
/// <c>[gMASK]&lt;sop&gt;&lt;|system|&gt;\n…&lt;|user|&gt;\n…&lt;|assistant|&gt;\n</c>. Thinking on opens the answer
/// with <c>&lt;think&gt;</c> so the model reasons first; thinking off closes an empty
/// <c>&lt;think&gt;&lt;/think&gt;</c> block, as GLM-4.5 does. Role markers are special tokens and message text is
/// encoded as plain text, so a message cannot forge a role marker. Earlier assistant turns are replayed
/// without their reasoning.
/// The <c>glm4-0414</c> family (GLM-4-0414, GLM-Edge: their <c>chat_template</c> opens the answer with
/// <c>&lt;|assistant|&gt;\n</c> and has no thinking block) ends the prompt there; thinking is then up to the model.
/// </remarks>
public sealed class GlmChatTemplate
{
    /// <summary>GLM-4 with a thinking block (the synthetic packages, GLM-4.1V, AutoGLM).</summary>
    public const string Glm4 = "glm4";

    /// <summary>GLM-4-0414 and GLM-Edge: no thinking block.</summary>
    public const string Glm4_0414 = "glm4-0414";

    private readonly bool _thinkBlock;
    private readonly GlmTokenizer _tokenizer;
    private readonly int _gMask, _sop, _system, _user, _assistant, _observation, _thinkStart, _thinkEnd;
    private readonly int _beginImage, _image, _endImage, _beginAudio, _audio, _endAudio;

    /// <param name="tokenizer">The package's tokenizer, which must have the family's role tokens.</param>
    /// <param name="family"><see cref="Glm4"/> or <see cref="Glm4_0414"/> (the manifest's <c>chat_template</c>).</param>
    public GlmChatTemplate(GlmTokenizer tokenizer, string family = Glm4)
    {
        _tokenizer = tokenizer;
        _thinkBlock = family switch
        {
            Glm4 => true,
            Glm4_0414 => false,
            _ => throw new RuntimeException(RuntimeErrorCode.ModelUnavailable, $"chat_template '{family}' is not known (expected {Glm4} or {Glm4_0414})"),
        };
        _gMask = tokenizer.IdOf(GlmSpecialTokens.GMask);
        _sop = tokenizer.IdOf(GlmSpecialTokens.Sop);
        _system = tokenizer.IdOf(GlmSpecialTokens.System);
        _user = tokenizer.IdOf(GlmSpecialTokens.User);
        _assistant = tokenizer.IdOf(GlmSpecialTokens.Assistant);
        _observation = tokenizer.IdOf(GlmSpecialTokens.Observation);
        _thinkStart = _thinkBlock ? tokenizer.IdOf(GlmSpecialTokens.ThinkStart) : -1;
        _thinkEnd = _thinkBlock ? tokenizer.IdOf(GlmSpecialTokens.ThinkEnd) : -1;

        // Media markers are looked up only where the tokenizer has them; a text-only checkpoint has none.
        int Optional(string token) => tokenizer.HasSpecial(token) ? tokenizer.IdOf(token) : -1;
        _beginImage = Optional(GlmSpecialTokens.BeginOfImage);
        _image = Optional(GlmSpecialTokens.Image);
        _endImage = Optional(GlmSpecialTokens.EndOfImage);
        _beginAudio = Optional(GlmSpecialTokens.BeginOfAudio);
        _audio = Optional(GlmSpecialTokens.Audio);
        _endAudio = Optional(GlmSpecialTokens.EndOfAudio);
    }

    /// <summary>Whether the prompt ends inside <c>&lt;think&gt;</c> when thinking is on (false for <see cref="Glm4_0414"/>).</summary>
    public bool HasThinkBlock => _thinkBlock;

    /// <summary>Where an image or clip goes: called with its content and the position of its first placeholder; returns how many placeholder rows it takes.</summary>
    public delegate int MediaPlacer(DataContent media, int start);

    /// <summary>Renders a conversation, ending with the assistant's turn opened.</summary>
    /// <param name="messages">The conversation; text content only (media is the adapters' concern).</param>
    /// <param name="instructions">A system prompt placed before the messages, if any.</param>
    /// <param name="enableThinking">Whether the model reasons before it answers.</param>
    /// <param name="placeMedia">
    /// Images and clips become <c>&lt;|begin_of_image|&gt;</c> + one <c>&lt;|image|&gt;</c> per row +
    /// <c>&lt;|end_of_image|&gt;</c> (likewise for audio) where they stand among the message's parts; this says how many
    /// rows. Null leaves media out (text-only rendering).
    /// </param>
    public List<int> Render(IEnumerable<ChatMessage> messages, string? instructions, bool enableThinking, MediaPlacer? placeMedia = null)
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
            if (placeMedia is null || !message.Contents.Any(c => c is DataContent))
            {
                AddTurn(ids, marker, string.Concat(message.Contents.OfType<TextContent>().Select(c => c.Text)));
                continue;
            }

            ids.Add(marker);
            var text = new System.Text.StringBuilder("\n");
            foreach (var content in message.Contents)
            {
                if (content is TextContent t)
                {
                    text.Append(t.Text);
                }
                else if (content is DataContent media)
                {
                    _tokenizer.EncodeText(text.ToString(), ids);
                    text.Clear();
                    var isImage = media.HasTopLevelMediaType("image");
                    if ((isImage ? _image : _audio) < 0)
                    {
                        throw new RuntimeException(RuntimeErrorCode.UnsupportedModality, $"this model's tokenizer has no {(isImage ? "image" : "audio")} tokens");
                    }

                    ids.Add(isImage ? _beginImage : _beginAudio);
                    var rows = placeMedia(media, ids.Count);
                    ids.AddRange(Enumerable.Repeat(isImage ? _image : _audio, rows));
                    ids.Add(isImage ? _endImage : _endAudio);
                }
            }

            _tokenizer.EncodeText(text.ToString(), ids);
        }

        ids.Add(_assistant);
        _tokenizer.EncodeText("\n", ids);
        if (!_thinkBlock)
        {
            return ids;
        }

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
