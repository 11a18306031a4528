using AutoGlm.Runtime.Generation;
using AutoGlm.Runtime.Onnx;
using AutoGlm.Runtime.Packages;
using Microsoft.Extensions.Logging.Abstractions;

namespace AutoGlm.Runtime.Tests.Onnx;

/// <summary>The session's native buffers refuse what does not fit them.</summary>
[Collection(TinyModelCollection.Name)]
public sealed class DecoderSessionTests(TinyModelFixture model)
{
    [Fact]
    public void Embeds_MoreRowsThanAStepTakes_ThrowsNamingTheLimit()
    {
        using var session = new DecoderSession(ModelPackage.Load(model.Directory), new EngineOptions { MaxBatchSize = 2, PrefillChunkSize = 16 }, NullLogger.Instance);

        Assert.Equal(16 * model.Manifest.Architecture.HiddenSize, session.Embeds(16).Length);
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => session.Embeds(17).Length);
        Assert.Contains("at most 16 rows (got 17)", error.Message);
    }
}
