namespace AutoGlm.Edge.Tests.Support;

/// <summary>Runs the real <c>autoglm-edge</c> command tree in-process, capturing stdout and stderr.</summary>
public static class CliRunner
{
    public static async Task<(int ExitCode, string Output, string Error)> RunAsync(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var exit = await Edge.Cli.CommandLine.InvokeAsync(args, output, error);
        return (exit, output.ToString(), error.ToString());
    }
}
