#!/usr/bin/python3
"""eval_ref.py - independent PyTorch reference of VideoLLM-online's streaming
metrics (LiveMixin.stream_evaluate: LM-PPL, LM-Correctness, TimeDiff, Fluency)
on the float64 model of model_ref.py, read from the Hugging Face fixture
folders of make_fixtures.py. Tests only.

  eval_ref.py prepare FIX DIR
      writes conversations (DIR/convs.jsonl), their labels from the reference collator
      (DIR/labels.jsonl, labels_ref.py), random frame features (DIR/feat_*.safetensors) and
      the data file DIR/data.jsonl in the `videollm eval` format; then makes ',' the argmax
      at about 9 in 10 labelled stream positions by rewriting lm_head's ',' row in the
      fixture (so that every branch of the metric is reached) and prints a threshold
      that lies in a gap between the P(',') values of the tuned model
  eval_ref.py check FIX DIR THR OURS.json [THR OURS.json ...]
      the metrics of every sample of DIR/data.jsonl at each threshold (written to
      OURS.json.ref.json), compared with `videollm eval --json` output: metrics within
      1e-4 relative, every turn's frame diff, look-ahead and counts exactly equal

The metric follows the original code path with tensor masks, batch size 1:
turns end at each eos, stream positions are labelled <v>, the look-ahead of a
turn that never replied trims the cache after its last stream position and
feeds min(next turn frames, this turn frames - 1) future frames as
[','] + <v> x 10 (see docs/evaluation.md).
"""
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import model_ref  # noqa: E402

torch.set_num_threads(2)
DT = torch.float64
IGNORE = -100
NFT = 10          # live1+: CLS + 3x3 pooled
SYSTEM = ("A multimodal AI assistant is helping users with some activities. Below is their conversation, "
          "interleaved with the list of video frames received by the assistant.")
WORDS = ("the person is cutting the onion on the board then picks up the knife and there these those "
         "what doing now hand").split()


def special_ids(fix):
    tj = model_ref.load_json(os.path.join(fix, "llm", "tokenizer.json"))
    added = {t["content"]: t["id"] for t in tj.get("added_tokens", [])}
    v_id, _ = model_ref.tokenizer_ids(fix)
    return v_id, tj["model"]["vocab"][","], added["<|eot_id|>"]

# ----------------------------------------------------------------------------
# gen: conversations, features, data file
# ----------------------------------------------------------------------------


def gen(fix, d):
    rng = np.random.RandomState(7)
    vc, _ = model_ref.load_vision(fix)
    D = vc.get("hidden_size", 768)

    def text(n):
        return " ".join(rng.choice(WORDS, n)).capitalize() + "."

    def nf():
        return int(rng.randint(1, 6))

    convs = []
    for i in range(8):
        sysm = {"role": "system", "content": SYSTEM}
        kind = i % 4
        if kind == 0:    # narration: learned streams, each followed by a learned reply
            c = [sysm]
            for _ in range(3):
                c += [{"role": "stream", "num_frames": nf() + 1, "learn": True},
                      {"role": "assistant", "content": text(3), "learn": True}]
        elif kind == 1:  # the original's own example shape: a query after a partly learned stream
            n1 = nf() + 1
            c = [sysm, {"role": "stream", "num_frames": n1, "learn": int(rng.randint(1, n1 + 1))},
                 {"role": "user", "content": text(2) + "?"},
                 {"role": "assistant", "content": text(2), "learn": True},
                 {"role": "stream", "num_frames": nf() + 2, "learn": True},
                 {"role": "assistant", "content": text(4), "learn": True}]
        elif kind == 2:  # an unlearned first stream, a trailing learned stream after the last eos
            c = [sysm, {"role": "stream", "num_frames": nf()}, {"role": "user", "content": "Narrate."},
                 {"role": "assistant", "content": text(3), "learn": True},
                 {"role": "stream", "num_frames": nf() + 1, "learn": True},
                 {"role": "assistant", "content": text(2), "learn": True},
                 {"role": "stream", "num_frames": nf(), "learn": True}]
        else:            # single-frame turns (look-ahead of 0 frames) and long ones
            c = [sysm, {"role": "stream", "num_frames": 1, "learn": True},
                 {"role": "assistant", "content": text(2), "learn": True},
                 {"role": "stream", "num_frames": nf() + 3, "learn": True},
                 {"role": "assistant", "content": text(2), "learn": True},
                 {"role": "stream", "num_frames": nf() + 1, "learn": True},
                 {"role": "user", "content": text(2) + "?"},
                 {"role": "assistant", "content": text(3), "learn": True}]
        convs.append(c)
    with open(os.path.join(d, "convs.jsonl"), "w") as f:
        for c in convs:
            f.write(json.dumps(c) + "\n")
    with open(os.path.join(d, "data.jsonl"), "w") as f:
        for i, c in enumerate(convs):
            n = sum(m["num_frames"] for m in c if m["role"] == "stream")
            start = int(rng.randint(0, 4))
            T = start + n + int(rng.randint(0, 3))
            feats = rng.standard_normal((T, NFT, D)).astype(np.float32)
            name = "feat_%d.safetensors" % i
            model_ref.st_write(os.path.join(d, name), {"features": feats})
            line = {"conversation": c, "features": name, "frames": [start, start + n]}
            f.write(json.dumps(line) + "\n")
    print("eval_ref gen: %d samples" % len(convs))

# ----------------------------------------------------------------------------
# the model on one sample
# ----------------------------------------------------------------------------


class Model:
    def __init__(self, fix):
        self.cfg, self.w, self.conn, _ = model_ref.load_llm(fix)
        self.lm = model_ref.Llama(self.cfg, self.w)
        self.v_id, self.interval_id, self.eos_id = special_ids(fix)

    def frames(self, d, line):
        st = model_ref.st_read(os.path.join(d, line["features"]))["features"]
        a, b = line.get("frames", [0, st.shape[0]])
        x = st[a:b]                                              # [n, 10, Dv]
        return model_ref.connector(self.conn, x.reshape(-1, x.shape[-1])).view(x.shape[0], NFT, -1)

    def forward(self, ids, frames):
        """full forward: logits [T, V], final hidden [T, H], cache"""
        emb = self.lm.embed(ids, self.v_id, frames.reshape(-1, frames.shape[-1]))
        cache = [None] * self.lm.L
        hid = []
        logits = self.lm.forward(emb, cache, hid)
        return logits, hid[-1], cache

    def append(self, cache, keep, frames):
        """trim the cache to keep positions and feed [','] + <v> x 10 per frame: logits [k*11, V]"""
        c = [(k[:, :keep], v[:, :keep]) for k, v in cache]
        ph = torch.tensor([self.interval_id] + [self.v_id] * NFT)
        ids = ph.repeat(frames.shape[0])
        emb = self.lm.embed(ids, self.v_id, frames.reshape(-1, frames.shape[-1]))
        return self.lm.forward(emb, c), len(ph)


def load_samples(d):
    data = [json.loads(x) for x in open(os.path.join(d, "data.jsonl")) if x.strip()]
    labels = [json.loads(x) for x in open(os.path.join(d, "labels.jsonl")) if x.strip()]
    assert len(data) == len(labels)
    for x in labels:
        assert "error" not in x, x
    return data, labels

# ----------------------------------------------------------------------------
# tune: make ',' compete with the other tokens at stream positions
# ----------------------------------------------------------------------------


def hidden_and_rivals(model, d, data, labels, token, select):
    """final hidden states h [N, H] and the largest logit of any other token m [N] at the
    positions chosen by select(ids, label) over all samples"""
    H, M = [], []
    with torch.no_grad():
        for line, lab in zip(data, labels):
            ids, label = torch.tensor(lab["input_ids"]), torch.tensor(lab["labels"])
            logits, hid, _ = model.forward(ids, model.frames(d, line))
            sel = select(ids, label)
            H.append(hid[sel])
            other = logits[sel].clone()
            other[:, token] = -math.inf
            M.append(other.max(-1).values)
    return torch.cat(H), torch.cat(M)


def set_row(fix, model, token, h, m, frac):
    """rewrite lm_head's row of token so that it is the argmax at about frac of the rows of h:
    least squares for w.h = m + c, with c between two neighbours of the frac quantile of the
    needed offsets (in the widest nearby gap, away from ties)"""
    w0 = torch.linalg.lstsq(h, m[:, None]).solution[:, 0]
    w1 = torch.linalg.lstsq(h, torch.ones(len(m), 1, dtype=DT)).solution[:, 0]
    e0, e1 = h @ w0 - m, h @ w1
    need = torch.sort(torch.where(e1 > 0, -e0 / e1, torch.full_like(e0, math.inf))).values
    q = int(frac * len(need))
    j = max(range(max(q - 3, 0), min(q + 3, len(need) - 1)), key=lambda i: (need[i + 1] - need[i]).item())
    row = w0 + 0.5 * (need[j] + need[j + 1]).item() * w1
    # the merged row (base + LoRA) must be `row`: write base = row - (merged - base) into lm_head's shard
    llm = os.path.join(fix, "llm")
    idx = model_ref.load_json(os.path.join(llm, "model.safetensors.index.json"))
    shard = os.path.join(llm, idx["weight_map"]["lm_head.weight"])
    t = model_ref.st_read(shard)
    base = t["lm_head.weight"]
    base[token] = row - (model.w["lm_head.weight"][token] - base[token])
    import make_fixtures
    make_fixtures.write_safetensors(shard, {k: v.to(torch.bfloat16) for k, v in t.items()}, {"format": "pt"})
    return Model(fix)


def tune(fix, d):
    model = Model(fix)
    data, labels = load_samples(d)
    v_id = model.v_id
    # 1. ',' is made the argmax at about 9 in 10 labelled stream positions; 2. the most common label
    #    of each turn's first lm position (the "\\n" before "Assistant" with this small vocabulary)
    #    the argmax at about 3 in 5 of those positions, so LM-Correctness is not always 0
    firsts = []
    for lab in labels:
        prev_eos = True
        for i, (x, y) in enumerate(zip(lab["input_ids"], lab["labels"])):
            if prev_eos and y != IGNORE and x != v_id:
                firsts.append(y)
                prev_eos = False
            if x == model.eos_id:
                prev_eos = True
    tok_a = max(set(firsts), key=firsts.count)

    def first_lm(ids, label):
        learn = (label != IGNORE) & (ids != v_id)
        sel = torch.zeros_like(learn)
        turn_start = 0
        for stop in ((ids == model.eos_id).nonzero() + 1)[:, 0].tolist():
            nz = learn[turn_start:stop].nonzero()
            if len(nz):
                sel[turn_start + int(nz[0, 0])] = True
            turn_start = stop
        return sel & (label == tok_a)

    # ',' first (it tends to win everywhere once tuned), then the reply's first token
    h, m = hidden_and_rivals(model, d, data, labels, model.interval_id,
                             lambda ids, label: (ids == v_id) & (label != IGNORE))
    model = set_row(fix, model, model.interval_id, h, m, 0.9)
    h, m = hidden_and_rivals(model, d, data, labels, tok_a, first_lm)
    model = set_row(fix, model, tok_a, h, m, 0.6)
    # a threshold in the widest gap between the P(',') values near their lowest 15%, over the
    # labelled stream positions and every look-ahead row any threshold could ask for
    margins = {"p": [], "logit": [], "raw": []}
    with torch.no_grad():
        for line, lab in zip(data, labels):
            stream_evaluate(model, torch.tensor(lab["input_ids"]), torch.tensor(lab["labels"]),
                            model.frames(d, line), 0.0, margins, probe=True)
    P = [torch.tensor(margins["raw"], dtype=DT)]
    p = torch.sort(torch.cat(P)).values
    q = int(0.15 * len(p))
    j = max(range(max(q - 4, 0), min(q + 4, len(p) - 1)), key=lambda i: (p[i + 1] - p[i]).item())
    print("%.6f" % (0.5 * (p[j] + p[j + 1]).item()))


# ----------------------------------------------------------------------------
# eval: the metrics
# ----------------------------------------------------------------------------


def stream_evaluate(model, ids, label, frames, thr, margins, probe=False):
    """The metric of one sample (batch size 1) as a dict with the per-turn values. margins collects
    how close each decision was to a tie; probe (tuning only) also runs the look-ahead of turns
    that replied, to collect every P(',') a threshold could meet in "raw"."""
    v_id, iv, eos = model.v_id, model.interval_id, model.eos_id
    turn_stops = ((ids == eos).nonzero() + 1)[:, 0].tolist()
    turn_starts = [0] + turn_stops[:-1]
    num_turns = len(turn_starts)
    logit, _, cache = model.forward(ids, frames)

    def decide(score):
        """score: softmax rows; True where the row predicts a reply"""
        score = score.clone()
        margins["p"].extend((score[:, iv] - thr).abs().tolist())
        margins.setdefault("raw", []).extend(score[:, iv].tolist())
        if thr > 0:
            score[score[:, iv] < thr] = 0
        return score.argmax(-1) != iv

    def gap(lg, tok):
        """|logit of tok - the largest other logit| per row: how far each argmax decision is from a tie"""
        other = lg.clone()
        other[torch.arange(lg.shape[0]), tok] = -math.inf
        margins["logit"].extend((lg[torch.arange(lg.shape[0]), tok] - other.max(-1).values).abs().tolist())

    ppls, diffs, fluencies, corrs, turns = [], [], [], [], []
    for r, (a, b) in enumerate(zip(turn_starts, turn_stops)):
        tl, tid, tlg = label[a:b], ids[a:b], logit[a:b]
        learn = tl != IGNORE
        if not learn.any():
            continue
        v_mask = tid == v_id
        turn_frames = int(v_mask.sum()) // NFT
        stream_mask = v_mask & learn
        lm_mask = learn & ~stream_mask
        t = {"n_stream": int(stream_mask.sum()), "n_lm": int(lm_mask.sum()), "n_frames": turn_frames,
             "start": a, "stop": b}
        if lm_mask.any():
            lg, lb = tlg[lm_mask], tl[lm_mask]
            gap(lg, lb)
            ppl = F.cross_entropy(lg, lb).exp().item()
            wrong = lg.argmax(-1) != lb
            n_correct = int(wrong.nonzero()[0, 0]) if wrong.any() else int((~wrong).sum())
            ppls.append(ppl)
            corrs.append(n_correct / lb.numel())
            t.update(ppl=ppl, n_correct=n_correct, correctness=n_correct / lb.numel())
        if stream_mask.any():
            gap(tlg[stream_mask], torch.full((int(stream_mask.sum()),), iv))
            pred = decide(tlg[stream_mask].softmax(-1))
            k = 0
            if pred.any():
                diff = int(stream_mask.sum()) - int(pred.nonzero()[0, 0]) - 1
            if probe and r < num_turns - 1:
                nxt = int((ids[turn_starts[r + 1]:turn_stops[r + 1]] == v_id).sum()) // NFT
                kk, last = min(nxt, turn_frames - 1), int(stream_mask.nonzero()[-1, 0])
                past = int((ids[:b] == v_id).sum()) // NFT
                if kk > 0:
                    lg, step = model.append(cache, a + last + 1, frames[past:past + kk])
                    decide(lg[torch.arange(step - 1, lg.shape[0], step)].softmax(-1))
            if not pred.any():
                last = int(stream_mask.nonzero()[-1, 0])
                if r == num_turns - 1:
                    diff = 0
                else:
                    nxt = int((ids[turn_starts[r + 1]:turn_stops[r + 1]] == v_id).sum()) // NFT
                    k = min(nxt, turn_frames - 1)
                    if k <= 0:
                        diff, k = 0, 0
                    else:
                        past = int((ids[:b] == v_id).sum()) // NFT
                        lg, step = model.append(cache, a + last + 1, frames[past:past + k])
                        rows = lg[torch.arange(step - 1, lg.shape[0], step)]
                        gap(rows, torch.full((rows.shape[0],), iv))
                        p2 = decide(rows.softmax(-1))
                        diff = -(int(p2.nonzero()[0, 0]) + 1) if p2.any() else -k
            diffs.append(abs(diff))
            t.update(diff=diff, lookahead=k)
        if lm_mask.any() and stream_mask.any():
            nv, nl = int(stream_mask.sum()), int(lm_mask.sum())
            if diff == 0:
                fl = (nv + n_correct) / (nv + nl)
            elif diff > 0:
                fl = (nv - diff) / (nv + nl)
            else:
                fl = (nv - 1) / (nv + nl)
            fluencies.append(fl)
            t["fluency"] = fl
        turns.append(t)
    mean = lambda x, dflt: sum(x) / len(x) if x else dflt  # noqa: E731
    return {"lm_ppl": mean(ppls, 1.0), "lm_correctness": mean(corrs, 1.0), "frame_diff": mean(diffs, 0.0),
            "fluency": mean(fluencies, 1.0), "turns": turns}


def evaluate(fix, d, thr, out, fps=2.0):
    model = Model(fix)
    data, labels = load_samples(d)
    res, margins = [], {"p": [], "logit": []}
    with torch.no_grad():
        for line, lab in zip(data, labels):
            s = stream_evaluate(model, torch.tensor(lab["input_ids"]), torch.tensor(lab["labels"]),
                                model.frames(d, line), thr, margins)
            s["time_diff"] = s["frame_diff"] / fps
            res.append(s)
    avg = {k: sum(s[k] for s in res) / len(res) for k in ("lm_ppl", "lm_correctness", "frame_diff", "fluency")}
    avg["time_diff"] = avg["frame_diff"] / fps
    with open(out, "w") as f:
        json.dump({"samples": res, "average": avg}, f)
    ds = [t["diff"] for s in res for t in s["turns"] if "diff" in t]
    la = [t["lookahead"] for s in res for t in s["turns"] if "diff" in t]
    branches = {"early": sum(x > 0 for x in ds), "late": sum(x < 0 for x in ds), "zero": sum(x == 0 for x in ds),
                "lookahead": sum(x > 0 for x in la), "never": sum(k > 0 and x == -k for x, k in zip(ds, la)),
                "correct_prefix>0": sum(t.get("n_correct", 0) > 0 for s in res for t in s["turns"])}
    mp, ml = min(margins["p"]), min(margins["logit"])
    print("eval_ref threshold %g: %d samples, turns with diffs %s, min |P(',') - thr| %.2e, min decision logit margin "
          "%.2e" % (thr, len(res), branches, mp, ml))
    # every branch of the metric must occur at threshold 0 (else the fixture tuning has drifted)
    if thr == 0 and not all(branches.values()):
        print("eval_ref: some branch of the metric does not occur: %s" % branches)
        sys.exit(1)
    # the f32 runtime must take the same decisions: refuse near ties
    if ml < 1e-5 or (thr > 0 and mp < 1e-5):
        print("eval_ref: a decision is too close to a tie for an f32 comparison; change the seeds")
        sys.exit(1)

# ----------------------------------------------------------------------------
# compare
# ----------------------------------------------------------------------------


def compare(ours_path, ref_path):
    ours, ref = json.load(open(ours_path)), json.load(open(ref_path))
    bad = []

    def close(a, b, what):
        if a is None or abs(a - b) > 1e-4 * max(abs(b), 1e-12):
            bad.append("%s: ours %r, reference %r" % (what, a, b))

    if len(ours["samples"]) != len(ref["samples"]):
        bad.append("%d samples, reference %d" % (len(ours["samples"]), len(ref["samples"])))
    worst = 0.0
    for i, (o, r) in enumerate(zip(ours["samples"], ref["samples"])):
        for k in ("lm_ppl", "lm_correctness", "frame_diff", "time_diff", "fluency"):
            close(o[k], r[k], "sample %d %s" % (i, k))
            worst = max(worst, abs(o[k] - r[k]) / max(abs(r[k]), 1e-12))
        if len(o["turns"]) != len(r["turns"]):
            bad.append("sample %d: %d turns, reference %d" % (i, len(o["turns"]), len(r["turns"])))
            continue
        for j, (ot, rt) in enumerate(zip(o["turns"], r["turns"])):
            for k in ("start", "stop", "n_frames", "n_stream", "n_lm", "diff", "lookahead", "n_correct"):
                if ot.get(k) != rt.get(k):
                    bad.append("sample %d turn %d %s: ours %r, reference %r" % (i, j, k, ot.get(k), rt.get(k)))
            for k in ("ppl", "correctness", "fluency"):
                if (k in ot) != (k in rt):
                    bad.append("sample %d turn %d: %s present in one only" % (i, j, k))
                elif k in rt:
                    close(ot[k], rt[k], "sample %d turn %d %s" % (i, j, k))
    for k in ("lm_ppl", "lm_correctness", "time_diff", "fluency", "frame_diff"):
        close(ours["average"][k], ref["average"][k], "average %s" % k)
    for b in bad[:20]:
        print("MISMATCH", b)
    a = ref["average"]
    print("%s: %d samples, worst relative error %.2e; LM-PPL %.4f LM-Correctness %.4f TimeDiff %.4f Fluency %.4f"
          % ("ok" if not bad else "FAIL", len(ref["samples"]), worst, a["lm_ppl"], a["lm_correctness"],
             a["time_diff"], a["fluency"]))
    return 1 if bad else 0


def main(argv):
    if len(argv) == 4 and argv[1] == "prepare":
        fix, d = argv[2], argv[3]
        gen(fix, d)
        import labels_ref
        rc = labels_ref.main(["labels_ref.py", os.path.join(fix, "llm", "tokenizer.json"),
                              os.path.join(d, "convs.jsonl"), os.path.join(d, "labels.jsonl")])
        if rc:
            return rc
        tune(fix, d)
    elif len(argv) >= 6 and argv[1] == "check" and len(argv) % 2 == 0:
        rc = 0
        for thr, ours in zip(argv[4::2], argv[5::2]):
            ref = ours + ".ref.json"
            evaluate(argv[2], argv[3], float(thr), ref)
            print("threshold %s: " % thr, end="")
            rc |= compare(ours, ref)
        return rc
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
