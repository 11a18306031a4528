using System.Diagnostics;
using AutoGlm.Edge.Tests.Support;

namespace AutoGlm.Edge.Tests.Hosting;

/// <summary>
/// ONNX Runtime 1.31's Linux builds start a telemetry uploader that writes a device id and an event store under
/// <c>$HOME/.cache/Microsoft/DeveloperTools/.onnxruntime</c>; the daemon turns it off before ONNX Runtime is first used.
/// </summary>
public sealed class OnnxRuntimeTelemetryTests : IDisposable
{
    private readonly string _home = Directory.CreateTempSubdirectory("ort-home-").FullName;
    private readonly string _state = Directory.CreateTempSubdirectory("ort-state-").FullName;

    public void Dispose()
    {
        Directory.Delete(_home, recursive: true);
        Directory.Delete(_state, recursive: true);
    }

    [Theory]
    [InlineData("chat")]
    [InlineData("doctor")]
    public async Task Verb_FreshHome_OnnxRuntimeWritesNothingThere(string verb)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in verb == "chat"
            ? new[] { DaemonProcess.DaemonPath(), "chat", "--model", TinyModel.Directory, "--prompt", "hi", "--max-tokens", "2", "--seed", "1" }
            : [DaemonProcess.DaemonPath(), "doctor", "--broker-timeout-ms", "200", $"--Runtime:ModelPath={TinyModel.Directory}"])
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["HOME"] = _home;
        start.Environment["STATE_DIRECTORY"] = _state;
        // The switch under test must come from the daemon, not from the environment this test runs in.
        start.Environment.Remove("ORT_DISABLE_TELEMETRY");
        using var process = Process.Start(start)!;
        var outputRead = process.StandardOutput.ReadToEndAsync();
        var errorRead = process.StandardError.ReadToEndAsync();
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        await process.WaitForExitAsync(limit.Token);
        var (output, error) = (await outputRead, await errorRead);

        var written = Directory.EnumerateFileSystemEntries(_home, "*", SearchOption.AllDirectories).ToList();

        Assert.True(verb != "chat" || process.ExitCode == 0, $"chat exited {process.ExitCode}\n{output}\n{error}");
        Assert.True(written.Count == 0, $"{verb} wrote into $HOME: {string.Join(", ", written)}");
        Assert.DoesNotContain("telemetry", error, StringComparison.OrdinalIgnoreCase);
    }
}
