using Microsoft.Extensions.Options;

namespace AutoGlm.Edge.Hosting;

/// <summary>
/// Resolves secret references in configuration: a <c>Password</c>, <c>ApiKey</c> or <c>ApiKeys:n</c> value of
/// <c>file:/path</c> becomes the file's content (trailing newline removed), <c>env:NAME</c> the variable's value.
/// </summary>
/// <remarks>
/// Fleet manifests write references, never secrets, into <c>/etc/autoglm/edge.json</c>; the unit reads
/// <c>/etc/autoglm/secrets.env</c> (root-only) with <c>EnvironmentFile=</c> for the <c>env:</c> ones.
/// </remarks>
public static class SecretReferences
{
    private static readonly string[] SecretKeys = ["Password", "ApiKey", "ApiKeys"];

    /// <summary>Adds a last in-memory layer holding the resolved values of every reference in <paramref name="configuration"/>.</summary>
    /// <exception cref="OptionsValidationException">A referenced file or variable is missing; every one is named.</exception>
    public static void Resolve(ConfigurationManager configuration)
    {
        var (resolved, problems) = Read(configuration);
        if (problems.Count > 0)
        {
            throw new OptionsValidationException("secrets", typeof(string), problems);
        }

        if (resolved.Count > 0)
        {
            configuration.AddInMemoryCollection(resolved);
        }
    }

    /// <summary>Every reference that cannot be resolved, each naming its key (for <c>doctor</c>).</summary>
    public static IReadOnlyList<string> Problems(IConfiguration configuration) => Read(configuration).Problems;

    /// <summary>How many values in <paramref name="configuration"/> are secret references.</summary>
    public static int Count(IConfiguration configuration) =>
        configuration.AsEnumerable().Count(p => p.Value is { } v && IsSecretKey(p.Key) && (v.StartsWith("file:", StringComparison.Ordinal) || v.StartsWith("env:", StringComparison.Ordinal)));

    private static (Dictionary<string, string?> Resolved, List<string> Problems) Read(IConfiguration configuration)
    {
        var resolved = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        var problems = new List<string>();
        foreach (var (key, value) in configuration.AsEnumerable())
        {
            if (value is null || !IsSecretKey(key))
            {
                continue;
            }

            if (value.StartsWith("file:", StringComparison.Ordinal))
            {
                var path = value["file:".Length..];
                if (File.Exists(path))
                {
                    resolved[key] = File.ReadAllText(path).TrimEnd('\r', '\n');
                }
                else
                {
                    problems.Add($"{key} refers to {value}, which does not exist (or the service cannot read it)");
                }
            }
            else if (value.StartsWith("env:", StringComparison.Ordinal))
            {
                var name = value["env:".Length..];
                if (Environment.GetEnvironmentVariable(name) is { Length: > 0 } secret)
                {
                    resolved[key] = secret;
                }
                else
                {
                    problems.Add($"{key} refers to {value}, but {name} is not set (put it in /etc/autoglm/secrets.env)");
                }
            }
        }

        return (resolved, problems);
    }

    /// <summary>Whether the key's last named segment (ignoring list indices) is a secret.</summary>
    internal static bool IsSecretKey(string key) =>
        key.Split(':').LastOrDefault(segment => !segment.All(char.IsAsciiDigit)) is { } leaf && SecretKeys.Contains(leaf, StringComparer.OrdinalIgnoreCase);
}
