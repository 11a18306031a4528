using System.Diagnostics;

namespace AutoGlm.Edge.Tests.Support;

/// <summary>Runs an external tool (bash, systemd-analyze, dpkg-deb) and captures what it printed.</summary>
public static class ProcessRunner
{
    public sealed record Result(int ExitCode, string Output, string Error)
    {
        public override string ToString() => $"exit {ExitCode}\nstdout:\n{Output}\nstderr:\n{Error}";
    }

    public static Result Run(string file, IEnumerable<string> args, IDictionary<string, string>? environment = null, string? workingDirectory = null, int timeoutSeconds = 120)
    {
        var start = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? RepoPaths.Root,
        };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(timeoutSeconds)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} ran past {timeoutSeconds} s");
        }

        return new Result(process.ExitCode, output.Result, error.Result);
    }

    /// <summary>Whether <paramref name="tool"/> is on PATH.</summary>
    public static bool IsInstalled(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries).Any(dir => File.Exists(Path.Combine(dir, tool)));
}

/// <summary>A fact that is skipped, saying why, when a tool it needs is not installed.</summary>
public sealed class FactNeedingAttribute : FactAttribute
{
    public FactNeedingAttribute(string tool)
    {
        if (!ProcessRunner.IsInstalled(tool))
        {
            Skip = $"{tool} is not installed here; install it (apt-get install systemd / dpkg) to run this test";
        }
    }
}

/// <summary>The theory form of <see cref="FactNeedingAttribute"/>.</summary>
public sealed class TheoryNeedingAttribute : TheoryAttribute
{
    public TheoryNeedingAttribute(string tool)
    {
        if (!ProcessRunner.IsInstalled(tool))
        {
            Skip = $"{tool} is not installed here; install it (apt-get install systemd / dpkg) to run this test";
        }
    }
}
