#!/usr/bin/python3
"""init_check.py - independent checks of a model written by `videollm init`.

usage:
  init_check.py tokenizer OUT.json
      the small byte-level BPE tokenizer of make_fixtures.py (Llama-3 layout and
      special tokens) for tests
  init_check.py check DIR [--connector-init hf|torch]
      DIR/llm, DIR/vision, DIR/adapter as PyTorch sees them:
      * configs: model types, sizes consistent with each other and with the
        tokenizer (vocab_size = len(tokenizer)), bos/eos in tokenizer_config.json
        and config.json, a connector-only PEFT config;
      * weights: a plain-PyTorch skeleton of each network (module names and
        shapes as transformers' LlamaForCausalLM, SiglipVisionModel with its
        attention-pooling head, and the PEFT-saved connector) loads every file
        with load_state_dict(strict=True), dtype F32;
      * initialisation: the same skeleton re-initialised in torch the way
        transformers' _init_weights does it (torch.nn.init, children before
        parents) is the reference: constant tensors must match exactly; random
        ones must have the reference's kind of distribution (mean, std, excess
        kurtosis within sampling bounds) and respect its hard bounds (xavier /
        kaiming uniform limits, the +-2 sigma truncation of lecun_normal_).
  init_check.py golden DIR OUT.safetensors
      goldens for `test_model golden` from the folders, with tests/ref/model_ref.py
      (float64 PyTorch) reading a connector-only adapter (no LoRA pairs to merge).
Exit status 0 when everything holds; failures are printed.
"""
import json
import math
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model_ref  # noqa: E402

torch.set_num_threads(2)
FAILS = []


def fail(msg):
    FAILS.append(msg)
    print("FAIL", msg)


def expect(cond, msg):
    if not cond:
        fail(msg)


# ---- skeletons with the Hugging Face module names ---------------------------------------------------

class RMSNorm(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))


class LlamaAttn(nn.Module):
    def __init__(self, H, nh, nkv):
        super().__init__()
        hd = H // nh
        self.q_proj = nn.Linear(H, nh * hd, bias=False)
        self.k_proj = nn.Linear(H, nkv * hd, bias=False)
        self.v_proj = nn.Linear(H, nkv * hd, bias=False)
        self.o_proj = nn.Linear(nh * hd, H, bias=False)


class LlamaMLP(nn.Module):
    def __init__(self, H, F):
        super().__init__()
        self.gate_proj = nn.Linear(H, F, bias=False)
        self.up_proj = nn.Linear(H, F, bias=False)
        self.down_proj = nn.Linear(F, H, bias=False)


class LlamaLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        H = c["hidden_size"]
        self.self_attn = LlamaAttn(H, c["num_attention_heads"], c["num_key_value_heads"])
        self.mlp = LlamaMLP(H, c["intermediate_size"])
        self.input_layernorm = RMSNorm(H)
        self.post_attention_layernorm = RMSNorm(H)


class LlamaBody(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed_tokens = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.layers = nn.ModuleList([LlamaLayer(c) for _ in range(c["num_hidden_layers"])])
        self.norm = RMSNorm(c["hidden_size"])


class LlamaForCausalLM(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.model = LlamaBody(c)
        self.lm_head = nn.Linear(c["hidden_size"], c["vocab_size"], bias=False)


def llama_init_weights(std):
    """LlamaPreTrainedModel._init_weights."""
    def f(m):
        if isinstance(m, nn.Linear):
            m.weight.data.normal_(0.0, std)
            if m.bias is not None:
                m.bias.data.zero_()
        elif isinstance(m, nn.Embedding):
            m.weight.data.normal_(0.0, std)
        elif isinstance(m, RMSNorm):
            m.weight.data.fill_(1.0)
    return f


class SiglipEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        D, P, S = c["hidden_size"], c["patch_size"], c["image_size"]
        self.patch_embedding = nn.Conv2d(c.get("num_channels", 3), D, P, stride=P)
        self.position_embedding = nn.Embedding((S // P) ** 2, D)


class SiglipAttention(nn.Module):
    def __init__(self, D):
        super().__init__()
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(D, D) for _ in range(4))


class SiglipMLP(nn.Module):
    def __init__(self, D, I):
        super().__init__()
        self.fc1 = nn.Linear(D, I)
        self.fc2 = nn.Linear(I, D)


class SiglipLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        D = c["hidden_size"]
        self.self_attn = SiglipAttention(D)
        self.layer_norm1 = nn.LayerNorm(D)
        self.mlp = SiglipMLP(D, c["intermediate_size"])
        self.layer_norm2 = nn.LayerNorm(D)


class SiglipEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layers = nn.ModuleList([SiglipLayer(c) for _ in range(c["num_hidden_layers"])])


class SiglipHead(nn.Module):
    def __init__(self, c):
        super().__init__()
        D = c["hidden_size"]
        self.probe = nn.Parameter(torch.randn(1, 1, D))
        self.attention = nn.MultiheadAttention(D, c["num_attention_heads"], batch_first=True)
        self.layernorm = nn.LayerNorm(D)
        self.mlp = SiglipMLP(D, c["intermediate_size"])


class SiglipVisionTransformer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embeddings = SiglipEmbeddings(c)
        self.encoder = SiglipEncoder(c)
        self.post_layernorm = nn.LayerNorm(c["hidden_size"])
        self.head = SiglipHead(c)


class SiglipVisionModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.vision_model = SiglipVisionTransformer(c)


def lecun_normal_(t):
    """transformers' lecun_normal_: variance_scaling_(fan_in, truncated_normal),
    a standard normal truncated to [-2, 2] scaled by sqrt(1/fan_in)/0.8796..."""
    fan_in, _ = nn.init._calculate_fan_in_and_fan_out(t)
    with torch.no_grad():
        nn.init.trunc_normal_(t, mean=0.0, std=1.0, a=-2.0, b=2.0)
        t.mul_(math.sqrt(1.0 / fan_in) / 0.87962566103423978)


def siglip_init_weights(width):
    """SiglipPreTrainedModel._init_weights (torch applies it to children first)."""
    def f(m):
        if isinstance(m, SiglipEmbeddings):
            nn.init.normal_(m.position_embedding.weight, std=1 / math.sqrt(width))
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=math.sqrt(1.0 / m.weight.shape[1]))   # default_flax_embed_init
        elif isinstance(m, SiglipAttention):
            for p in (m.q_proj, m.k_proj, m.v_proj, m.out_proj):
                nn.init.xavier_uniform_(p.weight)
                nn.init.zeros_(p.bias)
        elif isinstance(m, SiglipMLP):
            nn.init.xavier_uniform_(m.fc1.weight)
            nn.init.xavier_uniform_(m.fc2.weight)
            nn.init.normal_(m.fc1.bias, std=1e-6)
            nn.init.normal_(m.fc2.bias, std=1e-6)
        elif isinstance(m, SiglipHead):
            nn.init.xavier_uniform_(m.probe.data)
            nn.init.xavier_uniform_(m.attention.in_proj_weight.data)
            nn.init.zeros_(m.attention.in_proj_bias.data)
        elif isinstance(m, (nn.Linear, nn.Conv2d)):
            lecun_normal_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            m.bias.data.zero_()
            m.weight.data.fill_(1.0)
    return f


class Connector(nn.Module):
    """What PEFT saves for modules_to_save=["connector"]: base_model.model.connector.{0,2}."""
    def __init__(self, D, H):
        super().__init__()
        self.connector = nn.Sequential(nn.Linear(D, H), nn.GELU(), nn.Linear(H, H))


# ---- tensor comparison ------------------------------------------------------------------------------

def compare_init(what, ours, ref, bounds):
    """ours: name -> float64 tensor from the file; ref: name -> torch-initialised tensor."""
    n_rand = 0
    for name, r in ref.items():
        o = ours[name].double()
        r = r.detach().double()
        if bool(torch.all(r == r.flatten()[0])):
            expect(torch.equal(o, r), "%s %s: expected the constant %g" % (what, name, r.flatten()[0].item()))
            continue
        n_rand += 1
        n = o.numel()
        so, sr = o.std().item(), r.std().item()
        mo = o.mean().item()
        # sampling bounds: the std of a std estimate is about sigma*sqrt((kappa+2)/(4n)) (kappa: excess kurtosis)
        tol_std = 6.0 * math.sqrt(3.0 / (4.0 * n)) + 1e-3
        expect(abs(so / sr - 1) < tol_std,
               "%s %s: std %.6g, reference %.6g (n %d, tolerance %.3g)" % (what, name, so, sr, n, tol_std))
        expect(abs(mo) < 6.0 * sr / math.sqrt(n), "%s %s: mean %.3g, std %.3g (n %d)" % (what, name, mo, sr, n))
        if n >= 2048:
            ko = ((o - o.mean()) ** 4).mean().item() / so ** 4 - 3
            kr = ((r - r.mean()) ** 4).mean().item() / sr ** 4 - 3
            tol_k = 8.0 * math.sqrt(24.0 / n) + 0.05
            expect(abs(ko - kr) < tol_k, "%s %s: excess kurtosis %.3f, reference %.3f (tolerance %.3f)"
                   % (what, name, ko, kr, tol_k))
        if name in bounds:
            b = bounds[name]
            mx = o.abs().max().item()
            expect(mx <= b * (1 + 1e-6), "%s %s: max |x| %.6g beyond the bound %.6g" % (what, name, mx, b))
            if n >= 1000:   # a uniform / truncated sample comes close to its bound
                expect(mx >= 0.9 * b, "%s %s: max |x| %.6g far inside the bound %.6g" % (what, name, mx, b))
    print("  %s: %d tensors, %d random, distributions as the reference" % (what, len(ref), n_rand))


def load_strict(module, tensors, what):
    sd = {k: v.float() for k, v in tensors.items()}
    try:
        missing, unexpected = module.load_state_dict(sd, strict=True)
    except RuntimeError as e:
        fail("%s: load_state_dict(strict=True): %s" % (what, str(e).splitlines()[0][:400]))
        return False
    print("  %s: %d tensors load into the PyTorch skeleton (strict)" % (what, len(sd)))
    return True


def st_dtypes(path):
    import struct
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        h = json.loads(f.read(n))
    h.pop("__metadata__", None)
    return {k: v["dtype"] for k, v in h.items()}


def check(d, connector_init):
    lc = model_ref.load_json(os.path.join(d, "llm", "config.json"))
    vc = model_ref.load_json(os.path.join(d, "vision", "config.json"))
    ac = model_ref.load_json(os.path.join(d, "adapter", "adapter_config.json"))
    tc = model_ref.load_json(os.path.join(d, "llm", "tokenizer_config.json"))
    gc = model_ref.load_json(os.path.join(d, "llm", "generation_config.json"))
    pc = model_ref.load_json(os.path.join(d, "vision", "preprocessor_config.json"))
    tj = model_ref.load_json(os.path.join(d, "llm", "tokenizer.json"))
    # ---- configs
    ids = set(tj["model"]["vocab"].values()) | {a["id"] for a in tj["added_tokens"]}
    added = {a["content"]: a["id"] for a in tj["added_tokens"]}
    expect(lc["model_type"] == "llama", "llm model_type %r" % lc["model_type"])
    expect(lc["vocab_size"] == max(ids) + 1 == len(ids), "vocab_size %d, tokenizer has %d ids (max %d)"
           % (lc["vocab_size"], len(ids), max(ids)))
    H, nh, nkv = lc["hidden_size"], lc["num_attention_heads"], lc["num_key_value_heads"]
    expect(H % nh == 0 and nh % nkv == 0 and (H // nh) % 2 == 0, "llm head sizes %d/%d/%d" % (H, nh, nkv))
    expect(lc.get("rope_scaling") is None and not lc.get("tie_word_embeddings", True), "llm rope_scaling / tying")
    expect(tc["bos_token"] == "<|begin_of_text|>" and tc["eos_token"] == "<|eot_id|>", "tokenizer_config bos/eos")
    expect(lc["bos_token_id"] == added["<|begin_of_text|>"] and lc["eos_token_id"] == added["<|eot_id|>"],
           "config.json bos/eos ids")
    expect(gc["bos_token_id"] == added["<|begin_of_text|>"] and added["<|eot_id|>"] in gc["eos_token_id"],
           "generation_config bos/eos")
    for a in tj["added_tokens"]:
        e = tc["added_tokens_decoder"].get(str(a["id"]))
        expect(e is not None and e["content"] == a["content"] and e["special"] == a["special"],
               "added_tokens_decoder entry for %s" % a["content"])
    expect(vc["model_type"] == "siglip_vision_model" and vc.get("vision_use_head", True), "vision model_type")
    D, S, P = vc["hidden_size"], vc["image_size"], vc["patch_size"]
    expect(D % vc["num_attention_heads"] == 0 and S % P == 0 and S // P >= 3, "vision sizes %d %d %d" % (D, S, P))
    expect(pc["image_mean"] == [0.5] * 3 and pc["image_std"] == [0.5] * 3 and pc["size"]["height"] == S,
           "preprocessor_config")
    expect(ac["peft_type"] == "LORA" and ac["modules_to_save"] == ["connector"], "adapter_config")
    print("  configs: llm H=%d L=%d heads %d/%d F=%d V=%d; vision D=%d L=%d S=%d P=%d" % (
        H, lc["num_hidden_layers"], nh, nkv, lc["intermediate_size"], lc["vocab_size"], D, vc["num_hidden_layers"],
        S, P))
    # ---- weights
    files = {"llm": os.path.join(d, "llm", "model.safetensors"),
             "vision": os.path.join(d, "vision", "model.safetensors"),
             "adapter": os.path.join(d, "adapter", "adapter_model.safetensors")}
    for what, p in files.items():
        dt = set(st_dtypes(p).values())
        expect(dt == {"F32"}, "%s: dtypes %s" % (what, sorted(dt)))
    torch.manual_seed(0)
    # Llama
    lm = LlamaForCausalLM(lc)
    ours = model_ref.st_read(files["llm"])
    load_strict(lm, ours, "llm")
    lm.apply(llama_init_weights(lc["initializer_range"]))
    compare_init("llm", ours, dict(lm.state_dict()), {})
    # SigLIP
    vm = SiglipVisionModel(vc)
    ours = model_ref.st_read(files["vision"])
    load_strict(vm, ours, "vision")
    vm.apply(siglip_init_weights(D))
    bounds = {}
    for name, t in vm.state_dict().items():
        if t.dim() >= 2:
            fi, fo = nn.init._calculate_fan_in_and_fan_out(t)
            if "patch_embedding.weight" in name or ("out_proj.weight" in name and ".head." in name):
                bounds[name] = 2.0 * math.sqrt(1.0 / fi) / 0.87962566103423978
            elif "position_embedding" not in name:
                bounds[name] = math.sqrt(6.0 / (fi + fo))
    compare_init("vision", ours, dict(vm.state_dict()), bounds)
    # connector (PEFT names)
    cm = Connector(D, H)
    raw = model_ref.st_read(files["adapter"])
    pre = "base_model.model."
    expect(all(k.startswith(pre + "connector.") for k in raw), "adapter holds only the connector: %s" % sorted(raw))
    ours = {k[len(pre):]: v for k, v in raw.items()}
    load_strict(cm, ours, "adapter")
    bounds = {}
    if connector_init == "torch":
        for i in (0, 2):
            lin = cm.connector[i]
            lin.reset_parameters()                         # torch.nn.Linear's own initialisation
            bounds["connector.%d.weight" % i] = bounds["connector.%d.bias" % i] = 1 / math.sqrt(lin.in_features)
    else:
        cm.apply(llama_init_weights(lc["initializer_range"]))
    compare_init("connector (%s)" % connector_init, ours, dict(cm.state_dict()), bounds)


# ---- goldens -----------------------------------------------------------------------------------------

def load_llm_connector_only(fix):
    """model_ref.load_llm for an adapter with no LoRA pairs (a fresh model's)."""
    cfg = model_ref.load_json(os.path.join(fix, "llm", "config.json"))
    w = model_ref.load_folder(os.path.join(fix, "llm"))
    aw = model_ref.st_read(os.path.join(fix, "adapter", "adapter_model.safetensors"))
    assert not any(".lora_" in k for k in aw), "the adapter of a fresh model has no LoRA weights"
    pre = "base_model.model.connector."
    conn = {k[len(pre):]: v for k, v in aw.items() if k.startswith(pre)}
    assert set(conn) == {"0.weight", "0.bias", "2.weight", "2.bias"}, sorted(conn)
    if "lm_head.weight" not in w:
        w["lm_head.weight"] = w["model.embed_tokens.weight"]
    return cfg, w, conn, 0


def golden(d, out):
    model_ref.load_llm = load_llm_connector_only
    sys.argv = [sys.argv[0], d, out]
    model_ref.main()


def main():
    a = sys.argv[1:]
    if len(a) == 2 and a[0] == "tokenizer":
        import make_fixtures
        tok, _, n = make_fixtures.make_tokenizer(None)
        with open(a[1], "w", encoding="utf-8") as f:
            json.dump(tok, f, ensure_ascii=False)
        print("tokenizer: %d ids -> %s" % (n, a[1]))
        return 0
    if len(a) in (2, 4) and a[0] == "check":
        ci = a[3] if len(a) == 4 and a[2] == "--connector-init" else "hf"
        print("check %s" % a[1])
        check(a[1], ci)
        print("init_check: %s" % ("FAILED (%d)" % len(FAILS) if FAILS else "ok"))
        return 1 if FAILS else 0
    if len(a) == 3 and a[0] == "golden":
        golden(a[1], a[2])
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
