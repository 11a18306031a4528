using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Unicode;

namespace AutoGlm.Edge.Wire;

/// <summary>
/// Finds the strings of a parsed JSON document that cannot become .NET text: a lone UTF-16 surrogate written as an
/// escape (<c>"a\ud800b"</c>) or bytes that are not UTF-8. <see cref="JsonDocument"/> accepts both, and
/// <see cref="JsonElement.GetString"/> throws <see cref="InvalidOperationException"/> on them later, deep inside
/// whatever reads the field; checking the whole document once, first, turns that into an error naming the field.
/// </summary>
/// <remarks>
/// Shared by the front doors that read JSON: the HTTP chat body and the MQTT job. Stateless and
/// thread-safe. Strings without escapes are checked in place, so a large base64 image is not copied.
/// </remarks>
internal static class JsonText
{
    /// <summary>The path (<c>messages[0].content</c>) of the first string or property name that is not valid text, or null.</summary>
    public static string? FindInvalid(JsonElement element) => FindInvalid(element, "");

    private static string? FindInvalid(JsonElement element, string path)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.String:
                return IsValid(JsonMarshal.GetRawUtf8Value(element), element) ? null : (path.Length == 0 ? "(root)" : path);
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    if (!IsValidName(property))
                    {
                        return path.Length == 0 ? "(a property name)" : $"{path} (a property name)";
                    }

                    var child = path.Length == 0 ? property.Name : $"{path}.{property.Name}";
                    if (FindInvalid(property.Value, child) is { } bad)
                    {
                        return bad;
                    }
                }

                return null;
            case JsonValueKind.Array:
                var index = 0;
                foreach (var item in element.EnumerateArray())
                {
                    if (FindInvalid(item, $"{path}[{index++}]") is { } bad)
                    {
                        return bad;
                    }
                }

                return null;
            default:
                return null;
        }
    }

    private static bool IsValid(ReadOnlySpan<byte> raw, JsonElement element)
    {
        if (!raw.Contains((byte)'\\'))
        {
            return Utf8.IsValid(raw);
        }

        try
        {
            _ = element.GetString();
            return true;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    private static bool IsValidName(JsonProperty property)
    {
        var raw = JsonMarshal.GetRawUtf8PropertyName(property);
        if (!raw.Contains((byte)'\\'))
        {
            return Utf8.IsValid(raw);
        }

        try
        {
            _ = property.Name;
            return true;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }
}
