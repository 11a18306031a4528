using System.Text.RegularExpressions;

namespace AutoGlm.Edge.Fleet;

/// <summary>
/// A secret named, never written: <c>file:/absolute/path</c> (a file readable by the <c>autoglm</c> user) or
/// <c>env:NAME</c> (a variable in the daemon's environment, e.g. from <c>/etc/autoglm/secrets.env</c>).
/// </summary>
/// <remarks>The daemon resolves references at start (<see cref="Hosting.SecretReferences"/>); fleet output holds only the reference.</remarks>
public static partial class SecretReference
{
    /// <summary>Why <paramref name="value"/> is not a usable reference, or null when it is one.</summary>
    public static string? Problem(string value)
    {
        if (value.StartsWith("file:", StringComparison.Ordinal))
        {
            var path = value["file:".Length..];
            if (!path.StartsWith('/'))
            {
                return $"'{value}' must name an absolute path (file:/etc/autoglm/secrets/...)";
            }

            return HiddenFromService(path) is { } hidden ? $"'{value}' is under {hidden}, which the service cannot read (ProtectHome=yes, PrivateTmp=yes)" : null;
        }

        if (value.StartsWith("env:", StringComparison.Ordinal))
        {
            return EnvironmentName().IsMatch(value["env:".Length..]) ? null : $"'{value}' must name an environment variable (letters, digits, _; not starting with a digit)";
        }

        return "secrets must be references (file:/path or env:NAME), not inline values";
    }

    /// <summary>The top folder of <paramref name="path"/> that the hardened unit hides from the daemon, or null.</summary>
    public static string? HiddenFromService(string path) =>
        new[] { "/home", "/root", "/run/user", "/tmp", "/var/tmp" }.FirstOrDefault(p => path == p || path.StartsWith(p + "/", StringComparison.Ordinal));

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex EnvironmentName();
}
