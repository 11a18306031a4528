using System.Net;
using System.Net.Sockets;

namespace AutoGlm.Edge.Mqtt;

/// <summary>
/// Where the embedded broker listens, read from <c>Mqtt:Host</c>: <c>localhost</c> (127.0.0.1 and ::1), or at most
/// one IPv4 and one IPv6 address separated by <c>;</c> or <c>,</c> (<c>127.0.0.1</c>, <c>::1</c>,
/// <c>127.0.0.1;::1</c>, <c>0.0.0.0</c>, <c>::</c>). Nothing else is opened: an IPv4 address opens no IPv6 listener.
/// </summary>
/// <param name="V4">The IPv4 address to listen on, or null for none.</param>
/// <param name="V6">The IPv6 address to listen on, or null for none.</param>
public sealed record BrokerAddresses(IPAddress? V4, IPAddress? V6)
{
    /// <summary>Reads <paramref name="host"/>; returns null and says why in <paramref name="problem"/> when it is not one of the accepted forms.</summary>
    public static BrokerAddresses? Parse(string? host, out string? problem)
    {
        problem = null;
        if (string.IsNullOrWhiteSpace(host))
        {
            problem = "is empty";
            return null;
        }

        if (host.Trim().Equals("localhost", StringComparison.OrdinalIgnoreCase))
        {
            return new BrokerAddresses(IPAddress.Loopback, IPAddress.IPv6Loopback);
        }

        IPAddress? v4 = null;
        IPAddress? v6 = null;
        foreach (var part in host.Split([';', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!IPAddress.TryParse(part.Trim('[', ']'), out var address))
            {
                problem = $"'{part}' is not an IP address (the embedded broker takes localhost, or IP addresses)";
                return null;
            }

            if (address.AddressFamily == AddressFamily.InterNetwork)
            {
                if (v4 is not null)
                {
                    problem = $"names two IPv4 addresses ({v4}, {address}); the embedded broker listens on at most one IPv4 and one IPv6 address";
                    return null;
                }

                v4 = address;
            }
            else
            {
                if (v6 is not null)
                {
                    problem = $"names two IPv6 addresses ({v6}, {address}); the embedded broker listens on at most one IPv4 and one IPv6 address";
                    return null;
                }

                v6 = address;
            }
        }

        if (v4 is null && v6 is null)
        {
            problem = "names no address";
            return null;
        }

        return new BrokerAddresses(v4, v6);
    }

    /// <summary>The addresses listened on, IPv4 first.</summary>
    public IReadOnlyList<IPAddress> All => new[] { V4, V6 }.OfType<IPAddress>().ToArray();

    /// <summary>Whether every address is a loopback one (127.0.0.0/8, ::1); the wildcards 0.0.0.0 and :: are not.</summary>
    public bool IsLoopbackOnly => All.All(IPAddress.IsLoopback);

    /// <summary>The addresses that are not loopback, for the error that refuses them without credentials.</summary>
    public IReadOnlyList<IPAddress> NotLoopback => All.Where(a => !IPAddress.IsLoopback(a)).ToArray();

    /// <summary>
    /// The host the daemon's own clients connect to: the IPv4 address (127.0.0.1 for 0.0.0.0), else the IPv6 one
    /// (::1 for ::).
    /// </summary>
    public string ConnectHost => V4 is { } v4
        ? (v4.Equals(IPAddress.Any) ? IPAddress.Loopback : v4).ToString()
        : (V6!.Equals(IPAddress.IPv6Any) ? IPAddress.IPv6Loopback : V6).ToString();

    /// <summary>An endpoint as a log or an error names it: <c>127.0.0.1:1883</c>, <c>[::1]:1883</c>.</summary>
    public static string Describe(IPAddress address, int port) => new IPEndPoint(address, port).ToString();
}
