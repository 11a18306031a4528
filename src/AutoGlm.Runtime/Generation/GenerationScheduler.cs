using System.Diagnostics;
using System.Threading.Channels;
using AutoGlm.Runtime.Modalities;
using AutoGlm.Runtime.Onnx;
using AutoGlm.Runtime.Text;
using Microsoft.Extensions.Logging;

namespace AutoGlm.Runtime.Generation;

/// <summary>The one inference loop: owns the decoder session and its KV-cache slots, and runs every request.</summary>
/// <remarks>
/// Requests wait in a bounded queue and take a free slot. Each turn of the loop runs one prefill chunk of at most
/// one sequence, then one decode step for all decoding sequences together (continuous batching: a sequence joins
/// or leaves the batch between steps). A single dedicated thread calls ONNX Runtime; callers only enqueue and read
/// their own event channel, so this type is safe to use from any number of threads.
/// With the prefix cache on, a finished sequence's slot keeps its rows: a new request takes the free slot whose
/// cache starts most like its prompt (else an empty one, else the least recently used), and at its first prefill
/// step copies any longer matching prefix another slot holds, then prefills only the rest.
/// </remarks>
internal sealed partial class GenerationScheduler
{
    private readonly DecoderSession _session;
    private readonly TokenEmbedding _embedding;
    private readonly MediaInputs _media;
    private readonly TimeProvider _time;
    private readonly GlmTokenizer _tokenizer;
    private readonly ILogger _logger;
    private readonly Channel<GenerationRequest> _queue;
    private readonly Slot?[] _slots;
    private readonly int[] _pastLengths;
    private readonly PrefixCache? _cache;
    private readonly int[] _unsampleable;
    private readonly HashSet<int> _stopIds;
    private readonly int _thinkStart, _thinkEnd;
    private readonly Thread _thread;
    private long _lastProgress;
    private bool _idle;
    private volatile bool _stopNow;
    private Action? _afterStop;
    private Task<bool>? _pendingWait;
    private int _queued;
    private long _promptTokens, _generatedTokens, _prefillTicks, _decodeTicks;

    public GenerationScheduler(DecoderSession session, TokenEmbedding embedding, MediaInputs media, GlmTokenizer tokenizer, int maxQueueLength, bool prefixCache, TimeProvider time, ILogger logger)
    {
        _session = session;
        _embedding = embedding;
        _media = media;
        _time = time;
        _lastProgress = time.GetTimestamp();
        _tokenizer = tokenizer;
        _logger = logger;
        _queue = Channel.CreateBounded<GenerationRequest>(new BoundedChannelOptions(Math.Max(1, maxQueueLength)) { SingleReader = true });
        _slots = new Slot?[session.Slots];
        _pastLengths = new int[session.Slots];
        _cache = prefixCache ? new PrefixCache(session.Slots, session.MaxLength) : null;
        _stopIds = [.. tokenizer.StopTokenIds];
        // A checkpoint's tokenizer may have no thinking tokens (GLM-4-0414); -1 never matches a sampled id.
        _thinkStart = tokenizer.HasSpecial(GlmSpecialTokens.ThinkStart) ? tokenizer.IdOf(GlmSpecialTokens.ThinkStart) : -1;
        _thinkEnd = tokenizer.HasSpecial(GlmSpecialTokens.ThinkEnd) ? tokenizer.IdOf(GlmSpecialTokens.ThinkEnd) : -1;
        _unsampleable = [.. Enumerable.Range(0, tokenizer.VocabSize).Where(id => !tokenizer.IsDefined(id))];

        _thread = new Thread(Loop) { IsBackground = true, Name = "autoglm-inference" };
        _thread.Start();
    }

    /// <summary>Requests waiting for a slot.</summary>
    public int QueueDepth => Volatile.Read(ref _queued);

    /// <summary>Sequences holding a slot.</summary>
    public int ActiveSequences => _slots.Count(s => s is not null);

    /// <summary>
    /// How long the loop has been in its current turn: zero while it waits for work, growing only while a step
    /// runs — so a wedged engine shows here and an idle one does not.
    /// </summary>
    public TimeSpan SinceLastProgress => Volatile.Read(ref _idle) ? TimeSpan.Zero : _time.GetElapsedTime(Interlocked.Read(ref _lastProgress));

    /// <summary>Measured speeds since start: prompt and generated tokens per second of engine time.</summary>
    public (double PrefillTokensPerSecond, double DecodeTokensPerSecond) MeasuredSpeed
    {
        get
        {
            double Rate(long tokens, long ticks) => ticks == 0 ? 0 : tokens / ((double)ticks / Stopwatch.Frequency);
            return (Rate(Interlocked.Read(ref _promptTokens), Interlocked.Read(ref _prefillTicks)),
                    Rate(Interlocked.Read(ref _generatedTokens), Interlocked.Read(ref _decodeTicks)));
        }
    }

    /// <summary>Queues a request; throws <see cref="RuntimeErrorCode.Overloaded"/> when the queue is full.</summary>
    public void Enqueue(GenerationRequest request)
    {
        request.EnqueuedAt = Stopwatch.GetTimestamp();
        Interlocked.Increment(ref _queued);
        if (!_queue.Writer.TryWrite(request))
        {
            Interlocked.Decrement(ref _queued);
            throw new RuntimeException(RuntimeErrorCode.Overloaded, "the engine's queue is full; try again later");
        }
    }

    /// <summary>
    /// Stops taking requests and ends the loop once the running ones finish; then runs <paramref name="afterStop"/>
    /// (which frees what the loop uses). Called from a caller's code that the loop itself is running (a stream's
    /// continuation), it cannot wait for itself: the loop then ends its remaining sequences with an error at its
    /// next turn and runs <paramref name="afterStop"/> on its way out.
    /// </summary>
    public void Stop(Action afterStop)
    {
        _queue.Writer.TryComplete();
        if (Thread.CurrentThread == _thread)
        {
            _afterStop = afterStop;
            _stopNow = true;
            return;
        }

        _thread.Join();
        afterStop();
    }

    private void Loop()
    {
        RunLoop();
        _afterStop?.Invoke();
    }

    private void RunLoop()
    {
        while (true)
        {
            if (_stopNow)
            {
                for (var i = 0; i < _slots.Length; i++)
                {
                    if (_slots[i] is { } slot)
                    {
                        Release(i);
                        slot.Request.Output.Writer.TryComplete(new RuntimeException(RuntimeErrorCode.ModelUnavailable, "the engine was disposed"));
                    }
                }

                return;
            }

            Admit();
            var unloadDue = _media.UnloadIdle();
            if (_slots.All(s => s is null))
            {
                Volatile.Write(ref _idle, true);
                var woke = WaitForWork(unloadDue);
                Interlocked.Exchange(ref _lastProgress, _time.GetTimestamp());
                Volatile.Write(ref _idle, false);
                if (woke == false)
                {
                    return;
                }

                continue;
            }

            DropCancelled();
            var prefilling = Array.FindIndex(_slots, s => s is { IsPrefilling: true });
            if (prefilling >= 0)
            {
                Step(() => PrefillChunk(prefilling), [prefilling]);
            }

            var decoding = Enumerable.Range(0, _slots.Length).Where(i => _slots[i] is { IsPrefilling: false }).ToArray();
            if (decoding.Length > 0)
            {
                Step(() => DecodeStep(decoding), decoding);
            }

            Interlocked.Exchange(ref _lastProgress, _time.GetTimestamp());
        }
    }

    /// <summary>
    /// Waits for a request, or until an adapter is due to unload: true when work may be there, false when the queue
    /// is closed, null when the wait timed out.
    /// </summary>
    private bool? WaitForWork(DateTimeOffset? unloadDue)
    {
        var wait = _pendingWait ??= _queue.Reader.WaitToReadAsync().AsTask();
        if (unloadDue is { } due && !wait.IsCompleted)
        {
            var delay = due - _time.GetUtcNow();
            using var cancel = new CancellationTokenSource();
            var timer = delay > TimeSpan.Zero ? Task.Delay(delay, _time, cancel.Token) : Task.CompletedTask;
            Task.WaitAny(wait, timer);
            cancel.Cancel();
            if (!wait.IsCompleted)
            {
                return null;
            }
        }

        _pendingWait = null;
        return wait.GetAwaiter().GetResult();
    }

    /// <summary>Runs a step; if the engine throws, the sequences in it fail and the loop goes on.</summary>
    private void Step(Action step, int[] slots)
    {
        try
        {
            step();
        }
        catch (Exception ex) when (ex is RuntimeException or InvalidOperationException or ArgumentException)
        {
            Log.StepFailed(_logger, slots.Length, ex);
            foreach (var index in slots)
            {
                if (_slots[index] is { } slot)
                {
                    Release(index, keepCache: false);
                    slot.Request.Output.Writer.TryComplete(ex is RuntimeException ? ex : new RuntimeException(RuntimeErrorCode.Internal, ex.Message, ex));
                }
            }
        }
    }

    private void Admit()
    {
        while (Array.IndexOf(_slots, null) >= 0 && _queue.Reader.TryRead(out var request))
        {
            Interlocked.Decrement(ref _queued);
            if (request.Cancellation.IsCancellationRequested)
            {
                request.Output.Writer.TryComplete(new OperationCanceledException(request.Cancellation));
                continue;
            }

            var keys = _cache is null ? null : PrefixCache.KeysOf(request);
            var free = Enumerable.Range(0, _slots.Length).Where(i => _slots[i] is null);
            var index = _cache is null ? free.First() : _cache.Choose(free, keys);
            _slots[index] = new Slot(request, _tokenizer, _unsampleable) { Keys = keys, Positions = PositionsOf(request) };
        }
    }

    /// <summary>
    /// At a sequence's first prefill step: keeps the rows its slot already holds that match the prompt, copies a longer
    /// matching prefix from another slot if one holds it, and returns where prefill starts — before the prompt's end
    /// always, so the last position runs and gives logits to sample from.
    /// </summary>
    private int Reuse(int index, long[] keys)
    {
        var cache = _cache!;
        var held = cache.Match(index, keys);
        var (source, best) = (index, held);
        for (var other = 0; other < _slots.Length; other++)
        {
            if (other != index && cache.Match(other, keys) is var match && match > best)
            {
                (source, best) = (other, match);
            }
        }

        if (source != index)
        {
            _session.CopyRows(source, index, held, best - held);
            Log.RowsCopied(_logger, best - held, source, index);
        }

        var start = Math.Min(best, keys.Length - 1);
        cache.Write(index, 0, keys.AsSpan(0, start));
        return start;
    }

    /// <summary>An M-RoPE decoder's positions for a prompt with variable-grid images; null when plain sequence positions are right.</summary>
    private MropePositions? PositionsOf(GenerationRequest request) =>
        _session.MultimodalRotary && request.Media.Any(m => m.Grid is not null)
            ? MropePositions.For(request.PromptTokens.Count, request.Media.Where(m => m.Grid is not null).Select(m => (m.Start, m.Grid!.TokenRows, m.Grid.TokenColumns)))
            : null;

    /// <summary>The rows' M-RoPE positions for a step of <paramref name="length"/> tokens per slot from <paramref name="first"/>; empty when all are plain.</summary>
    private ReadOnlySpan<MropePosition> StepPositions(int first, int count, int length)
    {
        var any = false;
        for (var i = first; i < first + count && _session.MultimodalRotary; i++)
        {
            any |= _slots[i]?.Positions is not null;
        }

        if (!any)
        {
            return default;
        }

        var positions = new MropePosition[count * length];
        for (var i = 0; i < count; i++)
        {
            for (var t = 0; t < length; t++)
            {
                var index = _pastLengths[first + i] + t;
                positions[(i * length) + t] = _slots[first + i]?.Positions is { } p ? p[index] : MropePosition.Text(index);
            }
        }

        return positions;
    }

    private void DropCancelled()
    {
        for (var i = 0; i < _slots.Length; i++)
        {
            if (_slots[i] is { } slot && slot.Request.Cancellation.IsCancellationRequested)
            {
                Log.Cancelled(_logger, i);
                Release(i, keepCache: true);
                slot.Request.Output.Writer.TryComplete(new OperationCanceledException(slot.Request.Cancellation));
            }
        }
    }

    private void PrefillChunk(int index)
    {
        var slot = _slots[index]!;
        var prompt = slot.Request.PromptTokens;
        if (!slot.PrefillStarted)
        {
            slot.PrefillStarted = true;
            slot.PrefillStartedAt = Stopwatch.GetTimestamp();
            _pastLengths[index] = slot.Keys is { } keys ? Reuse(index, keys) : 0;
            slot.CachedTokens = _pastLengths[index];
        }

        var start = _pastLengths[index];
        var count = Math.Min(_session.PrefillChunk, prompt.Count - start);

        // An image or clip in this chunk is encoded first, one per turn, so decoding streams wait one encoder run at
        // most; one whose rows are all in the reused prefix is not encoded at all.
        var media = slot.Request.Media;
        foreach (var segment in media)
        {
            if (segment.Embeddings is null && segment.Start < start + count && segment.Start + segment.Rows > start)
            {
                segment.Encode();
                return;
            }
        }

        var embeds = _session.Embeds(count);
        var hidden = _embedding.HiddenSize;
        for (var t = 0; t < count; t++)
        {
            _embedding.Lookup(prompt[start + t], embeds.Slice(t * hidden, hidden));
        }

        MediaSegment.Splice(media, start, count, hidden, embeds);

        var began = Stopwatch.GetTimestamp();
        _session.Run(index, 1, count, [start], StepPositions(index, 1, count));
        Interlocked.Add(ref _prefillTicks, Stopwatch.GetTimestamp() - began);
        Interlocked.Add(ref _promptTokens, count);
        if (slot.Keys is { } written)
        {
            _cache!.Write(index, start, written.AsSpan(start, count));
        }

        _pastLengths[index] = start + count;
        if (_pastLengths[index] == prompt.Count)
        {
            foreach (var segment in media)
            {
                segment.Release();
            }

            slot.IsPrefilling = false;
            slot.FirstToken = Stopwatch.GetTimestamp();
            Accept(index, slot.Sample(_session.Logits(0), _unsampleable));
        }
    }

    private void DecodeStep(int[] decoding)
    {
        foreach (var index in decoding)
        {
            if (_pastLengths[index] >= _session.MaxLength)
            {
                Finish(index, FinishReason.Length);
            }
        }

        decoding = [.. decoding.Where(i => _slots[i] is not null)];
        if (decoding.Length == 0)
        {
            return;
        }

        // The step covers the slots from the first decoding one to the last: a slot outside that range (a finished
        // one keeping its prefix rows, say) costs nothing.
        var first = decoding[0];
        var count = decoding[^1] - first + 1;
        var hidden = _embedding.HiddenSize;
        var embeds = _session.Embeds(count);
        embeds.Clear();
        foreach (var index in decoding)
        {
            _embedding.Lookup(_slots[index]!.LastToken, embeds.Slice((index - first) * hidden, hidden));
        }

        // Slots in the range that are not decoding get a zero row written at their next free position, which
        // their own next step overwrites before anything reads it.
        var began = Stopwatch.GetTimestamp();
        _session.Run(first, count, 1, _pastLengths.AsSpan(first, count), StepPositions(first, count, 1));
        Interlocked.Add(ref _decodeTicks, Stopwatch.GetTimestamp() - began);
        Interlocked.Add(ref _generatedTokens, decoding.Length);
        foreach (var index in decoding)
        {
            _cache?.Write(index, _pastLengths[index], [(long)_slots[index]!.LastToken]);
            _pastLengths[index]++;
            Accept(index, _slots[index]!.Sample(_session.Logits(index - first), _unsampleable));
        }
    }

    /// <summary>Takes a sampled token: emits its text, or ends the sequence.</summary>
    private void Accept(int index, int token)
    {
        var slot = _slots[index]!;
        slot.LastToken = token;
        slot.Generated++;
        if (_stopIds.Contains(token) && !slot.Request.IgnoreStopTokens)
        {
            Finish(index, FinishReason.Stop);
            return;
        }

        if (slot.Scored is { } scored)
        {
            slot.Request.Output.Writer.TryWrite(scored);
        }

        if ((token == _thinkStart || token == _thinkEnd) && slot.Request.ThinkTagsAsText)
        {
            slot.Emit(token == _thinkStart ? GlmSpecialTokens.ThinkStart : GlmSpecialTokens.ThinkEnd);
        }
        else if (token == _thinkStart || token == _thinkEnd)
        {
            slot.EmitHeld();
            slot.InReasoning = token == _thinkStart;
        }
        else if (!_tokenizer.IsSpecial[token])
        {
            slot.Emit(slot.Decoder.Push(token));
        }

        if (slot.Stops.Stopped)
        {
            Finish(index, FinishReason.Stop);
        }
        else if (slot.Generated >= slot.Request.MaxTokens)
        {
            Finish(index, FinishReason.Length);
        }
    }

    private void Finish(int index, FinishReason reason)
    {
        var slot = _slots[index]!;
        slot.Emit(slot.Decoder.Flush());
        slot.EmitHeld();
        var now = Stopwatch.GetTimestamp();
        var ms = (long from, long to) => Stopwatch.GetElapsedTime(from, to).TotalMilliseconds;
        var timings = new GenerationTimings(
            QueueMs: ms(slot.Request.EnqueuedAt, slot.Admitted),
            TimeToFirstTokenMs: ms(slot.Request.EnqueuedAt, slot.FirstToken),
            PrefillMs: ms(slot.PrefillStartedAt, slot.FirstToken),
            DecodeMs: ms(slot.FirstToken, now));
        slot.Request.Output.Writer.TryWrite(new GenerationCompleted(reason, slot.Request.PromptTokens.Count, slot.Generated, timings) { CachedPromptTokens = slot.CachedTokens });
        slot.Request.Output.Writer.TryComplete();
        Release(index, keepCache: true);
    }

    /// <summary>
    /// Frees a slot. With the prefix cache on and <paramref name="keepCache"/>, its rows stay for a later prompt (all
    /// but the last position when full, so a batch step can still write its unused row past them); otherwise the
    /// slot starts empty. Rows of a failed step are never kept.
    /// </summary>
    private void Release(int index, bool keepCache = false)
    {
        _slots[index] = null;
        if (_cache is null)
        {
            _pastLengths[index] = 0;
            return;
        }

        _cache.Truncate(index, keepCache ? Math.Min(_pastLengths[index], _session.MaxLength - 1) : 0);
        _pastLengths[index] = _cache.LengthOf(index);
    }

    /// <summary>One sequence's state while it holds a slot.</summary>
    private sealed class Slot
    {
        private readonly AnswerTagFilter _answer = new();
        private float[]? _raw;

        public Slot(GenerationRequest request, GlmTokenizer tokenizer, int[] unsampleable)
        {
            Request = request;
            Sampler = new TokenSampler(request.Sampling, unsampleable, request.PromptTokens);
            Decoder = tokenizer.CreateStreamDecoder();
            Stops = new StopSequenceMatcher(request.StopSequences);
            InReasoning = request.StartsInReasoning;
            Admitted = Stopwatch.GetTimestamp();
            PrefillStartedAt = Admitted;
        }

        public GenerationRequest Request { get; }
        public TokenSampler Sampler { get; }
        public TokenStreamDecoder Decoder { get; }
        public StopSequenceMatcher Stops { get; }
        public bool IsPrefilling { get; set; } = true;

        /// <summary>The prompt's prefix-cache keys; null with the cache off.</summary>
        public long[]? Keys { get; init; }

        /// <summary>M-RoPE positions of a prompt with images (GLM-4.1V); null for plain positions.</summary>
        public MropePositions? Positions { get; init; }

        /// <summary>Whether the first prefill (or encoder) step ran: the prefix was matched then.</summary>
        public bool PrefillStarted { get; set; }

        /// <summary>Prompt positions taken from the cache instead of prefilled.</summary>
        public int CachedTokens { get; set; }
        public bool InReasoning { get; set; }
        public int LastToken { get; set; }
        public int Generated { get; set; }
        public long Admitted { get; }
        public long PrefillStartedAt { get; set; }
        public long FirstToken { get; set; }

        /// <summary>The last sampled token's log probabilities, when the request asked for them.</summary>
        public TokenScored? Scored { get; private set; }

        /// <summary>Samples the next token; first scores the raw row (which sampling modifies) when logprobs were asked.</summary>
        public int Sample(Span<float> logits, int[] unsampleable)
        {
            if (Request.Logprobs is not { } top)
            {
                return Sampler.Next(logits);
            }

            var raw = _raw ??= new float[logits.Length];
            logits.CopyTo(raw);
            foreach (var id in unsampleable)
            {
                raw[id] = float.NegativeInfinity;
            }

            var token = Sampler.Next(logits);
            Scored = TokenLogprobs.Score(raw, token, top);
            return token;
        }

        /// <summary>Passes decoded text through the stop matcher (and the answer-tag filter for content) to the caller.</summary>
        public void Emit(string text)
        {
            if (text.Length > 0)
            {
                Write(Stops.Push(text));
            }
        }

        /// <summary>Releases text held back for a possible stop sequence or tag (before a channel switch or the end).</summary>
        public void EmitHeld()
        {
            Write(Stops.Flush());
            if (!InReasoning)
            {
                Send(Request.RawText ? "" : _answer.Flush(), reasoning: false);
            }
        }

        private void Write(string text)
        {
            if (InReasoning)
            {
                Send(text, reasoning: true);
            }
            else
            {
                Send(Request.RawText ? text : _answer.Push(text), reasoning: false);
            }
        }

        private void Send(string text, bool reasoning)
        {
            if (text.Length > 0)
            {
                Request.Output.Writer.TryWrite(new TextGenerated(text, reasoning));
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(2001, LogLevel.Error, "An engine step over {Sequences} sequence(s) failed; they end with an error and the engine goes on")]
        public static partial void StepFailed(ILogger logger, int sequences, Exception exception);

        [LoggerMessage(2002, LogLevel.Debug, "Generation in slot {Slot} was cancelled by its caller")]
        public static partial void Cancelled(ILogger logger, int slot);

        [LoggerMessage(2003, LogLevel.Debug, "Copied {Rows} prefix row(s) of the KV cache from slot {From} to slot {To}")]
        public static partial void RowsCopied(ILogger logger, int rows, int from, int to);
    }
}
