using AutoGlm.Cluster.Contract;
using AutoGlm.Edge.Hosting;
using AutoGlm.Edge.Journal;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace AutoGlm.Edge.Mqtt;

/// <summary>Registration of the MQTT front door: the broker, the job journal, the intake, the runner and the publisher.</summary>
public static class MqttServiceCollectionExtensions
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
        services.TryAddSingleton<BackgroundLoops>();
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
}
