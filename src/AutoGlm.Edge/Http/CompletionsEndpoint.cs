using System.Globalization;
using System.Text;
using AutoGlm.Edge.Hosting;
using AutoGlm.Edge.Metrics;
using AutoGlm.Runtime;
using AutoGlm.Runtime.Generation;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Options;

namespace AutoGlm.Edge.Http;

/// <summary>
/// <c>POST /v1/completions</c>, OpenAI's legacy completions: a raw prompt (text or token ids), no chat template, on
/// the local engine; JSON or SSE in the <c>text_completion</c> shape, with per-token <c>logprobs</c>.
/// </summary>
/// <remarks>
/// Same keys, limits, concurrency gate, timeout, audit and metrics as <see cref="ChatCompletionsEndpoint"/>. A raw
/// prompt runs on this daemon's own engine, never on a heavy node (the cluster's wire carries conversations) and not
/// with <c>Runtime:Backend=openai</c>, which has no token-level engine here.
/// </remarks>
public sealed partial class CompletionsEndpoint
{
    /// <summary>The route.</summary>
    public const string Route = "/v1/completions";

    private readonly EngineHost _engineHost;
    private readonly RequestGate _gate;
    private readonly EdgeMetrics _metrics;
    private readonly HttpOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    public CompletionsEndpoint(EngineHost engineHost, RequestGate gate, EdgeMetrics metrics, IOptions<HttpOptions> options, TimeProvider time, ILogger<CompletionsEndpoint> logger)
    {
        _engineHost = engineHost;
        _gate = gate;
        _metrics = metrics;
        _options = options.Value;
        _time = time;
        _logger = logger;
    }

    /// <summary>The local engine when it is loaded, or the error to answer.</summary>
    internal static ApiError? ResolveEngine(EngineHost host, out LocalEngine? engine)
    {
        engine = null;
        if (!host.IsReady)
        {
            return ApiError.ModelLoading();
        }

        engine = host.LocalEngine;
        return engine is null
            ? new ApiError(StatusCodes.Status501NotImplemented, "invalid_request_error", "unsupported_backend", "raw prompts need the on-device engine; this daemon fronts another server (Runtime:Backend=openai): send /v1/completions and /tokenize there")
            : null;
    }

    /// <summary>Answers one request.</summary>
    public async Task HandleAsync(HttpContext context)
    {
        var arrived = _time.GetTimestamp();
        var audit = context.Features.GetRequiredFeature<RequestAudit>();
        var (document, bodyError) = await RequestBody.ReadAsync(context, _options).ConfigureAwait(false);
        if (bodyError is not null)
        {
            await bodyError.WriteAsync(context.Response).ConfigureAwait(false);
            return;
        }

        CompletionRequest? request;
        using (document)
        {
            var error = ChatRequestParser.ParseCompletion(document!.RootElement, out request);
            if (error is not null)
            {
                Log.Refused(_logger, error.Code, error.Param, error.Message);
                await error.WriteAsync(context.Response).ConfigureAwait(false);
                return;
            }
        }

        IReadOnlyList<int>? prompt = null;
        var refused = ResolveEngine(_engineHost, out var engine) ?? CheckModel(request!.Model) ?? Prompt(engine!, request!, out prompt);
        if (refused is not null)
        {
            await refused.WriteAsync(context.Response).ConfigureAwait(false);
            return;
        }

        var options = request!.Options.Clone();
        (options.AdditionalProperties ??= [])[LocalEngine.PromptTokensProperty] = prompt;
        if (request.Logprobs is { } top)
        {
            options.AdditionalProperties[LocalEngine.LogprobsProperty] = top;
        }

        var limited = _gate.EnterStream(audit.KeyId, out var lease);
        if (limited is not null)
        {
            await limited.WriteAsync(context.Response).ConfigureAwait(false);
            return;
        }

        using (lease)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(_options.RequestTimeoutSeconds), _time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, timeout.Token);
            var identity = new CompletionIdentity("cmpl-" + Guid.NewGuid().ToString("N"), _time.GetUtcNow().ToUnixTimeSeconds(), _engineHost.ModelId, "autoglm-" + _engineHost.Provider);
            var echo = request.Echo ? request.PromptText ?? engine!.Tokenizer.Decode(prompt!) : "";
            var run = new Run(context, request, identity, arrived, audit, prompt!.Count, request.Logprobs is null ? null : new CompletionWriter.Logprobs(engine!.Tokenizer, request.TokensAsIds, echo.Length));
            try
            {
                await RunAsync(engine!, options, run, echo, linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
            {
                audit.ClientGone = true;
                run.Finish(this);
                Log.ClientGone(_logger, identity.Id);
            }
            catch (OperationCanceledException) when (timeout.IsCancellationRequested)
            {
                run.Finish(this);
                Log.TimedOut(_logger, identity.Id, _options.RequestTimeoutSeconds);
                if (!context.Response.HasStarted)
                {
                    await ApiError.Timeout(_options.RequestTimeoutSeconds).WriteAsync(context.Response).ConfigureAwait(false);
                }
            }
            catch (RuntimeException ex) when (!context.Response.HasStarted)
            {
                if (ApiError.IsEngineFault(ex))
                {
                    Log.EngineFailed(_logger, ex, identity.Id);
                }
                else
                {
                    Log.EngineRefused(_logger, identity.Id, ex.WireCode, ex.Message);
                }

                await ApiError.FromRuntime(ex).WriteAsync(context.Response).ConfigureAwait(false);
            }
        }
    }

    private ApiError? CheckModel(string? model) =>
        string.IsNullOrEmpty(model) || model == _engineHost.ModelId
            ? null
            : ApiError.ModelNotFound(model, _engineHost.ModelId);

    /// <summary>The prompt's token ids: a text prompt tokenized as raw text, token ids checked against the vocabulary.</summary>
    private static ApiError? Prompt(LocalEngine engine, CompletionRequest request, out IReadOnlyList<int>? prompt)
    {
        prompt = request.PromptTokens ?? engine.TokenizeRaw(request.PromptText!, request.AddSpecialTokens);
        if (request.PromptTokens is { } ids)
        {
            for (var i = 0; i < ids.Count; i++)
            {
                if (!engine.Tokenizer.IsDefined(ids[i]))
                {
                    return ApiError.BadRequest(string.Create(CultureInfo.InvariantCulture, $"prompt[{i}]: token id {ids[i]} is not in the model's vocabulary (0 to {engine.Tokenizer.VocabSize - 1}, defined ids only)"), string.Create(CultureInfo.InvariantCulture, $"prompt[{i}]"));
                }
            }
        }

        return prompt.Count == 0 ? ApiError.BadRequest("prompt is empty: it has no tokens (send text, or add_special_tokens true)", "prompt") : null;
    }

    private async Task RunAsync(LocalEngine engine, ChatOptions options, Run run, string echo, CancellationToken cancellationToken)
    {
        var updates = engine.GetStreamingResponseAsync([], options, cancellationToken).GetAsyncEnumerator(cancellationToken);
        await using (updates.ConfigureAwait(false))
        {
            // The first update comes after prefill; until then a refusal can still be answered with its status.
            var more = await updates.MoveNextAsync().ConfigureAwait(false);
            var response = run.Context.Response;
            if (!run.Request.Stream)
            {
                var text = new StringBuilder(echo);
                for (; more; more = await updates.MoveNextAsync().ConfigureAwait(false))
                {
                    text.Append(run.Observe(updates.Current, this));
                }

                run.Finish(this);
                response.ContentType = "application/json";
                CompletionWriter.WriteCompletion(response.BodyWriter, run.Identity, text.ToString(), run.Logprobs, ChatCompletionWriter.FinishReasonName(run.FinishReason), run.Usage);
                await response.BodyWriter.FlushAsync(run.Context.RequestAborted).ConfigureAwait(false);
                return;
            }

            response.ContentType = "text/event-stream";
            response.Headers.CacheControl = "no-cache";
            run.Context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
            var output = response.BodyWriter;
            if (echo.Length > 0)
            {
                CompletionWriter.WriteChunk(output, run.Identity, echo, null, null);
            }

            for (; more; more = await updates.MoveNextAsync().ConfigureAwait(false))
            {
                var text = run.Observe(updates.Current, this);
                if (text.Length > 0)
                {
                    CompletionWriter.WriteChunk(output, run.Identity, text, run.Logprobs, null);
                    await output.FlushAsync(cancellationToken).ConfigureAwait(false);
                }
            }

            run.Finish(this);

            // Tokens that completed no text (a stop sequence held them back, or a special token) come with the end.
            CompletionWriter.WriteChunk(output, run.Identity, "", run.Logprobs is { HasPending: true } ? run.Logprobs : null, ChatCompletionWriter.FinishReasonName(run.FinishReason));
            if (run.Request.IncludeUsage)
            {
                ChatCompletionWriter.WriteUsageChunk(output, run.Identity, run.Usage, "text_completion");
            }

            ChatCompletionWriter.WriteDone(output);
            await output.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>One request's progress: what the updates said so far, and the metrics they feed.</summary>
    private sealed class Run(HttpContext context, CompletionRequest request, CompletionIdentity identity, long arrived, RequestAudit audit, int promptTokens, CompletionWriter.Logprobs? logprobs)
    {
        private bool _first = true;
        private bool _finished;
        private int _scored;
        private int _textUpdates;

        public HttpContext Context { get; } = context;
        public CompletionRequest Request { get; } = request;
        public CompletionIdentity Identity { get; } = identity;
        public CompletionWriter.Logprobs? Logprobs { get; } = logprobs;
        public ChatFinishReason? FinishReason { get; private set; }
        public UsageDetails? Usage { get; private set; }
        public GenerationTimings? Timings { get; private set; }

        /// <summary>Takes in one update; returns its text.</summary>
        public string Observe(ChatResponseUpdate update, CompletionsEndpoint owner)
        {
            if (update.AdditionalProperties?.TryGetValue(LocalEngine.LogprobsProperty, out var value) == true && value is TokenScored scored)
            {
                Logprobs?.Add(scored);
                _scored++;
            }

            var text = "";
            foreach (var content in update.Contents)
            {
                switch (content)
                {
                    case TextContent answer:
                        text += answer.Text;
                        break;
                    case TextReasoningContent thought:
                        text += thought.Text;
                        break;
                    case UsageContent usage:
                        Usage = usage.Details;
                        break;
                }
            }

            if (text.Length > 0)
            {
                _textUpdates++;
                if (_first)
                {
                    _first = false;
                    owner._metrics.RecordTimeToFirstToken("http", owner._time.GetElapsedTime(arrived));
                }
            }

            FinishReason = update.FinishReason ?? FinishReason;
            if (update.AdditionalProperties?.TryGetValue("timings", out var timings) == true && timings is GenerationTimings t)
            {
                Timings = t;
            }

            return text;
        }

        /// <summary>Records the generation's tokens and speed, once: when it finished, or when the client left it.</summary>
        public void Finish(CompletionsEndpoint owner)
        {
            if (_finished)
            {
                return;
            }

            _finished = true;
            var prompt = (int)(Usage?.InputTokenCount ?? (_textUpdates > 0 || _scored > 0 ? promptTokens : 0));
            var completion = (int)(Usage?.OutputTokenCount ?? Math.Max(_scored, _textUpdates));
            audit.PromptTokens = prompt;
            audit.CompletionTokens = completion;
            owner._metrics.RecordTokens("http", prompt, completion);
            if (Timings is { } t)
            {
                owner._metrics.RecordDecodeSpeed("http", t.DecodeTokensPerSecond(completion));
            }
        }
    }
}
