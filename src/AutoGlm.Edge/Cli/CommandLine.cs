using System.CommandLine;

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
}
