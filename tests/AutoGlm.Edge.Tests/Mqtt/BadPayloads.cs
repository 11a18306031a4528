using System.Text;

namespace AutoGlm.Edge.Tests.Mqtt;

/// <summary>One bad payload and the error code it must be answered with.</summary>
public sealed record BadPayload(string Name, string Topic, byte[] Payload, string ExpectedCode, (string Name, string Value)[]? UserProperties = null);

/// <summary>
/// The corpus of bad input: broken JSON, wrong types, huge strings, empty, binary junk, invalid UTF-8, unknown fields,
/// bad numbers, bad base64, lying media, plus jobs that parse but cannot run. Limits assumed: Mqtt:MaxJobBytes 1 MiB,
/// Mqtt:MaxMediaBytes 256 KiB, Mqtt:MaxPromptChars 65536, Mqtt:MaxTokensLimit 4096, a 2048-token context.
/// </summary>
public static class BadPayloads
{
    public static IReadOnlyList<BadPayload> Corpus(string prefix)
    {
        var jobs = prefix + "/jobs";
        var images = prefix + "/jobs/image";
        var audio = prefix + "/jobs/audio";
        var list = new List<BadPayload>();
        var n = 0;
        string Id() => $"bad{n++}-{Guid.NewGuid():N}"[..16];
        void Json(string name, string json, string code) => list.Add(new BadPayload(name, jobs, Encoding.UTF8.GetBytes(json), code));
        void Raw(string name, byte[] bytes, string code) => list.Add(new BadPayload(name, jobs, bytes, code));
        string Job(string fields) => $$"""{"id":"{{Id()}}","prompt":"hi",{{fields}}}""";

        var junk = new byte[512];
        new Random(42).NextBytes(junk);
        var jpegWithGarbage = new byte[] { 0xFF, 0xD8, 0xFF, 0xE0 }.Concat(junk).ToArray();
        var png64 = Convert.ToBase64String(Support.Media.Png());
        var jpeg64 = Convert.ToBase64String(Support.Media.Jpeg());

        // Not JSON at all.
        Raw("empty", [], "invalid_json");
        Json("unclosed object", "{", "invalid_json");
        Json("trailing comma", """{"id":"a","prompt":"hi",}""", "invalid_json");
        Json("plain text", "please run this", "invalid_json");
        Raw("binary junk", junk, "invalid_json");
        Raw("invalid UTF-8", [.. "{\"id\":\"x"u8, 0xFF, 0xFE, .. "\",\"prompt\":\"hi\"}"u8], "invalid_json");
        Json("single quotes", "{'id':'a','prompt':'hi'}", "invalid_json");
        Json("comment", """{"id":"a", /* c */ "prompt":"hi"}""", "invalid_json");
        Json("too deep", new string('[', 100) + new string(']', 100), "invalid_json");

        // JSON, but not a job.
        Json("array", "[]", "invalid_job");
        Json("string", "\"a job\"", "invalid_job");
        Json("number", "42", "invalid_job");
        Json("null", "null", "invalid_job");
        Json("empty object", "{}", "invalid_job");
        Json("no id", """{"prompt":"hi"}""", "invalid_job");
        Json("id with space", """{"id":"a b","prompt":"hi"}""", "invalid_job");
        Json("id with slash", """{"id":"a/b","prompt":"hi"}""", "invalid_job");
        Json("id with wildcard", """{"id":"a+","prompt":"hi"}""", "invalid_job");
        Json("id too long", $$"""{"id":"{{new string('x', 129)}}","prompt":"hi"}""", "invalid_job");
        Json("id is a number", """{"id":5,"prompt":"hi"}""", "invalid_job");
        Json("neither prompt nor messages", $$"""{"id":"{{Id()}}"}""", "invalid_job");
        Json("both prompt and messages", $$"""{"id":"{{Id()}}","prompt":"hi","messages":[{"role":"user","content":"hi"}]}""", "invalid_job");
        Json("prompt is a number", $$"""{"id":"{{Id()}}","prompt":5}""", "invalid_job");
        Json("prompt is null", $$"""{"id":"{{Id()}}","prompt":null}""", "invalid_job");
        Json("messages is a string", $$"""{"id":"{{Id()}}","messages":"hi"}""", "invalid_job");
        Json("messages empty", $$"""{"id":"{{Id()}}","messages":[]}""", "invalid_job");
        Json("unknown role", $$"""{"id":"{{Id()}}","messages":[{"role":"robot","content":"hi"}]}""", "invalid_job");
        Json("message without content", $$"""{"id":"{{Id()}}","messages":[{"role":"user"}]}""", "invalid_job");
        Json("message with unknown field", $$"""{"id":"{{Id()}}","messages":[{"role":"user","content":"hi","name":"bob"}]}""", "invalid_job");
        Json("message is a number", $$"""{"id":"{{Id()}}","messages":[42]}""", "invalid_job");
        Json("content parts (not supported)", $$"""{"id":"{{Id()}}","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}""", "invalid_job");
        Json("unknown field", Job("\"foo\":1"), "invalid_job");
        Json("duplicate field", $$"""{"id":"{{Id()}}","prompt":"a","prompt":"b"}""", "invalid_job");
        Json("negative max_tokens", Job("\"max_tokens\":-5"), "invalid_job");
        Json("zero max_tokens", Job("\"max_tokens\":0"), "invalid_job");
        Json("huge max_tokens", Job("\"max_tokens\":1000000000000"), "invalid_job");
        Json("max_tokens beyond int64", Job("\"max_tokens\":99999999999999999999999"), "invalid_job");
        Json("fractional max_tokens", Job("\"max_tokens\":1.5"), "invalid_job");
        Json("max_tokens as string", Job("\"max_tokens\":\"10\""), "invalid_job");
        Json("temperature as string", Job("\"temperature\":\"hot\""), "invalid_job");
        Json("temperature too high", Job("\"temperature\":5"), "invalid_job");
        Json("top_p zero", Job("\"top_p\":0"), "invalid_job");
        Json("seed as string", Job("\"seed\":\"x\""), "invalid_job");
        Json("enable_thinking as string", Job("\"enable_thinking\":\"yes\""), "invalid_job");
        Json("stream as number", Job("\"stream\":1"), "invalid_job");
        Json("unknown route", Job("\"route\":\"mars\""), "invalid_job");
        Json("negative deadline", Job("\"deadline_ms\":-1"), "invalid_job");
        Json("unknown priority", Job("\"priority\":\"urgent\""), "invalid_job");
        Json("image not base64", Job("\"image\":\"!!!not base64!!!\""), "invalid_job");
        Json("image data URI not base64", Job("\"image\":\"data:image/png,abc\""), "invalid_job");
        Json("image as number", Job("\"image\":7"), "invalid_job");

        // Too large.
        Raw("payload over MaxJobBytes", Encoding.UTF8.GetBytes(Job($"\"x\":\"{new string('a', 1_100_000)}\"")), "payload_too_large");
        Json("prompt over MaxPromptChars", $$"""{"id":"{{Id()}}","prompt":"{{new string('a', 70_000)}}"}""", "payload_too_large");
        Json("image over MaxMediaBytes", Job($"\"image\":\"{Convert.ToBase64String(new byte[300_000])}\""), "payload_too_large");

        // Media that is not what it should be.
        Json("image of text", Job($"\"image\":\"{Convert.ToBase64String("hello world"u8.ToArray())}\""), "unsupported_media");
        Json("JPEG header with garbage", Job($"\"image\":\"{Convert.ToBase64String(jpegWithGarbage)}\""), "unsupported_media");
        Json("data URI claims PNG, holds JPEG", Job($"\"image\":\"data:image/png;base64,{jpeg64}\""), "unsupported_media");
        Json("PNG as audio", Job($"\"audio\":\"{png64}\""), "unsupported_media");
        Json("GIF", Job($"\"image\":\"{Convert.ToBase64String("GIF89a\u0001\0\u0001\0"u8.ToArray())}\""), "unsupported_media");

        // Valid, but this device cannot run it.
        Json("JPEG data URI without image data", Job($"\"image\":\"data:image/jpeg;base64,{jpeg64}\""), "unsupported_media");
        Json("video data URI", Job($"\"image\":\"data:video/mp4;base64,{png64}\""), "unsupported_media");
        Json("max_tokens beyond the context", Job("\"max_tokens\":4000"), "context_length_exceeded");
        Json("prompt beyond the context", $$"""{"id":"{{Id()}}","prompt":"{{string.Concat(Enumerable.Repeat("hello world ", 5000))}}"}""", "context_length_exceeded");
        Json("remote route", Job("\"route\":\"remote\""), "remote_unavailable");
        Json("deadline already passed", Job("\"max_tokens\":1500,\"deadline_ms\":1"), "timeout");

        // Raw media topics.
        list.Add(new BadPayload("raw image of junk", images, junk, "unsupported_media", [("id", Id())]));
        list.Add(new BadPayload("raw JPEG header with garbage", images, jpegWithGarbage, "unsupported_media", [("id", Id())]));
        list.Add(new BadPayload("raw empty image", images, [], "unsupported_media", [("id", Id())]));
        list.Add(new BadPayload("raw image without id", images, Support.Media.Png(), "invalid_job"));
        list.Add(new BadPayload("raw image with unknown property", images, Support.Media.Png(), "invalid_job", [("id", Id()), ("colour", "red")]));
        list.Add(new BadPayload("raw image with bad max_tokens", images, Support.Media.Png(), "invalid_job", [("id", Id()), ("max_tokens", "abc")]));
        list.Add(new BadPayload("raw image over MaxMediaBytes", images, [.. Support.Media.Jpeg(), .. new byte[300_000]], "payload_too_large", [("id", Id())]));
        list.Add(new BadPayload("raw JPEG without image data", images, Support.Media.Jpeg(), "unsupported_media", [("id", Id()), ("prompt", "What is it?"), ("max_tokens", "8"), ("stream", "true")]));
        list.Add(new BadPayload("raw PNG on the audio topic", audio, Support.Media.Png(), "unsupported_media", [("id", Id())]));
        list.Add(new BadPayload("raw RIFF WAVE without fmt", audio, [.. "RIFF"u8, 4, 0, 0, 0, .. "WAVE"u8], "unsupported_media", [("id", Id())]));
        return list;
    }
}
