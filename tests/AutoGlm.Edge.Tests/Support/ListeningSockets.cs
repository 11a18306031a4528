using System.Globalization;
using System.Net;

namespace AutoGlm.Edge.Tests.Support;

/// <summary>The TCP sockets listening on this machine, read from the kernel (<c>/proc/net/tcp</c> and <c>/proc/net/tcp6</c>), as <c>ss -ltn</c> shows them.</summary>
public static class ListeningSockets
{
    private const string Listen = "0A";

    /// <summary>Every address with a socket listening on <paramref name="port"/>, IPv4 and IPv6.</summary>
    public static IReadOnlyList<IPAddress> OnPort(int port) =>
        [.. Read("/proc/net/tcp").Concat(Read("/proc/net/tcp6")).Where(e => e.Port == port).Select(e => e.Address).Distinct()];

    private static IEnumerable<IPEndPoint> Read(string path)
    {
        if (!File.Exists(path))
        {
            yield break;
        }

        // "  sl  local_address rem_address   st ...": local_address is hex address:port, the address in 32-bit words of host order.
        foreach (var line in File.ReadLines(path).Skip(1))
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length < 4 || fields[3] != Listen)
            {
                continue;
            }

            var local = fields[1].Split(':');
            var hex = Convert.FromHexString(local[0]);
            for (var word = 0; word < hex.Length; word += 4)
            {
                if (BitConverter.IsLittleEndian)
                {
                    Array.Reverse(hex, word, 4);
                }
            }

            yield return new IPEndPoint(new IPAddress(hex), int.Parse(local[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture));
        }
    }
}
