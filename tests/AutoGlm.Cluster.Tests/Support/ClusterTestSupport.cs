using System.Net;
using System.Net.Sockets;
using AutoGlm.Edge.Hosting;
using AutoGlm.Runtime.Building;
using AutoGlm.Runtime.Generation;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AutoGlm.Cluster.Tests.Support;

/// <summary>The tiny synthetic model, built once per test run, and a local engine over it shared by the tests.</summary>
public static class TinyModel
{
    private static readonly Lazy<string> Built = new(() =>
    {
        var directory = Path.Combine(Path.GetTempPath(), "autoglm-cluster-tests", "tiny-" + Environment.ProcessId);
        SyntheticModelBuilder.Build(SyntheticModelSpec.Tiny, directory);
        return directory;
    });

    private static readonly Lazy<LocalEngine> SharedEngine = new(() => LocalEngine.Load(Directory));

    /// <summary>The package folder.</summary>
    public static string Directory => Built.Value;

    /// <summary>A local engine over the package, shared by every test (never disposed by them).</summary>
    public static LocalEngine Engine => SharedEngine.Value;

    /// <summary>A free loopback TCP port.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>A heavy node: the real daemon in process on a free loopback port, serving the tiny model.</summary>
public sealed class HeavyServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    static HeavyServer()
    {
        Environment.SetEnvironmentVariable("AUTOGLM_STATE_DIR", Path.Combine(Path.GetTempPath(), "autoglm-cluster-tests", "state-" + Environment.ProcessId));
    }

    private HeavyServer(WebApplication app)
    {
        _app = app;
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        Url = address.TrimEnd('/') + "/v1";
    }

    /// <summary>The OpenAI base URL (<c>http://127.0.0.1:port/v1</c>).</summary>
    public string Url { get; }

    /// <summary>Starts a heavy node; <paramref name="settings"/> are <c>Section:Key=value</c> overrides.</summary>
    public static async Task<HeavyServer> StartAsync(params string[] settings)
    {
        var journal = Path.Combine(Path.GetTempPath(), "autoglm-cluster-tests", Guid.NewGuid().ToString("N"), "journal.db");
        var args = new List<string>
        {
            "--Cluster:Role=heavy",
            "--Http:Urls=http://127.0.0.1:0",
            $"--Runtime:ModelPath={TinyModel.Directory}",
            "--Http:RequestsPerMinute=0",
            $"--Mqtt:Port={TinyModel.FreePort()}",
            $"--Journal:Path={journal}",
        };
        args.AddRange(settings.Select(s => "--" + s));
        var builder = EdgeHost.CreateBuilder([.. args]);
        builder.Logging.ClearProviders();
        var app = EdgeHost.Build(builder);
        await app.StartAsync();
        return new HeavyServer(app);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>A logger that keeps the event ids it was given (thread-safe), so a test can wait for a step it cannot observe otherwise.</summary>
public sealed class EventLogger : ILogger
{
    private readonly System.Collections.Concurrent.ConcurrentQueue<int> _events = new();

    /// <summary>Whether an event with <paramref name="id"/> was logged.</summary>
    public bool Saw(int id) => _events.Contains(id);

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        _events.Enqueue(eventId.Id);
}
