#!/usr/bin/python3
"""train_ref.py - independent PyTorch (autograd, float64) reference of the LIVE
training step, written from the description of the original (no code of ours).

From the tiny Hugging Face fixtures of make_fixtures.py (FIX/llm, FIX/adapter)
it builds a batch of two streaming conversations, labels them with the Python
model of the original collator (labels_ref.py: ids and offsets from Hugging
Face's Rust tokenizer), draws frame features [T, 10, D] (the connector input,
as the original's pre-extracted features), and computes

  * the loss of VideoLLM-online's forward on the left-padded batch (Hugging
    Face Llama layout: rotate-half RoPE on unpermuted q/k, positions
    arange(seq_len), padding masked in attention), with LoRA as PEFT applies it
    (y = W x + alpha/r * B A x on q/k/v/o/gate/up/down and lm_head) and the
    connector from the adapter; loss = sum w_i CE_i / #labels, w_i =
    stream_loss_weight on <v> positions;
  * every trained parameter's gradient (loss.backward());
  * ten steps of torch.optim.AdamW after clip_grad_norm_(1.0) with the cosine
    schedule with warmup (LambdaLR with transformers' formula);
  * full fine-tuning (FullModel): no LoRA, every LM weight (embeddings, norms,
    projections, lm_head; Hugging Face names) and the connector are the
    trained leaves, starting from the base (the LLM folder + the adapter's
    connector); the loss, every gradient and ten AdamW steps as above.

usage: train_ref.py FIX OUT_DIR
writes OUT_DIR/batch.safetensors (input_ids, attention_mask, labels I32 [B,S],
frames F32 [NF,10,D]), OUT_DIR/gold.safetensors (loss, loss_w25, grad.<name>,
adam.<name>, adam_losses), OUT_DIR/gold_full.safetensors (the same for full
fine-tuning, keys by Hugging Face name) and OUT_DIR/base_adapter/ (connector only, no LoRA:
converting with it gives the frozen base model), OUT_DIR/convs.jsonl.
Env: VLM_NPM (node modules for the tokenizer).
"""
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import labels_ref  # noqa: E402
import model_ref  # noqa: E402
import render_jinja  # noqa: E402

torch.set_num_threads(2)
DT = torch.float64
PROJ = [("self_attn", "q_proj"), ("self_attn", "k_proj"), ("self_attn", "v_proj"), ("self_attn", "o_proj"),
        ("mlp", "gate_proj"), ("mlp", "up_proj"), ("mlp", "down_proj")]
SYSTEM = "A multimodal AI assistant is helping users with some activities."
CONVS = [
    [{"role": "system", "content": SYSTEM},
     {"role": "stream", "num_frames": 2, "learn": 1},
     {"role": "user", "content": "what is the person doing now?"},
     {"role": "assistant", "content": "the person is cutting the onion.", "learn": True},
     {"role": "stream", "num_frames": 3, "learn": True},
     {"role": "assistant", "content": "then the hand picks up the knife.", "learn": True}],
    [{"role": "system", "content": SYSTEM},
     {"role": "stream", "num_frames": 1, "learn": False},
     {"role": "user", "content": "what is the person doing now?"},
     {"role": "stream", "num_frames": 2, "learn": True},
     {"role": "assistant", "content": "the person is cutting.", "learn": True}],
]
N_FRAMES = [5, 3]
FRAME_TOKENS = 10


def make_batch(fix):
    tok = os.path.join(fix, "llm", "tokenizer.json")
    eos = "<|eot_id|>"
    eos_id = labels_ref.special_id(tok, eos)
    texts, ranges = [], []
    for c in CONVS:
        texts.append(render_jinja.render(c, "v1plus", "<|begin_of_text|>", eos, 0))
        ranges.append(labels_ref.get_learn_ranges(c, "v1plus", "<|begin_of_text|>", eos))
    encs = labels_ref.hf_encode(tok, texts)
    with open(tok, encoding="utf-8") as f:
        tj = json.load(f)
    v_id = max([t["id"] for t in tj.get("added_tokens", [])] + list(tj["model"]["vocab"].values())) + 1
    for e in encs:
        assert v_id in e["ids"], "<v> did not get the next free id"
    ids, mask, labels = labels_ref.collate(torch, encs, ranges, eos_id, v_id)
    return ids, mask, labels, v_id


class Model:
    def __init__(self, fix):
        self.cfg = model_ref.load_json(os.path.join(fix, "llm", "config.json"))
        self.w = model_ref.load_folder(os.path.join(fix, "llm"))
        acfg = model_ref.load_json(os.path.join(fix, "adapter", "adapter_config.json"))
        aw = model_ref.st_read(os.path.join(fix, "adapter", "adapter_model.safetensors"))
        self.scale = float(acfg["lora_alpha"]) / float(acfg["r"])
        c = self.cfg
        self.H, self.L, self.nh = c["hidden_size"], c["num_hidden_layers"], c["num_attention_heads"]
        self.nkv, self.eps, self.theta = c["num_key_value_heads"], c["rms_norm_eps"], c["rope_theta"]
        self.hd = self.H // self.nh
        self.V = c["vocab_size"]
        self.params = {}  # PEFT name -> leaf tensor
        for il in range(self.L):
            for grp, proj in PROJ:
                m = "base_model.model.model.layers.%d.%s.%s" % (il, grp, proj)
                for ab in ("lora_A", "lora_B"):
                    self.params["%s.%s.weight" % (m, ab)] = aw["%s.%s.weight" % (m, ab)].clone()
        for ab in ("lora_A", "lora_B"):
            self.params["base_model.model.lm_head.%s.weight" % ab] = aw["base_model.model.lm_head.%s.weight" % ab].clone()
        for k in ("0.weight", "0.bias", "2.weight", "2.bias"):
            self.params["base_model.model.connector." + k] = aw["base_model.model.connector." + k].clone()
        for p in self.params.values():
            p.requires_grad_(True)
        self.cpre = "base_model.model.connector."

    def lin(self, x, base, mod):
        y = x @ self.w[base].T
        A = self.params["base_model.model.%s.lora_A.weight" % mod]
        B = self.params["base_model.model.%s.lora_B.weight" % mod]
        return y + self.scale * ((x @ A.T) @ B.T)

    def rms(self, x, wt):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * wt

    def rope(self, x, pos):  # x [B, h, S, hd], rotate-half
        hd = self.hd
        inv = 1.0 / (self.theta ** (torch.arange(0, hd, 2, dtype=DT) / hd))
        ang = pos[:, None].to(DT) * inv[None, :]
        emb = torch.cat([ang, ang], -1)
        cos, sin = emb.cos(), emb.sin()
        x1, x2 = x[..., :hd // 2], x[..., hd // 2:]
        rot = torch.cat([-x2, x1], -1)
        return x * cos + rot * sin

    def loss(self, ids, mask, labels, frames, v_id, w_stream=1.0):
        P = self.params
        B, S = ids.shape
        emb = self.w["model.embed_tokens.weight"][ids.clamp(max=self.V - 1)]
        cp = self.cpre
        h1 = F.gelu(frames.to(DT) @ P[cp + "0.weight"].T + P[cp + "0.bias"])
        vis = h1 @ P[cp + "2.weight"].T + P[cp + "2.bias"]
        emb = emb.clone()
        emb[ids == v_id] = vis.reshape(-1, self.H)
        x = emb
        pos = torch.arange(S)
        causal = torch.tril(torch.ones(S, S, dtype=torch.bool))
        allowed = causal[None] & mask.bool()[:, None, :]  # [B, S(query), S(key)]
        neg = torch.finfo(DT).min
        for il in range(self.L):
            p = "model.layers.%d." % il
            h = self.rms(x, self.w[p + "input_layernorm.weight"])
            q = self.lin(h, p + "self_attn.q_proj.weight", p + "self_attn.q_proj")
            k = self.lin(h, p + "self_attn.k_proj.weight", p + "self_attn.k_proj")
            v = self.lin(h, p + "self_attn.v_proj.weight", p + "self_attn.v_proj")
            q = q.view(B, S, self.nh, self.hd).transpose(1, 2)
            k = k.view(B, S, self.nkv, self.hd).transpose(1, 2)
            v = v.view(B, S, self.nkv, self.hd).transpose(1, 2)
            q, k = self.rope(q, pos), self.rope(k, pos)
            rep = self.nh // self.nkv
            k = k.repeat_interleave(rep, dim=1)
            v = v.repeat_interleave(rep, dim=1)
            sc = (q @ k.transpose(-1, -2)) / math.sqrt(self.hd)
            sc = sc.masked_fill(~allowed[:, None], neg)
            a = torch.softmax(sc, -1) @ v
            a = a.transpose(1, 2).reshape(B, S, self.nh * self.hd)
            x = x + self.lin(a, p + "self_attn.o_proj.weight", p + "self_attn.o_proj")
            h = self.rms(x, self.w[p + "post_attention_layernorm.weight"])
            g = self.lin(h, p + "mlp.gate_proj.weight", p + "mlp.gate_proj")
            u = self.lin(h, p + "mlp.up_proj.weight", p + "mlp.up_proj")
            x = x + self.lin(F.silu(g) * u, p + "mlp.down_proj.weight", p + "mlp.down_proj")
        x = self.rms(x, self.w["model.norm.weight"])
        logits = self.lin(x, "lm_head.weight", "lm_head")
        ce = F.cross_entropy(logits.reshape(-1, self.V), labels.reshape(-1), ignore_index=-100, reduction="none")
        wts = torch.where(ids.reshape(-1) == v_id, torch.tensor(w_stream, dtype=DT), torch.tensor(1.0, dtype=DT))
        n = (labels >= 0).sum()
        return (ce * wts).sum() / n


class FullModel(Model):
    """Full fine-tuning: no LoRA; the base weights themselves (Hugging Face names) and the
    connector (the adapter's, as in the converted base) are the trained leaves."""

    def __init__(self, fix):
        super().__init__(fix)
        aw = model_ref.st_read(os.path.join(fix, "adapter", "adapter_model.safetensors"))
        names = ["model.embed_tokens.weight"]
        for il in range(self.L):
            p = "model.layers.%d." % il
            names.append(p + "input_layernorm.weight")
            names += [p + "%s.%s.weight" % gp for gp in PROJ[:4]]
            names.append(p + "post_attention_layernorm.weight")
            names += [p + "%s.%s.weight" % gp for gp in PROJ[4:]]
        names += ["model.norm.weight", "lm_head.weight"]
        self.params = {n: self.w[n].clone().requires_grad_(True) for n in names}
        for k in ("0.weight", "0.bias", "2.weight", "2.bias"):
            self.params["connector." + k] = aw["base_model.model.connector." + k].clone().requires_grad_(True)
        self.w = self.params  # the forward reads the trained leaves
        self.cpre = "connector."

    def lin(self, x, base, mod):
        return x @ self.w[base].T


def cosine_lambda(warmup, total):
    def f(step):  # transformers' get_cosine_schedule_with_warmup, num_cycles = 0.5
        if step < warmup:
            return float(step) / float(max(1, warmup))
        progress = float(step - warmup) / float(max(1, total - warmup))
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * 0.5 * 2.0 * progress)))
    return f


ADAM = {"lr": 1e-2, "steps": 10, "warmup_ratio": 0.2, "weight_decay": 0.01}
ADAM_FULL = {"lr": 1e-3, "steps": 10, "warmup_ratio": 0.2, "weight_decay": 0.01}


def grads_and_adam(m, ids, mask, labels, frames, v_id, cfg, gold, prefix="adam.", frozen=(), thaw=0, held=None):
    """loss, every gradient, then cfg["steps"] AdamW + clip + cosine steps into gold.
    With frozen (parameter names): those have requires_grad False until step `thaw` (torch
    leaves them out of the clipped norm and AdamW, whose per-parameter state starts at thaw).
    With held ({name: bool mask}): until step `thaw` the masked elements' gradients are zeroed
    before the clip and their values put back after each step (so weight decay does not touch
    them either; their moments stay 0)."""
    loss = m.loss(ids, mask, labels, frames, v_id)
    loss.backward()
    gold["loss"] = np.array([loss.item()])
    for k, p in m.params.items():
        gold["grad." + k] = p.grad.numpy().astype(np.float64)
    for p in m.params.values():
        p.grad = None
    for k in frozen:
        m.params[k].requires_grad_(False)
    params = list(m.params.values())
    opt = torch.optim.AdamW(params, lr=cfg["lr"], betas=(0.9, 0.999), eps=1e-8, weight_decay=cfg["weight_decay"])
    warm = math.ceil(cfg["steps"] * cfg["warmup_ratio"])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, cosine_lambda(warm, cfg["steps"]))
    losses, norms = [], []
    for step in range(cfg["steps"]):
        if frozen and step == thaw:
            for k in frozen:
                m.params[k].requires_grad_(True)
        opt.zero_grad()
        loss = m.loss(ids, mask, labels, frames, v_id)
        loss.backward()
        holding = held and step < thaw
        if holding:
            kept = {k: m.params[k].detach().clone() for k in held}
            for k, hm in held.items():
                m.params[k].grad[hm] = 0.0
        norms.append(float(torch.nn.utils.clip_grad_norm_(params, 1.0)))
        opt.step()
        sched.step()
        if holding:
            with torch.no_grad():
                for k, hm in held.items():
                    m.params[k][hm] = kept[k][hm]
        losses.append(loss.item())
    gold[prefix[:-1] + "_losses"] = np.array(losses)
    gold[prefix[:-1] + "_norms"] = np.array(norms)
    for k, p in m.params.items():
        gold[prefix + k] = p.detach().numpy().astype(np.float64)


def write_train_data(out, frames):
    """OUT/data/: the two conversations as `videollm train` samples (features files with
    extra frames around the used range), plus inputs the trainer must refuse."""
    d = os.path.join(out, "data")
    os.makedirs(d, exist_ok=True)
    fa = torch.cat([torch.full((1, FRAME_TOKENS, frames.shape[2]), 9.0), frames[:5],
                    torch.zeros(2, FRAME_TOKENS, frames.shape[2])])
    model_ref.st_write(os.path.join(d, "a.safetensors"), {"feats": fa.numpy().astype(np.float32)})
    model_ref.st_write(os.path.join(d, "b.safetensors"), {"feats": frames[5:8].numpy().astype(np.float32)})
    nan = frames[5:8].clone()
    nan[1, 3, 4] = float("nan")
    model_ref.st_write(os.path.join(d, "nan.safetensors"), {"feats": nan.numpy().astype(np.float32)})
    good = [{"conversation": CONVS[0], "features": "a.safetensors", "frames": [1, 6]},
            {"conversation": CONVS[1], "features": "b.safetensors", "frames": [0, 3]}]

    def jl(name, rows):
        with open(os.path.join(d, name), "w", encoding="utf-8") as f:
            for r in rows:
                f.write((r if isinstance(r, str) else json.dumps(r)) + "\n")
    jl("train.jsonl", good)
    jl("bad_json.jsonl", [good[0], '{"conversation": [', good[1]])
    jl("bad_missing.jsonl", [good[0], dict(good[1], features="nope.safetensors")])
    jl("bad_range.jsonl", [good[0], dict(good[1], frames=[1, 4])])
    jl("bad_count.jsonl", [dict(good[0], frames=[1, 5]), good[1]])
    jl("bad_nan.jsonl", [dict(good[1], features="nan.safetensors")])


def time_f32(fix, ids, mask, labels, frames, v_id):
    """Speed peer for the C trainer: the same step in float32 (best of 3)."""
    global DT
    keep, DT = DT, torch.float32
    m = Model(fix)
    m.w = {k: v.float() for k, v in m.w.items()}
    for k in list(m.params):
        m.params[k] = m.params[k].detach().float().requires_grad_(True)
    best = 1e9
    for _ in range(3):
        t0 = time.time()
        m.loss(ids, mask, labels, frames, v_id).backward()
        best = min(best, time.time() - t0)
    DT = keep
    return best


def main():
    if len(sys.argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    fix, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    ids, mask, labels, v_id = make_batch(fix)
    m = Model(fix)
    D = m.params["base_model.model.connector.0.weight"].shape[1]
    g = torch.Generator().manual_seed(77)
    frames = (torch.randn(sum(N_FRAMES), FRAME_TOKENS, D, generator=g)).float()
    with open(os.path.join(out, "convs.jsonl"), "w", encoding="utf-8") as f:
        for c in CONVS:
            f.write(json.dumps(c) + "\n")
    model_ref.st_write(os.path.join(out, "batch.safetensors"), {
        "input_ids": ids.numpy().astype(np.int32), "attention_mask": mask.numpy().astype(np.int32),
        "labels": labels.numpy().astype(np.int32), "frames": frames.numpy().astype(np.float32)})

    gold = {}
    t0 = time.time()
    loss = m.loss(ids, mask, labels, frames, v_id)
    loss.backward()
    t_step = time.time() - t0
    gold["loss"] = np.array([loss.item()])
    for k, p in m.params.items():
        gold["grad." + k] = p.grad.numpy().astype(np.float64)
    with torch.no_grad():
        gold["loss_w25"] = np.array([m.loss(ids, mask, labels, frames, v_id, 2.5).item()])

    # AdamW + clipping + cosine schedule
    for p in m.params.values():
        p.grad = None
    params = list(m.params.values())
    opt = torch.optim.AdamW(params, lr=ADAM["lr"], betas=(0.9, 0.999), eps=1e-8, weight_decay=ADAM["weight_decay"])
    warm = math.ceil(ADAM["steps"] * ADAM["warmup_ratio"])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, cosine_lambda(warm, ADAM["steps"]))
    losses, norms = [], []
    for _ in range(ADAM["steps"]):
        opt.zero_grad()
        loss = m.loss(ids, mask, labels, frames, v_id)
        loss.backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_(params, 1.0)))
        opt.step()
        sched.step()
        losses.append(loss.item())
    gold["adam_losses"] = np.array(losses)
    gold["adam_norms"] = np.array(norms)
    for k, p in m.params.items():
        gold["adam." + k] = p.detach().numpy().astype(np.float64)
    model_ref.st_write(os.path.join(out, "gold.safetensors"), gold)

    gold_full = {}
    grads_and_adam(FullModel(fix), ids, mask, labels, frames, v_id, ADAM_FULL, gold_full)
    # `videollm train --full --freeze 'model.layers.0.self_attn.*,connector.2.*' --freeze-steps 4`
    fm = FullModel(fix)
    frz = [k for k in fm.params if k.startswith("model.layers.0.self_attn.") or k.startswith("connector.2.")]
    grads_and_adam(fm, ids, mask, labels, frames, v_id, ADAM_FULL, gold_full, "adam_frz.", frz, 4)
    # `--freeze 'model.layers.0.self_attn.q_proj.weight[0:3],connector.0.weight[:,1:4],
    #   model.embed_tokens.weight[:,2:5],model.layers.1.post_attention_layernorm.weight[4:]' --freeze-steps 4`
    fm = FullModel(fix)
    held = {}
    for k, rs, cs in (("model.layers.0.self_attn.q_proj.weight", slice(0, 3), slice(None)),
                      ("connector.0.weight", slice(None), slice(1, 4)),
                      ("model.embed_tokens.weight", slice(None), slice(2, 5)),
                      ("model.layers.1.post_attention_layernorm.weight", slice(4, None), None)):
        hm = torch.zeros(fm.params[k].shape, dtype=torch.bool)
        if cs is None:
            hm[rs] = True
        else:
            hm[rs, cs] = True
        held[k] = hm
    grads_and_adam(fm, ids, mask, labels, frames, v_id, ADAM_FULL, gold_full, "adam_hold.", (), 4, held)
    model_ref.st_write(os.path.join(out, "gold_full.safetensors"), gold_full)

    # the frozen base: an adapter holding only the connector (target_modules selects nothing)
    bd = os.path.join(out, "base_adapter")
    os.makedirs(bd, exist_ok=True)
    acfg = model_ref.load_json(os.path.join(fix, "adapter", "adapter_config.json"))
    acfg["target_modules"] = "no_module_has_this_name$"
    with open(os.path.join(bd, "adapter_config.json"), "w") as f:
        json.dump(acfg, f, indent=1)
    aw = model_ref.st_read(os.path.join(fix, "adapter", "adapter_model.safetensors"))
    model_ref.st_write(os.path.join(bd, "adapter_model.safetensors"),
                       {k: v.numpy().astype(np.float32) for k, v in aw.items() if ".connector." in k})
    write_train_data(out, frames)
    n_tok = int(mask.sum())
    t32 = time_f32(fix, ids, mask, labels, frames, v_id)
    print("train_ref: loss %.10g, %d labels, %d tokens, %d params; forward+backward (2 threads): float64 %.3f s "
          "= %.0f tokens/s, float32 best of 3 %.3f s = %.0f tokens/s"
          % (gold["loss"][0], int((labels >= 0).sum()), n_tok, len(m.params), t_step, n_tok / max(t_step, 1e-9),
             t32, n_tok / max(t32, 1e-9)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
