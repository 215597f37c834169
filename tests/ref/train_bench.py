#!/usr/bin/python3
"""train_bench.py - speed peer for `videollm train`: the same training steps in
PyTorch (autograd, float32, torch.set_num_threads(2)) on the same samples.

usage: train_bench.py FIX TRAIN.jsonl LABELS.jsonl STEPS

FIX is a make_fixtures.py folder (the model shapes and the LoRA config, r and
alpha, of FIX/adapter: every projection of every layer, lm_head, the
connector). TRAIN.jsonl is a `videollm train` data file (features file and
frame range per line); LABELS.jsonl holds, line for line, the input_ids and
labels of its conversations (`videollm labels` output). Batch 1, no
accumulation: one optimizer step per sample, samples taken in file order and
cycled.

Timed per step: forward (connector, 2-layer Llama with LoRA, loss on the
labelled positions), backward, clip_grad_norm_(1.0) and torch.optim.AdamW.step
(lr 1e-4). Not timed: loading the model, reading the features and building the
id / label tensors (all done before), and one warm-up step. Prints one line:
  torch: STEPS steps, TOKENS tokens, SECONDS s, RATE tokens/s
"""
import json
import os
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import model_ref  # noqa: E402
import train_ref  # noqa: E402

torch.set_num_threads(2)


def v_placeholder_id(fix):
    with open(os.path.join(fix, "llm", "tokenizer.json"), encoding="utf-8") as f:
        tj = json.load(f)
    return max([t["id"] for t in tj.get("added_tokens", [])] + list(tj["model"]["vocab"].values())) + 1


def load_samples(data, labels_path):
    base = os.path.dirname(os.path.abspath(data))
    out = []
    with open(data, encoding="utf-8") as fd, open(labels_path, encoding="utf-8") as fl:
        rows = [json.loads(x) for x in fd if x.strip()]
        labs = [json.loads(x) for x in fl if x.strip()]
    assert len(rows) == len(labs), "data and labels differ in line count"
    for r, lb in zip(rows, labs):
        feats = model_ref.st_read(os.path.join(base, r["features"]))
        (t,) = feats.values()
        s, e = r["frames"]
        ids = torch.tensor([lb["input_ids"]], dtype=torch.long)
        out.append((ids, torch.ones_like(ids), torch.tensor([lb["labels"]], dtype=torch.long),
                    t[s:e].float()))
    return out


def main():
    if len(sys.argv) != 5:
        sys.stderr.write(__doc__)
        return 2
    fix, data, labels_path, steps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    train_ref.DT = torch.float32  # the model's arithmetic type (rope, masks)
    m = train_ref.Model(fix)
    m.w = {k: v.float() for k, v in m.w.items()}
    for k in list(m.params):
        m.params[k] = m.params[k].detach().float().requires_grad_(True)
    params = list(m.params.values())
    opt = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    v_id = v_placeholder_id(fix)
    samples = load_samples(data, labels_path)
    for ids, _, _, fr in samples:
        assert int((ids == v_id).sum()) == fr.shape[0] * fr.shape[1], "frame count differs from the <v> count"

    def step(i):
        ids, mask, labels, frames = samples[i % len(samples)]
        opt.zero_grad()
        loss = m.loss(ids, mask, labels, frames, v_id)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return ids.shape[1]

    step(0)  # warm-up, not timed
    tokens = 0
    t0 = time.perf_counter()
    for i in range(steps):
        tokens += step(i)
    el = time.perf_counter() - t0
    print("torch: %d steps, %d tokens, %.3f s, %.1f tokens/s" % (steps, tokens, el, tokens / el))
    return 0


if __name__ == "__main__":
    sys.exit(main())
