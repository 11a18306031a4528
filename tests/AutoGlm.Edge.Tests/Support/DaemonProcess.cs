using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.RegularExpressions;

namespace AutoGlm.Edge.Tests.Support;

/// <summary>
/// <c>dotnet autoglm-edge.dll run</c> as a child process, configured the way an operator would (<c>AUTOGLM__…</c>
/// environment and <c>AUTOGLM_STATE_DIR</c>), with its log captured so a test can fail on an error it did not expect.
/// </summary>
public sealed partial class DaemonProcess : IAsyncDisposable
{
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly Dictionary<string, string?> _environment;
    private Process? _process;
    private int _starts;

    /// <param name="stateDirectory">The state folder (journal); kept across restarts of this daemon.</param>
    /// <param name="settings">Configuration as <c>Section__Key</c> → value (without the <c>AUTOGLM__</c> prefix).</param>
    /// <param name="environment">Other environment variables (<c>NOTIFY_SOCKET</c>, …).</param>
    public DaemonProcess(string stateDirectory, IReadOnlyDictionary<string, string> settings, IReadOnlyDictionary<string, string>? environment = null)
    {
        StateDirectory = stateDirectory;
        _environment = new Dictionary<string, string?>
        {
            ["AUTOGLM_STATE_DIR"] = stateDirectory,
            ["AUTOGLM__Runtime__ModelPath"] = TinyModel.Directory,
            ["AUTOGLM__Urls"] = "http://127.0.0.1:0",
            ["AUTOGLM__Http__Urls"] = "http://127.0.0.1:0",
            ["AUTOGLM__Logging__LogLevel__Default"] = "Information",
            ["AUTOGLM__Logging__Console__FormatterName"] = "simple",
            ["AUTOGLM__Logging__Console__FormatterOptions__SingleLine"] = "true",
            ["NOTIFY_SOCKET"] = null,
            ["WATCHDOG_USEC"] = null,
            ["WATCHDOG_PID"] = null,
            ["JOURNAL_STREAM"] = null,
            ["STATE_DIRECTORY"] = null,
            ["CACHE_DIRECTORY"] = null,
            ["CONFIGURATION_DIRECTORY"] = null,
        };
        foreach (var (key, value) in settings)
        {
            _environment["AUTOGLM__" + key] = value;
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            _environment[key] = value;
        }
    }

    public string StateDirectory { get; }

    /// <summary>Every log line so far, across restarts.</summary>
    public IReadOnlyList<string> Lines => [.. _lines];

    public int? ProcessId => _process?.Id;

    /// <summary>The built daemon: <c>src/AutoGlm.Edge/bin/&lt;configuration&gt;/net10.0/autoglm-edge.dll</c>.</summary>
    public static string DaemonPath()
    {
        var baseDir = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var configuration = baseDir.Parent?.Name ?? "Debug";
        var path = Path.Combine(TestPaths.RepositoryRoot(), "src", "AutoGlm.Edge", "bin", configuration, baseDir.Name, "autoglm-edge.dll");
        return File.Exists(path) ? path : throw new FileNotFoundException("the daemon is not built", path);
    }

    /// <summary>Starts the daemon and waits until it has subscribed (its log says it connected to the broker).</summary>
    public async Task StartAsync(TimeSpan? timeout = null)
    {
        Start();
        var process = _process!;
        await Poll.UntilAsync(
            () => CountConnected() > _connectedAtStart || process.HasExited,
            "the daemon to connect to its broker",
            timeout ?? TimeSpan.FromSeconds(90));
        Assert.False(process.HasExited, "the daemon exited at start:\n" + string.Join("\n", Lines.TakeLast(40)));
    }

    /// <summary>Starts the daemon and waits for it to exit (a start that must fail); returns the exit code.</summary>
    public async Task<int> RunToExitAsync(TimeSpan? timeout = null)
    {
        Start();
        using var cancel = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        await _process!.WaitForExitAsync(cancel.Token);
        _process.WaitForExit();
        return _process.ExitCode;
    }

    private int _connectedAtStart;

    private void Start()
    {
        _connectedAtStart = CountConnected();
        var info = new ProcessStartInfo("dotnet", [DaemonPath(), "run"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var (key, value) in _environment)
        {
            if (value is null)
            {
                info.Environment.Remove(key);
            }
            else
            {
                info.Environment[key] = value;
            }
        }

        var start = ++_starts;
        _process = Process.Start(info)!;
        _process.OutputDataReceived += (_, e) => { if (e.Data is not null) _lines.Enqueue($"[{start}] {e.Data}"); };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) _lines.Enqueue($"[{start}] {e.Data}"); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    /// <summary>SIGKILL: no shutdown code runs (a crash, a power cut as far as the process can tell).</summary>
    public async Task KillAsync()
    {
        if (_process is { HasExited: false } process)
        {
            process.Kill();
            await process.WaitForExitAsync();
        }
    }

    /// <summary>SIGTERM, then waits for the exit code.</summary>
    public async Task<int> TerminateAsync(TimeSpan? timeout = null)
    {
        var process = _process ?? throw new InvalidOperationException("not started");
        ProcessSignals.Terminate(process.Id);
        using var cancel = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(cancel.Token);
        return process.ExitCode;
    }

    /// <summary>Fails the test when the daemon logged an error or a critical line whose event id is not in <paramref name="expectedEventIds"/>.</summary>
    public void AssertNoUnexpectedErrors(params int[] expectedEventIds)
    {
        var unexpected = Lines
            .Where(line => ErrorLine().Match(line) is { Success: true } match && !expectedEventIds.Contains(int.Parse(match.Groups["id"].Value, System.Globalization.CultureInfo.InvariantCulture)))
            .ToList();
        Assert.True(unexpected.Count == 0, "the daemon logged unexpected errors:\n" + string.Join("\n", unexpected));
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process?.Dispose();
        try
        {
            Directory.Delete(StateDirectory, recursive: true);
        }
        catch (IOException)
        {
            // A leftover temp folder is harmless.
        }
    }

    private int CountConnected() => _lines.Count(l => l.Contains("Connected to the MQTT broker", StringComparison.Ordinal));

    // The simple console format ("fail: Category[id]") and the systemd one ("<3>Category[id]").
    [GeneratedRegex(@"((fail|crit): |<[0-3]>)[^\[]*\[(?<id>\d+)\]")]
    private static partial Regex ErrorLine();
}
