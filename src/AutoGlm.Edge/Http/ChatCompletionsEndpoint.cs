using System.Diagnostics;
using System.Text;
using System.Text.Json;
using AutoGlm.Cluster;
using AutoGlm.Edge.Metrics;
using AutoGlm.Edge.Pipeline;
using AutoGlm.Runtime;
using AutoGlm.Runtime.Generation;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Options;

namespace AutoGlm.Edge.Http;

/// <summary><c>POST /v1/chat/completions</c>: reads the body, parses it, runs it on the <see cref="IChatClient"/>, answers JSON or SSE.</summary>
/// <remarks>
/// A singleton; each call is independent. The generation is cancelled when the client disconnects
/// (<see cref="HttpContext.RequestAborted"/>) or <see cref="HttpOptions.RequestTimeoutSeconds"/> passes; disposing
/// the engine's stream frees its slot. A streamed answer's headers are sent with its first update, so a request the
/// engine refuses (overloaded, too long, unsupported modality) still gets a proper status code.
/// </remarks>
public sealed partial class ChatCompletionsEndpoint
{
    /// <summary>The route.</summary>
    public const string Route = "/v1/chat/completions";

    /// <summary>Response header naming where an answer runs, when the router decided it (streamed answers: where it started).</summary>
    public const string ServedByHeader = "X-AutoGlm-Served-By";

    /// <summary>Response header saying why the answer ran there.</summary>
    public const string RouteReasonHeader = "X-AutoGlm-Route-Reason";

    private readonly IEngineStatus _engine;
    private readonly RequestGate _gate;
    private readonly HttpOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    public ChatCompletionsEndpoint(IEngineStatus engine, RequestGate gate, IOptions<HttpOptions> options, TimeProvider time, ILogger<ChatCompletionsEndpoint> logger)
    {
        _engine = engine;
        _gate = gate;
        _options = options.Value;
        _time = time;
        _logger = logger;
    }

    /// <summary>Answers one request.</summary>
    public async Task HandleAsync(HttpContext context)
    {
        var audit = context.Features.GetRequiredFeature<RequestAudit>();
        var request = await RequestBody.ReadRequestAsync<ChatCompletionRequest>(context, _options, ChatRequestParser.Parse, error => Log.Refused(_logger, error.Code, error.Param, error.Message)).ConfigureAwait(false);
        if (request is null)
        {
            return;
        }

        if (!_engine.IsReady)
        {
            await ApiError.ModelLoading().WriteAsync(context.Response).ConfigureAwait(false);
            return;
        }

        var modelId = _engine.ModelId;
        if (!string.IsNullOrEmpty(request.Model) && request.Model != modelId)
        {
            await ApiError.ModelNotFound(request.Model, modelId).WriteAsync(context.Response).ConfigureAwait(false);
            return;
        }

        var limited = _gate.EnterStream(audit.KeyId, out var lease);
        if (limited is not null)
        {
            await limited.WriteAsync(context.Response).ConfigureAwait(false);
            return;
        }

        using (lease)
        {
            if (_logger.IsEnabled(LogLevel.Trace))
            {
                Log.Prompt(_logger, string.Join("\n", request.Messages.Select(m => $"{m.Role}: {m.Text}")));
            }

            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(_options.RequestTimeoutSeconds), _time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, timeout.Token);
            var client = context.RequestServices.GetRequiredService<IChatClient>();
            MeteredChatClient.SetSource(request.Options, "http");
            var identity = new CompletionIdentity("chatcmpl-" + Guid.NewGuid().ToString("N"), _time.GetUtcNow().ToUnixTimeSeconds(), modelId, "autoglm-" + _engine.Provider);
            var run = new Run(context, client, request, identity, audit);
            try
            {
                await RunAsync(client, run, linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
            {
                // The tokens generated before the client left were spent all the same: the audit line and metrics count them.
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
            catch (ClusterException ex) when (!context.Response.HasStarted)
            {
                Log.EngineRefused(_logger, identity.Id, ex.WireCode, ex.Message);
                await ApiError.FromCluster(ex).WriteAsync(context.Response).ConfigureAwait(false);
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

    private async Task RunAsync(IChatClient client, Run run, CancellationToken cancellationToken)
    {
        var stream = client.GetStreamingResponseAsync(run.Request.Messages, run.Request.Options, cancellationToken);
        var updates = stream.GetAsyncEnumerator(cancellationToken);
        await using (updates.ConfigureAwait(false))
        {
            // The first update comes after prefill; until then a refusal can still be answered with its status.
            var any = await updates.MoveNextAsync().ConfigureAwait(false);
            if (run.Request.Stream)
            {
                await StreamAsync(run, updates, any, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await CompleteAsync(run, updates, any).ConfigureAwait(false);
            }
        }
    }

    private async Task CompleteAsync(Run run, IAsyncEnumerator<ChatResponseUpdate> updates, bool any)
    {
        // A restart (the router's, after a heavy node failed mid-answer) voids what came before: only the new answer counts.
        for (var more = any; more; more = await updates.MoveNextAsync().ConfigureAwait(false))
        {
            run.Add(updates.Current);
        }

        run.Finish();
        var content = run.Answer.Text;
        if (_logger.IsEnabled(LogLevel.Trace))
        {
            Log.Completion(_logger, run.Identity.Id, content);
        }

        var response = run.Context.Response;
        response.ContentType = "application/json";
        SetRouteHeaders(run);
        ChatCompletionWriter.WriteCompletion(response.BodyWriter, run.Identity, content, run.Request.ReturnReasoning, run.Answer.Reasoning, ChatCompletionWriter.FinishReasonName(run.Answer.FinishReason), run.Answer.Usage, run.Answer.Action, run.Logprobs);
        await response.BodyWriter.FlushAsync(run.Context.RequestAborted).ConfigureAwait(false);
    }

    private async Task StreamAsync(Run run, IAsyncEnumerator<ChatResponseUpdate> updates, bool any, CancellationToken cancellationToken)
    {
        var response = run.Context.Response;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        run.Context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        var output = response.BodyWriter;

        // The router says where the answer runs in an update before the first token, so the headers (sent with the
        // first chunk) and the first chunk can name it.
        var (text, thought) = any ? run.Add(updates.Current) : ("", "");
        SetRouteHeaders(run);
        ChatCompletionWriter.WriteChunk(output, run.Identity, withRole: true, content: "", reasoning: null, finishReason: null, run.Route);
        for (var more = any; more;)
        {
            if (run.Answer.RestartedNow)
            {
                ChatCompletionWriter.WriteRestartChunk(output, run.Identity, run.Route!);
                await output.FlushAsync(cancellationToken).ConfigureAwait(false);
            }

            if (text.Length > 0 || thought.Length > 0)
            {
                ChatCompletionWriter.WriteChunk(output, run.Identity, withRole: false, content: text.Length > 0 ? text : null, reasoning: run.Request.ReturnReasoning && thought.Length > 0 ? thought : null, finishReason: null, logprobs: run.Logprobs is { HasPending: true } ? run.Logprobs : null);
                await output.FlushAsync(cancellationToken).ConfigureAwait(false);
            }

            more = await updates.MoveNextAsync().ConfigureAwait(false);
            (text, thought) = more ? run.Add(updates.Current) : ("", "");
        }

        run.Finish();
        ChatCompletionWriter.WriteChunk(output, run.Identity, withRole: false, content: null, reasoning: null, finishReason: ChatCompletionWriter.FinishReasonName(run.Answer.FinishReason), run.Route, run.Answer.Action, run.Logprobs is { HasPending: true } ? run.Logprobs : null);
        if (run.Request.IncludeUsage)
        {
            ChatCompletionWriter.WriteUsageChunk(output, run.Identity, run.Answer.Usage);
        }

        ChatCompletionWriter.WriteDone(output);
        await output.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    private static void SetRouteHeaders(Run run)
    {
        if (run.Answer.ServedBy is { } servedBy)
        {
            run.Context.Response.Headers[ServedByHeader] = HeaderValue(servedBy);
            run.Context.Response.Headers[RouteReasonHeader] = HeaderValue(run.Answer.RouteReason ?? "");
        }
    }

    // Header values must be visible ASCII; a reason may quote an exception message.
    private static string HeaderValue(string text) => string.Create(text.Length, text, static (span, source) =>
    {
        for (var i = 0; i < source.Length; i++)
        {
            span[i] = source[i] is >= ' ' and <= '~' ? source[i] : '?';
        }
    });

    /// <summary>One request's progress: what the updates said so far, and the token counts its audit line reports.</summary>
    private sealed class Run(HttpContext context, IChatClient client, ChatCompletionRequest request, CompletionIdentity identity, RequestAudit audit)
    {
        private bool _finished;

        public HttpContext Context { get; } = context;
        public ChatCompletionRequest Request { get; } = request;
        public CompletionIdentity Identity { get; } = identity;
        public AnswerCollector Answer { get; } = new();

        /// <summary>The scored tokens, when the request asked for <c>logprobs</c> (the local engine's tokenizer names them).</summary>
        public ChatLogprobs? Logprobs { get; } = request.TopLogprobs is null || client.GetService<LocalEngine>() is not { } engine
            ? null
            : new ChatLogprobs(engine.Tokenizer, request.TokensAsIds);

        /// <summary>Adds one update to the answer (and its scored token to the log probabilities); returns its text and reasoning.</summary>
        public (string Text, string Reasoning) Add(ChatResponseUpdate update)
        {
            var added = Answer.Add(update);
            if (Answer.RestartedNow)
            {
                Logprobs?.Clear();
            }

            if (update.GetScored() is { } scored)
            {
                Logprobs?.Add(scored);
            }

            return added;
        }

        /// <summary>Where the answer runs and why, once the router has said so.</summary>
        public RouteInfo? Route => Answer.ServedBy is { } servedBy ? new RouteInfo(servedBy, Answer.RouteReason) : null;

        /// <summary>Puts the generation's tokens on the audit line, once: when it finished, or when the client left it.</summary>
        /// <remarks>An answer cut short has no usage from the engine: its prompt tokens are the local engine's count of the prompt.</remarks>
        public void Finish()
        {
            if (_finished)
            {
                return;
            }

            _finished = true;
            audit.PromptTokens = Answer.PromptTokens(() => client.GetService<LocalEngine>()?.RenderPrompt(Request.Messages, Request.Options).Count ?? 0);
            audit.CompletionTokens = Answer.CompletionTokens;
        }
    }
}
