#!/usr/bin/env python3
"""GLM-4.1V's image side, written from transformers' image_processing_glm4v.py (the PIL-backed Glm4vImageProcessor
of transformers 4.5x, which GLM-4.1V-9B-Thinking's preprocessor_config.json names) and modeling_glm4v.py
(Glm4vVisionModel, get_rope_index), not from the engine. Needs Debian's python3-torch and python3-pil; no
transformers, no pip.

  glm4v_reference.py smart-resize <height> <width> [--min 12544] [--max 9633792]
      -> JSON [height, width]: the size the processor resizes to
  glm4v_reference.py preprocess <image> <out.f32> [--min ..] [--max ..]
      -> writes pixel_values (float32, [patches, 3*2*14*14]) and prints JSON {"height", "width", "grid": [t, h, w]}
  glm4v_reference.py make <dir> [--seed N] [--shape '{..}'] [--vision-shape '{..}']
      -> a tiny GLM-4.1V checkpoint (glm_reference.py's text decoder plus a real model.visual.* tower); the shapes
         override the tiny text and vision configs (a benchmark's 9B-shaped tower, say)
  glm4v_reference.py vision <dir> <pixels.f32> --grid H,W
      -> JSON: the vision tower's output rows [(H/2)*(W/2), text hidden]
  glm4v_reference.py rope-index --tokens 1,2,.. --grids H,W;H,W [--image-token N]
      -> JSON [3][len]: get_rope_index's position ids (temporal, height, width)
  glm4v_reference.py forward <dir> <pixels.f32> --grid H,W --tokens 1,2,.. --first K
      -> JSON: logits of positions K.. with the image's rows in place of its placeholder tokens and M-RoPE positions
"""
import argparse
import itertools
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import glm_reference as ref  # noqa: E402

MEAN = [0.48145466, 0.4578275, 0.40821073]
STD = [0.26862954, 0.26130258, 0.27577711]
PATCH, TEMPORAL, MERGE = 14, 2, 2
VISION = dict(hidden_size=32, depth=2, num_heads=2, intermediate_size=48, patch_size=14, image_size=56,
              spatial_merge_size=2, temporal_patch_size=2, in_channels=3, rms_norm_eps=1e-5, hidden_act="silu",
              attention_bias=False)
IMAGE_TOKEN = ref.FIRST_SPECIAL + 12  # <|image|>, the token after the tokenizer's last special


def smart_resize(num_frames, height, width, temporal_factor=2, factor=28, min_pixels=112 * 112, max_pixels=14 * 14 * 2 * 2 * 2 * 6144):
    # image_processing_glm4v.smart_resize, as published
    if num_frames < temporal_factor:
        raise ValueError("t must be larger than temporal_factor")
    if height < factor or width < factor:
        scale = max(factor / height, factor / width)
        height = int(height * scale)
        width = int(width * scale)
    if max(height, width) / min(height, width) > 200:
        raise ValueError("absolute aspect ratio must be smaller than 200")
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    t_bar = round(num_frames / temporal_factor) * temporal_factor
    if t_bar * h_bar * w_bar > max_pixels:
        beta = math.sqrt((num_frames * height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif t_bar * h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (num_frames * height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def preprocess(path, min_pixels, max_pixels):
    image = Image.open(path).convert("RGB")
    width, height = image.size
    rh, rw = smart_resize(TEMPORAL, height, width, TEMPORAL, PATCH * MERGE, min_pixels, max_pixels)
    # transformers' resize(): to PIL (uint8 stays uint8), PIL resize with BICUBIC, back to numpy
    array = np.array(image.resize((rw, rh), resample=Image.BICUBIC))
    # rescale: float64 multiply then float32; normalize: in float32
    array = (array.astype(np.float64) * (1 / 255)).astype(np.float32)
    array = (array - np.array(MEAN, dtype=np.float32)) / np.array(STD, dtype=np.float32)
    patches = array.transpose(2, 0, 1)[None]  # [1, C, H, W]
    patches = np.tile(patches, (TEMPORAL, 1, 1, 1))  # a single image repeats its frame
    gh, gw = rh // PATCH, rw // PATCH
    patches = patches.reshape(1, TEMPORAL, 3, gh // MERGE, MERGE, PATCH, gw // MERGE, MERGE, PATCH)
    patches = patches.transpose(0, 3, 6, 4, 7, 2, 1, 5, 8)
    flat = patches.reshape(gh * gw, 3 * TEMPORAL * PATCH * PATCH)
    return np.ascontiguousarray(flat, dtype=np.float32), rh, rw, gh, gw


def vision_tensors(gen, v, out_hidden):
    d, i = v["hidden_size"], v["intermediate_size"]

    def uniform(*shape, limit):
        return (torch.rand(*shape, generator=gen, dtype=torch.float32) * 2 - 1) * limit

    def linear(rows, cols):
        return uniform(rows, cols, limit=math.sqrt(3.0 / cols))

    def norm(width):
        return 1 + uniform(width, limit=0.1)

    p = "model.visual."
    fan = 3 * TEMPORAL * PATCH * PATCH
    side = v["image_size"] // v["patch_size"]
    t = {p + "patch_embed.proj.weight": uniform(d, 3, TEMPORAL, PATCH, PATCH, limit=math.sqrt(3.0 / fan)),
         p + "patch_embed.proj.bias": uniform(d, limit=0.1),
         p + "post_conv_layernorm.weight": norm(d),
         p + "embeddings.position_embedding.weight": uniform(side * side, d, limit=0.5),
         p + "post_layernorm.weight": norm(d),
         p + "downsample.weight": uniform(out_hidden, d, MERGE, MERGE, limit=math.sqrt(3.0 / (d * 4))),
         p + "downsample.bias": uniform(out_hidden, limit=0.1),
         p + "merger.proj.weight": linear(out_hidden, out_hidden),
         p + "merger.post_projection_norm.weight": norm(out_hidden),
         p + "merger.post_projection_norm.bias": uniform(out_hidden, limit=0.1),
         p + "merger.gate_proj.weight": linear(i, out_hidden),
         p + "merger.up_proj.weight": linear(i, out_hidden),
         p + "merger.down_proj.weight": linear(out_hidden, i)}
    for b in range(v["depth"]):
        q = f"{p}blocks.{b}."
        t[q + "norm1.weight"] = norm(d)
        t[q + "norm2.weight"] = norm(d)
        t[q + "attn.qkv.weight"] = linear(3 * d, d)
        t[q + "attn.proj.weight"] = linear(d, d)
        # Glm4VisionMlp: its intermediate width is out_hidden_size
        t[q + "mlp.gate_proj.weight"] = linear(out_hidden, d)
        t[q + "mlp.up_proj.weight"] = linear(out_hidden, d)
        t[q + "mlp.down_proj.weight"] = linear(d, out_hidden)
    return t


def make(directory, seed, shape=None, vision_shape=None):
    ref.make(directory, "Glm4vForConditionalGeneration", seed, 2, dict(ref.SHAPE, **(shape or {})))
    config = json.load(open(os.path.join(directory, "config.json")))
    hidden = config["text_config"]["hidden_size"]
    vision = dict(VISION, **(vision_shape or {}), out_hidden_size=hidden)
    config["vision_config"] = vision
    text = config["text_config"]
    half = int(text["head_dim"] * text["partial_rotary_factor"]) // 2
    text["rope_scaling"]["mrope_section"] = [half // 4, 3 * half // 8, half - half // 4 - 3 * half // 8]  # GLM-4.1V's 8, 12, 12 of 32
    config["image_token_id"] = IMAGE_TOKEN
    config["image_start_token_id"] = ref.FIRST_SPECIAL + 10
    config["image_end_token_id"] = ref.FIRST_SPECIAL + 11
    json.dump(config, open(os.path.join(directory, "config.json"), "w"), indent=2)
    tokenizer_path = os.path.join(directory, "tokenizer.json")
    tokenizer = json.load(open(tokenizer_path))
    tokenizer["added_tokens"].append(dict(id=IMAGE_TOKEN, content="<|image|>", single_word=False, lstrip=False, rstrip=False,
                                          normalized=False, special=True))
    json.dump(tokenizer, open(tokenizer_path, "w"), ensure_ascii=False)
    json.dump(dict(size=dict(shortest_edge=12544, longest_edge=9633792), do_rescale=True, patch_size=PATCH, temporal_patch_size=TEMPORAL,
                   merge_size=MERGE, image_mean=MEAN, image_std=STD, image_processor_type="Glm4vImageProcessor", processor_class="Glm4vProcessor"),
              open(os.path.join(directory, "preprocessor_config.json"), "w"), indent=2)
    gen = torch.Generator().manual_seed(seed + 1000)
    tensors = vision_tensors(gen, vision, hidden)
    index_path = os.path.join(directory, "model.safetensors.index.json")
    index = json.load(open(index_path))
    # the dummy tensor glm_reference.py writes is replaced by the real tower, in a third shard
    index["weight_map"].pop("model.visual.patch_embed.proj.weight", None)
    for file in set(index["weight_map"].values()):
        kept = {n: v.to(torch.float32) for n, v in ref.read_safetensors(os.path.join(directory, file)).items() if n in index["weight_map"]}
        ref.write_safetensors(os.path.join(directory, file), kept)
    file = "model-vision.safetensors"
    size = ref.write_safetensors(os.path.join(directory, file), tensors)
    index["weight_map"].update({n: file for n in tensors})
    index["metadata"]["total_size"] += size
    json.dump(index, open(index_path, "w"), indent=2)


def int4_vision(t, block):
    # an INT4 package rounds the blocks' and the merger's linears whose input width the block divides (the
    # converter's full-range rule); the patch embedding, the downsample, norms and positions stay float
    linears = ("attn.qkv.weight", "attn.proj.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight",
               "merger.proj.weight", "merger.gate_proj.weight", "merger.up_proj.weight", "merger.down_proj.weight")
    return {name: ref.int4_round_trip(value, block, "full")
            if name.startswith("model.visual.") and name.endswith(linears) and value.shape[1] % block == 0 else value
            for name, value in t.items()}


def rms(x, w, eps):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rotate_half_vision(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def vision_forward(config, t, pixels, gh, gw):
    v = config["vision_config"]
    p = "model.visual."
    d, heads, eps = v["hidden_size"], v["num_heads"], v["rms_norm_eps"]
    hd = d // heads
    x = torch.from_numpy(pixels).to(torch.float64)
    n = x.shape[0]
    # Glm4vVisionPatchEmbed: Conv3d with kernel = stride = (2, 14, 14)
    x = x.view(-1, 3, TEMPORAL, PATCH, PATCH)
    x = F.conv3d(x, t[p + "patch_embed.proj.weight"], t[p + "patch_embed.proj.bias"], stride=(TEMPORAL, PATCH, PATCH)).view(-1, d)
    x = rms(x, t[p + "post_conv_layernorm.weight"], eps)
    # rot_pos_emb
    m = v["spatial_merge_size"]
    hpos = torch.arange(gh).unsqueeze(1).expand(-1, gw).reshape(gh // m, m, gw // m, m).permute(0, 2, 1, 3).flatten()
    wpos = torch.arange(gw).unsqueeze(0).expand(gh, -1).reshape(gh // m, m, gw // m, m).permute(0, 2, 1, 3).flatten()
    pos = torch.stack([hpos, wpos], dim=-1)
    dim = hd // 2
    inv_freq = 1.0 / (10000.0 ** (torch.arange(0, dim, 2, dtype=torch.float) / dim))
    freqs = torch.outer(torch.arange(max(gh, gw), dtype=torch.float), inv_freq)
    rotary = freqs[pos].flatten(1)
    emb = torch.cat((rotary, rotary), dim=-1)
    cos, sin = emb.cos().to(torch.float64), emb.sin().to(torch.float64)
    # Glm4vVisionEmbeddings: learned positions, bicubically resampled to the grid
    weight = t[p + "embeddings.position_embedding.weight"]
    side = int(weight.shape[0] ** 0.5)
    grid2d = weight.view(side, side, d).permute(2, 0, 1).unsqueeze(0).to(torch.float32)
    norm_w = ((wpos.to(torch.float32) + 0.5) / gw) * 2 - 1
    norm_h = ((hpos.to(torch.float32) + 0.5) / gh) * 2 - 1
    grid = torch.stack((norm_w, norm_h), dim=-1).unsqueeze(0).unsqueeze(2)
    sampled = F.grid_sample(grid2d, grid, mode="bicubic", align_corners=False, padding_mode="border")
    x = x + sampled.squeeze(0).squeeze(-1).permute(1, 0).to(torch.float64)
    for b in range(v["depth"]):
        q = f"{p}blocks.{b}."
        h = rms(x, t[q + "norm1.weight"], eps)
        qs, ks, vs = (h @ t[q + "attn.qkv.weight"].T).reshape(n, 3, heads, hd).permute(1, 0, 2, 3).unbind(0)
        qs = qs * cos.unsqueeze(-2) + rotate_half_vision(qs) * sin.unsqueeze(-2)
        ks = ks * cos.unsqueeze(-2) + rotate_half_vision(ks) * sin.unsqueeze(-2)
        qs, ks, vs = qs.transpose(0, 1), ks.transpose(0, 1), vs.transpose(0, 1)
        weights = torch.softmax(qs @ ks.transpose(1, 2) * hd ** -0.5, dim=-1)
        attn = (weights @ vs).transpose(0, 1).reshape(n, d) @ t[q + "attn.proj.weight"].T
        x = x + attn
        h = rms(x, t[q + "norm2.weight"], eps)
        x = x + (F.silu(h @ t[q + "mlp.gate_proj.weight"].T) * (h @ t[q + "mlp.up_proj.weight"].T)) @ t[q + "mlp.down_proj.weight"].T
    x = rms(x, t[p + "post_layernorm.weight"], eps)
    x = x.view(-1, m, m, d).permute(0, 3, 1, 2)
    out_hidden = v["out_hidden_size"]
    x = F.conv2d(x, t[p + "downsample.weight"], t[p + "downsample.bias"], stride=m).view(-1, out_hidden)
    x = x @ t[p + "merger.proj.weight"].T
    x = F.layer_norm(x, (out_hidden,), t[p + "merger.post_projection_norm.weight"], t[p + "merger.post_projection_norm.bias"], 1e-5)
    x = F.gelu(x)
    return (F.silu(x @ t[p + "merger.gate_proj.weight"].T) * (x @ t[p + "merger.up_proj.weight"].T)) @ t[p + "merger.down_proj.weight"].T


def rope_index(tokens, grids, image_token, merge=MERGE):
    # Glm4vModel.get_rope_index for one unpadded sequence of text and images (no video), as published: runs of one
    # type; text counts on from the last position + 1; an image (t, h, w) takes (s + t, s + row, s + col) on the grid
    # merged by spatial_merge_size
    types = ["image" if token == image_token else "text" for token in tokens]
    groups = []
    for key, group in itertools.groupby(enumerate(types), lambda x: x[1]):
        group = list(group)
        groups.append((key, group[0][0], group[-1][0] + 1))
    parts, image_index = [], 0
    for kind, start, end in groups:
        st = parts[-1].max() + 1 if parts else 0
        if kind == "image":
            t, h, w = 1, grids[image_index][0] // merge, grids[image_index][1] // merge
            t_index = torch.arange(t).view(-1, 1).expand(-1, h * w).flatten()
            h_index = torch.arange(h).view(1, -1, 1).expand(t, -1, w).flatten()
            w_index = torch.arange(w).view(1, 1, -1).expand(t, h, -1).flatten()
            parts.append(torch.stack([t_index, h_index, w_index]) + st)
            image_index += 1
        else:
            parts.append(torch.arange(end - start).view(1, -1).expand(3, -1) + st)
    return torch.cat(parts, dim=1).reshape(3, -1).tolist()


def decoder_forward(config, t, tokens, image_rows, positions):
    c = config["text_config"]
    prefix = "model.language_model."
    n, kvn, hd, eps = c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"], c["rms_norm_eps"]
    length = len(tokens)
    x = t[prefix + "embed_tokens.weight"][torch.tensor(tokens)].clone()
    image_at = [k for k, tok in enumerate(tokens) if tok == config["image_token_id"]]
    if image_at:
        x[torch.tensor(image_at)] = image_rows
    # Glm4vTextRotaryEmbedding + apply_multimodal_rotary_pos_emb
    dim = int(hd * c["partial_rotary_factor"])
    inv_freq = 1.0 / (c["rope_theta"] ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
    pos = torch.tensor(positions, dtype=torch.float64)  # [3, len]
    freqs = pos[:, :, None] * inv_freq[None, None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    sections = c["rope_scaling"]["mrope_section"] * 2
    cos = torch.cat([m[i % 3] for i, m in enumerate(emb.cos().split(sections, dim=-1))], dim=-1)
    sin = torch.cat([m[i % 3] for i, m in enumerate(emb.sin().split(sections, dim=-1))], dim=-1)
    cos = cos[..., : cos.shape[-1] // 2].repeat_interleave(2, dim=-1)
    sin = sin[..., : sin.shape[-1] // 2].repeat_interleave(2, dim=-1)
    rot = cos.shape[-1]
    mask = torch.full((length, length), float("-inf"), dtype=torch.float64).triu(1)
    for i in range(c["num_hidden_layers"]):
        p = f"{prefix}layers.{i}."
        residual = x
        hs = ref.rms_norm(x, t[p + "input_layernorm.weight"], eps)
        q = (hs @ t[p + "self_attn.q_proj.weight"].T + t[p + "self_attn.q_proj.bias"]).view(length, n, hd).transpose(0, 1)
        k = (hs @ t[p + "self_attn.k_proj.weight"].T + t[p + "self_attn.k_proj.bias"]).view(length, kvn, hd).transpose(0, 1)
        v = (hs @ t[p + "self_attn.v_proj.weight"].T + t[p + "self_attn.v_proj.bias"]).view(length, kvn, hd).transpose(0, 1)
        q = torch.cat([q[..., :rot] * cos + ref.rotate_half(q[..., :rot]) * sin, q[..., rot:]], dim=-1)
        k = torch.cat([k[..., :rot] * cos + ref.rotate_half(k[..., :rot]) * sin, k[..., rot:]], dim=-1)
        k = k.repeat_interleave(n // kvn, dim=0)
        v = v.repeat_interleave(n // kvn, dim=0)
        weights = torch.softmax(q @ k.transpose(1, 2) * hd ** -0.5 + mask, dim=-1)
        attn = (weights @ v).transpose(0, 1).reshape(length, n * hd) @ t[p + "self_attn.o_proj.weight"].T
        x = residual + ref.rms_norm(attn, t[p + "post_self_attn_layernorm.weight"], eps)
        residual = x
        hs = ref.rms_norm(x, t[p + "post_attention_layernorm.weight"], eps)
        gate, up = (hs @ t[p + "mlp.gate_up_proj.weight"].T).chunk(2, dim=-1)
        mlp = (up * F.silu(gate)) @ t[p + "mlp.down_proj.weight"].T
        x = residual + ref.rms_norm(mlp, t[p + "post_mlp_layernorm.weight"], eps)
    x = ref.rms_norm(x, t[prefix + "norm.weight"], eps)
    return x @ t["lm_head.weight"].T


def read_pixels(path):
    return np.fromfile(path, dtype=np.float32).reshape(-1, 3 * TEMPORAL * PATCH * PATCH)


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("smart-resize")
    s.add_argument("height", type=int)
    s.add_argument("width", type=int)
    s.add_argument("--min", type=int, default=12544)
    s.add_argument("--max", type=int, default=9633792)
    p = sub.add_parser("preprocess")
    p.add_argument("image")
    p.add_argument("out")
    p.add_argument("--min", type=int, default=12544)
    p.add_argument("--max", type=int, default=9633792)
    m = sub.add_parser("make")
    m.add_argument("dir")
    m.add_argument("--seed", type=int, default=7)
    m.add_argument("--shape", default="{}", help="overrides of the tiny text shape")
    m.add_argument("--vision-shape", default="{}", help="overrides of the tiny vision_config")
    v = sub.add_parser("vision")
    v.add_argument("dir")
    v.add_argument("pixels")
    v.add_argument("--grid", required=True)
    v.add_argument("--int4", type=int, default=0)
    r = sub.add_parser("rope-index")
    r.add_argument("--tokens", required=True)
    r.add_argument("--grids", required=True)
    r.add_argument("--image-token", type=int, default=IMAGE_TOKEN)
    f = sub.add_parser("forward")
    f.add_argument("dir")
    f.add_argument("pixels")
    f.add_argument("--grid", required=True)
    f.add_argument("--tokens", required=True)
    f.add_argument("--first", type=int, required=True)
    args = parser.parse_args()
    if args.command == "smart-resize":
        print(json.dumps(list(smart_resize(TEMPORAL, args.height, args.width, TEMPORAL, PATCH * MERGE, args.min, args.max))))
    elif args.command == "preprocess":
        flat, rh, rw, gh, gw = preprocess(args.image, args.min, args.max)
        flat.tofile(args.out)
        print(json.dumps(dict(height=rh, width=rw, grid=[1, gh, gw])))
    elif args.command == "make":
        make(args.dir, args.seed, json.loads(args.shape), json.loads(args.vision_shape))
    elif args.command == "vision":
        config, t = ref.load(args.dir)
        if args.int4:
            t = int4_vision(t, args.int4)
        gh, gw = (int(x) for x in args.grid.split(","))
        print(json.dumps(vision_forward(config, t, read_pixels(args.pixels), gh, gw).tolist()))
    elif args.command == "rope-index":
        tokens = [int(x) for x in args.tokens.split(",")]
        grids = [[int(x) for x in g.split(",")] for g in args.grids.split(";") if g]
        print(json.dumps(rope_index(tokens, grids, args.image_token)))
    else:
        config, t = ref.load(args.dir)
        gh, gw = (int(x) for x in args.grid.split(","))
        tokens = [int(x) for x in args.tokens.split(",")]
        rows = vision_forward(config, t, read_pixels(args.pixels), gh, gw)
        positions = rope_index(tokens, [[gh, gw]], config["image_token_id"])
        logits = decoder_forward(config, t, tokens, rows, positions)
        print(json.dumps(logits[args.first:].tolist()))


if __name__ == "__main__":
    main()
