namespace AutoGlm.Edge.Cli;

/// <summary>
/// The extra arguments of the verbs that take configuration (<c>run</c>, no verb, <c>sensors</c>, <c>doctor</c>): each
/// must be a <c>--Section:Key=value</c> or <c>--Section:Key value</c> pair, so that a misspelt verb or option is an
/// error instead of silently starting the daemon.
/// </summary>
internal static class ConfigurationArguments
{
    /// <summary>The verbs, for the error that names an unknown one.</summary>
    public static readonly string[] Verbs = ["run", "chat", "bench", "model", "doctor", "fleet", "sensors"];

    /// <summary>Returns what is wrong with <paramref name="tokens"/>, or null when every one is configuration.</summary>
    /// <param name="tokens">The tokens the command line parser did not match, in order.</param>
    /// <param name="verb">The verb they came with, or null for none (the daemon).</param>
    public static string? Problem(IReadOnlyList<string> tokens, string? verb)
    {
        for (var i = 0; i < tokens.Count; i++)
        {
            var token = tokens[i];
            var key = token.StartsWith("--", StringComparison.Ordinal) ? token[2..] : token.StartsWith('/') ? token[1..] : null;
            if (key is null)
            {
                if (i == 0 && verb is null && !token.Contains('=', StringComparison.Ordinal))
                {
                    return $"unknown verb '{token}'; the verbs are {string.Join(", ", Verbs)} (autoglm-edge --help)";
                }

                if (!IsSectionKey(token.Split('=', 2)[0]) || !token.Contains('=', StringComparison.Ordinal))
                {
                    return $"unexpected argument '{token}'{For(verb)}: configuration is given as --Section:Key=value (autoglm-edge {verb ?? "run"} --help)";
                }

                continue;
            }

            var name = key.Split('=', 2)[0];
            if (!IsSectionKey(name))
            {
                return $"unknown option '{token}'{For(verb)}: configuration is given as --Section:Key=value (autoglm-edge {verb ?? "run"} --help)";
            }

            if (!key.Contains('=', StringComparison.Ordinal))
            {
                if (i + 1 >= tokens.Count)
                {
                    return $"--{name} has no value: write --{name}=value";
                }

                i++;
            }
        }

        return null;
    }

    /// <summary>Configuration keys name a section and a key: <c>Mqtt:Port</c>, <c>Cluster:Nodes:0:Url</c> (or with <c>__</c>).</summary>
    private static bool IsSectionKey(string key)
    {
        var parts = key.Replace("__", ":", StringComparison.Ordinal).Split(':');
        return parts.Length >= 2 && parts.All(p => p.Length > 0);
    }

    private static string For(string? verb) => verb is null ? "" : $" for '{verb}'";
}
