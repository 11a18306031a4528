using System.CommandLine;
using System.CommandLine.Parsing;

namespace AutoGlm.Edge.Cli;

/// <summary>The <c>autoglm-edge</c> command tree.</summary>
internal static class CommandLine
{
    public static RootCommand Create()
    {
        var root = new RootCommand("AutoGlm.Edge: an offline multimodal GLM assistant for the edge. With no verb, runs the daemon.");
        var role = RunCommand.RoleOption();
        root.Options.Add(role);
        root.TreatUnmatchedTokensAsErrors = false;
        root.SetAction((parse, cancellationToken) => RunCommand.RunAsync(parse, role, cancellationToken));
        root.Subcommands.Add(RunCommand.Create());
        root.Subcommands.Add(ChatCommand.Create());
        root.Subcommands.Add(BenchCommand.Create());
        root.Subcommands.Add(ModelCommands.Create());
        root.Subcommands.Add(DoctorCommand.Create());
        root.Subcommands.Add(FleetCommands.Create());
        root.Subcommands.Add(SensorsCommand.Create());
        return root;
    }

    /// <summary>Parses and runs <paramref name="args"/>: the program's entry point, and the tests'.</summary>
    /// <param name="args">The command line.</param>
    /// <param name="output">Standard output, for tests; default the console.</param>
    /// <param name="error">Standard error, for tests; default the console.</param>
    public static async Task<int> InvokeAsync(string[] args, TextWriter? output = null, TextWriter? error = null)
    {
        var parse = Create().Parse(args);
        var command = parse.CommandResult.Command;
        error ??= Console.Error;

        // The root takes configuration arguments, so the parser leaves unknown tokens to each verb: the verbs that take
        // configuration check them (ConfigurationArguments); for every other verb an unknown one is an error, not ignored.
        if (parse.UnmatchedTokens.Count > 0 && command.TreatUnmatchedTokensAsErrors)
        {
            var verb = string.Join(' ', Path(parse.CommandResult).Select(c => c.Name));
            await error.WriteLineAsync($"error: unknown option or argument '{parse.UnmatchedTokens[0]}' for '{verb}' (autoglm-edge {verb} --help)").ConfigureAwait(false);
            return 2;
        }

        // The daemon's Generic Host handles SIGTERM itself and drains running jobs (Mqtt:ShutdownGracePeriod);
        // System.CommandLine's own handler would exit with 143 after two seconds, cutting that short.
        var isDaemon = command is RootCommand || command.Name is "run" or "sensors";
        var invocation = new InvocationConfiguration { ProcessTerminationTimeout = isDaemon ? null : TimeSpan.FromSeconds(2), Error = error };
        if (output is not null)
        {
            invocation.Output = output;
        }

        return await parse.InvokeAsync(invocation).ConfigureAwait(false);
    }

    /// <summary>The verbs from the root down to <paramref name="result"/>'s (<c>model verify</c>), without the root.</summary>
    private static IEnumerable<Command> Path(CommandResult result)
    {
        var verbs = new Stack<Command>();
        for (SymbolResult? r = result; r is CommandResult { Command: not RootCommand } c; r = c.Parent)
        {
            verbs.Push(c.Command);
        }

        return verbs;
    }
}
