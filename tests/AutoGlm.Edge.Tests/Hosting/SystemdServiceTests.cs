using AutoGlm.Edge.Hosting;
using AutoGlm.Edge.Tests.Support;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Hosting.Internal;
using Microsoft.Extensions.Hosting.Systemd;
using Microsoft.Extensions.Logging.Abstractions;

namespace AutoGlm.Edge.Tests.Hosting;

public sealed class SystemdServiceTests
{
    [Fact]
    public async Task Watchdog_StalledProbe_WithholdsPingsUntilProgressResumes()
    {
        var notifier = new RecordingNotifier();
        var lifetime = new TestLifetime();
        var probe = new SwitchProbe { Healthy = false };
        using var service = new SystemdService(notifier, lifetime, [probe], TimeProvider.System, NullLogger<SystemdService>.Instance, TimeSpan.FromMilliseconds(200));

        await service.StartAsync(CancellationToken.None);
        lifetime.Started.Cancel();
        await Poll.UntilAsync(() => notifier.States.Any(s => s.StartsWith("STATUS=stalled", StringComparison.Ordinal)), "the stalled status");
        Assert.DoesNotContain("WATCHDOG=1", notifier.States);

        probe.Healthy = true;
        await Poll.UntilAsync(() => notifier.States.Contains("WATCHDOG=1"), "a watchdog ping after progress resumed");
        lifetime.Stopping.Cancel();
        await service.StopAsync(CancellationToken.None);

        var states = notifier.States;
        Assert.Equal(0, states.IndexOf("READY=1"));
        Assert.True(states.IndexOf("STOPPING=1") > states.IndexOf("WATCHDOG=1"));
    }

    [Fact]
    public async Task StartAsync_UnderSystemdLifetime_LeavesReadyAndStoppingToIt()
    {
        var notifier = new RecordingNotifier();
        var lifetime = new TestLifetime();
        var environment = new HostingEnvironment { ApplicationName = "test", EnvironmentName = Environments.Production, ContentRootPath = AppContext.BaseDirectory };
        using var systemd = new SystemdLifetime(environment, lifetime, notifier, NullLoggerFactory.Instance);
        using var service = new SystemdService(notifier, lifetime, [new SwitchProbe { Healthy = true }], TimeProvider.System, NullLogger<SystemdService>.Instance, TimeSpan.FromMilliseconds(200), systemd);

        await service.StartAsync(CancellationToken.None);
        lifetime.Started.Cancel();
        await Poll.UntilAsync(() => notifier.States.Contains("WATCHDOG=1"), "a watchdog ping");
        lifetime.Stopping.Cancel();
        await service.StopAsync(CancellationToken.None);

        // UseSystemd's lifetime says READY=1 and STOPPING=1 itself (from its own start, not called here): this service only reports.
        var states = notifier.States;
        Assert.Contains(states, s => s.StartsWith("STATUS=ready", StringComparison.Ordinal));
        Assert.Contains("STATUS=stopping", states);
        Assert.DoesNotContain("READY=1", states);
        Assert.DoesNotContain("STOPPING=1", states);
    }

    private sealed class RecordingNotifier : ISystemdNotifier
    {
        private readonly List<string> _states = [];

        public bool IsEnabled => true;

        public List<string> States
        {
            get
            {
                lock (_states)
                {
                    return [.. _states];
                }
            }
        }

        public void Notify(ServiceState state)
        {
            lock (_states)
            {
                _states.AddRange(state.ToString().Split('\n'));
            }
        }
    }

    private sealed class SwitchProbe : IProgressProbe
    {
        public volatile bool Healthy;

        public string ProbeName => "test loop";

        public bool IsMakingProgress(TimeSpan limit) => Healthy;
    }

    private sealed class TestLifetime : IHostApplicationLifetime
    {
        public CancellationTokenSource Started { get; } = new();

        public CancellationTokenSource Stopping { get; } = new();

        public CancellationToken ApplicationStarted => Started.Token;

        public CancellationToken ApplicationStopping => Stopping.Token;

        public CancellationToken ApplicationStopped => CancellationToken.None;

        public void StopApplication() => Stopping.Cancel();
    }
}
