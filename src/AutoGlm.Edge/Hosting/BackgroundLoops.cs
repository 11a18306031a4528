namespace AutoGlm.Edge.Hosting;

/// <summary>
/// Runs the daemon's background loops (the job dispatcher, the result publisher, the status loops) so that a loop
/// that faults stops the host at once (systemd then restarts the daemon) instead of leaving it half alive until the
/// watchdog notices.
/// </summary>
/// <remarks>
/// Thread-safe. A loop ends normally when it returns or when its token is cancelled; any other exception is logged
/// as critical, remembered in <see cref="Faulted"/>, and stops the application, which then exits with
/// <see cref="FaultExitCode"/>.
/// </remarks>
public sealed partial class BackgroundLoops(IHostApplicationLifetime lifetime, ILogger<BackgroundLoops> logger)
{
    /// <summary>The process exit code after a faulted loop stopped the host (<c>EX_SOFTWARE</c>).</summary>
    public const int FaultExitCode = 70;

    private string? _faulted;

    /// <summary>The name of the first loop that faulted; null while none has.</summary>
    public string? Faulted => Volatile.Read(ref _faulted);

    /// <summary>Starts <paramref name="loop"/> on the thread pool.</summary>
    /// <param name="name">What the loop does, for the log (<c>MQTT dispatch loop</c>).</param>
    /// <param name="loop">The loop; it should end when its token is cancelled.</param>
    /// <param name="cancellationToken">Stops the loop.</param>
    /// <returns>A task that completes when the loop has ended, whether it faulted or not (it never throws).</returns>
    public Task Run(string name, Func<CancellationToken, Task> loop, CancellationToken cancellationToken) => Task.Run(
        async () =>
        {
            try
            {
                await loop(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                Log.LoopStopped(logger, name);
            }
            catch (Exception ex)
            {
                Interlocked.CompareExchange(ref _faulted, name, null);
                Log.LoopFaulted(logger, name, ex);
                lifetime.StopApplication();
            }
        },
        CancellationToken.None);

    private static partial class Log
    {
        [LoggerMessage(1501, LogLevel.Critical, "The {Loop} failed; stopping the daemon so that it restarts")]
        public static partial void LoopFaulted(ILogger logger, string loop, Exception exception);

        [LoggerMessage(1502, LogLevel.Debug, "The {Loop} stopped")]
        public static partial void LoopStopped(ILogger logger, string loop);
    }
}
