using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace AutoGlm.Edge.Http;

/// <summary>The configured API keys, held only as SHA-256 hashes, and the check of a presented key.</summary>
/// <remarks>
/// Immutable after construction, so safe to share between threads. The comparison hashes the presented key and
/// compares it with every stored hash using <see cref="CryptographicOperations.FixedTimeEquals"/>, without stopping
/// at a match, so the time taken says nothing about which key (or how much of one) matched.
/// </remarks>
public sealed class ApiKeyStore
{
    private const string HashPrefix = "sha256:";
    private readonly byte[][] _hashes;

    public ApiKeyStore(IOptions<HttpOptions> options)
        : this(options.Value.ApiKeys)
    {
    }

    internal ApiKeyStore(IEnumerable<string> keys)
    {
        _hashes = [.. keys.Select(HashOf)];
    }

    /// <summary>Whether any key is configured; when none is, every caller is anonymous.</summary>
    public bool RequiresKey => _hashes.Length > 0;

    /// <summary>Checks a presented key.</summary>
    /// <param name="presented">The bearer token as the client sent it.</param>
    /// <param name="keyId">The key's id for logs and limits (<c>key-</c> and the first 8 hex digits of its hash); never the key.</param>
    public bool TryAuthenticate(string presented, out string keyId)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(presented));
        var found = -1;
        for (var i = 0; i < _hashes.Length; i++)
        {
            if (CryptographicOperations.FixedTimeEquals(hash, _hashes[i]))
            {
                found = i;
            }
        }

        keyId = found >= 0 ? IdOf(_hashes[found]) : "";
        return found >= 0;
    }

    /// <summary>Every problem with configured keys, naming the configuration key.</summary>
    internal static IEnumerable<string> Check(IReadOnlyList<string> keys)
    {
        for (var i = 0; i < keys.Count; i++)
        {
            var key = keys[i];
            if (string.IsNullOrWhiteSpace(key))
            {
                yield return $"Http:ApiKeys:{i} is empty";
            }
            else if (key.StartsWith(HashPrefix, StringComparison.OrdinalIgnoreCase) && !IsHex(key.AsSpan(HashPrefix.Length), 64))
            {
                yield return $"Http:ApiKeys:{i} starts with sha256: but is not followed by 64 hex digits";
            }
        }
    }

    private static byte[] HashOf(string key) =>
        key.StartsWith(HashPrefix, StringComparison.OrdinalIgnoreCase)
            ? Convert.FromHexString(key.AsSpan(HashPrefix.Length))
            : SHA256.HashData(Encoding.UTF8.GetBytes(key));

    private static string IdOf(byte[] hash) => "key-" + Convert.ToHexStringLower(hash.AsSpan(0, 4));

    private static bool IsHex(ReadOnlySpan<char> text, int length) => text.Length == length && !text.ContainsAnyExcept("0123456789abcdefABCDEF");
}
