using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace AutoGlm.Runtime.Text;

/// <summary>One AutoGLM phone action: its name (<c>Tap</c>, <c>Type</c>, <c>Swipe</c>, …, or <c>finish</c>) and its arguments.</summary>
/// <param name="Name">The <c>action</c> of a <c>do(…)</c>, or <c>finish</c>.</param>
/// <param name="Args">The other keyword arguments, as JSON values: strings, numbers, lists (coordinates are <c>[x, y]</c> on the 0–999 grid), booleans.</param>
public sealed record AutoGlmAction(string Name, IReadOnlyDictionary<string, JsonNode?> Args)
{
    /// <summary>Writes the action as both front doors return it: <c>{"name":"Tap","args":{"element":[500,300]}}</c>.</summary>
    public void WriteTo(System.Text.Json.Utf8JsonWriter json, string propertyName)
    {
        json.WriteStartObject(propertyName);
        json.WriteString("name", Name);
        json.WriteStartObject("args");
        foreach (var (key, value) in Args)
        {
            json.WritePropertyName(key);
            if (value is null)
            {
                json.WriteNullValue();
            }
            else
            {
                value.WriteTo(json);
            }
        }

        json.WriteEndObject();
        json.WriteEndObject();
    }
}

/// <summary>What an AutoGLM reply holds: its reasoning, the answer text and, when the answer is a well-formed action, the action.</summary>
/// <param name="Thinking">The text of <c>&lt;think&gt;…&lt;/think&gt;</c>; null when absent.</param>
/// <param name="Answer">The operation code (the text of <c>&lt;answer&gt;…&lt;/answer&gt;</c>, or from <c>do(action=</c> / <c>finish(message=</c> on); null when there is none.</param>
/// <param name="Action">The parsed action; null when the answer is not one of the documented forms.</param>
public sealed record AutoGlmReply(string? Thinking, string? Answer, AutoGlmAction? Action);

/// <summary>
/// Parses AutoGLM-Phone's answers (Open-AutoGLM's action space): <c>&lt;think&gt;…&lt;/think&gt;&lt;answer&gt;do(action="Tap",
/// element=[x,y])&lt;/answer&gt;</c> or <c>finish(message="…")</c>. Arguments are Python literals: strings (double or
/// single quotes, backslash escapes), integers, floats, lists, <c>True</c>/<c>False</c>/<c>None</c>.
/// </summary>
/// <remarks>
/// A pure function: never throws on model output; anything malformed — an unknown action, a missing required
/// argument, a coordinate that is not two integers in 0–999, text after the call — gives no action, and the caller
/// answers with the text alone. As Open-AutoGLM does, a <c>Type</c>/<c>Type_Name</c> text or a <c>finish</c> message
/// with unescaped quotes inside is taken whole up to the closing <c>")</c> when the strict parse fails.
/// Thread-safe.
/// </remarks>
public static class AutoGlmActionParser
{
    /// <summary>The documented actions and their required arguments.</summary>
    public static IReadOnlyDictionary<string, string[]> Actions { get; } = new Dictionary<string, string[]>(StringComparer.Ordinal)
    {
        ["Launch"] = ["app"],
        ["Tap"] = ["element"],
        ["Type"] = ["text"],
        ["Type_Name"] = ["text"],
        ["Interact"] = [],
        ["Swipe"] = ["start", "end"],
        ["Note"] = ["message"],
        ["Call_API"] = ["instruction"],
        ["Long Press"] = ["element"],
        ["Double Tap"] = ["element"],
        ["Take_over"] = ["message"],
        ["Back"] = [],
        ["Home"] = [],
        ["Wait"] = ["duration"],
        ["finish"] = ["message"],
    };

    private static readonly string[] CoordinateArgs = ["element", "start", "end"];

    /// <summary>Splits a reply into its thinking, answer and action.</summary>
    public static AutoGlmReply Parse(string? reply)
    {
        if (string.IsNullOrWhiteSpace(reply))
        {
            return new AutoGlmReply(null, null, null);
        }

        var thinking = Between(reply, "<think>", "</think>");
        var answer = Between(reply, "<answer>", "</answer>");
        if (answer is null)
        {
            // No tags: Open-AutoGLM takes the operation from its first finish( or do( on.
            var at = IndexOfCall(reply);
            answer = at >= 0 ? reply[at..] : null;
        }

        answer = answer?.Trim();
        return new AutoGlmReply(thinking?.Trim(), string.IsNullOrEmpty(answer) ? null : answer, answer is null ? null : ParseAction(answer));
    }

    /// <summary>
    /// The action an answer is: when the whole answer (the text the engine returns, reasoning and tags already taken
    /// off) is one documented <c>do(…)</c> or <c>finish(…)</c>, or a raw reply's <c>&lt;answer&gt;</c> holds one; null for
    /// any other text, so ordinary answers of other models never carry one.
    /// </summary>
    public static AutoGlmAction? ActionOf(string? answer)
    {
        var code = answer?.Trim();
        if (code is null)
        {
            return null;
        }

        // A backend that returns the raw reply (vLLM fronting AutoGLM) keeps its <think>/<answer> tags.
        return code.Contains("<answer>", StringComparison.Ordinal) ? Parse(code).Action
            : code.StartsWith("do(", StringComparison.Ordinal) || code.StartsWith("finish(", StringComparison.Ordinal) ? ParseAction(code)
            : null;
    }

    /// <summary>Parses one operation line (<c>do(…)</c> or <c>finish(…)</c>); null when it is not a documented action.</summary>
    public static AutoGlmAction? ParseAction(string code)
    {
        code = code.Trim();
        var action = Strict(code) ?? Lenient(code);
        return action is not null && Valid(action) ? action : null;
    }

    private static string? Between(string text, string open, string close)
    {
        var start = text.IndexOf(open, StringComparison.Ordinal);
        if (start < 0)
        {
            return null;
        }

        start += open.Length;
        var end = text.IndexOf(close, start, StringComparison.Ordinal);
        return end < 0 ? text[start..] : text[start..end];
    }

    private static int IndexOfCall(string text)
    {
        var finish = text.IndexOf("finish(message=", StringComparison.Ordinal);
        var doCall = text.IndexOf("do(action=", StringComparison.Ordinal);
        return finish < 0 ? doCall : doCall < 0 ? finish : Math.Min(finish, doCall);
    }

    private static AutoGlmAction? Strict(string code)
    {
        var reader = new LiteralReader(code);
        var function = reader.Identifier();
        if (function is not ("do" or "finish") || !reader.Take('('))
        {
            return null;
        }

        var args = new Dictionary<string, JsonNode?>(StringComparer.Ordinal);
        reader.SkipSpace();
        if (!reader.Take(')'))
        {
            while (true)
            {
                var key = reader.Identifier();
                if (key is null || !reader.Take('=') || !reader.Value(out var value) || !args.TryAdd(key, value))
                {
                    return null;
                }

                if (reader.Take(')'))
                {
                    break;
                }

                if (!reader.Take(','))
                {
                    return null;
                }
            }
        }

        reader.SkipSpace();
        if (!reader.AtEnd)
        {
            return null;
        }

        if (function == "finish")
        {
            return new AutoGlmAction("finish", args);
        }

        if (!args.Remove("action", out var name) || name is not JsonValue v || !v.TryGetValue<string>(out var actionName))
        {
            return null;
        }

        return new AutoGlmAction(actionName, args);
    }

    /// <summary>Open-AutoGLM's own fallback for free text with unescaped quotes: everything between the opening quote and the final <c>")</c>.</summary>
    private static AutoGlmAction? Lenient(string code)
    {
        foreach (var (prefix, name, key) in new[]
        {
            ("finish(message=\"", "finish", "message"),
            ("do(action=\"Type\", text=\"", "Type", "text"),
            ("do(action=\"Type_Name\", text=\"", "Type_Name", "text"),
        })
        {
            if (code.StartsWith(prefix, StringComparison.Ordinal) && code.EndsWith("\")", StringComparison.Ordinal) && code.Length >= prefix.Length + 2)
            {
                return new AutoGlmAction(name, new Dictionary<string, JsonNode?>(StringComparer.Ordinal) { [key] = JsonValue.Create(code[prefix.Length..^2]) });
            }
        }

        return null;
    }

    private static bool Valid(AutoGlmAction action)
    {
        if (!Actions.TryGetValue(action.Name, out var required) || required.Any(r => !action.Args.ContainsKey(r)))
        {
            return false;
        }

        foreach (var key in CoordinateArgs)
        {
            if (action.Args.TryGetValue(key, out var value) && !IsPoint(value))
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsPoint(JsonNode? node) =>
        node is JsonArray { Count: 2 } pair && pair.All(n => n is JsonValue v && v.TryGetValue<long>(out var c) && c is >= 0 and <= 999);

    /// <summary>Reads the Python literal subset the actions use.</summary>
    private sealed class LiteralReader(string text)
    {
        private int _at;

        public bool AtEnd => _at >= text.Length;

        public void SkipSpace()
        {
            while (_at < text.Length && char.IsWhiteSpace(text[_at]))
            {
                _at++;
            }
        }

        public bool Take(char c)
        {
            SkipSpace();
            if (_at < text.Length && text[_at] == c)
            {
                _at++;
                return true;
            }

            return false;
        }

        public string? Identifier()
        {
            SkipSpace();
            var start = _at;
            while (_at < text.Length && (char.IsLetterOrDigit(text[_at]) || text[_at] == '_'))
            {
                _at++;
            }

            return _at > start && !char.IsDigit(text[start]) ? text[start.._at] : null;
        }

        public bool Value(out JsonNode? value)
        {
            value = null;
            SkipSpace();
            if (AtEnd)
            {
                return false;
            }

            var c = text[_at];
            if (c is '"' or '\'')
            {
                var s = QuotedString();
                value = s is null ? null : JsonValue.Create(s);
                return s is not null;
            }

            if (c == '[')
            {
                _at++;
                var list = new JsonArray();
                if (Take(']'))
                {
                    value = list;
                    return true;
                }

                while (true)
                {
                    if (!Value(out var item))
                    {
                        return false;
                    }

                    list.Add(item);
                    if (Take(']'))
                    {
                        value = list;
                        return true;
                    }

                    if (!Take(','))
                    {
                        return false;
                    }
                }
            }

            if (char.IsDigit(c) || c is '-' or '+' or '.')
            {
                var start = _at;
                _at++;
                while (_at < text.Length && (char.IsDigit(text[_at]) || text[_at] is '.' or 'e' or 'E' or '-' or '+'))
                {
                    _at++;
                }

                var number = text[start.._at];
                if (long.TryParse(number, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var integer))
                {
                    value = JsonValue.Create(integer);
                    return true;
                }

                if (double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var real) && double.IsFinite(real))
                {
                    value = JsonValue.Create(real);
                    return true;
                }

                return false;
            }

            var word = Identifier();
            switch (word)
            {
                case "True":
                    value = JsonValue.Create(true);
                    return true;
                case "False":
                    value = JsonValue.Create(false);
                    return true;
                case "None":
                    return true;
                default:
                    return false;
            }
        }

        private string? QuotedString()
        {
            var quote = text[_at++];
            var result = new StringBuilder();
            while (_at < text.Length)
            {
                var c = text[_at++];
                if (c == quote)
                {
                    return result.ToString();
                }

                if (c != '\\')
                {
                    result.Append(c);
                    continue;
                }

                if (_at >= text.Length)
                {
                    return null;
                }

                var e = text[_at++];
                switch (e)
                {
                    case 'n': result.Append('\n'); break;
                    case 't': result.Append('\t'); break;
                    case 'r': result.Append('\r'); break;
                    case '\\' or '\'' or '"': result.Append(e); break;
                    case 'u' when _at + 4 <= text.Length && int.TryParse(text.AsSpan(_at, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var code):
                        result.Append((char)code);
                        _at += 4;
                        break;
                    default:
                        // Python keeps an unknown escape as written.
                        result.Append('\\').Append(e);
                        break;
                }
            }

            return null;
        }
    }
}
