#!/usr/bin/python3
"""model_ref.py - independent PyTorch reference of the VideoLLM-online model.

Reads the Hugging Face checkpoint folders directly (no GGUF, no code of ours):
  FIXTURES/llm      Llama config.json + (sharded) safetensors
  FIXTURES/vision   SigLIP config.json + safetensors (vision_model.* used, the rest ignored)
  FIXTURES/adapter  PEFT adapter_config.json + adapter_model.safetensors (LoRA incl. lm_head,
                    connector.0/2 saved through modules_to_save)
and writes golden tensors (safetensors, written with numpy) for every stage of
the runtime: letterbox + normalisation, SigLIP layers, post-LN, MAP head,
3x3 pooling, connector, and every Llama layer for a mixed text + frame prompt,
once in one pass and once incrementally through a KV cache, plus greedy tokens.

Everything is computed in float64 from the checkpoint weights (LoRA merged
here: W + alpha/r * B @ A), so the goldens are "exact" and the C runtime's
error is measured against the true values. The Llama follows the Hugging Face
layout (rotate-half RoPE on the unpermuted q/k weights), the MAP head uses
torch.nn.MultiheadAttention itself.

usage: /usr/bin/python3 tests/ref/model_ref.py FIXTURES OUT.safetensors
"""
import json
import math
import os
import re
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

torch.set_num_threads(2)
DT = torch.float64

# ----------------------------------------------------------------------------
# safetensors (read + write) with numpy
# ----------------------------------------------------------------------------
_ST_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64,
              "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}


def st_read(path):
    """name -> torch tensor (float64 for floating types)."""
    with open(path, "rb") as f:
        raw = f.read()
    (hlen,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + hlen].decode("utf-8"))
    base = 8 + hlen
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        buf = raw[base + a:base + b]
        shape = info["shape"]
        if info["dtype"] == "BF16":
            u16 = np.frombuffer(buf, dtype=np.uint16).astype(np.uint32) << 16
            arr = u16.view(np.float32).reshape(shape)
        else:
            arr = np.frombuffer(buf, dtype=_ST_DTYPES[info["dtype"]]).reshape(shape)
        t = torch.from_numpy(np.array(arr))
        if t.is_floating_point():
            t = t.to(DT)
        out[name] = t
    return out


def st_write(path, tensors):
    """tensors: name -> numpy array (float32 / int32 / uint8)."""
    names = {np.dtype(np.float32): "F32", np.dtype(np.int32): "I32", np.dtype(np.uint8): "U8",
             np.dtype(np.float64): "F64"}
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        b = a.tobytes()
        header[name] = {"dtype": names[a.dtype], "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def load_folder(folder):
    idx = os.path.join(folder, "model.safetensors.index.json")
    if os.path.exists(idx):
        with open(idx) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    else:
        files = sorted(x for x in os.listdir(folder) if x.endswith(".safetensors"))
    w = {}
    for fn in files:
        w.update(st_read(os.path.join(folder, fn)))
    return w


def load_json(path):
    with open(path) as f:
        return json.load(f)

# ----------------------------------------------------------------------------
# checkpoint loading + LoRA merge
# ----------------------------------------------------------------------------


def load_llm(fix):
    cfg = load_json(os.path.join(fix, "llm", "config.json"))
    w = load_folder(os.path.join(fix, "llm"))
    acfg = load_json(os.path.join(fix, "adapter", "adapter_config.json"))
    aw = st_read(os.path.join(fix, "adapter", "adapter_model.safetensors"))
    scale = float(acfg["lora_alpha"]) / float(acfg["r"])
    merged = 0
    for k in list(aw):
        m = re.match(r"^base_model\.model\.(.*)\.lora_A(?:\.default)?\.weight$", k)
        if not m:
            continue
        mod = m.group(1)
        kb = k.replace("lora_A", "lora_B")
        A, B = aw[k], aw[kb]
        base = mod + ".weight"
        assert base in w, "LoRA target %s not in the base model" % base
        w[base] = w[base] + scale * (B @ A)
        merged += 1
    assert merged > 0, "no LoRA pairs found in the adapter"
    conn = {}
    for k, v in aw.items():
        m = re.match(r"^base_model\.model\.connector\.(?:modules_to_save\.default\.)?(\d+)\.(weight|bias)$", k)
        if m:
            conn["%s.%s" % (m.group(1), m.group(2))] = v
    assert set(conn) == {"0.weight", "0.bias", "2.weight", "2.bias"}, sorted(conn)
    if "lm_head.weight" not in w:  # tied embeddings
        w["lm_head.weight"] = w["model.embed_tokens.weight"]
    return cfg, w, conn, merged


def load_vision(fix):
    cfg = load_json(os.path.join(fix, "vision", "config.json"))
    vc = cfg.get("vision_config", cfg)
    w = {k[len("vision_model."):]: v for k, v in load_folder(os.path.join(fix, "vision")).items()
         if k.startswith("vision_model.")}
    return vc, w

# ----------------------------------------------------------------------------
# preprocessing: letterbox (bicubic B=0, C=0.6 like swscale's default) + normalise
# ----------------------------------------------------------------------------


def cubic(x, B=0.0, C=0.6):
    x = abs(x)
    if x < 1:
        return ((12 - 9 * B - 6 * C) * x ** 3 + (-18 + 12 * B + 6 * C) * x ** 2 + (6 - 2 * B)) / 6
    if x < 2:
        return ((-B - 6 * C) * x ** 3 + (6 * B + 30 * C) * x ** 2 + (-12 * B - 48 * C) * x + (8 * B + 24 * C)) / 6
    return 0.0


def resize_matrix(n_in, n_out):
    """[n_out, n_in] resampling weights: centres at (o+0.5)*s-0.5, the kernel
    stretched by s when shrinking, taps clamped to the edge, rows summing to 1."""
    s = n_in / n_out
    st = max(s, 1.0)
    M = np.zeros((n_out, n_in))
    for o in range(n_out):
        c = (o + 0.5) * s - 0.5
        lo = int(math.floor(c - 2 * st)) + 1
        hi = int(math.floor(c + 2 * st))
        for i in range(lo, hi + 1):
            wt = cubic((i - c) / st)
            if wt != 0.0:
                M[o, min(max(i, 0), n_in - 1)] += wt
        M[o] /= M[o].sum()
    return M


def letterbox(rgb, size):
    h, w, _ = rgb.shape
    if w > h:
        ow, oh = size, int(math.floor(size * h / w / 2 + 0.5)) * 2
    else:
        oh, ow = size, int(math.floor(size * w / h / 2 + 0.5)) * 2
    ow, oh = max(ow, 2), max(oh, 2)
    Mh, Mw = resize_matrix(h, oh), resize_matrix(w, ow)
    x = rgb.astype(np.float64)
    tmp = np.einsum("ow,hwc->hoc", Mw, x)      # horizontal pass: [h, ow, 3]
    out = np.einsum("oh,hwc->owc", Mh, tmp)    # vertical pass:   [oh, ow, 3]
    out = np.clip(np.floor(out + 0.5), 0, 255).astype(np.uint8)
    canvas = np.zeros((size, size, 3), np.uint8)
    y0, x0 = (size - oh) // 2, (size - ow) // 2
    canvas[y0:y0 + oh, x0:x0 + ow] = out
    return canvas


def test_frame(h, w, seed):
    """Deterministic RGB pattern: gradients, a checkerboard and a disc."""
    yy, xx = np.mgrid[0:h, 0:w]
    r = (xx * 255 // max(w - 1, 1))
    g = (yy * 255 // max(h - 1, 1))
    b = ((xx // 8 + yy // 8) % 2) * 200 + 20
    disc = (xx - w * 0.6) ** 2 + (yy - h * 0.4) ** 2 < (min(h, w) * 0.25) ** 2
    r = np.where(disc, (r + 97 * seed) % 256, r)
    b = np.where(disc, 255 - b, b)
    return np.stack([r, g, b], -1).astype(np.uint8)


def normalise(rgb):
    """uint8 HWC -> float CHW, x/255 then (x-0.5)/0.5."""
    x = torch.from_numpy(rgb.astype(np.float64)).permute(2, 0, 1) * 0.00392156862745098
    return (x - 0.5) / 0.5

# ----------------------------------------------------------------------------
# SigLIP vision tower + MAP head + pooling, connector
# ----------------------------------------------------------------------------


def siglip(vc, w, pixels, gold):
    D = vc.get("hidden_size", 768)
    nh = vc.get("num_attention_heads", 12)
    L = vc.get("num_hidden_layers", 12)
    ps = vc.get("patch_size", 16)
    eps = vc.get("layer_norm_eps", 1e-6)
    hd = D // nh
    x = F.conv2d(pixels[None], w["embeddings.patch_embedding.weight"], w["embeddings.patch_embedding.bias"],
                 stride=ps)                                  # [1, D, g, g]
    g = x.shape[-1]
    x = x.flatten(2).transpose(1, 2)[0]                      # [N, D] row-major patches
    x = x + w["embeddings.position_embedding.weight"]
    gold["v.embd"] = x
    N = x.shape[0]
    for i in range(L):
        p = "encoder.layers.%d." % i
        h = F.layer_norm(x, (D,), w[p + "layer_norm1.weight"], w[p + "layer_norm1.bias"], eps)
        q = F.linear(h, w[p + "self_attn.q_proj.weight"], w[p + "self_attn.q_proj.bias"])
        k = F.linear(h, w[p + "self_attn.k_proj.weight"], w[p + "self_attn.k_proj.bias"])
        v = F.linear(h, w[p + "self_attn.v_proj.weight"], w[p + "self_attn.v_proj.bias"])
        q, k, v = (t.view(N, nh, hd).transpose(0, 1) for t in (q, k, v))
        a = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(hd), -1) @ v     # [nh, N, hd]
        a = a.transpose(0, 1).reshape(N, D)
        x = x + F.linear(a, w[p + "self_attn.out_proj.weight"], w[p + "self_attn.out_proj.bias"])
        h = F.layer_norm(x, (D,), w[p + "layer_norm2.weight"], w[p + "layer_norm2.bias"], eps)
        h = F.gelu(F.linear(h, w[p + "mlp.fc1.weight"], w[p + "mlp.fc1.bias"]), approximate="tanh")
        x = x + F.linear(h, w[p + "mlp.fc2.weight"], w[p + "mlp.fc2.bias"])
        gold["v.layer.%d" % i] = x
    x = F.layer_norm(x, (D,), w["post_layernorm.weight"], w["post_layernorm.bias"], eps)
    gold["v.post_ln"] = x
    # MAP head with torch's own MultiheadAttention
    mha = torch.nn.MultiheadAttention(D, nh, batch_first=True).to(DT)
    with torch.no_grad():
        mha.in_proj_weight.copy_(w["head.attention.in_proj_weight"])
        mha.in_proj_bias.copy_(w["head.attention.in_proj_bias"])
        mha.out_proj.weight.copy_(w["head.attention.out_proj.weight"])
        mha.out_proj.bias.copy_(w["head.attention.out_proj.bias"])
        a = mha(w["head.probe"], x[None], x[None], need_weights=False)[0]  # [1, 1, D]
    r = a
    h = F.layer_norm(a, (D,), w["head.layernorm.weight"], w["head.layernorm.bias"], eps)
    h = F.gelu(F.linear(h, w["head.mlp.fc1.weight"], w["head.mlp.fc1.bias"]), approximate="tanh")
    cls = (r + F.linear(h, w["head.mlp.fc2.weight"], w["head.mlp.fc2.bias"]))[:, 0]   # [1, D]
    gold["v.cls"] = cls
    grid = x.view(g, g, D).permute(2, 0, 1)[None]            # [1, D, g, g]
    pooled = F.adaptive_avg_pool2d(grid, (3, 3)).flatten(2).transpose(1, 2)[0]   # [9, D]
    gold["v.pooled"] = pooled
    tokens = torch.cat([cls, pooled], 0)                     # [10, D]
    gold["v.frame_tokens"] = tokens
    return tokens


def connector(conn, x):
    h = F.linear(x, conn["0.weight"], conn["0.bias"])
    h = h * 0.5 * (1.0 + torch.erf(h / math.sqrt(2.0)))      # exact GELU
    return F.linear(h, conn["2.weight"], conn["2.bias"])

# ----------------------------------------------------------------------------
# Llama (Hugging Face form: rotate-half RoPE, repeat_kv GQA) with a KV cache
# ----------------------------------------------------------------------------


class Llama:
    def __init__(self, cfg, w):
        self.cfg, self.w = cfg, w
        self.D = cfg.get("hidden_size", 4096)
        self.nh = cfg.get("num_attention_heads", 32)
        self.nkv = cfg.get("num_key_value_heads", None) or self.nh
        self.L = cfg.get("num_hidden_layers", 32)
        self.hd = cfg.get("head_dim", None) or self.D // self.nh
        self.eps = cfg.get("rms_norm_eps", 1e-6)
        self.theta = cfg.get("rope_theta", 10000.0)
        assert cfg.get("rope_scaling") is None, "rope_scaling is not modelled"
        self.V = w["model.embed_tokens.weight"].shape[0]

    def rms(self, x, wt):
        return wt * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))

    def rope(self, x, pos):                                   # x: [h, T, hd]
        inv = 1.0 / (self.theta ** (torch.arange(0, self.hd, 2, dtype=DT) / self.hd))
        f = pos[:, None].to(DT) * inv[None]
        emb = torch.cat([f, f], -1)
        half = self.hd // 2
        rot = torch.cat([-x[..., half:], x[..., :half]], -1)
        return x * emb.cos() + rot * emb.sin()

    def forward(self, embeds, cache, gold=None):
        """embeds [T, D]; cache: list of (K [nkv, P, hd], V) or None entries; returns logits [T, V]."""
        w, T = self.w, embeds.shape[0]
        P = 0 if cache[0] is None else cache[0][0].shape[1]
        pos = torch.arange(P, P + T)
        x = embeds
        for i in range(self.L):
            p = "model.layers.%d." % i
            h = self.rms(x, w[p + "input_layernorm.weight"])
            q = F.linear(h, w[p + "self_attn.q_proj.weight"]).view(T, self.nh, self.hd).transpose(0, 1)
            k = F.linear(h, w[p + "self_attn.k_proj.weight"]).view(T, self.nkv, self.hd).transpose(0, 1)
            v = F.linear(h, w[p + "self_attn.v_proj.weight"]).view(T, self.nkv, self.hd).transpose(0, 1)
            q, k = self.rope(q, pos), self.rope(k, pos)
            if cache[i] is not None:
                k = torch.cat([cache[i][0], k], 1)
                v = torch.cat([cache[i][1], v], 1)
            cache[i] = (k, v)
            rep = self.nh // self.nkv
            kk, vv = k.repeat_interleave(rep, 0), v.repeat_interleave(rep, 0)
            s = q @ kk.transpose(1, 2) / math.sqrt(self.hd)      # [nh, T, P+T]
            mask = torch.arange(P + T)[None, :] > pos[:, None]
            s = s.masked_fill(mask[None], float("-inf"))
            a = (torch.softmax(s, -1) @ vv).transpose(0, 1).reshape(T, self.nh * self.hd)
            x = x + F.linear(a, w[p + "self_attn.o_proj.weight"])
            h = self.rms(x, w[p + "post_attention_layernorm.weight"])
            h = F.silu(F.linear(h, w[p + "mlp.gate_proj.weight"])) * F.linear(h, w[p + "mlp.up_proj.weight"])
            x = x + F.linear(h, w[p + "mlp.down_proj.weight"])
            if gold is not None:
                gold.append(x)
        x = self.rms(x, w["model.norm.weight"])
        if gold is not None:
            gold.append(x)
        return F.linear(x, w["lm_head.weight"])

    def embed(self, ids, v_id, frame_embeds):
        e = self.w["model.embed_tokens.weight"][ids.clamp(max=self.V - 1)].clone()
        vpos = (ids == v_id).nonzero()[:, 0]
        assert len(vpos) == frame_embeds.shape[0]
        e[vpos] = frame_embeds
        return e


def tokenizer_ids(fix):
    """(id of <v> as the original computes it: len(tokenizer) after adding it,
    id of <|begin_of_text|> or None)."""
    tj = load_json(os.path.join(fix, "llm", "tokenizer.json"))
    vocab = tj["model"]["vocab"]
    added = {t["content"]: t["id"] for t in tj.get("added_tokens", [])}
    bos = added.get("<|begin_of_text|>")
    if "<v>" in added:
        return added["<v>"], bos
    ids = set(vocab.values()) | set(added.values())
    return max(ids) + 1, bos


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        sys.exit(2)
    fix, out = sys.argv[1], sys.argv[2]
    gold = {}
    vc, vw = load_vision(fix)
    cfg, lw, conn, n_lora = load_llm(fix)
    size = vc.get("image_size", 224)

    # preprocessing goldens: a square frame (identity letterbox) and a wide one
    frame = test_frame(size, size, 1)
    lb_src = test_frame(max(size // 2 + 3, 4) * 2 + 7, max(size // 3, 2) * 2 + 1, 2)   # tall, odd width
    lb_src2 = test_frame(max(size // 3, 3), size + size // 2 + 5, 3)                   # wide
    gold["pp.frame"] = frame
    gold["pp.lb_src_tall"] = lb_src
    gold["pp.lb_out_tall"] = letterbox(lb_src, size)
    gold["pp.lb_src_wide"] = lb_src2
    gold["pp.lb_out_wide"] = letterbox(lb_src2, size)
    assert (letterbox(frame, size) == frame).all()
    pixels = normalise(frame)
    gold["pp.pixels"] = pixels

    with torch.no_grad():
        tokens = siglip(vc, vw, pixels, gold)
        fe = connector(conn, tokens)                              # [10, H]
        gold["mm.out"] = fe
        lm = Llama(cfg, lw)
        v_id, bos = tokenizer_ids(fix)
        if bos is None or bos >= lm.V:
            bos = lm.V - 1
        nft = tokens.shape[0]
        # "<|begin_of_text|>SYS\n\n[" + frame + "]\nUser: hi\nAssistant:" with synthetic text ids
        g = torch.Generator().manual_seed(1234)
        sys_ids = torch.randint(0, lm.V, (7,), generator=g)
        post_ids = torch.randint(0, lm.V, (6,), generator=g)
        ids = torch.cat([torch.tensor([bos]), sys_ids, torch.full((nft,), v_id), post_ids])
        T = len(ids)
        emb = lm.embed(ids, v_id, fe)
        hid = []
        logits = lm.forward(emb, [None] * lm.L, hid)
        gold["lm.ids"] = ids.to(torch.int32)
        gold["lm.v_id"] = torch.tensor([v_id], dtype=torch.int32)
        for i, h in enumerate(hid[:-1]):
            gold["lm.layer.%d" % i] = h
        gold["lm.norm"] = hid[-1]
        gold["lm.logits"] = logits
        # incremental: 3 chunks through the cache (the frame split across chunks)
        cuts = [0, 5, 8 + nft // 2, T]
        cache = [None] * lm.L
        parts = []
        for a, b in zip(cuts[:-1], cuts[1:]):
            parts.append(lm.forward(emb[a:b], cache))
        inc = torch.cat(parts, 0)
        gold["lm.chunks"] = torch.tensor(cuts, dtype=torch.int32)
        gold["lm.logits_inc"] = inc
        d = (inc - logits).abs().max().item()
        assert d < 1e-9 * max(1.0, logits.abs().max().item()), d
        # greedy continuation through the cache
        toks, margins = [], []
        last = logits[-1]
        for _ in range(8):
            top = torch.topk(last, 2).values
            margins.append((top[0] - top[1]).item())
            t = int(last.argmax())
            toks.append(t)
            last = lm.forward(lm.w["model.embed_tokens.weight"][t][None], cache)[-1]
        gold["lm.greedy"] = torch.tensor(toks, dtype=torch.int32)
        gold["lm.greedy_margin"] = torch.tensor(margins)

    arrs = {}
    for k, v in gold.items():
        if isinstance(v, np.ndarray):
            arrs[k] = v
        elif v.is_floating_point():
            arrs[k] = v.to(torch.float32).numpy()
        else:
            arrs[k] = v.numpy()
    st_write(out, arrs)
    print("model_ref: %d tensors -> %s (LoRA pairs merged %d, vision layers %d, llm layers %d, "
          "min greedy margin %.3g)" % (len(arrs), out, n_lora, vc.get("num_hidden_layers", 12), lm.L,
                                       min(margins)))


if __name__ == "__main__":
    main()
