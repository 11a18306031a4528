using System.CommandLine;
using AutoGlm.Edge.Hosting;
using AutoGlm.Edge.Mqtt;
using AutoGlm.Edge.Sensors;
using Microsoft.Extensions.Options;

namespace AutoGlm.Edge.Cli;

/// <summary>
/// <c>sensors</c>: only the sensors (section <c>Sensors</c>), publishing their jobs to the broker of section <c>Mqtt</c>;
/// for a Pi whose model runs on another device. No model, no HTTP, no embedded broker.
/// </summary>
internal static class SensorsCommand
{
    public static Command Create()
    {
        var command = new Command(
            "sensors",
            "Run only the sensors (Sensors section) against an MQTT broker (Mqtt section; Mqtt:DeviceId names the device that answers). Extra --Section:Key=value arguments are configuration.");
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction((parse, cancellationToken) => RunAsync(parse, cancellationToken));
        return command;
    }

    /// <summary>Builds the sensors-only host from configuration arguments (<c>--Section:Key=value</c>).</summary>
    /// <param name="args">The configuration arguments.</param>
    /// <param name="logging">Applied to the host's logging before it is built.</param>
    /// <exception cref="StartupException">No sensor is configured.</exception>
    public static IHost Build(string[] args, Action<ILoggingBuilder, IConfiguration>? logging = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = AppContext.BaseDirectory });
        EdgeConfiguration.AddSources(builder.Configuration, args);
        SecretReferences.Resolve(builder.Configuration);
        builder.Services.AddSingleton(EdgeHost.CheckConfiguration(builder.Configuration, new Dictionary<string, Type[]>
        {
            [MqttOptions.Section] = [typeof(MqttOptions)],
            [SensorsOptions.Section] = [typeof(SensorsOptions)],
        }));
        logging?.Invoke(builder.Logging, builder.Configuration);
        builder.Services.AddSystemd();
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddMqttSettings();
        builder.Services.AddSensors();
        var host = builder.Build();
        if (!host.Services.GetRequiredService<IOptions<SensorsOptions>>().Value.IsEnabled)
        {
            host.Dispose();
            throw new StartupException("no sensors configured: set Sensors:Devices:0:Name, :Kind and :Triggers (see docs/sensors.md)");
        }

        EdgeHost.WarnUnknownKeys(host.Services);
        return host;
    }

    private static async Task<int> RunAsync(ParseResult parse, CancellationToken cancellationToken)
    {
        var error = parse.InvocationConfiguration.Error;
        if (ConfigurationArguments.Problem(parse.UnmatchedTokens, "sensors") is { } problem)
        {
            await error.WriteLineAsync("error: " + problem).ConfigureAwait(false);
            return 2;
        }

        return await HostRunner.RunAsync(quietStart => Build([.. parse.UnmatchedTokens], quietStart), error, cancellationToken).ConfigureAwait(false);
    }
}
