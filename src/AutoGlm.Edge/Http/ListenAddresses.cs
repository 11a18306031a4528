using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Options;

namespace AutoGlm.Edge.Http;

/// <summary>
/// The key rule for every address the HTTP server listens on, whatever set it: without <c>Http:ApiKeys</c> only
/// loopback is allowed.
/// </summary>
/// <remarks>
/// <c>Http:Urls</c> is not the only way to make Kestrel listen: <c>Kestrel:Endpoints:&lt;name&gt;:Url</c> (from any
/// configuration source, <c>AUTOGLM__Kestrel__…</c> included) replaces it, and code can call <c>Listen</c>. So the
/// rule is checked twice: <see cref="Validator"/> checks the configured endpoints before anything binds, and
/// <see cref="Guard"/> checks the addresses the server really bound once it started, and stops it before the start
/// completes when one of them breaks the rule.
/// </remarks>
internal static partial class ListenAddresses
{
    /// <summary>The configuration section Kestrel reads its endpoints from.</summary>
    public const string KestrelEndpoints = "Kestrel:Endpoints";

    /// <summary>The one-line refusal for an address that is not loopback while no key is configured.</summary>
    public static string Refusal(string source, string address) => string.Create(
        CultureInfo.InvariantCulture,
        $"{source} binds {address}, which is not loopback, but Http:ApiKeys is empty: anyone on the network could use the model. Set Http:ApiKeys:0 (a key or sha256:<hex>), or bind http://127.0.0.1");

    /// <summary>Whether a connection's local address is loopback (or unknown, as for a Unix socket).</summary>
    public static bool IsLoopback(IPAddress? local) =>
        local is null || IPAddress.IsLoopback(local.IsIPv4MappedToIPv6 ? local.MapToIPv4() : local);

    /// <summary>Checks <c>Kestrel:Endpoints:*:Url</c> with the <c>Http</c> options, before the server binds.</summary>
    internal sealed class Validator(IConfiguration configuration) : IValidateOptions<HttpOptions>
    {
        public ValidateOptionsResult Validate(string? name, HttpOptions options)
        {
            if (options.ApiKeys.Count > 0)
            {
                return ValidateOptionsResult.Success;
            }

            var problems = new List<string>();
            foreach (var endpoint in configuration.GetSection(KestrelEndpoints).GetChildren())
            {
                var url = endpoint["Url"];
                if (!string.IsNullOrWhiteSpace(url) && !HttpOptions.IsLoopback(url))
                {
                    problems.Add(Refusal($"{KestrelEndpoints}:{endpoint.Key}:Url", url));
                }
            }

            return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
        }
    }

    /// <summary>Checks the addresses the server bound, after it started and before the host's start completes.</summary>
    /// <remarks>
    /// Runs in <see cref="IHostedLifecycleService.StartedAsync"/>, after every hosted service (the web server too)
    /// started. On a bad address it logs one line, stops the server (closing its sockets) and throws
    /// <see cref="OptionsValidationException"/>, so the start fails as for any other invalid <c>Http</c> setting.
    /// </remarks>
    internal sealed partial class Guard(IServer server, IOptions<HttpOptions> options, ILogger<Guard> logger) : IHostedLifecycleService
    {
        public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public async Task StartedAsync(CancellationToken cancellationToken)
        {
            // Options are read here, not in the constructor: an invalid Http section is the start-up validation's to report.
            if (options.Value.ApiKeys.Count > 0)
            {
                return;
            }

            var addresses = server.Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
            var open = addresses.Where(a => !HttpOptions.IsLoopback(a)).ToList();
            if (open.Count == 0)
            {
                return;
            }

            var refusal = Refusal("the HTTP server", string.Join(", ", open));
            Log.OpenWithoutKey(logger, refusal);
            await server.StopAsync(cancellationToken).ConfigureAwait(false);
            throw new OptionsValidationException(HttpOptions.Section, typeof(HttpOptions), [refusal]);
        }

        public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        private static partial class Log
        {
            [LoggerMessage(4030, LogLevel.Critical, "Stopped the HTTP server before serving: {Refusal}")]
            public static partial void OpenWithoutKey(ILogger logger, string refusal);
        }
    }
}
