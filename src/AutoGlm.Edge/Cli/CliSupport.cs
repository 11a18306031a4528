using System.CommandLine;
using AutoGlm.Edge.Hosting;
using AutoGlm.Runtime;
using AutoGlm.Runtime.Generation;
using Microsoft.Extensions.Logging;

namespace AutoGlm.Edge.Cli;

/// <summary>What the one-shot verbs share: logging to stderr and loading an engine.</summary>
internal static class CliSupport
{
    public static Option<DirectoryInfo?> ModelOption() =>
        new("--model", "-m") { Description = "Model package folder. Default: the built-in tiny synthetic model, built once into the state folder." };

    public static Option<string> ExecutionProviderOption() =>
        new("--execution-provider") { Description = "cpu, cuda or tensorrt (falls back toward CPU when unavailable).", DefaultValueFactory = _ => "cpu" };

    /// <summary>Logs go to stderr so that stdout carries only the answer.</summary>
    public static ILoggerFactory StderrLogging(LogLevel minimum = LogLevel.Warning) => LoggerFactory.Create(builder => builder
        .SetMinimumLevel(minimum)
        .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace)
        .AddSimpleConsole(o => o.SingleLine = true));

    public static string ResolveModel(DirectoryInfo? model, TextWriter progress) =>
        model?.FullName ?? StatePaths.EnsureBuiltInModel(StatePaths.StateDirectory(), message => progress.WriteLine(message));

    /// <summary>Runs a verb body, turning runtime errors into a message on stderr and exit code 2.</summary>
    public static async Task<int> GuardAsync(ParseResult parse, Func<Task<int>> body)
    {
        try
        {
            return await body().ConfigureAwait(false);
        }
        catch (RuntimeException ex)
        {
            await parse.InvocationConfiguration.Error.WriteLineAsync($"error ({ex.WireCode}): {ex.Message}").ConfigureAwait(false);
            return 2;
        }
    }

    public static LocalEngine LoadEngine(string directory, string executionProvider, ILoggerFactory logging) =>
        LocalEngine.Load(directory, new EngineOptions { ExecutionProvider = executionProvider }, logging);
}
