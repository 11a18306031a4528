using AutoGlm.Edge.Engine;
using AutoGlm.Edge.Hosting;
using AutoGlm.Edge.Tests.Support;
using AutoGlm.Runtime.Generation;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AutoGlm.Edge.Tests.Http;

/// <summary>
/// The real daemon (the same <see cref="EdgeHost"/> builder) on a free loopback port, serving the tiny model, with
/// its logs captured. Settings are <c>Section:Key=value</c> overrides, passed as the command line is.
/// </summary>
public sealed class EdgeServer : IAsyncDisposable
{
    /// <summary>The id the tiny model is served under.</summary>
    public const string ModelId = "glm-synthetic-tiny";

    private readonly WebApplication _app;

    static EdgeServer()
    {
        // The state folder is process-wide; every server of this test run shares one in the temp folder.
        Environment.SetEnvironmentVariable("AUTOGLM_STATE_DIR", Path.Combine(Path.GetTempPath(), "autoglm-edge-tests", "state-" + Environment.ProcessId));
    }

    private EdgeServer(WebApplication app, CapturedLogs logs)
    {
        _app = app;
        Logs = logs;
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        BaseAddress = new Uri(address.TrimEnd('/') + "/");
    }

    /// <summary>Where the server listens, ending in <c>/</c>.</summary>
    public Uri BaseAddress { get; }

    /// <summary>The engine behind the API, to watch its queue.</summary>
    public LocalEngine Engine => _app.Services.GetRequiredService<EngineHost>().Engine;

    public CapturedLogs Logs { get; }

    public IServiceProvider Services => _app.Services;

    /// <summary>Builds the app without starting it (for start-up validation tests).</summary>
    public static WebApplication Build(params string[] settings) => Create(null, settings);

    /// <summary>Builds the app without starting it, letting <paramref name="configure"/> change the builder first (Kestrel set in code).</summary>
    public static WebApplication Build(Action<WebApplicationBuilder> configure, params string[] settings) => Create(null, settings, configure);

    /// <summary>Starts a server.</summary>
    public static async Task<EdgeServer> StartAsync(params string[] settings)
    {
        var logs = new CapturedLogs();
        var app = Create(logs, settings);
        await app.StartAsync();
        return new EdgeServer(app, logs);
    }

    /// <summary>A client for this server, optionally with a bearer key.</summary>
    public HttpClient CreateClient(string? apiKey = null)
    {
        var client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
        if (apiKey is not null)
        {
            client.DefaultRequestHeaders.Authorization = new("Bearer", apiKey);
        }

        return client;
    }

    /// <summary>Polls <paramref name="condition"/> until it holds or <paramref name="timeout"/> passes.</summary>
    public static async Task<bool> EventuallyAsync(Func<bool> condition, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(20));
        while (!condition())
        {
            if (cts.IsCancellationRequested)
            {
                return false;
            }

            await Task.Delay(20, CancellationToken.None);
        }

        return true;
    }

    private static WebApplication Create(CapturedLogs? logs, string[] settings, Action<WebApplicationBuilder>? configure = null)
    {
        // Each server gets its own embedded broker port and journal, so servers (and a broker already on 1883) never meet.
        var args = new List<string>
        {
            "--Http:Urls=http://127.0.0.1:0",
            $"--Runtime:ModelPath={TinyModel.Directory}",
            "--Http:RequestsPerMinute=0",
            $"--Mqtt:Port={TestPaths.FreePort()}",
            $"--Journal:Path={Path.Combine(TestPaths.NewFolder("http-journal"), "journal.db")}",
        };
        args.AddRange(settings.Select(s => "--" + s));
        var builder = EdgeHost.CreateBuilder([.. args]);
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Debug);
        if (logs is not null)
        {
            builder.Logging.AddProvider(logs);

            // Provider-specific, so it wins over appsettings.json's Information: the tests look for Debug events too.
            builder.Logging.AddFilter<CapturedLogs>(null, LogLevel.Debug);
        }

        configure?.Invoke(builder);
        return EdgeHost.Build(builder);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>The default server (no keys, default limits but no per-minute limit), shared by a collection of test classes.</summary>
public sealed class DefaultServerFixture : IAsyncLifetime
{
    public EdgeServer Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await EdgeServer.StartAsync("Http:MaxRequestBodyBytes=1048576");

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

[CollectionDefinition(Name)]
public sealed class DefaultServerCollection : ICollectionFixture<DefaultServerFixture>
{
    public const string Name = "default HTTP server";
}
