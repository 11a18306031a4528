using System.CommandLine;
using AutoGlm.Edge.Pipeline;
using AutoGlm.Runtime.Generation;
using AutoGlm.Runtime.Modalities;
using Microsoft.Extensions.AI;

namespace AutoGlm.Edge.Cli;

/// <summary><c>chat</c>: talk to a model from the terminal, one-shot with <c>--prompt</c> or interactively.</summary>
internal static class ChatCommand
{
    public static Command Create()
    {
        var model = CliSupport.ModelOption();
        var provider = CliSupport.ExecutionProviderOption();
        var prompt = new Option<string?>("--prompt", "-p") { Description = "Ask once, print only the answer on stdout, and exit." };
        var system = new Option<string?>("--system") { Description = "A system prompt." };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Most tokens to generate.", DefaultValueFactory = _ => 256 };
        var seed = new Option<long?>("--seed") { Description = "Sampling seed: the same seed gives the same answer." };
        var temperature = new Option<float>("--temperature") { Description = "0 is greedy.", DefaultValueFactory = _ => 0.8f };
        var think = new Option<bool>("--think") { Description = "Let the model reason first; the reasoning goes to stderr." };
        var images = new Option<FileInfo[]>("--image") { Description = "An image (JPEG, PNG, WebP, GIF, BMP) to ask about; repeat for several. Goes with the first question." }.AcceptExistingOnly();
        var clips = new Option<FileInfo[]>("--audio") { Description = "A WAV clip to ask about; repeat for several. Goes with the first question." }.AcceptExistingOnly();
        var command = new Command("chat", "Chat with the model: streams tokens as they are produced.")
        {
            model, provider, prompt, system, maxTokens, seed, temperature, think, images, clips,
        };
        command.SetAction((parse, cancellationToken) => CliSupport.GuardAsync(parse, async () =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            using var logging = CliSupport.StderrLogging();
            using var engine = CliSupport.LoadEngine(CliSupport.ResolveModel(parse.GetValue(model), error), parse.GetValue(provider)!, logging);
            var options = new ChatOptions
            {
                MaxOutputTokens = parse.GetValue(maxTokens),
                Seed = parse.GetValue(seed),
                Temperature = parse.GetValue(temperature),
                Instructions = parse.GetValue(system),
            }.SetEnableThinking(parse.GetValue(think));

            List<AIContent> media =
            [
                .. (parse.GetValue(images) ?? []).Select(f => Attach(f, "image")),
                .. (parse.GetValue(clips) ?? []).Select(f => Attach(f, "audio")),
            ];
            ChatMessage Ask(string text)
            {
                var message = new ChatMessage(ChatRole.User, [.. media, new TextContent(text)]);
                media.Clear();
                return message;
            }

            if (parse.GetValue(prompt) is { } once)
            {
                await StreamAsync(engine, [Ask(once)], options, output, error, cancellationToken).ConfigureAwait(false);
                return 0;
            }

            await error.WriteLineAsync($"chatting with {engine.Metadata.DefaultModelId} on {engine.ExecutionProvider}; /reset clears the conversation, /exit or Ctrl-D leaves").ConfigureAwait(false);
            var history = new List<ChatMessage>();
            while (!cancellationToken.IsCancellationRequested)
            {
                await error.WriteAsync("> ").ConfigureAwait(false);
                var line = Console.In.ReadLine();
                if (line is null or "/exit")
                {
                    break;
                }

                if (line == "/reset")
                {
                    history.Clear();
                    continue;
                }

                if (line.Trim().Length == 0)
                {
                    continue;
                }

                history.Add(Ask(line));
                var answer = await StreamAsync(engine, history, options, output, error, cancellationToken).ConfigureAwait(false);
                history.Add(new ChatMessage(ChatRole.Assistant, answer));
            }

            return 0;
        }));
        return command;
    }

    /// <summary>Reads a media file; its type comes from its bytes (an unrecognized file is left for the adapter to refuse, naming it).</summary>
    private static DataContent Attach(FileInfo file, string kind)
    {
        var bytes = File.ReadAllBytes(file.FullName);
        return new DataContent(bytes, MediaSniffer.Detect(bytes) ?? kind + "/unknown") { Name = file.Name };
    }

    private static async Task<string> StreamAsync(LocalEngine engine, IList<ChatMessage> messages, ChatOptions options, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var answer = new AnswerCollector();
        await foreach (var update in engine.GetStreamingResponseAsync(messages, options, cancellationToken).ConfigureAwait(false))
        {
            var (text, reasoning) = answer.Add(update);
            if (reasoning.Length > 0)
            {
                await error.WriteAsync(reasoning).ConfigureAwait(false);
            }

            if (text.Length > 0)
            {
                await output.WriteAsync(text).ConfigureAwait(false);
                await output.FlushAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        await output.WriteLineAsync().ConfigureAwait(false);
        return answer.Text;
    }
}
