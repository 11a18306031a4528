using AutoGlm.Edge.Cli;
using AutoGlm.Edge.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace AutoGlm.Edge.Tests.Hosting;

public sealed class BackgroundLoopsTests
{
    [Fact]
    public async Task Run_LoopThrows_StopsTheApplicationNamingTheLoop()
    {
        var lifetime = new StopRecordingLifetime();
        var loops = new BackgroundLoops(lifetime, NullLogger<BackgroundLoops>.Instance);

        await loops.Run("test loop", _ => throw new InvalidOperationException("broken"), CancellationToken.None);

        Assert.Equal("test loop", loops.Faulted);
        Assert.True(lifetime.StopRequested);
    }

    [Fact]
    public async Task Run_LoopCancelled_EndsQuietlyWithoutStopping()
    {
        var lifetime = new StopRecordingLifetime();
        var loops = new BackgroundLoops(lifetime, NullLogger<BackgroundLoops>.Instance);
        using var stop = new CancellationTokenSource();

        var loop = loops.Run("test loop", token => Task.Delay(Timeout.Infinite, token), stop.Token);
        await stop.CancelAsync();
        await loop;

        Assert.Null(loops.Faulted);
        Assert.False(lifetime.StopRequested);
    }

    [Fact]
    public async Task HostRunner_BackgroundLoopFaults_HostStopsWithTheFaultExitCode()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var exit = await HostRunner.RunAsync(
            configure =>
            {
                var builder = Host.CreateApplicationBuilder();
                configure(builder.Logging, builder.Configuration);
                builder.Services.AddSingleton<BackgroundLoops>();
                builder.Services.AddHostedService<FaultingWorker>();
                return builder.Build();
            },
            TextWriter.Null,
            timeout.Token);

        Assert.False(timeout.IsCancellationRequested, "the host ran until the test's timeout instead of stopping itself");
        Assert.Equal(BackgroundLoops.FaultExitCode, exit);
    }

    /// <summary>A worker whose loop fails once the host has started.</summary>
    private sealed class FaultingWorker(BackgroundLoops loops, IHostApplicationLifetime lifetime) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            lifetime.ApplicationStarted.Register(() => loops.Run("failing loop", _ => throw new InvalidOperationException("the loop broke"), CancellationToken.None));
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    private sealed class StopRecordingLifetime : IHostApplicationLifetime
    {
        public bool StopRequested { get; private set; }

        public CancellationToken ApplicationStarted => CancellationToken.None;

        public CancellationToken ApplicationStopping => CancellationToken.None;

        public CancellationToken ApplicationStopped => CancellationToken.None;

        public void StopApplication() => StopRequested = true;
    }
}
