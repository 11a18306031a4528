using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;

namespace AutoGlm.Edge.Mqtt;

/// <summary>The <c>Mqtt</c> section: which broker, which topics, and the limits of the job intake.</summary>
public sealed class MqttOptions
{
    /// <summary>The configuration section name.</summary>
    public const string Section = "Mqtt";

    /// <summary><c>embedded</c> (default: an MQTTnet broker inside the daemon) or <c>external</c>.</summary>
    public string Broker { get; set; } = "embedded";

    /// <summary>
    /// The external broker's host; or where the embedded broker listens: <c>localhost</c> (127.0.0.1 and ::1), or at most
    /// one IPv4 and one IPv6 address separated by <c>;</c> (<c>::1</c>, <c>127.0.0.1;::1</c>, <c>0.0.0.0</c>). Default
    /// <c>127.0.0.1</c>: IPv4 loopback only. The embedded broker refuses to listen beyond loopback without
    /// <see cref="Username"/> and <see cref="Password"/>.
    /// </summary>
    public string Host { get; set; } = "127.0.0.1";

    /// <summary>Broker port. Default 1883 (8883 is conventional with TLS).</summary>
    public int Port { get; set; } = 1883;

    /// <summary>Connect with TLS (external broker). Default false.</summary>
    public bool UseTls { get; set; }

    /// <summary>PEM file of the CA that signed the broker's certificate; empty trusts the system store.</summary>
    public string? CaCertificatePath { get; set; }

    /// <summary>PEM file of this device's client certificate (mutual TLS); needs <see cref="ClientKeyPath"/>.</summary>
    public string? ClientCertificatePath { get; set; }

    /// <summary>PEM file of the client certificate's private key.</summary>
    public string? ClientKeyPath { get; set; }

    /// <summary>
    /// Broker user name; empty connects anonymously. With the embedded broker, set with <see cref="Password"/>, every
    /// client (the daemon's own too) must log in with them.
    /// </summary>
    public string? Username { get; set; }

    /// <summary>Broker password.</summary>
    public string? Password { get; set; }

    /// <summary>
    /// The embedded broker keeps retained messages and persistent sessions (subscriptions, QoS 1/2 messages queued for
    /// away clients) in <c>broker.db</c> in the state folder, so they outlive a restart. Default true.
    /// </summary>
    public bool Persistence { get; set; } = true;

    /// <summary>Home Assistant MQTT discovery (<c>Mqtt:HomeAssistant:Enabled</c>, <c>DiscoveryPrefix</c>).</summary>
    public HomeAssistant.HomeAssistantOptions HomeAssistant { get; set; } = new();

    /// <summary>Topic rules: messages on other systems' topics (Frigate, zigbee2mqtt) that become jobs (<c>Mqtt:Rules:N</c>).</summary>
    public List<Rules.TopicRuleOptions> Rules { get; set; } = [];

    /// <summary>MQTT client id. Default: <c>autoglm-&lt;device id&gt;</c> (stable, so the broker keeps the session).</summary>
    public string? ClientId { get; set; }

    /// <summary>This device's id in topics. Default: the host name.</summary>
    public string? DeviceId { get; set; }

    /// <summary>Topic prefix. Default: <c>autoglm/&lt;device id&gt;</c>.</summary>
    public string? TopicPrefix { get; set; }

    /// <summary>
    /// How long the broker keeps this client's session (subscriptions, unacknowledged and queued QoS 1 jobs) while
    /// it is away. The client connects with clean start off. Default 1 day.
    /// </summary>
    public TimeSpan SessionExpiry { get; set; } = TimeSpan.FromDays(1);

    /// <summary>MQTT keep-alive. Default 15 s.</summary>
    public TimeSpan KeepAlive { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>First reconnect delay; doubles up to <see cref="ReconnectMaxDelay"/>. Default 0.5 s.</summary>
    public TimeSpan ReconnectMinDelay { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Longest reconnect delay. Default 30 s.</summary>
    public TimeSpan ReconnectMaxDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Largest JSON job payload in bytes. Default 12 MiB (room for a base64 image).</summary>
    public int MaxJobBytes { get; set; } = 12 * 1024 * 1024;

    /// <summary>Largest image or audio (decoded, or raw on <c>…/jobs/image|audio</c>) in bytes. Default 8 MiB.</summary>
    public int MaxMediaBytes { get; set; } = 8 * 1024 * 1024;

    /// <summary>Most characters of text (prompt and messages together) in one job. Default 65536.</summary>
    public int MaxPromptChars { get; set; } = 65536;

    /// <summary>Highest <c>max_tokens</c> a job may ask. Default 4096.</summary>
    public int MaxTokensLimit { get; set; } = 4096;

    /// <summary>Jobs waiting to run; a job beyond this is answered <c>overloaded</c> at once. Default 64.</summary>
    public int QueueCapacity { get; set; } = 64;

    /// <summary>Jobs handed to the engine at once (it batches them). Default 4.</summary>
    public int MaxConcurrentJobs { get; set; } = 4;

    /// <summary>On SIGTERM, how long running jobs may finish; the rest stay journaled for the next start. Default 10 s.</summary>
    public TimeSpan ShutdownGracePeriod { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How often the retained <c>…/stats</c> is published. Default 10 s.</summary>
    public TimeSpan StatsInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// MQTT topic filters (<c>+</c> and <c>#</c> allowed) a job's MQTT 5 response topic must match, on top of the rules
    /// that always hold (see <see cref="ResponseTopicPolicy"/>). Default none: any topic those rules allow.
    /// </summary>
    public List<string> AllowedResponseTopics { get; set; } = [];

    /// <summary>The device id in use (configured, else the host name, made topic-safe).</summary>
    public string ResolvedDeviceId => string.IsNullOrWhiteSpace(DeviceId) ? TopicSafe(Environment.MachineName) : DeviceId;

    /// <summary>The topic prefix in use.</summary>
    public string ResolvedTopicPrefix => string.IsNullOrWhiteSpace(TopicPrefix) ? $"autoglm/{ResolvedDeviceId}" : TopicPrefix.TrimEnd('/');

    /// <summary>The client id in use.</summary>
    public string ResolvedClientId => string.IsNullOrWhiteSpace(ClientId) ? $"autoglm-{ResolvedDeviceId}" : ClientId;

    /// <summary>Where the embedded broker listens (<see cref="Host"/> read as <see cref="BrokerAddresses"/>); null when it is not valid.</summary>
    public BrokerAddresses? EmbeddedAddresses => IsEmbedded ? BrokerAddresses.Parse(Host, out _) : null;

    /// <summary>The host the daemon's own clients connect to: <see cref="Host"/>, or for the embedded broker one of the addresses it listens on.</summary>
    public string ConnectHost => EmbeddedAddresses?.ConnectHost ?? Host;

    /// <summary>Whether the daemon runs its own broker.</summary>
    public bool IsEmbedded => Broker.Equals("embedded", StringComparison.OrdinalIgnoreCase);

    private static string TopicSafe(string name) => Regex.Replace(name, "[^A-Za-z0-9._-]", "-");
}

/// <summary>Checks <see cref="MqttOptions"/> at start, reporting every bad key at once.</summary>
internal sealed class MqttOptionsValidator : IValidateOptions<MqttOptions>
{
    public ValidateOptionsResult Validate(string? name, MqttOptions o)
    {
        var problems = new List<string>();
        void Check(bool ok, string problem)
        {
            if (!ok)
            {
                problems.Add(problem);
            }
        }

        Check(o.Broker.Equals("embedded", StringComparison.OrdinalIgnoreCase) || o.Broker.Equals("external", StringComparison.OrdinalIgnoreCase), $"Mqtt:Broker must be embedded or external (got '{o.Broker}')");
        Check(!string.IsNullOrWhiteSpace(o.Host), "Mqtt:Host must not be empty");
        Check(o.Port is > 0 and < 65536, $"Mqtt:Port must be between 1 and 65535 (got {o.Port})");
        Check(!o.UseTls || !o.IsEmbedded, "Mqtt:UseTls applies to an external broker; set Mqtt:Broker=external");
        Check(string.IsNullOrEmpty(o.CaCertificatePath) || File.Exists(o.CaCertificatePath), $"Mqtt:CaCertificatePath '{o.CaCertificatePath}' does not exist");
        Check(string.IsNullOrEmpty(o.ClientCertificatePath) || File.Exists(o.ClientCertificatePath), $"Mqtt:ClientCertificatePath '{o.ClientCertificatePath}' does not exist");
        Check(string.IsNullOrEmpty(o.ClientCertificatePath) || !string.IsNullOrEmpty(o.ClientKeyPath), "Mqtt:ClientKeyPath is required with Mqtt:ClientCertificatePath");
        Check(string.IsNullOrEmpty(o.ClientKeyPath) || File.Exists(o.ClientKeyPath), $"Mqtt:ClientKeyPath '{o.ClientKeyPath}' does not exist");
        Check(o.ResolvedDeviceId.IndexOfAny(['/', '+', '#']) < 0, $"Mqtt:DeviceId must not contain '/', '+' or '#' (got '{o.ResolvedDeviceId}')");
        Check(o.ResolvedTopicPrefix.Length > 0 && o.ResolvedTopicPrefix.IndexOfAny(['+', '#']) < 0, $"Mqtt:TopicPrefix must not be empty or hold wildcards (got '{o.TopicPrefix}')");
        Check(o.SessionExpiry >= TimeSpan.Zero && o.SessionExpiry.TotalSeconds <= uint.MaxValue, $"Mqtt:SessionExpiry must be between 0 and {uint.MaxValue} seconds (got {o.SessionExpiry})");
        Check(o.KeepAlive >= TimeSpan.FromSeconds(1), $"Mqtt:KeepAlive must be at least 1 second (got {o.KeepAlive})");
        Check(o.ReconnectMinDelay > TimeSpan.Zero, $"Mqtt:ReconnectMinDelay must be positive (got {o.ReconnectMinDelay})");
        Check(o.ReconnectMaxDelay >= o.ReconnectMinDelay, $"Mqtt:ReconnectMaxDelay must be at least Mqtt:ReconnectMinDelay (got {o.ReconnectMaxDelay})");
        Check(o.MaxJobBytes > 0, $"Mqtt:MaxJobBytes must be positive (got {o.MaxJobBytes})");
        Check(o.MaxMediaBytes > 0, $"Mqtt:MaxMediaBytes must be positive (got {o.MaxMediaBytes})");
        Check(o.MaxPromptChars > 0, $"Mqtt:MaxPromptChars must be positive (got {o.MaxPromptChars})");
        Check(o.MaxTokensLimit > 0, $"Mqtt:MaxTokensLimit must be positive (got {o.MaxTokensLimit})");
        Check(o.QueueCapacity > 0, $"Mqtt:QueueCapacity must be positive (got {o.QueueCapacity})");
        Check(o.MaxConcurrentJobs is > 0 and <= 256, $"Mqtt:MaxConcurrentJobs must be between 1 and 256 (got {o.MaxConcurrentJobs})");
        Check(o.ShutdownGracePeriod >= TimeSpan.Zero, $"Mqtt:ShutdownGracePeriod must not be negative (got {o.ShutdownGracePeriod})");
        Check(o.StatsInterval >= TimeSpan.FromMilliseconds(100), $"Mqtt:StatsInterval must be at least 100 ms (got {o.StatsInterval})");
        if (o.IsEmbedded && !string.IsNullOrWhiteSpace(o.Host))
        {
            CheckEmbeddedListener(o, problems);
        }

        for (var i = 0; i < o.AllowedResponseTopics.Count; i++)
        {
            Check(ResponseTopicPolicy.IsValidFilter(o.AllowedResponseTopics[i]), $"Mqtt:AllowedResponseTopics:{i} '{o.AllowedResponseTopics[i]}' is not an MQTT topic filter (+ and # stand for whole levels, # only as the last one; no NUL, not empty)");
        }

        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }

    private static void CheckEmbeddedListener(MqttOptions o, List<string> problems)
    {
        if (BrokerAddresses.Parse(o.Host, out var problem) is not { } addresses)
        {
            problems.Add($"Mqtt:Host '{o.Host}' {problem}; the embedded broker takes localhost, or at most one IPv4 and one IPv6 address separated by ';' (127.0.0.1, ::1, 127.0.0.1;::1)");
            return;
        }

        var hasUser = !string.IsNullOrEmpty(o.Username);
        var hasPassword = !string.IsNullOrEmpty(o.Password);
        if (hasUser != hasPassword)
        {
            problems.Add("Mqtt:Username and Mqtt:Password go together: the embedded broker asks every client for both");
        }
        else if (!hasUser && !addresses.IsLoopbackOnly)
        {
            problems.Add($"Mqtt:Host '{o.Host}' makes the embedded broker listen on {string.Join(", ", addresses.NotLoopback)}, which is not loopback, but Mqtt:Username and Mqtt:Password are not set: anyone on the network could submit jobs and read every result. Set both, or listen on 127.0.0.1");
        }
    }
}

