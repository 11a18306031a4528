using System.Security.Cryptography;
using System.Text.Json;

namespace AutoGlm.Runtime.Packages;

/// <summary>A model package folder whose manifest parsed and whose files passed the integrity check.</summary>
/// <remarks>Immutable and safe to share between threads.</remarks>
public sealed class ModelPackage
{
    /// <summary>The manifest's file name inside a package folder.</summary>
    public const string ManifestFileName = "manifest.json";

    private ModelPackage(string directory, ModelManifest manifest)
    {
        Directory = directory;
        Manifest = manifest;
    }

    /// <summary>The package folder, as an absolute path.</summary>
    public string Directory { get; }

    public ModelManifest Manifest { get; }

    /// <summary>The absolute path of a file the manifest names.</summary>
    public string PathOf(string relativePath) => Path.GetFullPath(Path.Combine(Directory, relativePath));

    /// <summary>Reads the manifest and verifies every file it lists.</summary>
    /// <param name="directory">The package folder.</param>
    /// <param name="expectedManifestSha256">When set, the SHA-256 <c>manifest.json</c> must have (a fleet pins packages this way).</param>
    /// <exception cref="RuntimeException">With <see cref="RuntimeErrorCode.PackageInvalid"/> naming the first bad file.</exception>
    public static ModelPackage Load(string directory, string? expectedManifestSha256 = null)
    {
        var report = Verify(directory, expectedManifestSha256);
        if (!report.IsValid)
        {
            throw new RuntimeException(RuntimeErrorCode.PackageInvalid, report.Problems[0].ToString());
        }

        return new ModelPackage(Path.GetFullPath(directory), report.Manifest!);
    }

    /// <summary>Reads the manifest and checks every file, collecting every problem rather than stopping at the first.</summary>
    /// <param name="directory">The package folder.</param>
    /// <param name="expectedManifestSha256">When set, the SHA-256 <c>manifest.json</c> must have.</param>
    public static PackageVerification Verify(string directory, string? expectedManifestSha256 = null)
    {
        var root = Path.GetFullPath(directory);
        var problems = new List<PackageProblem>();
        var checkedFiles = new List<PackageFile>();
        var manifestPath = Path.Combine(root, ManifestFileName);
        if (!File.Exists(manifestPath))
        {
            problems.Add(new PackageProblem(ManifestFileName, $"no {ManifestFileName} in '{root}'"));
            return new PackageVerification(root, null, checkedFiles, problems);
        }

        if (!string.IsNullOrWhiteSpace(expectedManifestSha256)
            && Sha256Of(manifestPath) is var manifestHash
            && !string.Equals(manifestHash, expectedManifestSha256.Trim(), StringComparison.OrdinalIgnoreCase))
        {
            problems.Add(new PackageProblem(ManifestFileName, $"has SHA-256 {manifestHash}, but the configuration pins {expectedManifestSha256.Trim()}"));
        }

        ModelManifest? manifest;
        try
        {
            manifest = JsonSerializer.Deserialize<ModelManifest>(File.ReadAllBytes(manifestPath), ModelManifest.JsonOptions);
        }
        catch (JsonException ex)
        {
            problems.Add(new PackageProblem(ManifestFileName, $"is not a valid manifest: {ex.Message}"));
            return new PackageVerification(root, null, checkedFiles, problems);
        }

        if (manifest is null)
        {
            problems.Add(new PackageProblem(ManifestFileName, "is empty"));
            return new PackageVerification(root, null, checkedFiles, problems);
        }

        if (manifest.FormatVersion is < ModelManifest.OldestFormatVersion or > ModelManifest.CurrentFormatVersion)
        {
            problems.Add(new PackageProblem(ManifestFileName, $"has format_version {manifest.FormatVersion}; this runtime reads {ModelManifest.OldestFormatVersion} to {ModelManifest.CurrentFormatVersion}"));
        }

        foreach (var file in manifest.Files)
        {
            var problem = CheckFile(root, file);
            if (problem is null)
            {
                checkedFiles.Add(file);
            }
            else
            {
                problems.Add(problem);
            }
        }

        var listed = manifest.Files.Select(f => Path.GetFullPath(Path.Combine(root, f.Path))).ToHashSet(StringComparer.Ordinal);
        var referencedFiles = new List<string> { manifest.Decoder.Model, manifest.Decoder.Embedding.File };
        if (manifest.Decoder.KvFloat16Model is { } kvFloat16)
        {
            referencedFiles.Add(kvFloat16);
        }
        if (manifest.Tokenizer.File is { } tokenizerFile)
        {
            referencedFiles.Add(tokenizerFile);
        }

        if (manifest.Adapters?.Vision is { } vision)
        {
            referencedFiles.Add(vision.Model);
            problems.AddRange(vision.Validate().Select(p => new PackageProblem(ManifestFileName, p)));
        }

        if (manifest.Adapters?.Audio is { } audio)
        {
            referencedFiles.Add(audio.Model);
            problems.AddRange(audio.Validate().Select(p => new PackageProblem(ManifestFileName, p)));
        }

        foreach (var referenced in referencedFiles)
        {
            if (!listed.Contains(Path.GetFullPath(Path.Combine(root, referenced))))
            {
                problems.Add(new PackageProblem(referenced, "is used by the manifest but not listed in its files"));
            }
        }

        return new PackageVerification(root, manifest, checkedFiles, problems);
    }

    /// <summary>Computes a file's SHA-256 as lower-case hex.</summary>
    public static string Sha256Of(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    private static PackageProblem? CheckFile(string root, PackageFile file)
    {
        if (string.IsNullOrWhiteSpace(file.Path) || Path.IsPathRooted(file.Path))
        {
            return new PackageProblem(file.Path, "is not a path relative to the package folder");
        }

        var full = Path.GetFullPath(Path.Combine(root, file.Path));
        if (!IsInside(root, full))
        {
            return new PackageProblem(file.Path, "points outside the package folder");
        }

        var info = new FileInfo(full);
        if (!info.Exists)
        {
            return new PackageProblem(file.Path, "is missing");
        }

        if (info.LinkTarget is not null)
        {
            var target = info.ResolveLinkTarget(returnFinalTarget: true);
            if (target is null || !IsInside(root, target.FullName))
            {
                return new PackageProblem(file.Path, "is a link that points outside the package folder");
            }
        }

        if (info.Length != file.Size)
        {
            return new PackageProblem(file.Path, $"has changed: {info.Length} bytes, the manifest says {file.Size}");
        }

        var actual = Sha256Of(full);
        return string.Equals(actual, file.Sha256, StringComparison.OrdinalIgnoreCase)
            ? null
            : new PackageProblem(file.Path, $"has changed: SHA-256 {actual}, the manifest says {file.Sha256}");
    }

    private static bool IsInside(string root, string fullPath)
    {
        var prefix = root.EndsWith(Path.DirectorySeparatorChar) ? root : root + Path.DirectorySeparatorChar;
        return fullPath.StartsWith(prefix, StringComparison.Ordinal);
    }
}

/// <summary>One thing wrong with a package, naming the file.</summary>
public sealed record PackageProblem(string File, string Message)
{
    public override string ToString() => $"model package file '{File}' {Message}";
}

/// <summary>The outcome of <see cref="ModelPackage.Verify"/>.</summary>
public sealed record PackageVerification(
    string Directory,
    ModelManifest? Manifest,
    IReadOnlyList<PackageFile> VerifiedFiles,
    IReadOnlyList<PackageProblem> Problems)
{
    public bool IsValid => Manifest is not null && Problems.Count == 0;
}
