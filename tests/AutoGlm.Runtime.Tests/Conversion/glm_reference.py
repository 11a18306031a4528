#!/usr/bin/env python3
"""Tiny random GLM checkpoints in the Hugging Face layout, and an independent PyTorch forward pass over them.

Written from the transformers modeling code (modeling_glm4.py, modeling_glm.py, modeling_glm4v.py) and THUDM's
modeling_chatglm.py (ChatGLMModel), not from the engine's ONNX graph. Needs only Debian's python3-torch (and the numpy it depends on); no transformers, no pip.

  glm_reference.py make <dir> --arch Glm4ForCausalLM|Glm4vForConditionalGeneration|GlmForCausalLM|ChatGLMModel [--seed N] [--shards N]
      [--shape '{"hidden_size": 1024, ...}']   (overrides of the tiny shape, e.g. for a conversion benchmark)
      [--tokenizer json|tiktoken]   (tiktoken: GLM-4's tokenizer.model rank file and added_tokens_decoder, no tokenizer.json)
      [--quant gptq-sym|gptq-asym|awq --group 32|64|128]   (every decoder linear stored as a 4-bit checkpoint stores it:
         AutoGPTQ's qweight/qzeros/scales/g_idx with quantization_config, or AutoAWQ's GEMM qweight/qzeros/scales)
  glm_reference.py forward <dir> --tokens 1,2,3 --first K [--int4 BLOCK]
  glm_reference.py forward ... --int4 BLOCK [--int4-rule full|asym|max7]
      -> JSON: logits of positions K.. (one row per position). --int4 first rounds every linear weight, the embedding
         and the head as an INT4 package stores them (see int4_round_trip; full is the converter's default rule,
         asym its --zero-points, whose embedding stays full). The linears of a 4-bit
         checkpoint are dequantized from its own codes (as AutoGPTQ's and AutoAWQ's forward does) and not rounded again.
"""
import argparse
import json
import math
import os

import numpy as np
import torch

# The shape of the tiny checkpoints: head_dim (32) is given explicitly and heads x head_dim (128) differs from
# hidden_size (96), as config.json allows; half of each head is rotated (partial_rotary_factor 0.5).
SHAPE = dict(hidden_size=96, intermediate_size=160, num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2,
             head_dim=32, vocab_size=320, max_position_embeddings=256, rms_norm_eps=1e-5, rope_theta=10000.0,
             partial_rotary_factor=0.5)

SPECIALS = ["<|endoftext|>", "[MASK]", "[gMASK]", "[sMASK]", "<sop>", "<eop>", "<|system|>", "<|user|>", "<|assistant|>",
            "<|observation|>", "<|begin_of_image|>", "<|end_of_image|>"]
FIRST_SPECIAL = 300
SPLIT_REGEX = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
WORDS = ["he", "ll", "hell", "hello", "\u0120w", "or", "\u0120wor", "ld", "\u0120world", "\u0120t", "\u0120th", "\u0120the"]


def byte_to_unicode():
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\u00a1"), ord("\u00ac") + 1)) + list(range(ord("\u00ae"), ord("\u00ff") + 1))
    table, extra = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def tokenizer_json():
    chars = byte_to_unicode()
    vocab = {chars[b]: b for b in range(256)}
    merges = []
    for word in WORDS:
        # each word is the merge of its longest known prefix and the rest
        for cut in range(len(word) - 1, 0, -1):
            if word[:cut] in vocab and word[cut:] in vocab:
                merges.append(f"{word[:cut]} {word[cut:]}")
                break
        else:
            raise ValueError(word)
        vocab[word] = len(vocab)
    added = [dict(id=FIRST_SPECIAL + i, content=t, single_word=False, lstrip=False, rstrip=False, normalized=False, special=True)
             for i, t in enumerate(SPECIALS)]
    return dict(version="1.0", truncation=None, padding=None, added_tokens=added, normalizer=None,
                pre_tokenizer=dict(type="Sequence", pretokenizers=[
                    dict(type="Split", pattern=dict(Regex=SPLIT_REGEX), behavior="Isolated", invert=False),
                    dict(type="ByteLevel", add_prefix_space=False, trim_offsets=True, use_regex=False)]),
                post_processor=None, decoder=dict(type="ByteLevel", add_prefix_space=True, trim_offsets=True, use_regex=True),
                model=dict(type="BPE", dropout=None, unk_token=None, continuing_subword_prefix=None, end_of_word_suffix=None,
                           fuse_unk=False, byte_fallback=False, ignore_merges=False, vocab=vocab, merges=merges))


CHAT_TEMPLATE = ("[gMASK]<sop>{%- for msg in messages %}{%- if msg.role == 'system' %}<|system|>\n{{ msg.content }}{%- endif %}{%- endfor %}"
                 "{%- for message in messages if message.role != 'system' %}{%- if message.role == 'user' %}<|user|>\n{{ message.content }}"
                 "{%- elif message.role == 'assistant' %}<|assistant|>\n{{ message.content }}{%- endif %}{%- endfor %}"
                 "{% if add_generation_prompt %}<|assistant|>\n{% endif %}")


def tensors_for(arch, gen, s):
    h, f, hd = s["hidden_size"], s["intermediate_size"], s["head_dim"]
    q, kv = s["num_attention_heads"] * hd, s["num_key_value_heads"] * hd
    prefix = "model.language_model." if arch == "Glm4vForConditionalGeneration" else "model."
    sandwich = arch != "GlmForCausalLM"

    def uniform(*shape, limit):
        return (torch.rand(*shape, generator=gen, dtype=torch.float32) * 2 - 1) * limit

    def linear(rows, cols):
        return uniform(rows, cols, limit=math.sqrt(3.0 / cols))

    def norm():
        return 1 + uniform(h, limit=0.1)

    t = {prefix + "embed_tokens.weight": uniform(s["vocab_size"], h, limit=1.0), prefix + "norm.weight": norm(),
         "lm_head.weight": uniform(s["vocab_size"], h, limit=3.0 / math.sqrt(h))}
    for i in range(s["num_hidden_layers"]):
        p = f"{prefix}layers.{i}."
        t[p + "input_layernorm.weight"] = norm()
        t[p + "self_attn.q_proj.weight"] = linear(q, h)
        t[p + "self_attn.k_proj.weight"] = linear(kv, h)
        t[p + "self_attn.v_proj.weight"] = linear(kv, h)
        t[p + "self_attn.q_proj.bias"] = uniform(q, limit=0.1)
        t[p + "self_attn.k_proj.bias"] = uniform(kv, limit=0.1)
        t[p + "self_attn.v_proj.bias"] = uniform(kv, limit=0.1)
        t[p + "self_attn.o_proj.weight"] = linear(h, q)
        t[p + "post_attention_layernorm.weight"] = norm()
        t[p + "mlp.gate_up_proj.weight"] = linear(2 * f, h)
        t[p + "mlp.down_proj.weight"] = linear(h, f)
        if sandwich:
            t[p + "post_self_attn_layernorm.weight"] = norm()
            t[p + "post_mlp_layernorm.weight"] = norm()
    if arch == "Glm4vForConditionalGeneration":
        t["model.visual.patch_embed.proj.weight"] = uniform(8, 3, 2, 14, 14, limit=0.1)  # kept for a later issue, ignored
    return t


def chatglm_tensors(gen, s):
    """THUDM's layout: transformer.embedding / encoder.layers.N / encoder.final_layernorm / output_layer."""
    h, f, hd = s["hidden_size"], s["intermediate_size"], s["head_dim"]
    qkv = (s["num_attention_heads"] + 2 * s["num_key_value_heads"]) * hd

    def uniform(*shape, limit):
        return (torch.rand(*shape, generator=gen, dtype=torch.float32) * 2 - 1) * limit

    def linear(rows, cols):
        return uniform(rows, cols, limit=math.sqrt(3.0 / cols))

    def norm():
        return 1 + uniform(h, limit=0.1)

    t = {"transformer.embedding.word_embeddings.weight": uniform(s["vocab_size"], h, limit=1.0),
         "transformer.encoder.final_layernorm.weight": norm(),
         "transformer.output_layer.weight": uniform(s["vocab_size"], h, limit=3.0 / math.sqrt(h)),
         "transformer.rotary_pos_emb.inv_freq": uniform(hd // 4, limit=1.0)}  # a buffer some checkpoints carry; unused
    for i in range(s["num_hidden_layers"]):
        p = f"transformer.encoder.layers.{i}."
        t[p + "input_layernorm.weight"] = norm()
        t[p + "self_attention.query_key_value.weight"] = linear(qkv, h)
        t[p + "self_attention.query_key_value.bias"] = uniform(qkv, limit=0.1)
        t[p + "self_attention.dense.weight"] = linear(h, s["num_attention_heads"] * hd)
        t[p + "post_attention_layernorm.weight"] = norm()
        t[p + "mlp.dense_h_to_4h.weight"] = linear(2 * f, h)
        t[p + "mlp.dense_4h_to_h.weight"] = linear(h, f)
    return t


def chatglm_config(s):
    return dict(architectures=["ChatGLMModel"], model_type="chatglm", num_layers=s["num_hidden_layers"],
                hidden_size=s["hidden_size"], ffn_hidden_size=s["intermediate_size"], kv_channels=s["head_dim"],
                num_attention_heads=s["num_attention_heads"], multi_query_attention=True,
                multi_query_group_num=s["num_key_value_heads"], padded_vocab_size=s["vocab_size"],
                seq_length=s["max_position_embeddings"], layernorm_epsilon=s["rms_norm_eps"], rope_ratio=2.0,
                rmsnorm=True, post_layer_norm=True, apply_residual_connection_post_layernorm=False, add_bias_linear=False,
                add_qkv_bias=True, original_rope=True, tie_word_embeddings=False,
                eos_token_id=[FIRST_SPECIAL, FIRST_SPECIAL + 7, FIRST_SPECIAL + 9], pad_token_id=FIRST_SPECIAL)


def write_safetensors(path, tensors):
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, value in tensors.items():
        if value.dtype == torch.int32:
            data, dtype = value.numpy().tobytes(), "I32"
        elif value.dtype == torch.float16:
            data, dtype = value.view(torch.int16).numpy().tobytes(), "F16"
        else:
            data, dtype = value.to(torch.bfloat16).view(torch.int16).numpy().tobytes(), "BF16"
        header[name] = dict(dtype=dtype, shape=list(value.shape), data_offsets=[offset, offset + len(data)])
        blobs.append(data)
        offset += len(data)
    encoded = json.dumps(header).encode()
    encoded += b" " * ((8 - len(encoded) % 8) % 8)
    with open(path, "wb") as out:
        out.write(len(encoded).to_bytes(8, "little"))
        out.write(encoded)
        for blob in blobs:
            out.write(blob)
    return offset


def write_tiktoken(directory):
    """The same vocabulary as tokenizer_json(), as GLM-4's tokenizer.model: 'base64(bytes) rank' per line."""
    import base64
    decode = {c: b for b, c in byte_to_unicode().items()}
    vocab = tokenizer_json()["model"]["vocab"]
    with open(os.path.join(directory, "tokenizer.model"), "w") as out:
        for token, rank in sorted(vocab.items(), key=lambda kv: kv[1]):
            out.write(base64.b64encode(bytes(decode[ch] for ch in token)).decode() + f" {rank}\n")
    return {str(FIRST_SPECIAL + i): dict(content=t, lstrip=False, normalized=False, rstrip=False, single_word=False, special=True)
            for i, t in enumerate(SPECIALS)}


LINEARS = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_up_proj", "mlp.down_proj")
AWQ_ORDER = [0, 2, 4, 6, 1, 3, 5, 7]  # AutoAWQ's GEMM packing: nibble i of an int32 holds column 8c + AWQ_ORDER[i]
AWQ_REVERSE_ORDER = [0, 4, 1, 5, 2, 6, 3, 7]


def to_int32(values):
    """Wraps unsigned 32-bit packs into int32, as the packers' uint32 -> int32 view does."""
    return torch.from_numpy((values.numpy().astype(np.uint64) & 0xFFFFFFFF).astype(np.uint32).view(np.int32).copy())


def pack_along_rows(codes):
    """[R, C] codes -> [R/8, C]: row 8r + j in bits 4j (AutoGPTQ's qweight)."""
    r, c = codes.shape
    blocks = codes.to(torch.int64).reshape(r // 8, 8, c)
    return to_int32(sum(blocks[:, j, :] << (4 * j) for j in range(8)))


def pack_along_columns(codes, order):
    """[R, C] codes -> [R, C/8]: column 8c + order[i] in bits 4i (qzeros; AWQ's qweight)."""
    r, c = codes.shape
    blocks = codes.to(torch.int64).reshape(r, c // 8, 8)
    return to_int32(sum(blocks[:, :, order[i]] << (4 * i) for i in range(8)))


def quantize_groups(w, group, sym, gptq):
    """w [N, K] -> codes [N, K], fp16 scales [N, G], integer zeros [N, G], with GPTQ's or AWQ's min/max rule."""
    n, k = w.shape
    blocks = w.to(torch.float32).reshape(n, k // group, group)
    if gptq:  # AutoGPTQ's Quantizer.find_params: the range always includes 0
        xmin = torch.clamp(blocks.amin(-1), max=0)
        xmax = torch.clamp(blocks.amax(-1), min=0)
        if sym:
            xmax = torch.maximum(xmin.abs(), xmax)
            xmin = torch.where(xmin < 0, -xmax, xmin)
        scale = ((xmax - xmin) / 15).to(torch.float16)
        zero = torch.full_like(scale, 8, dtype=torch.float32) if sym else torch.round(-xmin / scale.to(torch.float32))
    else:  # AutoAWQ's pseudo_quantize_tensor with zero_point
        xmax, xmin = blocks.amax(-1), blocks.amin(-1)
        scale = (torch.clamp(xmax - xmin, min=1e-5) / 15).to(torch.float16)
        zero = torch.clamp(-torch.round(xmin / scale.to(torch.float32)), 0, 15)
    codes = torch.clamp(torch.round(blocks / scale.to(torch.float32)[..., None]) + zero[..., None], 0, 15)
    return codes.reshape(n, k).to(torch.int64), scale, zero.to(torch.int64)


def quantize_checkpoint(tensors, quant, group, act_order=False):
    """Replaces every decoder linear X.weight by X.qweight, X.qzeros, X.scales (and GPTQ's X.g_idx)."""
    gptq = quant.startswith("gptq")
    out = {}
    for name, value in tensors.items():
        base = name[: -len(".weight")]
        if not (name.endswith(".weight") and base.split("layers.")[-1].split(".", 1)[-1] in LINEARS):
            out[name] = value
            continue
        n, k = value.shape
        codes, scale, zero = quantize_groups(value, group, quant == "gptq-sym", gptq)
        out[base + ".scales"] = scale.T.contiguous()  # [G, N]
        if gptq:
            out[base + ".qweight"] = pack_along_rows(codes.T.contiguous())  # [K/8, N]
            out[base + ".qzeros"] = pack_along_columns((zero.T - 1) & 0xF, list(range(8)))  # [G, N/8], stored minus 1
            g_idx = torch.arange(k) // group
            # act-order: the groups follow a permutation of the inputs (here a reversal), so g_idx is not sequential
            out[base + ".g_idx"] = (g_idx.flip(0) if act_order else g_idx).to(torch.int32)
        else:
            out[base + ".qweight"] = pack_along_columns(codes.T.contiguous(), AWQ_ORDER)  # [K, N/8]
            out[base + ".qzeros"] = pack_along_columns(zero.T.contiguous(), AWQ_ORDER)  # [G, N/8]
    return out


def quantization_config(quant, group):
    if quant == "awq":
        return dict(quant_method="awq", bits=4, group_size=group, zero_point=True, version="gemm", modules_to_not_convert=None)
    return dict(quant_method="gptq", bits=4, group_size=group, sym=quant == "gptq-sym", desc_act=False, damp_percent=0.01,
                static_groups=False, true_sequential=True, checkpoint_format="gptq", model_name_or_path=None, model_file_base_name=None)


def dequantize_checkpoint(config, t):
    """X.qweight & co. -> X.weight [N, K] in float64, as AutoGPTQ's and AutoAWQ's torch forward dequantizes them."""
    q = config.get("quantization_config")
    if not q:
        return t, set()
    out, done = {}, set()
    shifts = torch.arange(0, 32, 4, dtype=torch.int32)
    for name, value in t.items():
        if not name.endswith(".qweight"):
            if not name.endswith((".qzeros", ".scales", ".g_idx")):
                out[name] = value
            continue
        base = name[: -len(".qweight")]
        scales, qzeros = t[base + ".scales"], t[base + ".qzeros"]
        unpack_cols = lambda packed: ((packed[:, :, None] >> shifts[None, None, :]) & 15).reshape(packed.shape[0], -1)
        if q["quant_method"] == "gptq":
            k = value.shape[0] * 8
            weight = ((value[:, None, :] >> shifts[None, :, None]) & 15).reshape(k, -1)  # [K, N]
            zeros = unpack_cols(qzeros) + 1  # [G, N]
            g_idx = t[base + ".g_idx"].to(torch.long)
            w = scales[g_idx] * (weight - zeros[g_idx]).to(torch.float64)
        else:
            reverse = torch.arange(value.shape[1] * 8).reshape(-1, 8)[:, AWQ_REVERSE_ORDER].reshape(-1)
            weight = unpack_cols(value)[:, reverse]  # [K, N]
            zeros = unpack_cols(qzeros)[:, reverse]  # [G, N]
            group = q["group_size"]
            w = (weight - zeros.repeat_interleave(group, dim=0)).to(torch.float64) * scales.repeat_interleave(group, dim=0)
        out[base + ".weight"] = w.T.contiguous()
        done.add(base + ".weight")
    return out, done


def make(directory, arch, seed, shards, shape, tokenizer="json", quant=None, group=32, act_order=False):
    os.makedirs(directory, exist_ok=True)
    gen = torch.Generator().manual_seed(seed)
    tensors = chatglm_tensors(gen, shape) if arch == "ChatGLMModel" else tensors_for(arch, gen, shape)
    if quant:
        tensors = quantize_checkpoint(tensors, quant, group, act_order)
    names = list(tensors)
    text = dict(shape, attention_bias=True, hidden_act="silu", tie_word_embeddings=False, pad_token_id=FIRST_SPECIAL,
                eos_token_id=[FIRST_SPECIAL, FIRST_SPECIAL + 7, FIRST_SPECIAL + 9], torch_dtype="bfloat16")
    if arch == "ChatGLMModel":
        config = chatglm_config(shape)
    elif arch == "Glm4vForConditionalGeneration":
        text_config = dict(text, model_type="glm4v_text", rope_scaling=dict(type="default", mrope_section=[2, 3, 3]))
        config = dict(architectures=[arch], model_type="glm4v", text_config=text_config,
                      vision_config=dict(hidden_size=8, depth=1, patch_size=14), tie_word_embeddings=False)
    else:
        config = dict(text, architectures=[arch], model_type="glm4" if arch == "Glm4ForCausalLM" else "glm")
    if quant:
        config["quantization_config"] = quantization_config(quant, group)
    json.dump(config, open(os.path.join(directory, "config.json"), "w"), indent=2)
    if shards == 1:
        write_safetensors(os.path.join(directory, "model.safetensors"), tensors)
    else:
        weight_map, total = {}, 0
        for k in range(shards):
            part = names[k::shards]
            file = f"model-{k + 1:05d}-of-{shards:05d}.safetensors"
            total += write_safetensors(os.path.join(directory, file), {n: tensors[n] for n in part})
            weight_map.update({n: file for n in part})
        json.dump(dict(metadata=dict(total_size=total), weight_map=weight_map), open(os.path.join(directory, "model.safetensors.index.json"), "w"), indent=2)
    tokenizer_config = dict(chat_template=CHAT_TEMPLATE, eos_token="<|endoftext|>", pad_token="<|endoftext|>", model_max_length=256,
                            tokenizer_class="PreTrainedTokenizerFast")
    if tokenizer == "tiktoken":
        tokenizer_config.update(added_tokens_decoder=write_tiktoken(directory), tokenizer_class="ChatGLM4Tokenizer")
    else:
        json.dump(tokenizer_json(), open(os.path.join(directory, "tokenizer.json"), "w"), ensure_ascii=False)
    json.dump(tokenizer_config, open(os.path.join(directory, "tokenizer_config.json"), "w"), indent=2)
    json.dump(dict(eos_token_id=[FIRST_SPECIAL, FIRST_SPECIAL + 7, FIRST_SPECIAL + 9], pad_token_id=FIRST_SPECIAL, do_sample=False),
              open(os.path.join(directory, "generation_config.json"), "w"), indent=2)


def read_safetensors(path):
    with open(path, "rb") as f:
        size = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(size))
        data = f.read()
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        if entry["dtype"] == "I32":
            out[name] = torch.from_numpy(np.frombuffer(data[begin:end], dtype=np.int32).copy()).reshape(entry["shape"])
            continue
        assert entry["dtype"] in ("BF16", "F16")
        raw = torch.from_numpy(np.frombuffer(data[begin:end], dtype=np.int16).copy()).view(torch.bfloat16 if entry["dtype"] == "BF16" else torch.float16)
        out[name] = raw.to(torch.float64).reshape(entry["shape"])
    return out


def load(directory):
    config = json.load(open(os.path.join(directory, "config.json")))
    index = os.path.join(directory, "model.safetensors.index.json")
    files = sorted(set(json.load(open(index))["weight_map"].values())) if os.path.exists(index) else ["model.safetensors"]
    tensors = {}
    for file in files:
        tensors.update(read_safetensors(os.path.join(directory, file)))
    return config, tensors


def rms_norm(x, weight, eps):
    variance = x.pow(2).mean(-1, keepdim=True)
    return weight * (x * torch.rsqrt(variance + eps))


def rotate_half(x):
    x1 = x[..., 0::2]
    x2 = x[..., 1::2]
    return torch.stack((-x2, x1), dim=-1).flatten(-2)


def rotary_tables(c, length, mrope_section):
    dim = int(c["head_dim"] * c["partial_rotary_factor"])
    inv_freq = 1.0 / (c["rope_theta"] ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
    positions = torch.arange(length, dtype=torch.float64)
    if mrope_section is None:
        freqs = torch.outer(positions, inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos(), emb.sin()
    else:
        # GLM-4.1V: temporal, height and width positions (all equal for text), one rotary section each
        three = positions.expand(3, -1)
        freqs = three[:, :, None] * inv_freq[None, None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        sections = mrope_section * 2
        cos = torch.cat([m[i % 3] for i, m in enumerate(emb.cos().split(sections, dim=-1))], dim=-1)
        sin = torch.cat([m[i % 3] for i, m in enumerate(emb.sin().split(sections, dim=-1))], dim=-1)
    # Interleave them instead of usual shape
    cos = cos[..., : cos.shape[-1] // 2].repeat_interleave(2, dim=-1)
    sin = sin[..., : sin.shape[-1] // 2].repeat_interleave(2, dim=-1)
    return cos, sin


def int4_round_trip(w, block, rule="full"):
    """w as an INT4 package holds it, per row in blocks of `block` inputs, all in float32:
    full (the converter's symmetric rule, ONNX Runtime's): scale = the block's value of largest magnitude, with its
         sign, / -8; code = clamp(round_half_even(w / scale) + 8, 0, 15); value = (code - 8) * scale.
    asym (--zero-points): scale = (max(w, 0) - min(w, 0)) / 15, zero = clamp(round(-min / scale), 0, 15),
         code = clamp(round(w / scale) + zero, 0, 15), value = (code - zero) * scale.
    max7 (the synthetic builder's): scale = max|w| / 7, zero 8."""
    w32 = w.to(torch.float32)
    rows, cols = w32.shape
    blocks = w32.reshape(rows, cols // block, block)
    if rule == "asym":
        low = torch.clamp(blocks.amin(dim=-1, keepdim=True), max=0)
        high = torch.clamp(blocks.amax(dim=-1, keepdim=True), min=0)
        scale = (high - low) / 15
        zero = torch.where(scale == 0, torch.full_like(scale, 8), torch.clamp(torch.round(-low / scale), 0, 15))
    else:
        if rule == "full":
            extreme = torch.gather(blocks, -1, blocks.abs().argmax(dim=-1, keepdim=True))
            scale = extreme / -8
        else:
            scale = blocks.abs().amax(dim=-1, keepdim=True) / 7
        zero = torch.full_like(scale, 8)
    inverse = torch.where(scale == 0, torch.zeros_like(scale), 1 / scale)
    codes = torch.clamp(torch.round(blocks * inverse) + zero, 0, 15)
    return ((codes - zero) * scale).reshape(rows, cols).to(torch.float64)


def forward_chatglm(c, t, tokens):
    """GLMTransformer of modeling_chatglm.py: RMSNorm blocks, fused QKV, rotary cache [seq, rot/2, 2] on pairs."""
    n, hd, eps = c["num_attention_heads"], c["kv_channels"], c["layernorm_epsilon"]
    kvn = c["multi_query_group_num"] if c.get("multi_query_attention") else n
    length = len(tokens)
    # RotaryEmbedding(rotary_dim // 2) with rotary_dim = kv_channels; base scaled by rope_ratio
    dim = hd // 2
    base = 10000 * c.get("rope_ratio", 1)
    theta = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
    idx_theta = torch.outer(torch.arange(length, dtype=torch.float64), theta)
    cache = torch.stack([torch.cos(idx_theta), torch.sin(idx_theta)], dim=-1)  # [sq, dim/2, 2]

    def rope(x):  # x: [heads, sq, hd]
        rot = cache.shape[-2] * 2
        x, x_pass = x[..., :rot], x[..., rot:]
        xs = x.reshape(x.shape[0], length, rot // 2, 2)
        out = torch.stack([xs[..., 0] * cache[..., 0] - xs[..., 1] * cache[..., 1],
                           xs[..., 1] * cache[..., 0] + xs[..., 0] * cache[..., 1]], -1).flatten(2)
        return torch.cat((out, x_pass), dim=-1)

    mask = torch.full((length, length), float("-inf"), dtype=torch.float64).triu(1)
    x = t["transformer.embedding.word_embeddings.weight"][torch.tensor(tokens)]
    for i in range(c["num_layers"]):
        p = f"transformer.encoder.layers.{i}."
        ln = rms_norm(x, t[p + "input_layernorm.weight"], eps)
        mixed = ln @ t[p + "self_attention.query_key_value.weight"].T + t[p + "self_attention.query_key_value.bias"]
        q, k, v = mixed.split([n * hd, kvn * hd, kvn * hd], dim=-1)
        q = rope(q.view(length, n, hd).transpose(0, 1))
        k = rope(k.view(length, kvn, hd).transpose(0, 1)).repeat_interleave(n // kvn, dim=0)
        v = v.view(length, kvn, hd).transpose(0, 1).repeat_interleave(n // kvn, dim=0)
        weights = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(hd) + mask, dim=-1)
        context = (weights @ v).transpose(0, 1).reshape(length, n * hd)
        x = x + context @ t[p + "self_attention.dense.weight"].T
        ln = rms_norm(x, t[p + "post_attention_layernorm.weight"], eps)
        a, b = torch.chunk(ln @ t[p + "mlp.dense_h_to_4h.weight"].T, 2, dim=-1)
        x = x + (torch.nn.functional.silu(a) * b) @ t[p + "mlp.dense_4h_to_h.weight"].T
    x = rms_norm(x, t["transformer.encoder.final_layernorm.weight"], eps)
    return x @ t["transformer.output_layer.weight"].T


def forward(directory, tokens, int4_block=0, int4_rule="full"):
    config, t = load(directory)
    t, dequantized = dequantize_checkpoint(config, t)
    if int4_block:
        # the embedding never has zero points (the engine's lookup reads it with zero point 8)
        embedding = lambda name: name.endswith(("embed_tokens.weight", "word_embeddings.weight"))
        t = {name: int4_round_trip(value, int4_block, "full" if int4_rule == "asym" and embedding(name) else int4_rule)
             if value.dim() == 2 and name not in dequantized else value for name, value in t.items()}
    if config["architectures"][0] == "ChatGLMModel":
        return forward_chatglm(config, t, tokens)
    arch = config["architectures"][0]
    c = config["text_config"] if arch == "Glm4vForConditionalGeneration" else config
    prefix = "model.language_model." if arch == "Glm4vForConditionalGeneration" else "model."
    sandwich = arch != "GlmForCausalLM"
    mrope = (c.get("rope_scaling") or {}).get("mrope_section")
    n, kvn, hd, eps = c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"], c["rms_norm_eps"]
    length = len(tokens)
    x = t[prefix + "embed_tokens.weight"][torch.tensor(tokens)]
    cos, sin = rotary_tables(c, length, mrope)
    rot = cos.shape[-1]
    mask = torch.full((length, length), float("-inf"), dtype=torch.float64).triu(1)
    for i in range(c["num_hidden_layers"]):
        p = f"{prefix}layers.{i}."
        residual = x
        hs = rms_norm(x, t[p + "input_layernorm.weight"], eps)
        q = (hs @ t[p + "self_attn.q_proj.weight"].T + t[p + "self_attn.q_proj.bias"]).view(length, n, hd).transpose(0, 1)
        k = (hs @ t[p + "self_attn.k_proj.weight"].T + t[p + "self_attn.k_proj.bias"]).view(length, kvn, hd).transpose(0, 1)
        v = (hs @ t[p + "self_attn.v_proj.weight"].T + t[p + "self_attn.v_proj.bias"]).view(length, kvn, hd).transpose(0, 1)
        q = torch.cat([q[..., :rot] * cos + rotate_half(q[..., :rot]) * sin, q[..., rot:]], dim=-1)
        k = torch.cat([k[..., :rot] * cos + rotate_half(k[..., :rot]) * sin, k[..., rot:]], dim=-1)
        k = k.repeat_interleave(n // kvn, dim=0)
        v = v.repeat_interleave(n // kvn, dim=0)
        weights = torch.softmax(q @ k.transpose(1, 2) * hd ** -0.5 + mask, dim=-1)
        attn = (weights @ v).transpose(0, 1).reshape(length, n * hd) @ t[p + "self_attn.o_proj.weight"].T
        if sandwich:
            attn = rms_norm(attn, t[p + "post_self_attn_layernorm.weight"], eps)
        x = residual + attn
        residual = x
        hs = rms_norm(x, t[p + "post_attention_layernorm.weight"], eps)
        gate, up = (hs @ t[p + "mlp.gate_up_proj.weight"].T).chunk(2, dim=-1)
        mlp = (up * torch.nn.functional.silu(gate)) @ t[p + "mlp.down_proj.weight"].T
        if sandwich:
            mlp = rms_norm(mlp, t[p + "post_mlp_layernorm.weight"], eps)
        x = residual + mlp
    x = rms_norm(x, t[prefix + "norm.weight"], eps)
    return x @ t["lm_head.weight"].T


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("make")
    m.add_argument("dir")
    m.add_argument("--arch", required=True)
    m.add_argument("--seed", type=int, default=7)
    m.add_argument("--shards", type=int, default=2)
    m.add_argument("--shape", default="{}")
    m.add_argument("--tokenizer", default="json", choices=["json", "tiktoken"])
    m.add_argument("--quant", default=None, choices=["gptq-sym", "gptq-asym", "awq"])
    m.add_argument("--group", type=int, default=32)
    m.add_argument("--act-order", action="store_true", help="a GPTQ g_idx that is not sequential (desc_act stays false in the config)")
    f = sub.add_parser("forward")
    f.add_argument("dir")
    f.add_argument("--tokens", required=True)
    f.add_argument("--first", type=int, required=True)
    f.add_argument("--int4", type=int, default=0)
    f.add_argument("--int4-rule", default="full", choices=["full", "asym", "max7"])
    args = parser.parse_args()
    if args.command == "make":
        make(args.dir, args.arch, args.seed, args.shards, dict(SHAPE, **json.loads(args.shape)), args.tokenizer, args.quant, args.group, args.act_order)
    else:
        tokens = [int(x) for x in args.tokens.split(",")]
        logits = forward(args.dir, tokens, args.int4, args.int4_rule)
        print(json.dumps(logits[args.first:].tolist()))


if __name__ == "__main__":
    main()
