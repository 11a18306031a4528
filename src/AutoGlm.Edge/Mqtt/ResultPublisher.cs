using AutoGlm.Edge.Hosting;
using AutoGlm.Edge.Journal;
using MQTTnet;
using MQTTnet.Protocol;

namespace AutoGlm.Edge.Mqtt;

/// <summary>
/// Publishes journaled results (QoS 1, to the job's response topic with its correlation data) and marks each one
/// published once the broker has acknowledged it; whatever is not yet acknowledged is sent again after a
/// reconnection or a restart.
/// </summary>
/// <remarks>Thread-safe: <see cref="Kick"/> from anywhere; one loop publishes, oldest result first.</remarks>
public sealed partial class ResultPublisher : IAsyncDisposable
{
    private readonly JobJournal _journal;
    private readonly MqttConnection _connection;
    private readonly ILogger _logger;
    private readonly BackgroundLoops? _loops;
    private readonly SemaphoreSlim _wake = new(0, 1);
    private readonly SemaphoreSlim _oneAtATime = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();
    private Task? _loop;
    private long _published;

    public ResultPublisher(JobJournal journal, MqttConnection connection, ILogger<ResultPublisher> logger, BackgroundLoops? loops = null)
    {
        _journal = journal;
        _loops = loops;
        _connection = connection;
        _logger = logger;
    }

    /// <summary>Results the broker acknowledged since start.</summary>
    public long Published => Interlocked.Read(ref _published);

    /// <summary>Starts the publishing loop.</summary>
    public void Start() => _loop = _loops is null ? Task.Run(() => LoopAsync(_stopping.Token)) : _loops.Run("MQTT result publisher", LoopAsync, _stopping.Token);

    /// <summary>Says there may be something to publish (a new result, a reconnection).</summary>
    public void Kick()
    {
        if (_wake.CurrentCount == 0)
        {
            try
            {
                _wake.Release();
            }
            catch (SemaphoreFullException)
            {
                // Another caller signalled first; one wake-up covers both.
            }
        }
    }

    /// <summary>
    /// Publishes a result that is not in the journal (a job that could not be journaled): once, QoS 1, no retry; false
    /// when it did not reach the broker.
    /// </summary>
    public async Task<bool> PublishUnjournaledAsync(string topic, byte[]? correlation, byte[] result)
    {
        var message = new MqttApplicationMessageBuilder()
            .WithTopic(topic)
            .WithPayload(result)
            .WithContentType("application/json")
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .WithCorrelationData(correlation)
            .Build();

        // Never from the caller's thread: the embedded broker calls this while it holds the publisher's packet.
        await Task.Yield();
        return await _connection.TryPublishAsync(message, _stopping.Token).ConfigureAwait(false);
    }

    /// <summary>Publishes what is pending (for at most <paramref name="flushTimeout"/>), then stops the loop.</summary>
    public async Task StopAsync(TimeSpan flushTimeout, CancellationToken cancellationToken)
    {
        using var flush = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        flush.CancelAfter(flushTimeout);
        try
        {
            await PublishPendingAsync(flush.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            Log.FlushCut(_logger);
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        _stopping.Dispose();
        _wake.Dispose();
        _oneAtATime.Dispose();
    }

    private async Task LoopAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                await PublishPendingAsync(cancellationToken).ConfigureAwait(false);
                await _wake.WaitAsync(TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Log.Stopped(_logger);
        }
    }

    private async Task PublishPendingAsync(CancellationToken cancellationToken)
    {
        await _oneAtATime.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            while (_connection.IsConnected)
            {
                var batch = _journal.Unpublished();
                if (batch.Count == 0)
                {
                    return;
                }

                foreach (var result in batch)
                {
                    var message = new MqttApplicationMessageBuilder()
                        .WithTopic(result.ReplyTopic)
                        .WithPayload(result.Result)
                        .WithContentType("application/json")
                        .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
                        .WithCorrelationData(result.Correlation)
                        .Build();
                    if (!await _connection.TryPublishAsync(message, cancellationToken).ConfigureAwait(false))
                    {
                        // Not connected (or refused): the reconnection kicks us again, and the periodic wake retries.
                        return;
                    }

                    _journal.MarkPublished(result.Seq);
                    Interlocked.Increment(ref _published);
                    Log.Published(_logger, result.Key, result.ReplyTopic);
                }
            }
        }
        finally
        {
            _oneAtATime.Release();
        }
    }

    private static partial class Log
    {
        [LoggerMessage(4201, LogLevel.Debug, "Published the result of {Key} to {Topic}")]
        public static partial void Published(ILogger logger, string key, string topic);

        [LoggerMessage(4202, LogLevel.Warning, "Stopping before every result was published; the rest are published at the next start")]
        public static partial void FlushCut(ILogger logger);

        [LoggerMessage(4203, LogLevel.Debug, "Result publisher stopped")]
        public static partial void Stopped(ILogger logger);
    }
}
