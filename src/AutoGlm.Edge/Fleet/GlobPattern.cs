using System.Text.RegularExpressions;

namespace AutoGlm.Edge.Fleet;

/// <summary>Shell-style id patterns for group selectors: <c>*</c> any run of characters, <c>?</c> one character.</summary>
public static class GlobPattern
{
    /// <summary>Whether <paramref name="id"/> matches <paramref name="pattern"/> (whole string, case-sensitive).</summary>
    public static bool IsMatch(string pattern, string id) =>
        Regex.IsMatch(id, "^" + Regex.Escape(pattern).Replace("\\*", ".*", StringComparison.Ordinal).Replace("\\?", ".", StringComparison.Ordinal) + "$", RegexOptions.CultureInvariant);
}
