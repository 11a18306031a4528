using System.CommandLine;
using AutoGlm.Edge.Hosting;

namespace AutoGlm.Edge.Cli;

/// <summary><c>doctor</c>: can this machine run the daemon as configured? Exit code 1 when something required fails.</summary>
internal static class DoctorCommand
{
    public static Command Create()
    {
        var timeout = new Option<int>("--broker-timeout-ms") { Description = "How long the TCP connect to the MQTT broker may take.", DefaultValueFactory = _ => 2000 };
        var command = new Command("doctor", "Check the machine, execution providers, model package, state folder, secrets and MQTT broker. Extra --Section:Key=value arguments are configuration.") { timeout };
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction(async (parse, cancellationToken) =>
        {
            if (ConfigurationArguments.Problem(parse.UnmatchedTokens, "doctor") is { } problem)
            {
                await parse.InvocationConfiguration.Error.WriteLineAsync("error: " + problem).ConfigureAwait(false);
                return 2;
            }

            var configuration = new ConfigurationManager();
            configuration.SetBasePath(AppContext.BaseDirectory).AddJsonFile("appsettings.json", optional: true);
            EdgeConfiguration.AddSources(configuration, [.. parse.UnmatchedTokens]);
            var doctor = new Doctor(configuration, StateFolder(), TimeSpan.FromMilliseconds(Math.Max(1, parse.GetValue(timeout))));
            var checks = await doctor.RunAsync(cancellationToken).ConfigureAwait(false);
            var output = parse.InvocationConfiguration.Output;
            foreach (var check in checks)
            {
                await output.WriteLineAsync($"{Label(check.Status),-5} {check.Name,-18} {check.Detail}").ConfigureAwait(false);
            }

            var failed = checks.Count(c => c.Status == CheckStatus.Fail);
            await output.WriteLineAsync(failed == 0 ? "doctor: OK" : $"doctor: {failed} check(s) FAILED").ConfigureAwait(false);
            return failed == 0 ? 0 : 1;
        });
        return command;
    }

    /// <summary>The state folder; one that cannot be written is still checked (and reported) by its path.</summary>
    private static string StateFolder()
    {
        try
        {
            return StatePaths.StateDirectory();
        }
        catch (StartupException)
        {
            return Path.GetFullPath(StatePaths.Locate().Path);
        }
    }

    private static string Label(CheckStatus status) => status switch
    {
        CheckStatus.Ok => "ok",
        CheckStatus.Info => "info",
        CheckStatus.Warn => "warn",
        _ => "FAIL",
    };
}
