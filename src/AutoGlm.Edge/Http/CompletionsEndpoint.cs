using System.Globalization;
using System.Text;
using AutoGlm.Edge.Metrics;
using AutoGlm.Edge.Pipeline;
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

    private readonly IEngineStatus _engine;
    private readonly RequestGate _gate;
    private readonly EdgeMetrics _metrics;
    private readonly HttpOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    public CompletionsEndpoint(IEngineStatus engine, RequestGate gate, EdgeMetrics metrics, IOptions<HttpOptions> options, TimeProvider time, ILogger<CompletionsEndpoint> logger)
    {
        _engine = engine;
        _gate = gate;
        _metrics = metrics;
        _options = options.Value;
        _time = time;
        _logger = logger;
    }

    /// <summary>The local engine when it is loaded (the one behind the pipeline), or the error to answer.</summary>
    internal static ApiError? ResolveEngine(HttpContext context, out LocalEngine? engine)
    {
        engine = null;
        if (!context.RequestServices.GetRequiredService<IEngineStatus>().IsReady)
        {
            return ApiError.ModelLoading();
        }

        engine = context.RequestServices.GetRequiredService<IChatClient>().GetService<LocalEngine>();
        return engine is null
            ? new ApiError(StatusCodes.Status501NotImplemented, "invalid_request_error", "unsupported_backend", "raw prompts need the on-device engine; this daemon fronts another server (Runtime:Backend=openai): send /v1/completions and /tokenize there")
            : null;
    }

    /// <summary>Answers one request.</summary>
    public async Task HandleAsync(HttpContext context)
    {
        var audit = context.Features.GetRequiredFeature<RequestAudit>();
        var request = await RequestBody.ReadRequestAsync<CompletionRequest>(context, _options, ChatRequestParser.ParseCompletion, error => Log.Refused(_logger, error.Code, error.Param, error.Message)).ConfigureAwait(false);
        if (request is null)
        {
            return;
        }

        IReadOnlyList<int>? prompt = null;
        var refused = ResolveEngine(context, out var engine) ?? CheckModel(request.Model) ?? Prompt(engine!, request, out prompt);
        if (refused is not null)
        {
            await refused.WriteAsync(context.Response).ConfigureAwait(false);
            return;
        }

        var options = MeteredChatClient.SetSource(request.Options.Clone(), "http").SetPromptTokens(prompt!);
        if (request.Logprobs is { } top)
        {
            options.SetLogprobs(top);
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
            var identity = new CompletionIdentity("cmpl-" + Guid.NewGuid().ToString("N"), _time.GetUtcNow().ToUnixTimeSeconds(), _engine.ModelId, "autoglm-" + _engine.Provider);
            var echo = request.Echo ? request.PromptText ?? engine!.Tokenizer.Decode(prompt!) : "";
            var run = new Run(context, request, identity, audit, prompt!.Count, request.Logprobs is null ? null : new CompletionWriter.Logprobs(engine!.Tokenizer, request.TokensAsIds, echo.Length));
            try
            {
                await RunAsync(engine!, options, run, echo, linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
            {
                audit.ClientGone = true;
                run.Finish();
                Log.ClientGone(_logger, identity.Id);
            }
            catch (OperationCanceledException) when (timeout.IsCancellationRequested)
            {
                run.Finish();
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
        string.IsNullOrEmpty(model) || model == _engine.ModelId
            ? null
            : ApiError.ModelNotFound(model, _engine.ModelId);

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
        // The raw prompt runs on the local engine itself, never routed, through the same metrics stage as the pipeline.
        var metered = new MeteredChatClient(engine, _metrics, _time);
        var updates = metered.GetStreamingResponseAsync([], options, cancellationToken).GetAsyncEnumerator(cancellationToken);
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
                    text.Append(run.Observe(updates.Current));
                }

                run.Finish();
                response.ContentType = "application/json";
                CompletionWriter.WriteCompletion(response.BodyWriter, run.Identity, text.ToString(), run.Logprobs, ChatCompletionWriter.FinishReasonName(run.Answer.FinishReason), run.Answer.Usage);
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
                var text = run.Observe(updates.Current);
                if (text.Length > 0)
                {
                    CompletionWriter.WriteChunk(output, run.Identity, text, run.Logprobs, null);
                    await output.FlushAsync(cancellationToken).ConfigureAwait(false);
                }
            }

            run.Finish();

            // Tokens that completed no text (a stop sequence held them back, or a special token) come with the end.
            CompletionWriter.WriteChunk(output, run.Identity, "", run.Logprobs is { HasPending: true } ? run.Logprobs : null, ChatCompletionWriter.FinishReasonName(run.Answer.FinishReason));
            if (run.Request.IncludeUsage)
            {
                ChatCompletionWriter.WriteUsageChunk(output, run.Identity, run.Answer.Usage, "text_completion");
            }

            ChatCompletionWriter.WriteDone(output);
            await output.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>One request's progress: what the updates said so far, and the token counts its audit line reports.</summary>
    private sealed class Run(HttpContext context, CompletionRequest request, CompletionIdentity identity, RequestAudit audit, int promptTokens, CompletionWriter.Logprobs? logprobs)
    {
        private bool _finished;

        public HttpContext Context { get; } = context;
        public CompletionRequest Request { get; } = request;
        public CompletionIdentity Identity { get; } = identity;
        public CompletionWriter.Logprobs? Logprobs { get; } = logprobs;
        public AnswerCollector Answer { get; } = new();

        /// <summary>Takes in one update; returns its text (reasoning included: a raw prompt has no chat structure).</summary>
        public string Observe(ChatResponseUpdate update)
        {
            if (update.GetScored() is { } scored)
            {
                Logprobs?.Add(scored);
            }

            var (text, reasoning) = Answer.Add(update);
            return reasoning + text;
        }

        /// <summary>Puts the generation's tokens on the audit line, once: when it finished, or when the client left it.</summary>
        public void Finish()
        {
            if (_finished)
            {
                return;
            }

            _finished = true;
            audit.PromptTokens = Answer.PromptTokens(() => promptTokens);
            audit.CompletionTokens = Answer.CompletionTokens;
        }
    }
}
