using System.Net.Sockets;
using AutoGlm.Edge.Hosting;
using AutoGlm.Edge.Journal;
using AutoGlm.Edge.Mqtt;
using AutoGlm.Edge.Sensors;
using AutoGlm.Runtime;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Options;

namespace AutoGlm.Edge.Cli;

/// <summary>
/// Runs a long-lived host (the daemon, the sensors) and turns a failed start into one line on stderr naming the key
/// or the resource, with exit code 2, instead of the host's own multi-line stack trace.
/// </summary>
internal static class HostRunner
{
    /// <summary>The category under which the Generic Host logs "Hosting failed to start" with the whole exception.</summary>
    private const string HostCategory = "Microsoft.Extensions.Hosting.Internal.Host";

    /// <summary>Builds the host with <paramref name="build"/> (given a logging hook to apply), runs it, and reports a failed start.</summary>
    public static async Task<int> RunAsync(Func<Action<ILoggingBuilder, IConfiguration>, IHost> build, TextWriter error, CancellationToken cancellationToken)
    {
        var started = false;
        // Until the host has started, its own error log of a failed start is left to the one line below. A rule for
        // the category replaces the configured level for it, so that level is looked up and kept.
        void QuietStart(ILoggingBuilder logging, IConfiguration configuration)
        {
            var minimum = ConfiguredLevel(configuration, HostCategory);
            logging.AddFilter(HostCategory, level => level >= minimum && (Volatile.Read(ref started) || level < LogLevel.Error));
        }

        try
        {
            using var host = build(QuietStart);
            host.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStarted.Register(() => Volatile.Write(ref started, true));
            var loops = host.Services.GetService<BackgroundLoops>();
            await host.RunAsync(cancellationToken).ConfigureAwait(false);

            // A faulted background loop stopped the host: a non-zero exit, so systemd restarts the daemon.
            return loops?.Faulted is null ? 0 : BackgroundLoops.FaultExitCode;
        }
        catch (Exception ex) when (!Volatile.Read(ref started) && ex is not OperationCanceledException)
        {
            await error.WriteLineAsync("error: " + Describe(ex)).ConfigureAwait(false);
            return 2;
        }
    }

    /// <summary>One line for a start-up failure: the known ones name their key or resource; anything else is a bug and keeps its stack trace.</summary>
    internal static string Describe(Exception exception) => exception switch
    {
        OptionsValidationException ex => "invalid configuration: " + string.Join("; ", ex.Failures),
        AggregateException ex when ex.InnerExceptions.All(IsKnown) => string.Join("; ", ex.InnerExceptions.Select(Describe)),
        AggregateException { InnerExceptions.Count: 1 } ex => Describe(ex.InnerExceptions[0]),
        StartupException or SensorException or MqttException or JournalException => exception.Message,
        RuntimeException ex => $"({ex.WireCode}) {ex.Message}",
        IOException { InnerException: AddressInUseException } ex =>
            $"{ex.Message.TrimEnd('.')}: another program (another autoglm-edge?) listens there; change Http:Urls or stop it",
        IOException { InnerException: SocketException { SocketErrorCode: SocketError.AccessDenied } } ex =>
            $"{ex.Message.TrimEnd('.')}: ports below 1024 need CAP_NET_BIND_SERVICE; change Http:Urls",
        InvalidOperationException ex when ex.Message.StartsWith("Failed to convert configuration value", StringComparison.Ordinal) =>
            "invalid configuration: " + ex.Message,
        _ => $"the daemon could not start: {exception}",
    };

    /// <summary>The level <c>Logging:LogLevel</c> sets for <paramref name="category"/>: its longest matching prefix, else Default, else Information.</summary>
    private static LogLevel ConfiguredLevel(IConfiguration configuration, string category)
    {
        var levels = configuration.GetSection("Logging:LogLevel");
        for (var prefix = category; prefix.Length > 0; prefix = prefix.Contains('.', StringComparison.Ordinal) ? prefix[..prefix.LastIndexOf('.')] : "")
        {
            if (Enum.TryParse<LogLevel>(levels[prefix], ignoreCase: true, out var level))
            {
                return level;
            }
        }

        return Enum.TryParse<LogLevel>(levels["Default"], ignoreCase: true, out var fallback) ? fallback : LogLevel.Information;
    }

    private static bool IsKnown(Exception exception) => !Describe(exception).StartsWith("the daemon could not start", StringComparison.Ordinal);
}
