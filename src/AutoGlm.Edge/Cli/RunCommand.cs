using System.CommandLine;
using AutoGlm.Edge.Hosting;

namespace AutoGlm.Edge.Cli;

/// <summary><c>run</c> (and no verb at all): the daemon.</summary>
internal static class RunCommand
{
    public static Option<string?> RoleOption() =>
        new("--role") { Description = "edge (default) or heavy: the same as Cluster:Role." };

    public static Command Create()
    {
        var role = RoleOption();
        var command = new Command("run", "Run the daemon (the default verb). Extra --Section:Key=value arguments are configuration.") { role };
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction((parse, cancellationToken) => RunAsync(parse, role, cancellationToken));
        return command;
    }

    public static async Task<int> RunAsync(ParseResult parse, Option<string?> role, CancellationToken cancellationToken)
    {
        var args = parse.UnmatchedTokens.ToList();
        if (parse.GetValue(role) is { } r)
        {
            if (r is not ("edge" or "heavy"))
            {
                await parse.InvocationConfiguration.Error.WriteLineAsync($"error: --role must be edge or heavy (got '{r}')").ConfigureAwait(false);
                return 2;
            }

            args.Add($"--Cluster:Role={r}");
        }

        if (ConfigurationArguments.Problem(parse.UnmatchedTokens, parse.CommandResult.Command is RootCommand ? null : "run") is { } problem)
        {
            await parse.InvocationConfiguration.Error.WriteLineAsync("error: " + problem).ConfigureAwait(false);
            return 2;
        }

        return await HostRunner.RunAsync(
            quietStart =>
            {
                var builder = EdgeHost.CreateBuilder([.. args]);
                quietStart(builder.Logging, builder.Configuration);
                return EdgeHost.Build(builder);
            },
            parse.InvocationConfiguration.Error,
            cancellationToken).ConfigureAwait(false);
    }
}
