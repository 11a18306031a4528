using AutoGlm.Edge.Journal;
using AutoGlm.Edge.Mqtt;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting.Systemd;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;

namespace AutoGlm.Edge.Hosting;

/// <summary>Registrations of the daemon's MQTT intake, job journal and systemd integration.</summary>
public static class DaemonServiceCollectionExtensions
{
    /// <summary>
    /// Adds the embedded broker, the job journal and the MQTT intake (sections <c>Mqtt</c> and <c>Journal</c>, validated at
    /// start). Register after the engine: hosted services start in registration order.
    /// </summary>
    public static IServiceCollection AddMqttIntake(this IServiceCollection services)
    {
        services.AddMqttSettings();
        services.AddOptions<JournalOptions>().BindConfiguration(JournalOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<JournalOptions>, JournalOptionsValidator>();
        services.AddOptions<HostOptions>().Configure<IOptions<MqttOptions>>((host, mqtt) =>
        {
            // Room for the grace period plus flushing results and saying offline.
            var needed = mqtt.Value.ShutdownGracePeriod + TimeSpan.FromSeconds(10);
            host.ShutdownTimeout = host.ShutdownTimeout < needed ? needed : host.ShutdownTimeout;
        });

        services.AddSingleton(sp =>
        {
            var options = sp.GetRequiredService<IOptions<JournalOptions>>().Value;
            var path = string.IsNullOrWhiteSpace(options.Path) ? Path.Combine(sp.GetRequiredService<StateLocation>().Directory, "journal.db") : options.Path;
            return JournalFile.Open(path, options.Synchronous.Equals("Full", StringComparison.OrdinalIgnoreCase), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(JobJournal)));
        });
        services.AddSingleton(sp => new JobQueue(sp.GetRequiredService<MqttOptions>().QueueCapacity));
        services.AddSingleton(sp => new JobParser(sp.GetRequiredService<MqttOptions>()));
        services.AddSingleton<JobCounters>();
        services.AddSingleton<MqttConnection>();
        services.AddSingleton<ResultPublisher>();
        services.AddSingleton<JobRunner>();
        services.AddSingleton<ResponseTopicPolicy>();
        services.AddSingleton<JobIntake>();
        services.AddSingleton<MqttService>();
        services.AddSingleton<IProgressProbe>(sp => sp.GetRequiredService<MqttService>());
        services.AddSingleton<IReadinessCheck>(sp => sp.GetRequiredService<MqttService>());

        services.AddHostedService<EmbeddedBroker>();
        services.AddHostedService(sp => sp.GetRequiredService<MqttService>());
        services.AddSingleton<Rules.TopicRuleService>();
        services.AddHostedService(sp => sp.GetRequiredService<Rules.TopicRuleService>());
        services.AddSingleton<HomeAssistant.HomeAssistantDiscovery>();
        services.AddHostedService(sp => sp.GetRequiredService<HomeAssistant.HomeAssistantDiscovery>());
        return services;
    }

    /// <summary>
    /// Adds the <c>Mqtt</c> section (validated at start) with the <see cref="MqttOptions"/> and <see cref="MqttTopics"/> in use:
    /// what every MQTT client of the daemon (the intake, the sensors) connects with.
    /// </summary>
    public static IServiceCollection AddMqttSettings(this IServiceCollection services)
    {
        services.AddOptions<MqttOptions>().BindConfiguration(MqttOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<MqttOptions>, MqttOptionsValidator>();
        services.AddSingleton<IValidateOptions<MqttOptions>, Rules.TopicRulesValidator>();
        services.AddSingleton(sp => sp.GetRequiredService<IOptions<MqttOptions>>().Value);
        services.AddSingleton(sp => new MqttTopics(sp.GetRequiredService<MqttOptions>().ResolvedTopicPrefix));
        return services;
    }

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
