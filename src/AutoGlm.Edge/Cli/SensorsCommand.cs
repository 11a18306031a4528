using System.CommandLine;
using AutoGlm.Edge.Hosting;
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
    public static IHost Build(string[] args)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = AppContext.BaseDirectory });
        EdgeConfiguration.AddSources(builder.Configuration, args);
        SecretReferences.Resolve(builder.Configuration);
        builder.Services.AddSystemd();
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddMqttSettings();
        builder.Services.AddSensors();
        return builder.Build();
    }

    private static async Task<int> RunAsync(ParseResult parse, CancellationToken cancellationToken)
    {
        var error = parse.InvocationConfiguration.Error;
        try
        {
            using var host = Build([.. parse.UnmatchedTokens]);
            if (!host.Services.GetRequiredService<IOptions<SensorsOptions>>().Value.IsEnabled)
            {
                await error.WriteLineAsync("error: no sensors configured: set Sensors:Devices:0:Name, :Kind and :Triggers (see docs/sensors.md)").ConfigureAwait(false);
                return 2;
            }

            await host.RunAsync(cancellationToken).ConfigureAwait(false);
            return 0;
        }
        catch (OptionsValidationException ex)
        {
            await error.WriteLineAsync("error: invalid configuration: " + string.Join("; ", ex.Failures)).ConfigureAwait(false);
            return 2;
        }
        catch (SensorException ex)
        {
            await error.WriteLineAsync("error: " + ex.Message).ConfigureAwait(false);
            return 2;
        }
    }
}
