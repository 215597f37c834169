#!/usr/bin/python3
"""gguf_check.py - an independent GGUF checker, written from the published format
(ggml docs/gguf.md) with numpy only, plus the expected converted weights computed
with PyTorch from the Hugging Face fixture folders.

usage:
  gguf_check.py FILE.gguf ...                      structural validation only
  gguf_check.py --llm DIR --vision DIR [--adapter DIR] LM.gguf:TYPE[:ADAPTER_DIR] ...
      validate each LM file and its vision file (named by videollm.vision_file),
      check the llama keys/tensors llama.cpp expects, the videollm keys, and every
      tensor's values against PyTorch: merged W + (alpha/r) * B @ A (q/k rows
      permuted like llama.cpp's converter), connector, SigLIP tower.
      TYPE is f32 | f16 | bf16 | q8_0 | q4_0 (the --type given to the converter).
Exit status 0 when everything holds; every failure is printed.
"""
import json
import math
import os
import re
import struct
import sys

import numpy as np

# ---- the format ------------------------------------------------------------------------------------

GGML = {0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20), 6: ("Q5_0", 32, 22),
        7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 36), 24: ("I8", 1, 1), 25: ("I16", 1, 2),
        26: ("I32", 1, 4), 27: ("I64", 1, 8), 28: ("F64", 1, 8), 30: ("BF16", 1, 2)}
KV_FIXED = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<B", 10: "<Q", 11: "<q", 12: "<d"}
KV_NAMES = {0: "u8", 1: "i8", 2: "u16", 3: "i16", 4: "u32", 5: "i32", 6: "f32", 7: "bool", 8: "string", 9: "array",
            10: "u64", 11: "i64", 12: "f64"}


class Bad(Exception):
    pass


class Reader:
    def __init__(self, b):
        self.b, self.p = b, 0

    def take(self, n):
        if n < 0 or self.p + n > len(self.b):
            raise Bad(f"truncated: need {n} bytes at {self.p}, file has {len(self.b)}")
        v = self.b[self.p:self.p + n]
        self.p += n
        return v

    def fixed(self, fmt):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self):
        n = self.fixed("<Q")
        return self.take(n).decode("utf-8")

    def value(self, t, key):
        if t in KV_FIXED:
            v = self.fixed(KV_FIXED[t])
            if t == 7:
                if v not in (0, 1):
                    raise Bad(f"{key}: bool value {v}")
                v = bool(v)
            return v
        if t == 8:
            return self.string()
        if t == 9:
            et, n = self.fixed("<I"), self.fixed("<Q")
            if et not in KV_NAMES:
                raise Bad(f"{key}: unknown array element type {et}")
            if et in KV_FIXED and n * struct.calcsize(KV_FIXED[et]) > len(self.b) - self.p:
                raise Bad(f"{key}: array of {n} runs past the end")
            return ("array", et, [self.value(et, key) for _ in range(n)])
        raise Bad(f"{key}: unknown value type {t}")


class Gguf:
    def __init__(self, path):
        self.path = path
        with open(path, "rb") as f:
            self.b = f.read()
        r = Reader(self.b)
        if r.take(4) != b"GGUF":
            raise Bad("bad magic")
        self.version = r.fixed("<I")
        if self.version not in (2, 3):
            raise Bad(f"version {self.version}")
        n_t, n_kv = r.fixed("<Q"), r.fixed("<Q")
        self.kv, self.kv_type = {}, {}
        for _ in range(n_kv):
            k = r.string()
            if not k or len(k) > 65535 or not re.fullmatch(r"[\x21-\x7e]+", k):
                raise Bad(f"invalid key {k!r}")
            if k in self.kv:
                raise Bad(f"duplicate key {k}")
            t = r.fixed("<I")
            self.kv_type[k] = t
            self.kv[k] = r.value(t, k)
        self.alignment = 32
        if "general.alignment" in self.kv:
            if self.kv_type["general.alignment"] != 4:
                raise Bad("general.alignment is not u32")
            self.alignment = self.kv["general.alignment"]
            if self.alignment % 8 or self.alignment & (self.alignment - 1):
                raise Bad(f"general.alignment {self.alignment}")
        self.tensors = {}
        order = []
        for _ in range(n_t):
            name = r.string()
            if not 0 < len(name.encode()) <= 64:
                raise Bad(f"tensor name {name!r}")
            if name in self.tensors:
                raise Bad(f"duplicate tensor {name}")
            nd = r.fixed("<I")
            if not 1 <= nd <= 4:
                raise Bad(f"{name}: {nd} dims")
            ne = [r.fixed("<Q") for _ in range(nd)]
            t, off = r.fixed("<I"), r.fixed("<Q")
            if t not in GGML:
                raise Bad(f"{name}: unknown type {t}")
            _, bs, ts = GGML[t]
            if ne[0] % bs:
                raise Bad(f"{name}: row {ne[0]} not a multiple of {bs}")
            nbytes = math.prod(ne) // bs * ts
            if off % self.alignment:
                raise Bad(f"{name}: offset {off} misaligned")
            self.tensors[name] = {"ne": ne, "type": t, "offset": off, "nbytes": nbytes}
            order.append(name)
        pad = (-r.p) % self.alignment
        self.data = r.p + pad
        if n_t:
            if any(self.b[r.p:self.data]):
                raise Bad("non-zero padding before the data section")
            if self.data > len(self.b):
                raise Bad("data section starts past the end")
        end = 0
        for name in sorted(order, key=lambda n: self.tensors[n]["offset"]):
            t = self.tensors[name]
            if t["offset"] < end:
                raise Bad(f"{name} overlaps the previous tensor")
            end = t["offset"] + t["nbytes"]
            if self.data + end > len(self.b):
                raise Bad(f"{name}: data past the end of the file")
        self.order = order

    def key(self, k, t):
        if k not in self.kv:
            raise Bad(f"missing key {k}")
        if self.kv_type[k] != t:
            raise Bad(f"key {k} has type {KV_NAMES[self.kv_type[k]]}, expected {KV_NAMES[t]}")
        v = self.kv[k]
        return v[2] if t == 9 else v

    def array(self, k, et):
        v = self.key(k, 9)
        if self.kv[k][1] != et:
            raise Bad(f"key {k} is an array of {KV_NAMES[self.kv[k][1]]}, expected {KV_NAMES[et]}")
        return v

    def values(self, name):
        """Dequantized f32 numpy array of shape reversed(ne) (PyTorch order)."""
        t = self.tensors[name]
        raw = np.frombuffer(self.b, np.uint8, t["nbytes"], self.data + t["offset"])
        n = math.prod(t["ne"])
        ty = t["type"]
        if ty == 0:
            x = raw.view("<f4").astype(np.float32)
        elif ty == 1:
            x = raw.view("<f2").astype(np.float32)
        elif ty == 30:
            x = (raw.view("<u2").astype(np.uint32) << 16).view(np.float32)
        elif ty == 8:
            blk = raw.reshape(-1, 34)
            d = blk[:, :2].copy().view("<f2").astype(np.float32)
            q = blk[:, 2:].copy().view(np.int8).astype(np.float32)
            x = (q * d).reshape(-1)
        elif ty == 2:
            blk = raw.reshape(-1, 18)
            d = blk[:, :2].copy().view("<f2").astype(np.float32)
            qs = blk[:, 2:]
            lo = (qs & 15).astype(np.float32) - 8
            hi = (qs >> 4).astype(np.float32) - 8
            x = (np.concatenate([lo, hi], axis=1) * d).reshape(-1)
        else:
            raise Bad(f"{name}: cannot dequantize type {ty}")
        assert x.size == n
        return x.reshape(list(reversed(t["ne"])))


# ---- expected weights from the Hugging Face folders -------------------------------------------------

def read_safetensors(path):
    with open(path, "rb") as f:
        b = f.read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    h.pop("__metadata__", None)
    out = {}
    for k, v in h.items():
        s, e = v["data_offsets"]
        raw = np.frombuffer(b, np.uint8, e - s, 8 + n + s)
        if v["dtype"] == "F32":
            a = raw.view("<f4").astype(np.float32)
        elif v["dtype"] == "F16":
            a = raw.view("<f2").astype(np.float32)
        elif v["dtype"] == "BF16":
            a = (raw.view("<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            continue
        out[k] = a.reshape(v["shape"])
    return out


def read_folder(d):
    idx = os.path.join(d, "model.safetensors.index.json")
    if os.path.exists(idx):
        with open(idx) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
        out = {}
        for fn in files:
            out.update(read_safetensors(os.path.join(d, fn)))
        return out
    return read_safetensors(os.path.join(d, "model.safetensors"))


def permute(w, n_head):
    """llama.cpp convert_hf_to_gguf.py LlamaModel.permute (HF rotate-half -> adjacent pairs)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def target_selected(targets, module):
    if isinstance(targets, str):
        return re.fullmatch(targets, module) is not None
    return any(module == t or module.endswith("." + t) for t in targets)


def expected(llm_dir, vision_dir, adapter_dir):
    import torch
    torch.set_num_threads(2)
    cfg = json.load(open(os.path.join(llm_dir, "config.json")))
    W = read_folder(llm_dir)
    A, acfg = {}, None
    if adapter_dir:
        A = read_safetensors(os.path.join(adapter_dir, "adapter_model.safetensors"))
        acfg = json.load(open(os.path.join(adapter_dir, "adapter_config.json")))
    pre = "base_model.model."

    def merged(module, hf_name):
        base = A.get(pre + module + ".base_layer.weight", W[hf_name])
        w = torch.from_numpy(base.copy())
        a, b = A.get(pre + module + ".lora_A.weight"), A.get(pre + module + ".lora_B.weight")
        if acfg and target_selected(acfg["target_modules"], module):
            assert a is not None and b is not None, module
            scale = acfg["lora_alpha"] / acfg["r"]
            w = w + scale * (torch.from_numpy(b.copy()) @ torch.from_numpy(a.copy()))
        return w.numpy()

    nh, nkv, L = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["num_hidden_layers"]
    E = {"token_embd.weight": W["model.embed_tokens.weight"], "output_norm.weight": W["model.norm.weight"],
         "output.weight": merged("lm_head", "lm_head.weight")}
    names = {"attn_q": ("self_attn", "q_proj"), "attn_k": ("self_attn", "k_proj"), "attn_v": ("self_attn", "v_proj"),
             "attn_output": ("self_attn", "o_proj"), "ffn_gate": ("mlp", "gate_proj"), "ffn_up": ("mlp", "up_proj"),
             "ffn_down": ("mlp", "down_proj")}
    for il in range(L):
        p = f"model.layers.{il}."
        E[f"blk.{il}.attn_norm.weight"] = W[p + "input_layernorm.weight"]
        E[f"blk.{il}.ffn_norm.weight"] = W[p + "post_attention_layernorm.weight"]
        for g, (grp, proj) in names.items():
            m = f"{p}{grp}.{proj}"
            w = merged(m, m + ".weight")
            if proj == "q_proj":
                w = permute(w, nh)
            elif proj == "k_proj":
                w = permute(w, nkv)
            E[f"blk.{il}.{g}.weight"] = w
    V = read_folder(vision_dir)
    vp = "vision_model."
    VE = {"v.patch_embd.weight": V[vp + "embeddings.patch_embedding.weight"],
          "v.patch_embd.bias": V[vp + "embeddings.patch_embedding.bias"],
          "v.position_embd.weight": V[vp + "embeddings.position_embedding.weight"],
          "v.post_ln.weight": V[vp + "post_layernorm.weight"], "v.post_ln.bias": V[vp + "post_layernorm.bias"],
          "v.head.probe": V[vp + "head.probe"],
          "v.head.attn_in.weight": V[vp + "head.attention.in_proj_weight"],
          "v.head.attn_in.bias": V[vp + "head.attention.in_proj_bias"]}
    for g, h in (("attn_out", "attention.out_proj"), ("ln", "layernorm"), ("ffn_up", "mlp.fc1"),
                 ("ffn_down", "mlp.fc2")):
        for wb in ("weight", "bias"):
            VE[f"v.head.{g}.{wb}"] = V[f"{vp}head.{h}.{wb}"]
    n_vl = len({k.split(".")[3] for k in V if k.startswith(vp + "encoder.layers.")})
    for il in range(n_vl):
        for g, h in (("ln1", "layer_norm1"), ("attn_q", "self_attn.q_proj"), ("attn_k", "self_attn.k_proj"),
                     ("attn_v", "self_attn.v_proj"), ("attn_out", "self_attn.out_proj"), ("ln2", "layer_norm2"),
                     ("ffn_up", "mlp.fc1"), ("ffn_down", "mlp.fc2")):
            for wb in ("weight", "bias"):
                VE[f"v.blk.{il}.{g}.{wb}"] = V[f"{vp}encoder.layers.{il}.{h}.{wb}"]
    src = A if (pre + "connector.0.weight") in A else W
    cp = pre + "connector." if src is A else "connector."
    for k in ("0.weight", "0.bias", "2.weight", "2.bias"):
        VE["mm." + k] = src[cp + k]
    return cfg, E, VE


# ---- checks ----------------------------------------------------------------------------------------

TYPE_IDS = {"f32": 0, "f16": 1, "bf16": 30, "q8_0": 8, "q4_0": 2}
F32_ONLY = {"v.position_embd.weight", "v.head.probe"}


def compare(errs, g, name, want, out_type):
    t = g.tensors[name]
    got = g.values(name)
    if list(got.shape) != list(want.shape):
        errs.append(f"{g.path}: {name}: shape {list(got.shape)} (PyTorch order), expected {list(want.shape)}")
        return
    want = want.astype(np.float64)
    got = got.astype(np.float64)
    one_d = want.ndim == 1 or name in F32_ONLY
    ty = 0 if one_d else TYPE_IDS[out_type]
    if ty in (8, 2) and t["ne"][0] % 32:
        ty = 1  # documented fallback
    if t["type"] != ty:
        errs.append(f"{g.path}: {name}: type {GGML[t['type']][0]}, expected {GGML[ty][0]}")
        return
    scale = float(np.max(np.abs(want))) or 1.0
    diff = np.abs(got - want)
    if ty == 0:
        ok = np.all(diff <= 1e-6 * scale)
        what = f"max |diff| {diff.max():.3g} > 1e-6 * max|W| ({scale:.3g})"
    elif ty == 30:
        ok = np.all(diff <= np.abs(want) * 2.0 ** -8 + 1e-6 * scale)
        what = f"beyond bf16 rounding: max |diff| {diff.max():.3g}"
    elif ty == 1:
        ok = np.all(diff <= np.abs(want) * 2.0 ** -10 + 2.0 ** -24 + 1e-6 * scale)
        what = f"beyond f16 rounding: max |diff| {diff.max():.3g}"
    else:
        nmse = float(np.sum(diff ** 2) / max(np.sum(want ** 2), 1e-30))
        bound = 1e-4 if ty == 8 else 1.5e-2
        ok = nmse < bound
        what = f"NMSE {nmse:.3g} >= {bound}"
    if not ok:
        errs.append(f"{g.path}: {name}: {what}")


def check_pair(errs, lm_path, out_type, cfg, E, VE, llm_dir, adapter_dir, vision_dir):
    g = Gguf(lm_path)
    H, L, V = cfg["hidden_size"], cfg["num_hidden_layers"], cfg["vocab_size"]
    nh, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    want_u32 = {"llama.context_length": cfg["max_position_embeddings"], "llama.embedding_length": H,
                "llama.block_count": L, "llama.feed_forward_length": cfg["intermediate_size"],
                "llama.attention.head_count": nh, "llama.attention.head_count_kv": nkv,
                "llama.rope.dimension_count": H // nh, "llama.vocab_size": V,
                "general.file_type": {"f32": 0, "f16": 1, "q4_0": 2, "q8_0": 7, "bf16": 32}[out_type],
                "general.alignment": g.alignment}
    for k, v in want_u32.items():
        if g.key(k, 4) != v:
            errs.append(f"{lm_path}: {k} = {g.kv[k]}, expected {v}")
    if g.key("general.architecture", 8) != "llama":
        errs.append(f"{lm_path}: general.architecture is not llama")
    for k, v in (("llama.rope.freq_base", cfg["rope_theta"]),
                 ("llama.attention.layer_norm_rms_epsilon", cfg["rms_norm_eps"])):
        if not math.isclose(g.key(k, 6), v, rel_tol=1e-6):
            errs.append(f"{lm_path}: {k} = {g.kv[k]}, expected {v}")
    # tokenizer metadata against tokenizer.json / tokenizer_config.json
    tj = open(os.path.join(llm_dir, "tokenizer.json"), encoding="utf-8").read()
    tok = json.loads(tj)
    tcfg = json.load(open(os.path.join(llm_dir, "tokenizer_config.json")))
    if g.key("tokenizer.ggml.model", 8) != "gpt2" or g.key("tokenizer.ggml.pre", 8) != "llama-bpe":
        errs.append(f"{lm_path}: tokenizer.ggml.model/pre are not gpt2/llama-bpe")
    tokens, types = g.array("tokenizer.ggml.tokens", 8), g.array("tokenizer.ggml.token_type", 5)
    ref = [f"[PAD{i}]" for i in range(V)]
    rtypes = [5] * V
    for s, i in tok["model"]["vocab"].items():
        ref[i], rtypes[i] = s, 1
    for a in tok["added_tokens"]:
        ref[a["id"]], rtypes[a["id"]] = a["content"], 3 if a["special"] else 4
    if tokens != ref:
        errs.append(f"{lm_path}: tokenizer.ggml.tokens differ from tokenizer.json")
    if types != rtypes:
        errs.append(f"{lm_path}: tokenizer.ggml.token_type differ")
    merges = [m if isinstance(m, str) else " ".join(m) for m in tok["model"]["merges"]]
    if g.array("tokenizer.ggml.merges", 8) != merges:
        errs.append(f"{lm_path}: tokenizer.ggml.merges differ from tokenizer.json")
    content_id = {a["content"]: a["id"] for a in tok["added_tokens"]}
    eos_id = content_id[tcfg["eos_token"]]
    for k, v in (("tokenizer.ggml.bos_token_id", content_id[tcfg["bos_token"]]),
                 ("tokenizer.ggml.eos_token_id", eos_id), ("videollm.eos_token_id", eos_id),
                 ("videollm.format_version", 1), ("videollm.frame_num_tokens", 10),
                 ("videollm.frame_resolution", 384),
                 ("videollm.v_placeholder_id", max(list(tok["model"]["vocab"].values()) + list(content_id.values())) + 1)):
        if g.key(k, 4) != v:
            errs.append(f"{lm_path}: {k} = {g.kv.get(k)}, expected {v}")
    if g.key("videollm.frame_token_interval_id", 5) != tok["model"]["vocab"][","]:
        errs.append(f"{lm_path}: videollm.frame_token_interval_id is not the id of ','")
    if g.key("videollm.tokenizer.json", 8) != tj:
        errs.append(f"{lm_path}: videollm.tokenizer.json differs from tokenizer.json")
    sp = ("A multimodal AI assistant is helping users with some activities. Below is their conversation, "
          "interleaved with the list of video frames received by the assistant.")
    strs = {"videollm.system_prompt": sp, "videollm.live_version": "live1+", "videollm.eos_token": tcfg["eos_token"],
            "videollm.v_placeholder": "<v>", "videollm.frame_token_interval": ","}
    for k, v in strs.items():
        if g.key(k, 8) != v:
            errs.append(f"{lm_path}: {k} = {g.kv.get(k)!r}, expected {v!r}")
    for k, v in (("videollm.frame_fps", 2.0), ("videollm.stream_threshold", 0.725)):
        if not math.isclose(g.key(k, 6), v, rel_tol=1e-6):
            errs.append(f"{lm_path}: {k} = {g.kv[k]}, expected {v}")
    if g.key("tokenizer.ggml.add_bos_token", 7) is not True:
        errs.append(f"{lm_path}: tokenizer.ggml.add_bos_token should be true")
    # tensors: exactly the llama set, in llama.cpp's names and ggml shapes
    if set(g.tensors) != set(E):
        errs.append(f"{lm_path}: tensor set differs: extra {sorted(set(g.tensors) - set(E))[:5]}, "
                    f"missing {sorted(set(E) - set(g.tensors))[:5]}")
    for name, want in E.items():
        if name in g.tensors:
            compare(errs, g, name, want, out_type)
    vf = g.key("videollm.vision_file", 8)
    vpath = os.path.join(os.path.dirname(lm_path), vf)
    want_vf = os.path.basename(lm_path)[:-5] + ".vision.gguf" if lm_path.endswith(".gguf") else None
    if want_vf and vf != want_vf:
        errs.append(f"{lm_path}: videollm.vision_file = {vf!r}, expected {want_vf!r}")
    gv = Gguf(vpath)
    vcfg = json.load(open(os.path.join(vision_dir, "config.json")))
    vc = vcfg.get("vision_config", vcfg)
    defaults = {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12,
                "num_channels": 3, "image_size": 224, "patch_size": 16, "layer_norm_eps": 1e-6}
    hv = {k: vc.get(k, d) for k, d in defaults.items()}
    if gv.key("general.architecture", 8) != "siglip":
        errs.append(f"{vpath}: general.architecture is not siglip")
    for k, v in (("videollm.vision.embedding_length", hv["hidden_size"]),
                 ("videollm.vision.feed_forward_length", hv["intermediate_size"]),
                 ("videollm.vision.block_count", hv["num_hidden_layers"]),
                 ("videollm.vision.head_count", hv["num_attention_heads"]),
                 ("videollm.vision.num_channels", hv["num_channels"]), ("videollm.vision.image_size", hv["image_size"]),
                 ("videollm.vision.patch_size", hv["patch_size"]), ("videollm.connector.input_length", hv["hidden_size"]),
                 ("videollm.connector.embedding_length", H), ("videollm.format_version", 1)):
        if gv.key(k, 4) != v:
            errs.append(f"{vpath}: {k} = {gv.kv.get(k)}, expected {v}")
    if not math.isclose(gv.key("videollm.vision.layer_norm_epsilon", 6), hv["layer_norm_eps"], rel_tol=1e-6):
        errs.append(f"{vpath}: layer_norm_epsilon")
    if gv.array("videollm.vision.image_mean", 6) != [0.5] * 3 or gv.array("videollm.vision.image_std", 6) != [0.5] * 3:
        errs.append(f"{vpath}: image mean/std")
    if gv.key("videollm.vision.hidden_act", 8) != "gelu_pytorch_tanh":
        errs.append(f"{vpath}: hidden_act")
    if set(gv.tensors) != set(VE):
        errs.append(f"{vpath}: tensor set differs: extra {sorted(set(gv.tensors) - set(VE))[:5]}, "
                    f"missing {sorted(set(VE) - set(gv.tensors))[:5]}")
    for name, want in VE.items():
        if name in gv.tensors:
            compare(errs, gv, name, want, out_type)


def main(argv):
    opts, files = {}, []
    i = 0
    while i < len(argv):
        if argv[i] in ("--llm", "--vision", "--adapter"):
            opts[argv[i][2:]] = argv[i + 1]
            i += 2
        else:
            files.append(argv[i])
            i += 1
    errs = []
    if "llm" not in opts:
        for f in files:
            try:
                g = Gguf(f)
                print(f"{f}: GGUF v{g.version}, {len(g.kv)} keys, {len(g.tensors)} tensors: valid")
            except (Bad, OSError) as e:
                errs.append(f"{f}: {e}")
    else:
        cache = {}
        for spec in files:
            # PATH:TYPE or PATH:TYPE:ADAPTER_DIR (the adapter the file was converted with)
            parts = spec.split(":")
            path, ty = parts[0], parts[1]
            adapter = parts[2] if len(parts) > 2 else opts.get("adapter")
            if adapter not in cache:
                cache[adapter] = expected(opts["llm"], opts["vision"], adapter)
            cfg, E, VE = cache[adapter]
            n0 = len(errs)
            try:
                check_pair(errs, path, ty, cfg, E, VE, opts["llm"], adapter, opts["vision"])
            except (Bad, OSError, KeyError) as e:
                errs.append(f"{path}: {type(e).__name__}: {e}")
            print(f"{path} ({ty}{', ' + adapter if adapter else ''}): {'ok' if len(errs) == n0 else 'FAILED'}")
    for e in errs:
        print("ERROR:", e)
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
