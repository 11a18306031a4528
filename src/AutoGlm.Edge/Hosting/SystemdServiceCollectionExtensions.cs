using AutoGlm.Edge.Engine;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting.Systemd;
using Microsoft.Extensions.Logging.Console;

namespace AutoGlm.Edge.Hosting;

/// <summary>Registration of the daemon's systemd integration.</summary>
public static class SystemdServiceCollectionExtensions
{
    /// <summary>
    /// Adds the systemd notify protocol (READY, STATUS, WATCHDOG, STOPPING over <c>NOTIFY_SOCKET</c>) and, under
    /// journald (<c>JOURNAL_STREAM</c> set), the journald-friendly log format. Register last, so READY=1 follows
    /// every other service's start.
    /// </summary>
    public static IServiceCollection AddSystemdIntegration(this IServiceCollection services)
    {
        services.TryAddSingleton<ISystemdNotifier, SystemdNotifier>();
        services.AddSingleton<IProgressProbe, EngineProgressProbe>();
        services.AddHostedService<SystemdService>();
        if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable("JOURNAL_STREAM")))
        {
            services.Configure<ConsoleLoggerOptions>(o => o.FormatterName = ConsoleFormatterNames.Systemd);
        }

        return services;
    }
}
