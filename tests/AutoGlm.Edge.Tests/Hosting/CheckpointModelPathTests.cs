using System.Text;
using System.Text.Json;
using AutoGlm.Edge.Engine;
using AutoGlm.Edge.Hosting;
using AutoGlm.Edge.Tests.Http;
using AutoGlm.Edge.Tests.Support;
using AutoGlm.Runtime.Tests.Conversion;
using Microsoft.Extensions.DependencyInjection;

namespace AutoGlm.Edge.Tests.Hosting;

/// <summary><c>Runtime:ModelPath</c> naming a Hugging Face checkpoint folder: converted once into the state folder before the daemon is ready, then served.</summary>
public sealed class CheckpointModelPathTests : IDisposable
{
    private readonly string _folder = TestPaths.NewFolder("checkpoint-modelpath");

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public async Task Start_ModelPathIsCheckpoint_ConvertsIntoStateAndAnswers()
    {
        var checkpoint = Path.Combine(_folder, "glm4-tiny-" + Guid.NewGuid().ToString("N")[..6]);
        PyTorchReference.MakeCheckpoint(checkpoint, "Glm4ForCausalLM");

        string imported;
        await using (var server = await EdgeServer.StartAsync($"Runtime:ModelPath={checkpoint}"))
        {
            var engine = Assert.Single(server.Services.GetRequiredService<EngineHost>().LocalEngines);
            imported = engine.Package.Directory;
            Assert.Equal(Path.GetFileName(checkpoint), engine.Package.Manifest.Name);
            Assert.StartsWith(Path.Combine(StatePaths.StateDirectory(), "models", Path.GetFileName(checkpoint) + "-import-"), engine.Package.Directory, StringComparison.Ordinal);
            Assert.False(File.Exists(Path.Combine(checkpoint, "manifest.json")), "the checkpoint folder was written to");

            using var client = server.CreateClient();
            using var response = await client.PostAsync(
                new Uri("v1/chat/completions", UriKind.Relative),
                new StringContent("""{"messages":[{"role":"user","content":"hello world"}],"max_tokens":3,"temperature":0}""", Encoding.UTF8, "application/json"));
            Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
            using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            Assert.True(body.RootElement.GetProperty("usage").GetProperty("completion_tokens").GetInt32() > 0);
            server.Logs.AssertNoErrors();
        }

        Directory.Delete(imported, recursive: true); // the state folder is shared by the whole test run
    }
}
