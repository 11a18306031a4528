using System.Diagnostics;
using System.Text;
using System.Text.Json;
using AutoGlm.Cluster;
using AutoGlm.Edge.Hosting;
using AutoGlm.Edge.Metrics;
using AutoGlm.Runtime;
using AutoGlm.Runtime.Generation;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Options;
using RoutingChatClient = AutoGlm.Cluster.Routing.RoutingChatClient;

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

    private readonly EngineHost _engineHost;
    private readonly RequestGate _gate;
    private readonly EdgeMetrics _metrics;
    private readonly HttpOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    public ChatCompletionsEndpoint(EngineHost engineHost, RequestGate gate, EdgeMetrics metrics, IOptions<HttpOptions> options, TimeProvider time, ILogger<ChatCompletionsEndpoint> logger)
    {
        _engineHost = engineHost;
        _gate = gate;
        _metrics = metrics;
        _options = options.Value;
        _time = time;
        _logger = logger;
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

        ChatCompletionRequest? request;
        using (document)
        {
            var error = ChatRequestParser.Parse(document!.RootElement, out request);
            if (error is not null)
            {
                Log.Refused(_logger, error.Code, error.Param, error.Message);
                await error.WriteAsync(context.Response).ConfigureAwait(false);
                return;
            }
        }

        if (!_engineHost.IsReady)
        {
            await ApiError.ModelLoading().WriteAsync(context.Response).ConfigureAwait(false);
            return;
        }

        var modelId = _engineHost.ModelId;
        if (!string.IsNullOrEmpty(request!.Model) && request.Model != modelId)
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
            if (request.Options.AdditionalProperties?.TryGetValue(RoutingChatClient.RouteProperty, out var route) == true && route is "remote" && client.GetService<RoutingChatClient>() is null)
            {
                await new ApiError(StatusCodes.Status503ServiceUnavailable, "server_error", "remote_unavailable", "route 'remote' was asked but no heavy node is configured here (Cluster:Nodes); use 'auto' or 'local'")
                    .WriteAsync(context.Response).ConfigureAwait(false);
                return;
            }

            var identity = new CompletionIdentity("chatcmpl-" + Guid.NewGuid().ToString("N"), _time.GetUtcNow().ToUnixTimeSeconds(), modelId, "autoglm-" + _engineHost.Provider);
            var run = new Run(context, request, identity, arrived, audit);
            try
            {
                await RunAsync(client, run, linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
            {
                // The tokens generated before the client left were spent all the same: the audit line and metrics count them.
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
            catch (ClusterException ex) when (!context.Response.HasStarted)
            {
                Log.EngineRefused(_logger, identity.Id, ex.WireCode, ex.Message);
                await new ApiError(StatusCodes.Status503ServiceUnavailable, "server_error", ex.WireCode, ex.Message) { RetryAfterSeconds = 5 }
                    .WriteAsync(context.Response).ConfigureAwait(false);
            }
            catch (Exception ex) when (!context.Response.HasStarted && EngineHost.IsBackendFailure(ex))
            {
                // Runtime:Backend=openai: the engine behind this daemon is down or refused the request.
                Log.EngineRefused(_logger, identity.Id, "model_unavailable", ex.Message);
                await new ApiError(StatusCodes.Status503ServiceUnavailable, "server_error", "model_unavailable", $"the backend engine (Runtime:OpenAi) failed: {ex.Message}") { RetryAfterSeconds = 5 }
                    .WriteAsync(context.Response).ConfigureAwait(false);
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
        var content = new StringBuilder();
        var reasoning = run.Request.ReturnReasoning ? new StringBuilder() : null;
        for (var more = any; more; more = await updates.MoveNextAsync().ConfigureAwait(false))
        {
            var (text, thought) = run.Observe(updates.Current, this);
            if (run.RestartedNow)
            {
                // The router restarted the request locally after a heavy node failed mid-answer: only the new answer counts.
                content.Clear();
                reasoning?.Clear();
            }

            content.Append(text);
            reasoning?.Append(thought);
        }

        run.Finish(this);
        if (_logger.IsEnabled(LogLevel.Trace))
        {
            Log.Completion(_logger, run.Identity.Id, content.ToString());
        }

        var response = run.Context.Response;
        response.ContentType = "application/json";
        SetRouteHeaders(run);
        ChatCompletionWriter.WriteCompletion(response.BodyWriter, run.Identity, content.ToString(), run.Request.ReturnReasoning, reasoning?.ToString(), ChatCompletionWriter.FinishReasonName(run.FinishReason), run.Usage);
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
        var (text, thought) = any ? run.Observe(updates.Current, this) : ("", "");
        SetRouteHeaders(run);
        ChatCompletionWriter.WriteChunk(output, run.Identity, withRole: true, content: "", reasoning: null, finishReason: null, run.Route);
        for (var more = any; more;)
        {
            if (run.RestartedNow)
            {
                ChatCompletionWriter.WriteRestartChunk(output, run.Identity, run.Route!);
                await output.FlushAsync(cancellationToken).ConfigureAwait(false);
            }

            if (text.Length > 0 || thought.Length > 0)
            {
                ChatCompletionWriter.WriteChunk(output, run.Identity, withRole: false, content: text.Length > 0 ? text : null, reasoning: run.Request.ReturnReasoning && thought.Length > 0 ? thought : null, finishReason: null);
                await output.FlushAsync(cancellationToken).ConfigureAwait(false);
            }

            more = await updates.MoveNextAsync().ConfigureAwait(false);
            (text, thought) = more ? run.Observe(updates.Current, this) : ("", "");
        }

        run.Finish(this);
        ChatCompletionWriter.WriteChunk(output, run.Identity, withRole: false, content: null, reasoning: null, finishReason: ChatCompletionWriter.FinishReasonName(run.FinishReason), run.Route);
        if (run.Request.IncludeUsage)
        {
            ChatCompletionWriter.WriteUsageChunk(output, run.Identity, run.Usage);
        }

        ChatCompletionWriter.WriteDone(output);
        await output.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    private static void SetRouteHeaders(Run run)
    {
        if (run.ServedBy is not null)
        {
            run.Context.Response.Headers[ServedByHeader] = HeaderValue(run.ServedBy);
            run.Context.Response.Headers[RouteReasonHeader] = HeaderValue(run.RouteReason ?? "");
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

    /// <summary>One request's progress: what the updates said so far, and the metrics they feed.</summary>
    private sealed class Run(HttpContext context, ChatCompletionRequest request, CompletionIdentity identity, long arrived, RequestAudit audit)
    {
        private bool _first = true;
        private bool _finished;
        private int _textUpdates;

        public HttpContext Context { get; } = context;
        public ChatCompletionRequest Request { get; } = request;
        public CompletionIdentity Identity { get; } = identity;
        public ChatFinishReason? FinishReason { get; private set; }
        public UsageDetails? Usage { get; private set; }
        public GenerationTimings? Timings { get; private set; }
        public string? ServedBy { get; private set; }
        public string? RouteReason { get; private set; }

        /// <summary>Where the answer runs and why, once the router has said so.</summary>
        public RouteInfo? Route => ServedBy is null ? null : new RouteInfo(ServedBy, RouteReason);

        /// <summary>Whether the update last observed was the router's restart marker: everything before it is void.</summary>
        public bool RestartedNow { get; private set; }

        /// <summary>Takes in one update; returns its answer text and its reasoning text.</summary>
        public (string Text, string Reasoning) Observe(ChatResponseUpdate update, ChatCompletionsEndpoint owner)
        {
            RestartedNow = RoutingChatClient.IsRestart(update);
            if (RestartedNow)
            {
                (FinishReason, Usage, Timings) = (null, null, null);
                _textUpdates = 0;
            }

            string text = "", reasoning = "";
            foreach (var content in update.Contents)
            {
                switch (content)
                {
                    case TextReasoningContent thought:
                        reasoning += thought.Text;
                        break;
                    case TextContent answer:
                        text += answer.Text;
                        break;
                    case UsageContent usage:
                        Usage = usage.Details;
                        break;
                }
            }

            if (text.Length > 0 || reasoning.Length > 0)
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

            if (update.AdditionalProperties?.TryGetValue(RoutingChatClient.ServedByProperty, out var by) == true && by is string servedBy)
            {
                ServedBy = servedBy;
                RouteReason = update.AdditionalProperties.TryGetValue(RoutingChatClient.RouteReasonProperty, out var why) ? why as string : null;
            }

            return (text, reasoning);
        }

        /// <summary>Records the generation's tokens and speed, once: when it finished, or when the client left it.</summary>
        /// <remarks>
        /// An answer cut short has no usage from the engine: its completion tokens are the text updates seen (the
        /// engine sends one per token that completes text), its prompt tokens the local engine's count of the prompt.
        /// </remarks>
        public void Finish(ChatCompletionsEndpoint owner)
        {
            if (_finished)
            {
                return;
            }

            _finished = true;
            var prompt = (int)(Usage?.InputTokenCount ?? (_textUpdates > 0 ? owner._engineHost.LocalEngine?.RenderPrompt(Request.Messages, Request.Options).Count ?? 0 : 0));
            var completion = (int)(Usage?.OutputTokenCount ?? _textUpdates);
            audit.PromptTokens = prompt;
            audit.CompletionTokens = completion;
            owner._metrics.RecordTokens("http", prompt, completion, (int)(Usage?.CachedInputTokenCount ?? 0));
            if (Timings is { } t)
            {
                owner._metrics.RecordDecodeSpeed("http", t.DecodeTokensPerSecond(completion));
            }
        }
    }
}
