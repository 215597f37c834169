#!/usr/bin/python3
"""make_fixtures.py - tiny random Hugging Face checkpoints in the exact published
layouts, for the converter tests (seeded: the same files every run).

usage: make_fixtures.py DIR [--big] [--tokenizer TOKENIZER_JSON] [--broken]

  DIR/llm/            Llama-3 style: config.json, tokenizer.json, tokenizer_config.json,
                      generation_config.json, BF16 weights in two shards
                      (model-0000N-of-00002.safetensors) + model.safetensors.index.json
  DIR/vision/         SigLIP (SiglipModel): config.json whose vision_config omits
                      num_channels / hidden_act / layer_norm_eps (HF defaults apply),
                      preprocessor_config.json, model.safetensors (F32) including
                      text_model.* and logit_scale / logit_bias
  DIR/adapter/        PEFT LoRA like the released VideoLLM-online adapter: regex
                      target_modules (7 projections + lm_head), modules_to_save
                      ["connector"], r 8, alpha 16, BF16, non-zero lora_B
  DIR/adapter_list/   target_modules as a list (q_proj, v_proj, down_proj, lm_head), F16
  DIR/adapter_lmbase/ the regex adapter plus a saved lm_head.base_layer.weight (F32)
  DIR/broken/CASE/    with --broken: inputs the converter must refuse (see BROKEN below)

--big makes a larger LLM (hidden 1024, 12 layers, MLP 4096) for memory measurements.
--tokenizer uses a real tokenizer.json (e.g. Llama-3's) instead of the small byte-level
BPE one written here; vocab_size then follows it.
"""
import argparse
import json
import os
import shutil
import struct

import numpy as np
import torch

torch.set_num_threads(2)

LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")
SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>", "<|reserved_special_token_1|>",
            "<|reserved_special_token_2|>", "<|reserved_special_token_3|>", "<|start_header_id|>",
            "<|end_header_id|>", "<|reserved_special_token_4|>", "<|eot_id|>"]
CORPUS = ("A multimodal AI assistant is helping users with some activities. Below is their conversation, "
          "interleaved with the list of video frames received by the assistant.\n"
          "User: what is the person doing now?\nAssistant: the person is cutting the onion on the board.]\n"
          "Stream: the the the then there these those, and then the hand picks up the knife.]\n")


# ---- safetensors (the format: u64 LE header length, JSON header, raw data) ---------------------------

def st_bytes(t):
    t = t.contiguous()
    if t.dtype == torch.bfloat16:
        return "BF16", t.view(torch.int16).numpy().tobytes()
    if t.dtype == torch.float16:
        return "F16", t.numpy().astype("<f2").tobytes()
    if t.dtype == torch.float32:
        return "F32", t.numpy().astype("<f4").tobytes()
    if t.dtype == torch.float64:
        return "F64", t.numpy().astype("<f8").tobytes()
    if t.dtype == torch.int64:
        return "I64", t.numpy().astype("<i8").tobytes()
    raise ValueError(t.dtype)


def write_safetensors(path, tensors, metadata=None):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        dt, raw = st_bytes(t)
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    if metadata is not None:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write("\n")


# ---- a small byte-level BPE tokenizer in the Llama-3 layout -----------------------------------------

def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return bs, [chr(c) for c in cs]


def train_bpe(n_merges):
    bs, cs = bytes_to_unicode()
    b2u = dict(zip(bs, cs))
    vocab = {c: i for i, c in enumerate(cs)}
    words = []
    for w in CORPUS.replace("\n", " \n ").split(" "):
        if w:
            words.append([b2u[b] for b in (" " + w).encode("utf-8")])
    words.append([b2u[ord("]")], b2u[ord("\n")]])  # "]\n" becomes one token, as in Llama-3
    merges = []
    while len(merges) < n_merges:
        counts = {}
        for w in words:
            for a, b in zip(w, w[1:]):
                counts[(a, b)] = counts.get((a, b), 0) + 1
        if not counts:
            break
        best = max(sorted(counts), key=lambda p: counts[p])
        merges.append(best)
        vocab[best[0] + best[1]] = len(vocab)
        for w in words:
            i = 0
            while i < len(w) - 1:
                if (w[i], w[i + 1]) == best:
                    w[i:i + 2] = [w[i] + w[i + 1]]
                else:
                    i += 1
    return vocab, [a + " " + b for a, b in merges]


def make_tokenizer(real_path):
    """Returns (tokenizer.json dict, tokenizer_config dict, vocab_size)."""
    if real_path:
        with open(real_path, encoding="utf-8") as f:
            tok = json.load(f)
    else:
        vocab, merges = train_bpe(40)
        base = len(vocab)
        added = [{"id": base + i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
                  "normalized": False, "special": True} for i, s in enumerate(SPECIALS)]
        tok = {
            "version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": None,
            "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": LLAMA3_REGEX}, "behavior": "Isolated", "invert": False},
                {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
            "post_processor": {"type": "Sequence", "processors": [
                {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
                {"type": "TemplateProcessing",
                 "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}},
                            {"Sequence": {"id": "A", "type_id": 0}}],
                 "pair": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}},
                          {"Sequence": {"id": "A", "type_id": 0}},
                          {"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 1}},
                          {"Sequence": {"id": "B", "type_id": 1}}],
                 "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [base],
                                                          "tokens": ["<|begin_of_text|>"]}}}]},
            "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
            "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                      "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": True,
                      "vocab": vocab, "merges": merges},
        }
    ids = list(tok["model"]["vocab"].values()) + [a["id"] for a in tok["added_tokens"]]
    n = max(ids) + 1
    cfg = {
        "added_tokens_decoder": {str(a["id"]): {k: a[k] for k in ("content", "lstrip", "normalized", "rstrip",
                                                                   "single_word", "special")}
                                 for a in tok["added_tokens"]},
        "bos_token": "<|begin_of_text|>",
        "clean_up_tokenization_spaces": True,
        "eos_token": "<|eot_id|>",
        "model_input_names": ["input_ids", "attention_mask"],
        "model_max_length": 1000000000000000019884624838656,
        "tokenizer_class": "PreTrainedTokenizerFast",
    }
    return tok, cfg, n


# ---- checkpoints ------------------------------------------------------------------------------------

class Rand:
    def __init__(self, seed):
        self.g = torch.Generator().manual_seed(seed)

    def w(self, *shape, std=0.05):
        return torch.randn(*shape, generator=self.g) * std

    def norm(self, n):
        return 1.0 + 0.1 * torch.randn(n, generator=self.g)


def make_llm(d, R, args, tok, tok_cfg, vocab):
    H, L, NH, NKV, F = (1024, 12, 16, 4, 4096) if args.big else (64, 2, 4, 2, 128)
    hd = H // NH
    os.makedirs(d, exist_ok=True)
    bos = tok_cfg["bos_token"]
    ids = {a["content"]: a["id"] for a in tok["added_tokens"]}
    write_json(f"{d}/config.json", {
        "architectures": ["LlamaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
        "bos_token_id": ids[bos], "eos_token_id": ids["<|eot_id|>"], "hidden_act": "silu", "hidden_size": H,
        "initializer_range": 0.02, "intermediate_size": F, "max_position_embeddings": 8192, "model_type": "llama",
        "num_attention_heads": NH, "num_hidden_layers": L, "num_key_value_heads": NKV, "pretraining_tp": 1,
        "rms_norm_eps": 1e-05, "rope_scaling": None, "rope_theta": 500000.0, "tie_word_embeddings": False,
        "torch_dtype": "bfloat16", "transformers_version": "4.40.0.dev0", "use_cache": True, "vocab_size": vocab})
    write_json(f"{d}/generation_config.json", {"bos_token_id": ids[bos], "eos_token_id": [ids["<|end_of_text|>"],
               ids["<|eot_id|>"]], "do_sample": True, "temperature": 0.6, "top_p": 0.9})
    with open(f"{d}/tokenizer.json", "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False)
    write_json(f"{d}/tokenizer_config.json", tok_cfg)
    bf = torch.bfloat16
    shards = [{}, {}]
    shards[0]["model.embed_tokens.weight"] = R.w(vocab, H, std=0.5).to(bf)
    for il in range(L):
        s = shards[0] if il < L // 2 else shards[1]
        p = f"model.layers.{il}."
        s[p + "input_layernorm.weight"] = R.norm(H).to(bf)
        s[p + "self_attn.q_proj.weight"] = R.w(NH * hd, H).to(bf)
        s[p + "self_attn.k_proj.weight"] = R.w(NKV * hd, H).to(bf)
        s[p + "self_attn.v_proj.weight"] = R.w(NKV * hd, H).to(bf)
        s[p + "self_attn.o_proj.weight"] = R.w(H, NH * hd).to(bf)
        s[p + "post_attention_layernorm.weight"] = R.norm(H).to(bf)
        s[p + "mlp.gate_proj.weight"] = R.w(F, H).to(bf)
        s[p + "mlp.up_proj.weight"] = R.w(F, H).to(bf)
        s[p + "mlp.down_proj.weight"] = R.w(H, F).to(bf)
    shards[1]["model.norm.weight"] = R.norm(H).to(bf)
    shards[1]["lm_head.weight"] = R.w(vocab, H).to(bf)
    write_shards(d, shards)
    return {"H": H, "L": L, "NH": NH, "NKV": NKV, "F": F, "V": vocab}


def write_shards(d, shards):
    n = len(shards)
    weight_map, total = {}, 0
    for i, s in enumerate(shards):
        fn = f"model-{i + 1:05d}-of-{n:05d}.safetensors"
        write_safetensors(f"{d}/{fn}", s, {"format": "pt"})
        for k, v in s.items():
            weight_map[k] = fn
            total += v.numel() * v.element_size()
    write_json(f"{d}/model.safetensors.index.json", {"metadata": {"total_size": total}, "weight_map": weight_map})


def make_vision(d, R):
    D, I, L, NH, IMG, P = 32, 64, 2, 2, 384, 16
    os.makedirs(d, exist_ok=True)
    write_json(f"{d}/config.json", {
        "architectures": ["SiglipModel"], "initializer_factor": 1.0, "model_type": "siglip",
        "text_config": {"hidden_size": D, "intermediate_size": I, "model_type": "siglip_text_model",
                        "num_attention_heads": NH, "num_hidden_layers": 1, "vocab_size": 100,
                        "max_position_embeddings": 16},
        "torch_dtype": "float32", "transformers_version": "4.37.0.dev0",
        "vision_config": {"hidden_size": D, "image_size": IMG, "intermediate_size": I,
                          "model_type": "siglip_vision_model", "num_attention_heads": NH, "num_hidden_layers": L,
                          "patch_size": P}})
    write_json(f"{d}/preprocessor_config.json", {
        "do_normalize": True, "do_rescale": True, "do_resize": True, "image_mean": [0.5, 0.5, 0.5],
        "image_processor_type": "SiglipImageProcessor", "image_std": [0.5, 0.5, 0.5], "processor_class":
        "SiglipProcessor", "resample": 3, "rescale_factor": 0.00392156862745098, "size": {"height": IMG, "width": IMG}})
    t = {}
    t["logit_bias"] = R.w(1)
    t["logit_scale"] = R.w(1)
    tp = "text_model."
    t[tp + "embeddings.token_embedding.weight"] = R.w(100, D)
    t[tp + "embeddings.position_embedding.weight"] = R.w(16, D)
    t[tp + "encoder.layers.0.self_attn.q_proj.weight"] = R.w(D, D)
    t[tp + "final_layer_norm.weight"] = R.norm(D)
    t[tp + "head.weight"] = R.w(D, D)
    t[tp + "head.bias"] = R.w(D)
    vp = "vision_model."
    t[vp + "embeddings.patch_embedding.weight"] = R.w(D, 3, P, P)
    t[vp + "embeddings.patch_embedding.bias"] = R.w(D)
    t[vp + "embeddings.position_embedding.weight"] = R.w((IMG // P) ** 2, D)
    for il in range(L):
        p = f"{vp}encoder.layers.{il}."
        for n in ("layer_norm1", "layer_norm2"):
            t[p + n + ".weight"] = R.norm(D)
            t[p + n + ".bias"] = R.w(D)
        for n in ("q_proj", "k_proj", "v_proj", "out_proj"):
            t[p + "self_attn." + n + ".weight"] = R.w(D, D)
            t[p + "self_attn." + n + ".bias"] = R.w(D)
        t[p + "mlp.fc1.weight"], t[p + "mlp.fc1.bias"] = R.w(I, D), R.w(I)
        t[p + "mlp.fc2.weight"], t[p + "mlp.fc2.bias"] = R.w(D, I), R.w(D)
    t[vp + "post_layernorm.weight"], t[vp + "post_layernorm.bias"] = R.norm(D), R.w(D)
    hp = vp + "head."
    t[hp + "probe"] = R.w(1, 1, D)
    t[hp + "attention.in_proj_weight"], t[hp + "attention.in_proj_bias"] = R.w(3 * D, D), R.w(3 * D)
    t[hp + "attention.out_proj.weight"], t[hp + "attention.out_proj.bias"] = R.w(D, D), R.w(D)
    t[hp + "layernorm.weight"], t[hp + "layernorm.bias"] = R.norm(D), R.w(D)
    t[hp + "mlp.fc1.weight"], t[hp + "mlp.fc1.bias"] = R.w(I, D), R.w(I)
    t[hp + "mlp.fc2.weight"], t[hp + "mlp.fc2.bias"] = R.w(D, I), R.w(D)
    write_safetensors(f"{d}/model.safetensors", dict(sorted(t.items())), {"format": "pt"})
    return {"D": D}


ADAPTER_CONFIG = {
    "alpha_pattern": {}, "auto_mapping": None, "base_model_name_or_path": "meta-llama/Meta-Llama-3-8B-Instruct",
    "bias": "none", "fan_in_fan_out": False, "inference_mode": True, "init_lora_weights": True,
    "layer_replication": None, "layers_pattern": None, "layers_to_transform": None, "loftq_config": {},
    "lora_alpha": 16, "lora_dropout": 0.05, "megatron_config": None, "megatron_core": "megatron.core",
    "modules_to_save": ["connector"], "peft_type": "LORA", "r": 8, "rank_pattern": {}, "revision": None,
    "target_modules": "model.*(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)|lm_head$",
    "task_type": "CAUSAL_LM", "use_dora": False, "use_rslora": False,
}
PROJ = [("self_attn", "q_proj"), ("self_attn", "k_proj"), ("self_attn", "v_proj"), ("self_attn", "o_proj"),
        ("mlp", "gate_proj"), ("mlp", "up_proj"), ("mlp", "down_proj")]


def proj_shape(hp, proj):
    H, F, q, kv = hp["H"], hp["F"], hp["H"], hp["NKV"] * hp["H"] // hp["NH"]
    return {"q_proj": (q, H), "k_proj": (kv, H), "v_proj": (kv, H), "o_proj": (H, q), "gate_proj": (F, H),
            "up_proj": (F, H), "down_proj": (H, F)}[proj]


def make_adapter(d, R, hp, vhp, targets, dtype, config_targets, lm_base=False):
    os.makedirs(d, exist_ok=True)
    cfg = dict(ADAPTER_CONFIG)
    cfg["target_modules"] = config_targets
    write_json(f"{d}/adapter_config.json", cfg)
    r = cfg["r"]
    t = {}
    pre = "base_model.model."
    for il in range(hp["L"]):
        for grp, proj in PROJ:
            if proj not in targets:
                continue
            out, inp = proj_shape(hp, proj)
            m = f"{pre}model.layers.{il}.{grp}.{proj}"
            t[m + ".lora_A.weight"] = R.w(r, inp, std=0.1).to(dtype)
            t[m + ".lora_B.weight"] = R.w(out, r, std=0.1).to(dtype)
    if "lm_head" in targets:
        t[pre + "lm_head.lora_A.weight"] = R.w(r, hp["H"], std=0.1).to(dtype)
        t[pre + "lm_head.lora_B.weight"] = R.w(hp["V"], r, std=0.1).to(dtype)
    if lm_base:
        t[pre + "lm_head.base_layer.weight"] = R.w(hp["V"], hp["H"]).to(torch.float32)
    H, D = hp["H"], vhp["D"]
    t[pre + "connector.0.weight"] = R.w(H, D, std=0.2).to(dtype)
    t[pre + "connector.0.bias"] = R.w(H).to(dtype)
    t[pre + "connector.2.weight"] = R.w(H, H, std=0.2).to(dtype)
    t[pre + "connector.2.bias"] = R.w(H).to(dtype)
    write_safetensors(f"{d}/adapter_model.safetensors", t, {"format": "pt"})


# ---- inputs the converter must refuse --------------------------------------------------------------
# case -> (llm, vision, adapter) folder names under broken/ or the good ones, and a substring of the error.
BROKEN = {
    "llm_not_llama": "is not \"llama\"",
    "vision_not_siglip": "is not \"siglip\"",
    "llm_missing_tensor": "missing tensor 'model.layers.1.mlp.down_proj.weight'",
    "llm_extra_tensor": "unexpected tensor 'model.layers.2.self_attn.q_proj.weight'",
    "llm_misshaped": "model.layers.0.self_attn.k_proj.weight' has shape [64, 64], expected [32, 64]",
    "llm_truncated": "past the end of the data",
    "vision_f64": "has dtype F64",
    "lora_shape": "lora_A.weight' has shape [8, 32], expected [8, 64]",
    "lora_untargeted": "which target_modules does not select",
    "no_connector": "the connector is missing",
    "index_lies": "is listed in model-00002-of-00002.safetensors but not found there",
}


def copy(src, dst):
    shutil.copytree(src, dst, dirs_exist_ok=True)


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        h = json.loads(f.read(n))
        data = f.read()
    meta = h.pop("__metadata__", None)
    out = {}
    for k, v in h.items():
        b, e = v["data_offsets"]
        raw = np.frombuffer(data[b:e], dtype={"BF16": "<i2", "F16": "<f2", "F32": "<f4"}[v["dtype"]]).copy()
        t = torch.from_numpy(raw)
        if v["dtype"] == "BF16":
            t = t.view(torch.bfloat16)
        out[k] = t.reshape(v["shape"])
    return out, meta


def edit_shard(d, fn, fun):
    t, meta = read_safetensors(f"{d}/{fn}")
    fun(t)
    write_safetensors(f"{d}/{fn}", t, meta)


def make_broken(root):
    b = f"{root}/broken"
    good = {"llm": f"{root}/llm", "vision": f"{root}/vision", "adapter": f"{root}/adapter"}
    for case in BROKEN:
        cd = f"{b}/{case}"
        os.makedirs(cd, exist_ok=True)
        for k, v in good.items():
            copy(v, f"{cd}/{k}")
    shard2 = "model-00002-of-00002.safetensors"

    def cfg_edit(path, fun):
        with open(path) as f:
            c = json.load(f)
        fun(c)
        write_json(path, c)

    cfg_edit(f"{b}/llm_not_llama/llm/config.json", lambda c: c.update(model_type="mistral"))
    cfg_edit(f"{b}/vision_not_siglip/vision/config.json", lambda c: c.update(model_type="clip"))

    def drop(t):
        del t["model.layers.1.mlp.down_proj.weight"]
    edit_shard(f"{b}/llm_missing_tensor/llm", shard2, drop)
    cfg_edit(f"{b}/llm_missing_tensor/llm/model.safetensors.index.json",
             lambda c: c["weight_map"].pop("model.layers.1.mlp.down_proj.weight"))

    def extra(t):
        t["model.layers.2.self_attn.q_proj.weight"] = torch.zeros(4, 4, dtype=torch.bfloat16)
    edit_shard(f"{b}/llm_extra_tensor/llm", shard2, extra)
    cfg_edit(f"{b}/llm_extra_tensor/llm/model.safetensors.index.json",
             lambda c: c["weight_map"].update({"model.layers.2.self_attn.q_proj.weight": shard2}))

    def misshape(t):
        t["model.layers.0.self_attn.k_proj.weight"] = torch.zeros(64, 64, dtype=torch.bfloat16)
    edit_shard(f"{b}/llm_misshaped/llm", "model-00001-of-00002.safetensors", misshape)

    p = f"{b}/llm_truncated/llm/{shard2}"
    os.truncate(p, os.path.getsize(p) - 100)

    def f64(t):
        k = "vision_model.post_layernorm.weight"
        t[k] = t[k].double()
    edit_shard(f"{b}/vision_f64/vision", "model.safetensors", f64)

    def lora_shape(t):
        t["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"] = torch.zeros(8, 32, dtype=torch.bfloat16)
    edit_shard(f"{b}/lora_shape/adapter", "adapter_model.safetensors", lora_shape)
    cfg_edit(f"{b}/lora_untargeted/adapter/adapter_config.json",
             lambda c: c.update(target_modules="model.*(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj)|lm_head$"))

    def no_conn(t):
        for k in [k for k in t if ".connector." in k]:
            del t[k]
    edit_shard(f"{b}/no_connector/adapter", "adapter_model.safetensors", no_conn)
    cfg_edit(f"{b}/index_lies/llm/model.safetensors.index.json",
             lambda c: c["weight_map"].update({"model.norm.weight": "model-00002-of-00002.safetensors",
                                               "model.layers.0.input_layernorm.weight": shard2}))
    with open(f"{b}/cases.json", "w") as f:
        json.dump(BROKEN, f, indent=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir")
    ap.add_argument("--big", action="store_true")
    ap.add_argument("--tokenizer")
    ap.add_argument("--broken", action="store_true")
    args = ap.parse_args()
    root = args.dir
    os.makedirs(root, exist_ok=True)
    tok, tok_cfg, vocab = make_tokenizer(args.tokenizer)
    R = Rand(1234)
    hp = make_llm(f"{root}/llm", R, args, tok, tok_cfg, vocab)
    vhp = make_vision(f"{root}/vision", R)
    all_t = [p for _, p in PROJ] + ["lm_head"]
    make_adapter(f"{root}/adapter", Rand(5), hp, vhp, all_t, torch.bfloat16, ADAPTER_CONFIG["target_modules"])
    make_adapter(f"{root}/adapter_list", Rand(6), hp, vhp, ["q_proj", "v_proj", "down_proj", "lm_head"],
                 torch.float16, ["q_proj", "v_proj", "down_proj", "lm_head"])
    make_adapter(f"{root}/adapter_lmbase", Rand(7), hp, vhp, all_t, torch.bfloat16, ADAPTER_CONFIG["target_modules"],
                 lm_base=True)
    if args.broken:
        make_broken(root)


if __name__ == "__main__":
    main()
