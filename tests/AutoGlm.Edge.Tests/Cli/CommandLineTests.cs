using AutoGlm.Edge.Cli;
using AutoGlm.Edge.Tests.Support;

namespace AutoGlm.Edge.Tests.Cli;

/// <summary>A misspelt verb or option is an error with what would have been right, never a daemon start or a chat.</summary>
public sealed class CommandLineTests
{
    /// <summary>Long enough for a parse; a verb that started the daemon or an interactive chat instead would run past it.</summary>
    private static readonly TimeSpan ParseOnly = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Invoke_UnknownVerb_FailsListingTheVerbs()
    {
        var (exit, output, error) = await CliRunner.RunAsync("chta").WaitAsync(ParseOnly);

        Assert.Equal(2, exit);
        Assert.Equal("", output);
        Assert.Equal("error: unknown verb 'chta'; the verbs are run, chat, bench, model, doctor, fleet, sensors (autoglm-edge --help)", error.Trim());
    }

    [Theory]
    [InlineData(new[] { "chat", "--promt", "hi" }, "error: unknown option or argument '--promt' for 'chat' (autoglm-edge chat --help)")]
    [InlineData(new[] { "bench", "--stream", "2" }, "error: unknown option or argument '--stream' for 'bench' (autoglm-edge bench --help)")]
    [InlineData(new[] { "model", "verify", "/tmp", "--quick" }, "error: unknown option or argument '--quick' for 'model verify' (autoglm-edge model verify --help)")]
    [InlineData(new[] { "run", "--rol", "heavy" }, "error: unknown option '--rol' for 'run': configuration is given as --Section:Key=value (autoglm-edge run --help)")]
    [InlineData(new[] { "run", "now" }, "error: unexpected argument 'now' for 'run': configuration is given as --Section:Key=value (autoglm-edge run --help)")]
    [InlineData(new[] { "--Mqtt:Port" }, "error: --Mqtt:Port has no value: write --Mqtt:Port=value")]
    [InlineData(new[] { "doctor", "--verbose" }, "error: unknown option '--verbose' for 'doctor': configuration is given as --Section:Key=value (autoglm-edge doctor --help)")]
    [InlineData(new[] { "sensors", "porch" }, "error: unexpected argument 'porch' for 'sensors': configuration is given as --Section:Key=value (autoglm-edge sensors --help)")]
    public async Task Invoke_UnknownOption_FailsNamingIt(string[] args, string expected)
    {
        var (exit, _, error) = await CliRunner.RunAsync(args).WaitAsync(ParseOnly);

        Assert.Equal(2, exit);
        Assert.Equal(expected, error.Trim());
    }

    [Theory]
    [InlineData("--Mqtt:Port=1884")]
    [InlineData("--Mqtt:Port", "1884")]
    [InlineData("--Mqtt__Port=1884")]
    [InlineData("/Mqtt:Port=1884")]
    [InlineData("Mqtt:Port=1884")]
    [InlineData("--Cluster:Nodes:0:Url=http://gpu:8000/v1", "--Http:Urls", "http://127.0.0.1:8001")]
    public void Problem_ConfigurationArguments_AreAccepted(params string[] tokens)
    {
        Assert.Null(ConfigurationArguments.Problem(tokens, verb: null));
        Assert.Null(ConfigurationArguments.Problem(tokens, "run"));
    }

    [Theory]
    [InlineData("--port=1884")]
    [InlineData("--Mqtt:=1")]
    [InlineData("Port=1884")]
    [InlineData("--Mqtt:Port=1", "stray")]
    public void Problem_NotConfiguration_IsNamed(params string[] tokens)
    {
        var problem = ConfigurationArguments.Problem(tokens, "run");

        Assert.NotNull(problem);
        Assert.Contains(tokens[^1] == "stray" ? "'stray'" : $"'{tokens[0]}'", problem, StringComparison.Ordinal);
    }
}
