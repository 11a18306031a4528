namespace AutoGlm.Runtime.Onnx;

/// <summary>The names of the decoder's inputs and outputs: the contract between the graph builders (<c>Building</c>,
/// <c>Conversion</c>) and the engine that binds them (<see cref="DecoderSession"/>).</summary>
public static class DecoderIo
{
    /// <summary><c>float [batch, sequence, hidden]</c>: token (or image/audio) embeddings.</summary>
    public const string InputsEmbeds = "inputs_embeds";

    /// <summary><c>int32 [batch]</c>: each sequence's total length after this step, minus one.</summary>
    public const string SeqlensK = "seqlens_k";

    /// <summary><c>int32</c> scalar: the longest total length in the batch.</summary>
    public const string TotalSequenceLength = "total_sequence_length";

    /// <summary><c>float [batch, 1, vocab]</c>: logits of the last position of each sequence.</summary>
    public const string Logits = "logits";

    /// <summary>M-RoPE decoders only: per-token <c>cos</c> of each rotary frequency, <c>float [batch, seq, rotary_dim/2]</c>.</summary>
    public const string RotaryCos = "rotary_cos";

    /// <summary>M-RoPE decoders only: per-token <c>sin</c>, like <see cref="RotaryCos"/>.</summary>
    public const string RotarySin = "rotary_sin";

    public static string PastKey(int layer) => $"past_key_values.{layer}.key";
    public static string PastValue(int layer) => $"past_key_values.{layer}.value";
    public static string PresentKey(int layer) => $"present.{layer}.key";
    public static string PresentValue(int layer) => $"present.{layer}.value";
}
