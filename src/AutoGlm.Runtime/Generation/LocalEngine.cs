using System.Runtime.CompilerServices;
using System.Text.Json;
using AutoGlm.Runtime.Modalities;
using AutoGlm.Runtime.Onnx;
using AutoGlm.Runtime.Packages;
using AutoGlm.Runtime.Text;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace AutoGlm.Runtime.Generation;

/// <summary>The on-device engine: a model package run by ONNX Runtime behind <see cref="IChatClient"/>.</summary>
/// <remarks>
/// Safe to call from many threads at once: every call becomes a typed request for the one
/// <see cref="GenerationScheduler"/>, which batches concurrent requests without mixing their KV caches.
/// Extra request fields ride in <see cref="ChatOptions.AdditionalProperties"/>: <c>enable_thinking</c> (bool),
/// <c>repetition_penalty</c> (float). <see cref="ChatOptions.Reasoning"/> with an effort other than
/// <c>None</c> also turns thinking on. Owns the session, the scheduler and the embedding map.
/// The body of an <c>await foreach</c> over a stream runs on the inference thread until it awaits something that is
/// not complete (it saves a thread hand-off per token): keep it short, and never block there waiting for another
/// generation. Disposing the engine from there is safe: the remaining sequences end with an error.
/// </remarks>
public sealed partial class LocalEngine : IChatClient, IEngineStatus
{
    public const string EnableThinkingProperty = "enable_thinking";
    public const string RepetitionPenaltyProperty = "repetition_penalty";

    /// <summary>
    /// A raw prompt (<see cref="IReadOnlyList{T}"/> of <see cref="int"/> token ids, template and all): the engine runs
    /// these tokens as they are, applies no chat template and takes no messages (pass none). Any defined id may appear,
    /// special tokens included; <c>/v1/completions</c> sends its prompt this way.
    /// </summary>
    public const string PromptTokensProperty = "prompt_token_ids";

    /// <summary>
    /// <c>true</c>: answer the reply as the model wrote it — <c>&lt;think&gt;</c>/<c>&lt;/think&gt;</c> and
    /// <c>&lt;answer&gt;</c> tags in the text, the thinking not split off (vLLM's <c>skip_special_tokens: false</c>), for
    /// clients such as Open-AutoGLM's that parse the tags themselves.
    /// </summary>
    public const string RawOutputProperty = "raw_output";

    /// <summary>
    /// Log probabilities (<see cref="int"/>, 0 to <see cref="TokenLogprobs.MaxTop"/> alternatives): each generated
    /// token then comes first as an update without contents whose <see cref="ChatResponseUpdate.AdditionalProperties"/>
    /// hold its <see cref="TokenScored"/> under this same key, followed by the update with its text (if it completes any).
    /// </summary>
    public const string LogprobsProperty = "logprobs";

    private readonly DecoderSession _session;
    private readonly TokenEmbedding _embedding;
    private readonly MediaInputs _media;
    private readonly GenerationScheduler _scheduler;
    private readonly GlmChatTemplate _template;
    private readonly EngineOptions _options;
    private readonly ILogger _logger;
    private int _disposed;

    private long _promptRenders;
    private readonly TimeProvider _time;

    private LocalEngine(ModelPackage package, EngineOptions options, TimeProvider time, ILogger logger)
    {
        _time = time;
        Package = package;
        _options = options;
        _logger = logger;
        Tokenizer = new GlmTokenizer(package.Manifest.Tokenizer, package.Manifest.Architecture.VocabSize, package.Directory);
        _template = new GlmChatTemplate(Tokenizer, package.Manifest.ChatTemplate);
        _embedding = new TokenEmbedding(package);
        try
        {
            _session = new DecoderSession(package, options, logger);
        }
        catch
        {
            _embedding.Dispose();
            throw;
        }

        _media = new MediaInputs(package, options, time, logger);
        _scheduler = new GenerationScheduler(_session, _embedding, _media, Tokenizer, options.MaxQueueLength, options.PrefixCache, time, logger);
        Metadata = new ChatClientMetadata("autoglm-onnx", null, package.Manifest.Name);
    }

    /// <summary>The verified package this engine runs.</summary>
    public ModelPackage Package { get; }

    public GlmTokenizer Tokenizer { get; }

    public ChatClientMetadata Metadata { get; }

    /// <summary>The execution provider that actually runs (after any fallback).</summary>
    public string ExecutionProvider => _session.ExecutionProvider;

    /// <summary>Always true: a loaded engine serves.</summary>
    bool IEngineStatus.IsReady => true;

    /// <summary>The package's name.</summary>
    string IEngineStatus.ModelId => Package.Manifest.Name;

    /// <summary><see cref="ExecutionProvider"/>.</summary>
    string IEngineStatus.Provider => ExecutionProvider;

    /// <summary>Tokens a sequence may hold (prompt plus answer).</summary>
    public int ContextLength => _session.MaxLength;

    /// <summary>Bytes the KV cache reserves for all slots at the configured context (float32 or float16 rows, <see cref="KvCacheType"/>).</summary>
    public long KvCacheBytes => _session.KvCacheBytes;

    /// <summary>The KV cache's element type: <c>float32</c> or <c>float16</c> (<c>Runtime:KvCacheType</c>).</summary>
    public string KvCacheType => _session.KvCacheType;

    public int QueueDepth => _scheduler.QueueDepth;

    /// <summary>The package's adapters and whether each is loaded now (empty for a text-only package).</summary>
    public IReadOnlyList<AdapterStatus> Adapters => _media.Status;

    public int ActiveSequences => _scheduler.ActiveSequences;

    /// <summary>How long the inference loop has been in its current turn: zero while idle, growing only while a step runs (or hangs).</summary>
    public TimeSpan SinceLastProgress => _scheduler.SinceLastProgress;

    /// <summary>Prefill and decode speed measured over everything run so far (tokens per second of engine time).</summary>
    public (double PrefillTokensPerSecond, double DecodeTokensPerSecond) MeasuredSpeed => _scheduler.MeasuredSpeed;

    /// <summary>Verifies and loads a package.</summary>
    /// <exception cref="RuntimeException"><see cref="RuntimeErrorCode.PackageInvalid"/> or <see cref="RuntimeErrorCode.ModelUnavailable"/>.</exception>
    /// <param name="packageDirectory">The model package folder.</param>
    /// <param name="options">Engine settings; defaults when null.</param>
    /// <param name="loggerFactory">Where the engine logs.</param>
    /// <param name="timeProvider">The clock adapters' idle unloading follows (tests pass a fake one).</param>
    public static LocalEngine Load(string packageDirectory, EngineOptions? options = null, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null)
    {
        options ??= new EngineOptions();
        var problems = options.Validate().ToList();
        if (problems.Count > 0)
        {
            throw new RuntimeException(RuntimeErrorCode.InvalidRequest, string.Join("; ", problems));
        }

        var logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<LocalEngine>();
        var package = ModelPackage.Load(packageDirectory, options.ModelManifestSha256);
        var engine = new LocalEngine(package, options, timeProvider ?? TimeProvider.System, logger);
        Log.Loaded(logger, package.Manifest.Name, package.Directory, engine.ExecutionProvider, engine.ContextLength, options.MaxBatchSize);
        Log.KvCache(logger, engine.KvCacheBytes, options.MaxBatchSize, engine.ContextLength, engine.KvCacheType, options.PrefixCache ? "on" : "off");
        return engine;
    }

    /// <summary>Templates and tokenizes a conversation as the engine would.</summary>
    /// <remarks>Images and clips count the rows their headers imply, without being decoded.</remarks>
    public IReadOnlyList<int> RenderPrompt(IEnumerable<ChatMessage> messages, ChatOptions? options = null) =>
        Render(messages, options?.Instructions, IsThinkingEnabled(options), (media, _) => _media.EstimateRows(media));

    /// <summary>How many times a conversation has been templated and tokenized (<see cref="RenderPrompt"/> and requests).</summary>
    public long PromptRenders => Interlocked.Read(ref _promptRenders);

    /// <summary>Tokenizes raw text as <see cref="PromptTokensProperty"/> prompts are made from it: special-token
    /// strings in the text stay plain text; <paramref name="addSpecialTokens"/> puts the model's prompt prefix
    /// (<c>[gMASK]&lt;sop&gt;</c>) in front, as its Hugging Face tokenizer does.</summary>
    public List<int> TokenizeRaw(string text, bool addSpecialTokens)
    {
        var ids = new List<int>();
        if (addSpecialTokens)
        {
            ids.Add(Tokenizer.IdOf(GlmSpecialTokens.GMask));
            ids.Add(Tokenizer.IdOf(GlmSpecialTokens.Sop));
        }

        Tokenizer.EncodeText(text, ids);
        return ids;
    }

    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
        await GetStreamingResponseAsync(messages, options, cancellationToken).ToChatResponseAsync(cancellationToken).ConfigureAwait(false);

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages,
        ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var responseId = "chatcmpl-" + Guid.NewGuid().ToString("N");
        var created = _time.GetUtcNow();
        await foreach (var item in RunAsync(token => CreateRequest(messages, options, token), cancellationToken).ConfigureAwait(false))
        {
            var update = new ChatResponseUpdate
            {
                ResponseId = responseId,
                MessageId = responseId,
                ModelId = Metadata.DefaultModelId,
                CreatedAt = created,
                Role = ChatRole.Assistant,
            };
            switch (item)
            {
                case TextGenerated text:
                    update.Contents.Add(text.IsReasoning ? new TextReasoningContent(text.Text) : new TextContent(text.Text));
                    break;
                case TokenScored scored:
                    update.AdditionalProperties = new AdditionalPropertiesDictionary { [LogprobsProperty] = scored };
                    break;
                case GenerationCompleted done:
                    update.FinishReason = done.Reason == FinishReason.Stop ? ChatFinishReason.Stop : ChatFinishReason.Length;
                    update.Contents.Add(new UsageContent(new UsageDetails
                    {
                        InputTokenCount = done.PromptTokens,
                        CachedInputTokenCount = done.CachedPromptTokens,
                        OutputTokenCount = done.CompletionTokens,
                        TotalTokenCount = done.PromptTokens + done.CompletionTokens,
                    }));
                    update.AdditionalProperties = new AdditionalPropertiesDictionary { [EngineProperties.TimingsProperty] = done.Timings };
                    break;
            }

            yield return update;
        }
    }

    /// <summary>
    /// Runs an already tokenized prompt and streams what it produces: the low-level path under
    /// <see cref="GetStreamingResponseAsync"/>, for benchmarks and tools that need exact token counts.
    /// </summary>
    /// <param name="promptTokens">The prompt, template included.</param>
    /// <param name="maxTokens">Tokens to generate at most.</param>
    /// <param name="sampling">Sampling settings.</param>
    /// <param name="ignoreStopTokens">Generate exactly <paramref name="maxTokens"/> tokens, through stop tokens.</param>
    /// <param name="cancellationToken">Cancels the generation between tokens.</param>
    public async IAsyncEnumerable<GenerationEvent> GenerateAsync(
        IReadOnlyList<int> promptTokens,
        int maxTokens,
        SamplingParameters sampling,
        bool ignoreStopTokens = false,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        if (promptTokens.Count == 0 || promptTokens.Count + maxTokens > ContextLength || maxTokens < 1)
        {
            throw new RuntimeException(RuntimeErrorCode.ContextLengthExceeded, $"{promptTokens.Count} prompt tokens plus {maxTokens} to generate do not fit the context of {ContextLength}");
        }

        var stream = RunAsync(
            token => new GenerationRequest
            {
                PromptTokens = promptTokens,
                MaxTokens = maxTokens,
                Sampling = sampling,
                IgnoreStopTokens = ignoreStopTokens,
                Cancellation = token,
            },
            cancellationToken);
        await foreach (var item in stream.ConfigureAwait(false))
        {
            yield return item;
        }
    }

    /// <summary>Queues a request and reads its events; a caller that stops reading early frees the slot too.</summary>
    private async IAsyncEnumerable<GenerationEvent> RunAsync(Func<CancellationToken, GenerationRequest> create, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var abandon = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var request = create(abandon.Token);
        _scheduler.Enqueue(request);
        try
        {
            await foreach (var item in request.Output.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                yield return item;
            }
        }
        finally
        {
            await abandon.CancelAsync().ConfigureAwait(false);
        }
    }

    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is not null ? null
        : serviceType == typeof(ChatClientMetadata) ? Metadata
        : serviceType.IsInstanceOfType(this) ? this
        : null;

    /// <summary>Stops the inference loop and frees the session; safe to call more than once (hosts may dispose it as
    /// the engine and again as the registered <see cref="IChatClient"/>).</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _scheduler.Stop(() =>
        {
            _session.Dispose();
            _embedding.Dispose();
            _media.Dispose();
        });
    }

    internal GenerationRequest CreateRequest(IEnumerable<ChatMessage> messages, ChatOptions? options, CancellationToken cancellationToken)
    {
        var list = messages as IReadOnlyList<ChatMessage> ?? [.. messages];
        var raw = GetTokens(options, PromptTokensProperty);
        if (raw is not null && list.Count > 0)
        {
            throw new RuntimeException(RuntimeErrorCode.InvalidRequest, $"{PromptTokensProperty} is a whole prompt: send it without messages");
        }

        if (raw is null && list.Count == 0)
        {
            throw new RuntimeException(RuntimeErrorCode.InvalidRequest, "messages must contain at least one message");
        }

        foreach (var content in list.SelectMany(m => m.Contents))
        {
            if (content is FunctionCallContent or FunctionResultContent)
            {
                throw new RuntimeException(RuntimeErrorCode.InvalidRequest, "tool calls are not supported by this model");
            }
        }

        if (options?.Tools is { Count: > 0 })
        {
            throw new RuntimeException(RuntimeErrorCode.InvalidRequest, "tools are not supported by this model");
        }

        var sampling = new SamplingParameters
        {
            Temperature = options?.Temperature ?? 1f,
            TopP = options?.TopP ?? 1f,
            TopK = options?.TopK ?? 0,
            FrequencyPenalty = options?.FrequencyPenalty ?? 0,
            PresencePenalty = options?.PresencePenalty ?? 0,
            RepetitionPenalty = GetFloat(options, RepetitionPenaltyProperty) ?? 1f,
            Seed = options?.Seed,
        };
        var problems = sampling.Validate().ToList();
        if (options?.MaxOutputTokens is < 1)
        {
            problems.Add($"max_tokens must be at least 1 (got {options.MaxOutputTokens})");
        }

        if (options?.StopSequences is { } stops && (stops.Count > 16 || stops.Any(string.IsNullOrEmpty)))
        {
            problems.Add("stop must hold at most 16 non-empty strings");
        }

        if (problems.Count > 0)
        {
            throw new RuntimeException(RuntimeErrorCode.InvalidRequest, string.Join("; ", problems));
        }

        var logprobs = GetInt(options, LogprobsProperty);
        if (logprobs is < 0 or > TokenLogprobs.MaxTop)
        {
            throw new RuntimeException(RuntimeErrorCode.InvalidRequest, $"{LogprobsProperty} must be 0 to {TokenLogprobs.MaxTop} (got {logprobs})");
        }

        if (raw?.Where(id => !Tokenizer.IsDefined(id)).Select(id => (int?)id).FirstOrDefault() is { } bad)
        {
            throw new RuntimeException(RuntimeErrorCode.InvalidRequest, $"token id {bad} is not in the model's vocabulary (0 to {Tokenizer.VocabSize - 1}, defined ids only)");
        }

        if (raw is { Count: 0 })
        {
            throw new RuntimeException(RuntimeErrorCode.InvalidRequest, $"{PromptTokensProperty} must hold at least one token");
        }

        var thinking = raw is null && IsThinkingEnabled(options);
        var rawOutput = options?.AdditionalProperties?.TryGetValue(RawOutputProperty, out var rawFlag) == true && rawFlag is true;
        var media = _media.Prepare(list);
        var rendered = media.Count == 0 ? options.GetRenderedPrompt(list) : null;
        var prompt = raw ?? rendered ?? Render(list, options?.Instructions, thinking, (content, start) =>
        {
            var segment = media[content];
            segment.Start = start;
            return segment.Rows;
        });
        var room = ContextLength - prompt.Count;
        if (room < 1)
        {
            throw new RuntimeException(RuntimeErrorCode.ContextLengthExceeded, $"the prompt is {prompt.Count} tokens; the context holds {ContextLength}");
        }

        if (options?.MaxOutputTokens is { } asked && asked > room)
        {
            throw new RuntimeException(RuntimeErrorCode.ContextLengthExceeded, $"the prompt ({prompt.Count} tokens) plus max_tokens ({asked}) exceeds the context of {ContextLength}");
        }

        return new GenerationRequest
        {
            PromptTokens = prompt,
            MaxTokens = options?.MaxOutputTokens ?? Math.Min(_options.DefaultMaxTokens, room),
            Sampling = sampling,
            StopSequences = options?.StopSequences is { } s ? [.. s] : [],
            StartsInReasoning = thinking && _template.HasThinkBlock && !rawOutput,
            Logprobs = logprobs,
            RawText = raw is not null || rawOutput,
            ThinkTagsAsText = rawOutput,
            Media = [.. media.Values.OrderBy(m => m.Start)],
            Cancellation = cancellationToken,
        };
    }

    private List<int> Render(IEnumerable<ChatMessage> messages, string? instructions, bool thinking, GlmChatTemplate.MediaPlacer mediaRows)
    {
        Interlocked.Increment(ref _promptRenders);
        return _template.Render(messages, instructions, thinking, mediaRows);
    }

    internal static bool IsThinkingEnabled(ChatOptions? options)
    {
        if (options?.AdditionalProperties?.TryGetValue(EnableThinkingProperty, out var value) == true)
        {
            return value switch
            {
                bool b => b,
                JsonElement { ValueKind: JsonValueKind.True } => true,
                JsonElement { ValueKind: JsonValueKind.False } => false,
                string s when bool.TryParse(s, out var parsed) => parsed,
                _ => throw new RuntimeException(RuntimeErrorCode.InvalidRequest, $"{EnableThinkingProperty} must be true or false"),
            };
        }

        return options?.Reasoning?.Effort is { } effort && effort != ReasoningEffort.None;
    }

    private static IReadOnlyList<int>? GetTokens(ChatOptions? options, string name) =>
        options?.AdditionalProperties?.TryGetValue(name, out var value) != true || value is null ? null
        : value as IReadOnlyList<int> ?? throw new RuntimeException(RuntimeErrorCode.InvalidRequest, $"{name} must be a list of token ids");

    private static int? GetInt(ChatOptions? options, string name) =>
        options?.AdditionalProperties?.TryGetValue(name, out var value) != true || value is null ? null
        : value switch
        {
            int i => i,
            JsonElement { ValueKind: JsonValueKind.Number } e when e.TryGetInt32(out var i) => i,
            _ => throw new RuntimeException(RuntimeErrorCode.InvalidRequest, $"{name} must be an integer"),
        };

    private static float? GetFloat(ChatOptions? options, string name)
    {
        if (options?.AdditionalProperties?.TryGetValue(name, out var value) != true || value is null)
        {
            return null;
        }

        return value switch
        {
            float f => f,
            double d => (float)d,
            int i => i,
            JsonElement { ValueKind: JsonValueKind.Number } e => e.GetSingle(),
            _ => throw new RuntimeException(RuntimeErrorCode.InvalidRequest, $"{name} must be a number"),
        };
    }

    private static partial class Log
    {
        [LoggerMessage(3001, LogLevel.Information, "Loaded model {Model} from {Directory} on the {ExecutionProvider} execution provider (context {Context} tokens, {Slots} concurrent sequences)")]
        public static partial void Loaded(ILogger logger, string model, string directory, string executionProvider, int context, int slots);

        [LoggerMessage(3002, LogLevel.Information, "The KV cache reserves {Bytes} bytes ({Slots} slots × {Context} positions, {KvCacheType}); prefix cache {PrefixCache}")]
        public static partial void KvCache(ILogger logger, long bytes, int slots, int context, string kvCacheType, string prefixCache);
    }
}
