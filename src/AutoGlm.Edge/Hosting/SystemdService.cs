using System.Globalization;
using Microsoft.Extensions.Hosting.Systemd;

namespace AutoGlm.Edge.Hosting;

/// <summary>
/// The systemd notify protocol where <c>NOTIFY_SOCKET</c> is set: <c>READY=1</c> once the host has started (every
/// hosted service's StartAsync done: model loaded, MQTT subscribed), <c>WATCHDOG=1</c> every half
/// <c>WATCHDOG_USEC</c> while every <see cref="IProgressProbe"/> makes progress, <c>STOPPING=1</c> on stop.
/// </summary>
/// <remarks>
/// Under systemd, <c>UseSystemd()</c>'s <see cref="SystemdLifetime"/> sends READY=1 and STOPPING=1 itself; this service
/// then sends only its status lines and the watchdog pings. Where .NET does not detect systemd as the parent (a test
/// harness, <c>systemd-run</c>, a container) but <c>NOTIFY_SOCKET</c> is set, it sends READY=1 and STOPPING=1 too.
/// </remarks>
public sealed partial class SystemdService : IHostedService, IDisposable
{
    private readonly ISystemdNotifier _notifier;
    private readonly IHostApplicationLifetime _lifetime;
    private readonly IEnumerable<IProgressProbe> _probes;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly TimeSpan? _watchdog;
    private readonly bool _lifetimeNotifies;
    private Task? _watchdogLoop;

    public SystemdService(ISystemdNotifier notifier, IHostApplicationLifetime lifetime, IHostLifetime hostLifetime, IEnumerable<IProgressProbe> probes, TimeProvider time, ILogger<SystemdService> logger)
        : this(notifier, lifetime, probes, time, logger, WatchdogTimeout(), hostLifetime)
    {
    }

    // For testing: an explicit watchdog timeout instead of WATCHDOG_USEC, and the host's lifetime (null: not systemd's).
    internal SystemdService(ISystemdNotifier notifier, IHostApplicationLifetime lifetime, IEnumerable<IProgressProbe> probes, TimeProvider time, ILogger<SystemdService> logger, TimeSpan? watchdog, IHostLifetime? hostLifetime = null)
    {
        _notifier = notifier;
        _lifetime = lifetime;
        _probes = probes;
        _time = time;
        _logger = logger;
        _watchdog = watchdog;
        _lifetimeNotifies = hostLifetime is SystemdLifetime;
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (!_notifier.IsEnabled)
        {
            return Task.CompletedTask;
        }

        _lifetime.ApplicationStarted.Register(() =>
        {
            _notifier.Notify(new ServiceState(_lifetimeNotifies ? "STATUS=ready: model loaded, taking jobs" : "READY=1\nSTATUS=ready: model loaded, taking jobs"));
            Log.Ready(_logger, _watchdog?.TotalSeconds ?? 0);
            if (_watchdog is { } timeout)
            {
                _watchdogLoop = Task.Run(() => WatchdogLoopAsync(timeout, _stopping.Token));
            }
        });
        _lifetime.ApplicationStopping.Register(() => _notifier.Notify(new ServiceState(_lifetimeNotifies ? "STATUS=stopping" : "STOPPING=1\nSTATUS=stopping")));
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_watchdogLoop is not null)
        {
            await _watchdogLoop.ConfigureAwait(false);
        }
    }

    public void Dispose() => _stopping.Dispose();

    /// <summary>The watchdog timeout systemd asked for, when it is meant for this process.</summary>
    internal static TimeSpan? WatchdogTimeout()
    {
        var usec = Environment.GetEnvironmentVariable("WATCHDOG_USEC");
        var pid = Environment.GetEnvironmentVariable("WATCHDOG_PID");
        if (!long.TryParse(usec, NumberStyles.None, CultureInfo.InvariantCulture, out var micros) || micros <= 0)
        {
            return null;
        }

        if (!string.IsNullOrEmpty(pid) && pid != Environment.ProcessId.ToString(CultureInfo.InvariantCulture))
        {
            return null;
        }

        return TimeSpan.FromMicroseconds(micros);
    }

    private async Task WatchdogLoopAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(timeout / 2, _time);
        var withheld = false;
        try
        {
            do
            {
                var stalled = _probes.FirstOrDefault(p => !p.IsMakingProgress(timeout));
                if (stalled is null)
                {
                    _notifier.Notify(new ServiceState("WATCHDOG=1"));
                    if (withheld)
                    {
                        Log.Resumed(_logger);
                        withheld = false;
                    }
                }
                else if (!withheld)
                {
                    withheld = true;
                    Log.Withheld(_logger, stalled.ProbeName, timeout.TotalSeconds);
                    _notifier.Notify(new ServiceState($"STATUS=stalled: the {stalled.ProbeName} made no progress; watchdog pings withheld"));
                }
            }
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Log.WatchdogStopped(_logger);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1301, LogLevel.Information, "Told systemd READY=1 (watchdog {WatchdogSeconds} s, 0 = off)")]
        public static partial void Ready(ILogger logger, double watchdogSeconds);

        [LoggerMessage(1302, LogLevel.Error, "The {Probe} made no progress for {Seconds} s; withholding watchdog pings so systemd restarts the daemon")]
        public static partial void Withheld(ILogger logger, string probe, double seconds);

        [LoggerMessage(1303, LogLevel.Information, "Progress again; watchdog pings resumed")]
        public static partial void Resumed(ILogger logger);

        [LoggerMessage(1304, LogLevel.Debug, "Watchdog loop stopped")]
        public static partial void WatchdogStopped(ILogger logger);
    }
}
