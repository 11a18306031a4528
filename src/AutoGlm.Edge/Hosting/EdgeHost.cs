using AutoGlm.Cluster.Routing;
using AutoGlm.Edge.Http;
using AutoGlm.Edge.Journal;
using AutoGlm.Edge.Mqtt;
using AutoGlm.Edge.Pipeline;
using AutoGlm.Edge.Sensors;
using AutoGlm.Runtime.Generation;
using Microsoft.Extensions.Options;

namespace AutoGlm.Edge.Hosting;

/// <summary>Builds the daemon: configuration, systemd integration, the engine, and the front doors.</summary>
public static partial class EdgeHost
{
    /// <summary>Prefix of environment variables read as configuration (<c>AUTOGLM__Runtime__ExecutionProvider</c>).</summary>
    public const string EnvironmentPrefix = "AUTOGLM__";

    /// <summary>Where a heavy node listens when <c>Http:Urls</c> is not set: every interface, port 8000.</summary>
    public const string HeavyDefaultUrls = "http://0.0.0.0:8000";

    /// <summary>Creates the application builder with every configuration source in order.</summary>
    /// <param name="args">Configuration from the command line (<c>--Runtime:ExecutionProvider=cuda</c>); wins over everything.</param>
    public static WebApplicationBuilder CreateBuilder(string[] args)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            Args = args,
            ContentRootPath = AppContext.BaseDirectory,
        });

        // appsettings.json (from CreateSlimBuilder), then /etc/autoglm/*.json, then AUTOGLM__ variables, then the command line.
        EdgeConfiguration.AddSources(builder.Configuration, args);
        SecretReferences.Resolve(builder.Configuration);
        builder.Services.AddSingleton(CheckConfiguration(builder.Configuration, Sections));

        // A heavy node serves its edges over the LAN: unless told otherwise it listens on every interface, which the
        // HTTP API only allows with Http:ApiKeys set (the start stops, naming the key, without them).
        if (string.Equals(builder.Configuration["Cluster:Role"], "heavy", StringComparison.OrdinalIgnoreCase) && string.IsNullOrEmpty(builder.Configuration["Http:Urls"]))
        {
            builder.Configuration.AddInMemoryCollection([KeyValuePair.Create<string, string?>("Http:Urls", HeavyDefaultUrls)]);
        }

        builder.Host.UseSystemd();
        var state = StatePaths.StateDirectory();
        builder.Services.AddSingleton(new StateLocation(state, StatePaths.CacheDirectory(state)));
        builder.Services.AddSingleton(TimeProvider.System);

        // Engine → routing → metrics, registered as the IChatClient every front door calls.
        builder.Services.AddChatPipeline();
        builder.AddEdgeHttp();

        // After the engine (hosted services start in order): broker, journal replay, MQTT subscription, sensors (off unless
        // configured); systemd's READY=1 last.
        builder.Services.AddMqttIntake();
        builder.Services.AddSensors();
        builder.Services.AddSystemdIntegration();
        return builder;
    }

    /// <summary>The daemon's configuration sections and the options types bound from each (checked by <see cref="CheckConfiguration"/>).</summary>
    public static IReadOnlyDictionary<string, Type[]> Sections { get; } = new Dictionary<string, Type[]>
    {
        [RuntimeOptions.Section] = [typeof(RuntimeOptions), typeof(EngineOptions)],
        [MqttOptions.Section] = [typeof(MqttOptions)],
        [HttpOptions.Section] = [typeof(HttpOptions)],
        [JournalOptions.Section] = [typeof(JournalOptions)],
        [ClusterOptions.Section] = [typeof(ClusterOptions)],
        [SensorsOptions.Section] = [typeof(SensorsOptions)],
    };

    /// <summary>
    /// Checks <paramref name="sections"/> of the final configuration before anything binds them: a value of the wrong type
    /// stops the start with every such key named; unknown keys come back, to be logged as warnings once the host logs.
    /// </summary>
    /// <exception cref="OptionsValidationException">Some values cannot become their keys' types.</exception>
    public static ConfigurationCheck CheckConfiguration(IConfiguration configuration, IReadOnlyDictionary<string, Type[]> sections)
    {
        var check = new ConfigurationCheck(sections).Run(configuration);
        if (check.Errors.Count > 0)
        {
            throw new OptionsValidationException("configuration", typeof(ConfigurationCheck), check.Errors);
        }

        return check;
    }

    /// <summary>Logs each key of a checked section that binds to nothing (a misspelling such as <c>Mqtt:Prot</c>).</summary>
    public static void WarnUnknownKeys(IServiceProvider services)
    {
        var logger = services.GetRequiredService<ILoggerFactory>().CreateLogger("AutoGlm.Edge");
        // Unknown Sensors keys are errors of the Sensors validator (a sensor is never silently left out).
        foreach (var unknown in services.GetRequiredService<ConfigurationCheck>().UnknownKeys.Where(k => !k.StartsWith(SensorsOptions.Section + ":", StringComparison.OrdinalIgnoreCase)))
        {
            Log.UnknownKey(logger, unknown);
        }
    }

    /// <summary>Builds the host, ready to run.</summary>
    public static WebApplication Build(string[] args) => Build(CreateBuilder(args));

    /// <summary>Builds the host from a builder made by <see cref="CreateBuilder"/> (tests add their logging to it first).</summary>
    public static WebApplication Build(WebApplicationBuilder builder)
    {
        var app = builder.Build();
        app.MapEdgeHttp();
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("AutoGlm.Edge");
        Log.StateFolder(logger, app.Services.GetRequiredService<StateLocation>().Directory);
        WarnUnknownKeys(app.Services);
        return app;
    }

    private static partial class Log
    {
        [LoggerMessage(1201, LogLevel.Information, "State folder: {Directory}")]
        public static partial void StateFolder(ILogger logger, string directory);

        [LoggerMessage(1202, LogLevel.Warning, "Configuration: {Problem}; it is ignored")]
        public static partial void UnknownKey(ILogger logger, string problem);
    }
}
