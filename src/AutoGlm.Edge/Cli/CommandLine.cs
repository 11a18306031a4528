using System.CommandLine;

namespace AutoGlm.Edge.Cli;

/// <summary>The <c>autoglm-edge</c> command tree.</summary>
internal static class CommandLine
{
    public static RootCommand Create()
    {
        var root = new RootCommand("AutoGlm.Edge: an offline multimodal GLM assistant for the edge.");
        root.Subcommands.Add(ChatCommand.Create());
        root.Subcommands.Add(BenchCommand.Create());
        root.Subcommands.Add(ModelCommands.Create());
        return root;
    }
}
