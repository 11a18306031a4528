using System.CommandLine;
using AutoGlm.Edge.Fleet;

namespace AutoGlm.Edge.Cli;

/// <summary><c>fleet validate</c>, <c>fleet render</c> and <c>fleet plan</c> over a <c>fleet.yaml</c>.</summary>
internal static class FleetCommands
{
    public static Command Create()
    {
        var fleet = new Command("fleet", "Check a fleet manifest, see which device gets what, and render one device's configuration.");
        fleet.Subcommands.Add(Validate());
        fleet.Subcommands.Add(Render());
        fleet.Subcommands.Add(Plan());
        return fleet;
    }

    private static Argument<FileInfo> ManifestArgument() => new("file") { Description = "The fleet manifest (fleet.yaml)." };

    private static Command Validate()
    {
        var file = ManifestArgument();
        var command = new Command("validate", "Report every error of a manifest at once, each with its line and column; exit code 1 if any.") { file };
        command.SetAction(parse => Load(parse, parse.GetValue(file)!) is { } manifest
            ? Ok(parse, $"{parse.GetValue(file)!.Name}: OK, {manifest.Devices.Count} device(s), {manifest.Groups.Count} group(s)")
            : 1);
        return command;
    }

    private static Command Render()
    {
        var file = ManifestArgument();
        var device = new Option<string>("--device") { Description = "The device id.", Required = true };
        var output = new Option<DirectoryInfo>("--out") { Description = "Folder for edge.json and autoglm-edge.service.d/.", Required = true };
        var command = new Command("render", "Write one device's /etc/autoglm/edge.json and unit drop-in (secrets stay references).") { file, device, output };
        command.SetAction(parse =>
        {
            var path = parse.GetValue(file)!;
            if (Load(parse, path) is not { } manifest)
            {
                return 1;
            }

            var id = parse.GetValue(device)!;
            if (manifest.Device(id) is not { } found)
            {
                parse.InvocationConfiguration.Error.WriteLine($"error: {path.Name} has no device '{id}' (it has {string.Join(", ", manifest.Devices.Select(d => d.Id))})");
                return 1;
            }

            foreach (var written in FleetRenderer.Write(FleetResolver.Resolve(manifest, found), path.Name, parse.GetValue(output)!.FullName))
            {
                parse.InvocationConfiguration.Output.WriteLine($"wrote {written}");
            }

            return 0;
        });
        return command;
    }

    private static Command Plan()
    {
        var file = ManifestArgument();
        var command = new Command("plan", "Show which layers each device gets and what they amount to.") { file };
        command.SetAction(parse => Load(parse, parse.GetValue(file)!) is { } manifest ? Ok(parse, FleetPlan.Render(manifest).TrimEnd()) : 1);
        return command;
    }

    /// <summary>The manifest when it is valid; otherwise prints every error as <c>file:line:column: message</c> and returns null.</summary>
    private static FleetManifest? Load(ParseResult parse, FileInfo file)
    {
        var error = parse.InvocationConfiguration.Error;
        if (!file.Exists)
        {
            error.WriteLine($"error: {file.FullName} does not exist");
            return null;
        }

        var validation = FleetValidation.Of(File.ReadAllText(file.FullName));
        foreach (var problem in validation.Errors)
        {
            error.WriteLine($"{file.Name}:{problem}");
        }

        if (!validation.IsValid)
        {
            error.WriteLine($"{file.Name}: {validation.Errors.Count} error(s)");
            return null;
        }

        return validation.Manifest;
    }

    private static int Ok(ParseResult parse, string message)
    {
        parse.InvocationConfiguration.Output.WriteLine(message);
        return 0;
    }
}
