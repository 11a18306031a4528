using AutoGlm.Cluster.Contract;
using AutoGlm.Edge.Metrics;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace AutoGlm.Edge.Sensors;

/// <summary>Registration of the sensors.</summary>
public static class SensorsServiceCollectionExtensions
{
    /// <summary>
    /// Adds the <c>Sensors</c> section (validated at start) and the <see cref="SensorService"/>, which does nothing unless a
    /// sensor is configured. Needs <see cref="Mqtt.MqttOptions"/> and <see cref="MqttTopics"/> registered; register after the
    /// MQTT intake, so the embedded broker is up when the sensors connect.
    /// </summary>
    public static IServiceCollection AddSensors(this IServiceCollection services)
    {
        services.AddOptions<SensorsOptions>().BindConfiguration(SensorsOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<SensorsOptions>, SensorsOptionsValidator>();
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(sp => new SensorService(
            sp.GetRequiredService<IOptions<SensorsOptions>>(),
            sp.GetRequiredService<Mqtt.MqttOptions>(),
            sp.GetRequiredService<MqttTopics>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILoggerFactory>(),
            sp.GetService<EdgeMetrics>()));
        services.AddHostedService(sp => sp.GetRequiredService<SensorService>());
        return services;
    }
}
