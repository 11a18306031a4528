using System.Globalization;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using AutoGlm.Edge.Hosting;
using AutoGlm.Runtime;
using AutoGlm.Runtime.Building;
using AutoGlm.Runtime.Onnx;
using AutoGlm.Runtime.Packages;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.ML.OnnxRuntime;

namespace AutoGlm.Edge.Cli;

/// <summary>How a <see cref="DoctorCheck"/> came out. Only <see cref="Fail"/> makes <c>doctor</c> exit non-zero.</summary>
internal enum CheckStatus
{
    Ok,
    Info,
    Warn,
    Fail,
}

/// <summary>One line of the <c>doctor</c> report.</summary>
internal sealed record DoctorCheck(string Name, CheckStatus Status, string Detail);

/// <summary>
/// The checks behind <c>autoglm-edge doctor</c>: the machine, the execution providers, the model package, the state
/// folder, secrets and the MQTT broker, read from the same configuration the daemon would use.
/// </summary>
/// <param name="configuration">The daemon's configuration (without secrets resolved).</param>
/// <param name="stateDirectory">The state folder the daemon would use.</param>
/// <param name="brokerTimeout">How long the TCP connect to the broker may take.</param>
internal sealed class Doctor(IConfiguration configuration, string stateDirectory, TimeSpan brokerTimeout)
{
    /// <summary>The MQTT broker host when <c>Mqtt:Host</c> is not set.</summary>
    public const string DefaultBrokerHost = "127.0.0.1";

    /// <summary>The MQTT broker port when <c>Mqtt:Port</c> is not set.</summary>
    public const int DefaultBrokerPort = 1883;

    /// <summary>Runs every check; none throws.</summary>
    public async Task<IReadOnlyList<DoctorCheck>> RunAsync(CancellationToken cancellationToken)
    {
        var checks = new List<DoctorCheck> { Machine() };
        checks.AddRange(ExecutionProviders());
        checks.Add(ModelPackageCheck());
        checks.Add(KvCache());
        checks.Add(StateFolder());
        checks.Add(JournalCheck());
        checks.Add(Secrets());
        checks.Add(await BrokerAsync(cancellationToken).ConfigureAwait(false));
        return checks;
    }

    internal static DoctorCheck Machine()
    {
        var os = OsName();
        var (total, available) = Memory();
        var jetson = File.Exists("/etc/nv_tegra_release") ? ", " + File.ReadLines("/etc/nv_tegra_release").FirstOrDefault()?.TrimStart('#', ' ') : "";
        return new DoctorCheck("machine", CheckStatus.Info,
            $"{os}{jetson}, {RuntimeInformation.OSArchitecture.ToString().ToLowerInvariant()}, {Environment.ProcessorCount} cores, " +
            $"{Gib(total)} memory ({Gib(available)} available), .NET {Environment.Version}");
    }

    /// <summary>Which providers this ONNX Runtime build offers, and which one each setting (and the configured one) ends up with.</summary>
    internal IEnumerable<DoctorCheck> ExecutionProviders()
    {
        IReadOnlyList<string> available;
        try
        {
            available = ExecutionProviderSelector.Available();
        }
        catch (Exception ex) when (ex is OnnxRuntimeException or DllNotFoundException or TypeInitializationException)
        {
            return [new DoctorCheck("onnxruntime", CheckStatus.Fail, $"ONNX Runtime cannot be loaded: {ex.Message}")];
        }

        var checks = new List<DoctorCheck> { new("onnxruntime", CheckStatus.Info, $"offers {string.Join(", ", available)}") };
        var configured = configuration["Runtime:ExecutionProvider"] ?? "cpu";
        var deviceId = int.TryParse(configuration["Runtime:DeviceId"], NumberStyles.Integer, CultureInfo.InvariantCulture, out var id) ? id : 0;
        foreach (var provider in ExecutionProviderSelector.KnownProviders)
        {
            var used = WouldUse(provider, deviceId, out var reason);
            var isConfigured = string.Equals(provider, configured.Trim(), StringComparison.OrdinalIgnoreCase);
            var status = used == provider ? CheckStatus.Ok : isConfigured ? CheckStatus.Warn : CheckStatus.Info;
            var detail = used == provider ? "can be created" : $"falls back to {used}{reason}";
            checks.Add(new DoctorCheck($"provider {provider}", status, detail + (isConfigured ? "  <- Runtime:ExecutionProvider" : "")));
        }

        if (!ExecutionProviderSelector.KnownProviders.Contains(configured.Trim().ToLowerInvariant()))
        {
            checks.Add(new DoctorCheck("provider", CheckStatus.Fail, $"Runtime:ExecutionProvider '{configured}' is not one of {string.Join(", ", ExecutionProviderSelector.KnownProviders)}"));
        }
        else
        {
            var used = WouldUse(configured.Trim().ToLowerInvariant(), deviceId, out _);
            checks.Add(new DoctorCheck("provider", used == configured.Trim().ToLowerInvariant() ? CheckStatus.Ok : CheckStatus.Warn,
                $"Runtime:ExecutionProvider={configured}: the daemon would run on {used}"));
        }

        return checks;
    }

    private static string WouldUse(string provider, int deviceId, out string reason)
    {
        var log = new CollectingLogger();
        using var options = new Microsoft.ML.OnnxRuntime.SessionOptions();
        var used = ExecutionProviderSelector.Apply(options, provider, deviceId, tensorRtCacheDirectory: null, log);
        reason = log.Messages.Count > 0 ? " (" + log.Messages[0] + ")" : "";
        return used;
    }

    internal DoctorCheck ModelPackageCheck()
    {
        var configured = configuration["Runtime:ModelPath"];
        if (string.IsNullOrWhiteSpace(configured))
        {
            var builtIn = Path.Combine(stateDirectory, "models", SyntheticModelSpec.Tiny.Name);
            return ModelPackage.Verify(builtIn).IsValid
                ? new DoctorCheck("model", CheckStatus.Ok, $"built-in {SyntheticModelSpec.Tiny.Name} at {builtIn}")
                : new DoctorCheck("model", CheckStatus.Info, $"built-in {SyntheticModelSpec.Tiny.Name}: not built yet, the daemon builds it into {builtIn} on first start");
        }

        var report = ModelPackage.Verify(configured);
        if (!report.IsValid)
        {
            var shown = string.Join("; ", report.Problems.Take(3).Select(p => p.ToString()));
            var more = report.Problems.Count > 3 ? $" (and {report.Problems.Count - 3} more)" : "";
            return new DoctorCheck("model", CheckStatus.Fail, $"Runtime:ModelPath {configured}: {(report.Problems.Count == 0 ? "no readable manifest" : shown + more)}");
        }

        var manifestHash = ModelPackage.Sha256Of(Path.Combine(configured, ModelPackage.ManifestFileName));
        if (configuration["Runtime:ModelManifestSha256"] is { Length: > 0 } expected && !string.Equals(expected, manifestHash, StringComparison.OrdinalIgnoreCase))
        {
            return new DoctorCheck("model", CheckStatus.Fail, $"{configured}: manifest.json has SHA-256 {manifestHash}, but Runtime:ModelManifestSha256 expects {expected}");
        }

        var adapters = report.Manifest!.Adapters is { } a
            ? string.Join(" and ", new[] { a.Vision is null ? null : "vision", a.Audio is null ? null : "audio" }.OfType<string>()) + " adapters"
            : "text only (no adapters: images and audio are refused)";
        return new DoctorCheck("model", CheckStatus.Ok, $"{report.Manifest.Name} at {configured}: {report.VerifiedFiles.Count} files verified, {adapters}, manifest sha256 {manifestHash}");
    }

    /// <summary>The KV cache the configured slots and context take for the configured (or built-in) model, against free memory.</summary>
    internal DoctorCheck KvCache()
    {
        var path = configuration["Runtime:ModelPath"];
        var architecture = string.IsNullOrWhiteSpace(path) ? SyntheticModelSpec.Tiny.Architecture : ModelPackage.Verify(path).Manifest?.Architecture;
        if (architecture is null)
        {
            return new DoctorCheck("kv cache", CheckStatus.Info, "unknown until the model package verifies");
        }

        var options = configuration.GetSection(RuntimeOptions.Section).Get<AutoGlm.Runtime.Generation.EngineOptions>() ?? new();
        var bytes = options.KvCacheBytes(architecture);
        var (_, available) = Memory();
        var context = options.MaxSequenceLength > 0 ? Math.Min(options.MaxSequenceLength, architecture.ContextLength) : architecture.ContextLength;
        var detail = $"{bytes / (1024.0 * 1024):F1} MiB {(options.KvCacheFloat16 ? "float16" : "float32")} for Runtime:MaxBatchSize={options.MaxBatchSize} slots × {context} positions ({Gib(available)} memory available)";
        return new DoctorCheck("kv cache", available > 0 && bytes > available ? CheckStatus.Warn : CheckStatus.Ok, detail);
    }

    internal DoctorCheck StateFolder()
    {
        try
        {
            Directory.CreateDirectory(stateDirectory);
            var probe = Path.Combine(stateDirectory, $".doctor-{Environment.ProcessId}");
            File.WriteAllText(probe, "");
            File.Delete(probe);
            var free = new DriveInfo(Path.GetPathRoot(Path.GetFullPath(stateDirectory)) ?? "/").AvailableFreeSpace;
            return new DoctorCheck("state", CheckStatus.Ok, $"{stateDirectory} is writable, {Gib(free)} free on its file system");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return new DoctorCheck("state", CheckStatus.Fail, $"{stateDirectory} is not writable: {ex.Message}");
        }
    }

    /// <summary>
    /// The job journal (<c>Journal:Path</c>, else <c>journal.db</c> in the state folder): SQLite's <c>quick_check</c>, its
    /// unfinished jobs, and any damaged journal the daemon moved aside at a start.
    /// </summary>
    internal DoctorCheck JournalCheck()
    {
        var path = Path.GetFullPath(configuration["Journal:Path"] is { Length: > 0 } configured ? configured : Path.Combine(stateDirectory, "journal.db"));
        var moved = Journal.JournalFile.MovedAside(path);
        var movedNote = moved.Count == 0 ? "" : $"; {moved.Count} damaged journal(s) moved aside, the latest {moved[^1]} (jobs in it did not run; delete it once looked at)";
        Journal.JournalCheck check;
        try
        {
            check = Journal.JournalFile.Check(path);
        }
        catch (Microsoft.Data.Sqlite.SqliteException ex)
        {
            return new DoctorCheck("journal", CheckStatus.Fail, $"{path} cannot be opened: {ex.Message}{movedNote}");
        }

        if (check.Damage is { } damage)
        {
            var held = check.Unfinished is { } n ? $"{n} unfinished jobs" : "an unknown number of unfinished jobs";
            return new DoctorCheck("journal", CheckStatus.Fail, $"{path} is damaged ({damage}); it holds {held}; the daemon moves it aside and starts a new one at its next start{movedNote}");
        }

        var status = moved.Count > 0 ? CheckStatus.Warn : check.Exists ? CheckStatus.Ok : CheckStatus.Info;
        var detail = check.Exists ? $"{path} passes quick_check, {check.Unfinished} unfinished jobs" : $"{path} does not exist yet (created at the first start)";
        return new DoctorCheck("journal", status, detail + movedNote);
    }

    internal DoctorCheck Secrets()
    {
        var problems = SecretReferences.Problems(configuration);
        return problems.Count == 0
            ? new DoctorCheck("secrets", CheckStatus.Ok, $"{SecretReferences.Count(configuration)} reference(s) resolve")
            : new DoctorCheck("secrets", CheckStatus.Fail, string.Join("; ", problems));
    }

    /// <summary>
    /// A TCP connect to <c>Mqtt:Host</c>:<c>Mqtt:Port</c>. Required (a failure fails) unless the broker is the embedded
    /// one. For the embedded broker, whatever answers must be this daemon's: the process owning the listening socket
    /// (when it can be seen) must be an <c>autoglm-edge</c>, and the broker must carry this device's retained
    /// <c>…/status</c> as <c>online</c>; another program on the port fails, since the daemon could not start its broker there.
    /// </summary>
    internal async Task<DoctorCheck> BrokerAsync(CancellationToken cancellationToken)
    {
        var embedded = !string.Equals(configuration["Mqtt:Broker"], "external", StringComparison.OrdinalIgnoreCase);
        var host = configuration["Mqtt:Host"] is { Length: > 0 } h ? h : DefaultBrokerHost;
        if (embedded && Mqtt.BrokerAddresses.Parse(host, out _) is { } listening)
        {
            // Where the daemon's own clients connect: Mqtt:Host may list both loopbacks or name a wildcard.
            host = listening.ConnectHost;
        }

        var port = int.TryParse(configuration["Mqtt:Port"], NumberStyles.Integer, CultureInfo.InvariantCulture, out var p) ? p : DefaultBrokerPort;
        var what = embedded ? "embedded broker" : "broker";
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(brokerTimeout);
        using (var client = new TcpClient())
        {
            try
            {
                await client.ConnectAsync(host, port, timeout.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is SocketException or OperationCanceledException)
            {
                var why = ex is OperationCanceledException ? $"no answer within {brokerTimeout.TotalMilliseconds:F0} ms" : ex.Message;
                return embedded
                    ? new DoctorCheck("mqtt", CheckStatus.Info, $"{what} {host}:{port}: {why} (the daemon starts it; is the daemon running?)")
                    : new DoctorCheck("mqtt", CheckStatus.Fail, $"{what} {host}:{port} is not reachable: {why}");
            }
        }

        return embedded
            ? await WhoseBrokerAsync(host, port, cancellationToken).ConfigureAwait(false)
            : new DoctorCheck("mqtt", CheckStatus.Ok, $"{what} {host}:{port} accepts connections");
    }

    /// <summary>Tells whether the broker answering where the embedded one should be is this daemon's.</summary>
    private async Task<DoctorCheck> WhoseBrokerAsync(string host, int port, CancellationToken cancellationToken)
    {
        const string Remedy = "the daemon cannot start its embedded broker there: stop that program, use it with Mqtt:Broker=external, or set another Mqtt:Port";
        var where = $"{host}:{port}";
        var owner = OperatingSystem.IsLinux() ? BrokerIdentity.ListenerOf(port) : null;
        if (owner is { IsAutoGlmEdge: false })
        {
            return new DoctorCheck("mqtt", CheckStatus.Fail, $"{where} is held by another program, not this daemon's embedded broker: PID {owner.Pid} ({owner.Command}); {Remedy}");
        }

        var options = configuration.GetSection(Mqtt.MqttOptions.Section).Get<Mqtt.MqttOptions>() ?? new();
        var topics = new AutoGlm.Cluster.Contract.MqttTopics(options.ResolvedTopicPrefix);
        var answer = await BrokerIdentity.ReadStatusAsync(host, port, topics.Status, options.Username, ResolvedBrokerPassword(), brokerTimeout, cancellationToken).ConfigureAwait(false);
        var held = owner is null ? "" : $" (PID {owner.Pid}, {owner.Command})";
        return answer switch
        {
            { Kind: BrokerKind.NotMqtt } => new DoctorCheck("mqtt", CheckStatus.Fail, $"{where} accepts connections but is not an MQTT broker ({answer.Reason}){held}; {Remedy}"),
            { Kind: BrokerKind.RefusedLogin } => new DoctorCheck("mqtt", CheckStatus.Warn, $"an MQTT broker on {where}{held} refused the doctor's login ({answer.Reason}; Mqtt:Username/Mqtt:Password): cannot tell whether it is this daemon's"),
            { Status: { State: "online" } status } when status.DeviceId == options.ResolvedDeviceId =>
                new DoctorCheck("mqtt", CheckStatus.Ok, $"embedded broker {where} is this daemon's{held}: {topics.Status} is online (version {status.Version}, started {status.StartedAt})"),
            { Status: { } status } when owner is not null =>
                new DoctorCheck("mqtt", CheckStatus.Warn, $"embedded broker {where} is an autoglm-edge's{held}, but {topics.Status} is {status.State ?? "not a status document"}: is it still starting, or another device id?"),
            _ when owner is not null =>
                new DoctorCheck("mqtt", CheckStatus.Warn, $"embedded broker {where} is an autoglm-edge's{held}, but it holds no retained {topics.Status}: is it still starting, or another device id?"),
            _ => new DoctorCheck("mqtt", CheckStatus.Fail, $"an MQTT broker answers on {where}, but not this daemon's: it holds no retained {topics.Status} reading online; {Remedy}"),
        };
    }

    /// <summary><c>Mqtt:Password</c> with an <c>env:</c> or <c>file:</c> reference resolved (as the daemon would); null when it cannot be.</summary>
    private string? ResolvedBrokerPassword()
    {
        var resolved = new ConfigurationManager();
        resolved.AddConfiguration(configuration);
        try
        {
            SecretReferences.Resolve(resolved);
        }
        catch (Microsoft.Extensions.Options.OptionsValidationException)
        {
            // The secrets check reports it.
            return null;
        }

        return resolved["Mqtt:Password"];
    }

    private static string OsName()
    {
        const string osRelease = "/etc/os-release";
        var pretty = File.Exists(osRelease)
            ? File.ReadLines(osRelease).FirstOrDefault(l => l.StartsWith("PRETTY_NAME=", StringComparison.Ordinal))?["PRETTY_NAME=".Length..].Trim('"')
            : null;
        return pretty ?? RuntimeInformation.OSDescription;
    }

    private static (long Total, long Available) Memory()
    {
        const string meminfo = "/proc/meminfo";
        if (!File.Exists(meminfo))
        {
            var info = GC.GetGCMemoryInfo();
            return (info.TotalAvailableMemoryBytes, info.TotalAvailableMemoryBytes - info.MemoryLoadBytes);
        }

        long Field(string name) => File.ReadLines(meminfo).FirstOrDefault(l => l.StartsWith(name + ":", StringComparison.Ordinal)) is { } line
            ? long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024
            : 0;
        return (Field("MemTotal"), Field("MemAvailable"));
    }

    private static string Gib(long bytes) => $"{bytes / (1024.0 * 1024 * 1024):F1} GiB";

    /// <summary>Keeps the selector's fallback warnings so the report can say why a provider is not used.</summary>
    private sealed class CollectingLogger : ILogger
    {
        public List<string> Messages { get; } = [];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Messages.Add(formatter(state, exception));
    }
}
