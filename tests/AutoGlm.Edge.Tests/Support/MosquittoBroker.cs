using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;

namespace AutoGlm.Edge.Tests.Support;

/// <summary>
/// A real Mosquitto on a free loopback port, with a config file this fixture writes (anonymous, MQTT 5, persistence
/// in a temp folder so a restart keeps sessions and queued messages).
/// </summary>
public sealed class MosquittoBroker : IAsyncDisposable
{
    private readonly string _folder;
    private readonly string _config;
    private readonly ConcurrentQueue<string> _output = new();
    private Process? _process;

    private MosquittoBroker(int port, string folder, string? listenerSettings)
    {
        Port = port;
        _folder = folder;
        _config = Path.Combine(folder, "mosquitto.conf");

        // Started as root (CI), mosquitto drops to its own user; without write access to this folder it cannot save
        // its persistence file, and a restart then forgets every session and the messages queued for it.
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(folder, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
            | UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
            | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute);
        }
        File.WriteAllText(_config, $"""
            listener {port} 127.0.0.1
            {listenerSettings ?? "allow_anonymous true"}
            persistence true
            persistence_location {folder}/
            autosave_interval 1
            max_queued_messages 100000
            max_inflight_messages 0
            log_dest stdout
            log_type error
            log_type warning
            log_type notice
            """);
    }

    public int Port { get; }

    /// <summary>What mosquitto printed (errors and notices).</summary>
    public IEnumerable<string> Output => _output;

    /// <summary>The mosquitto executable (in PATH or /usr/sbin), or null when it is not installed.</summary>
    public static string? Executable() =>
        new[] { "/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "/usr/bin/mosquitto" }.FirstOrDefault(File.Exists);

    /// <summary>Starts a broker on a free port.</summary>
    /// <param name="listenerSettings">Lines for the listener (TLS, passwords); default: anonymous, plain TCP.</param>
    /// <param name="folder">The broker's folder (certificates may already be in it); default: a new one.</param>
    public static async Task<MosquittoBroker> StartAsync(string? listenerSettings = null, string? folder = null)
    {
        var broker = new MosquittoBroker(TestPaths.FreePort(), folder ?? TestPaths.NewFolder("mosquitto"), listenerSettings);
        await broker.StartAgainAsync();
        return broker;
    }

    /// <summary>(Re)starts the process on the same port and waits until it accepts connections.</summary>
    public async Task StartAgainAsync()
    {
        var executable = Executable() ?? throw new InvalidOperationException("mosquitto is not installed (scripts/test.sh installs it: apt-get install mosquitto mosquitto-clients)");
        var info = new ProcessStartInfo(executable, ["-c", _config])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        _process = Process.Start(info)!;
        _process.OutputDataReceived += (_, e) => { if (e.Data is not null) _output.Enqueue(e.Data); };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) _output.Enqueue(e.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        await Poll.UntilAsync(CanConnect, $"mosquitto to listen on {Port} ({string.Join(" | ", _output)})", TimeSpan.FromSeconds(20));
    }

    /// <summary>Stops the broker gracefully (SIGTERM: it saves its persistence file) and waits for it to exit.</summary>
    public async Task StopAsync()
    {
        if (_process is { HasExited: false } process)
        {
            ProcessSignals.Terminate(process.Id);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            await process.WaitForExitAsync(timeout.Token);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is { HasExited: false } process)
        {
            process.Kill();
            await process.WaitForExitAsync();
        }

        _process?.Dispose();
        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (IOException)
        {
            // A leftover temp folder is harmless.
        }
    }

    private bool CanConnect()
    {
        try
        {
            using var client = new TcpClient();
            client.Connect("127.0.0.1", Port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}

/// <summary>POSIX signals for child processes (SIGTERM for a graceful stop; <see cref="Process.Kill()"/> is SIGKILL).</summary>
public static partial class ProcessSignals
{
    private const int SigTerm = 15;

    public static void Terminate(int pid)
    {
        if (Kill(pid, SigTerm) != 0)
        {
            throw new InvalidOperationException($"kill({pid}, SIGTERM) failed: errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}");
        }
    }

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
