#!/usr/bin/python3
"""hidden_probe.py TOKENIZER.json STATES.bin [TRAIN_SAMPLES] - where a model's
hidden states hold what an "appears" reply needs (docs/demo-model-experiments.md, "Handing
the change to the reply").

STATES.bin is `videollm hidden` output on synthetic narration data. For every
reply sentence "A <size> <colour> <shape> appears." it takes three predicting
positions: " A" (predicts the size word), the size word (the colour word) and
the colour word (the shape word), and the last frame token before " A". It
prints the model's own teacher-forced accuracy on each word and the accuracy
of ridge probes (one-hot targets, standardised inputs, lambda 10) on every
state (0 = input embeddings, k = output of layer k-1) at the predicting
position and at the frame's last token: fitted on the first TRAIN_SAMPLES
samples (default 140), tested on the rest. NumPy only."""
import json
import sys

import numpy as np

SIZES = ["small", "large"]
COLOURS = ["red", "green", "blue", "yellow", "white", "purple"]
SHAPES = ["square", "circle", "triangle"]


def samples(path):
    raw = open(path, "rb").read()
    off = 0
    while off < len(raw):
        n, S, H = np.frombuffer(raw, "<i4", 3, off)
        off += 12
        ids = np.frombuffer(raw, "<i4", n, off)
        off += 4 * n
        am = np.frombuffer(raw, "<i4", n, off)
        off += 4 * n
        hid = np.frombuffer(raw, "<f4", S * n * H, off).reshape(S, n, H)
        off += 4 * S * n * H
        yield ids, am, hid


def ridge(xtr, ytr, xte, yte, k, lam=10.0):
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
    a, b = (xtr - mu) / sd, (xte - mu) / sd
    y = np.eye(k)[ytr]
    w = np.linalg.solve(a.T @ a + lam * np.eye(a.shape[1]), a.T @ (y - y.mean(0)))
    return ((b @ w).argmax(1) == yte).mean()


def main(argv):
    tok = json.load(open(argv[1]))
    vocab = tok["model"]["vocab"]
    split = int(argv[3]) if len(argv) > 3 else 140
    word = {w: vocab.get("\u0120" + w) for w in SIZES + COLOURS + SHAPES + ["A", "appears"]}
    missing = [w for w, i in word.items() if i is None]
    if missing:
        sys.exit("hidden_probe: the tokenizer has no single token for " + ", ".join(missing))
    n_text = len(vocab)
    recs = {"size": [], "colour": [], "shape": []}
    for si, (ids, am, hid) in enumerate(samples(argv[2])):
        frames = np.nonzero(ids >= n_text)[0]  # <v> (added after the vocabulary) and the special tokens
        for j in range(1, len(ids) - 4):
            w = ids[j:j + 5]
            if w[0] != word["A"] or w[4] != word["appears"]:
                continue
            try:
                lab = (SIZES.index(next(k for k in SIZES if word[k] == w[1])),
                       COLOURS.index(next(k for k in COLOURS if word[k] == w[2])),
                       SHAPES.index(next(k for k in SHAPES if word[k] == w[3])))
            except StopIteration:
                continue
            last = frames[frames < j].max() if (frames < j).any() else 0
            for name, p, y in (("size", j, lab[0]), ("colour", j + 1, lab[1]), ("shape", j + 2, lab[2])):
                recs[name].append((si, y, am[p] == ids[p + 1], hid[:, p, :].copy(), hid[:, last, :].copy()))
    for name, k in (("size", 2), ("colour", 6), ("shape", 3)):
        r = recs[name]
        if not r:
            sys.exit("hidden_probe: no \"A <size> <colour> <shape> appears.\" replies found")
        sc = np.array([x[0] for x in r])
        y = np.array([x[1] for x in r])
        ok = np.array([x[2] for x in r])
        tr, te = sc < split, sc >= split
        line = f"{name}: {len(r)} replies, the model {ok.mean() * 100:.1f}%"
        if tr.sum() and te.sum():
            for label, col in (("probe at the predicting token", 3), ("probe at the frame's last token", 4)):
                accs = [ridge(np.array([x[col][s] for x in r])[tr], y[tr], np.array([x[col][s] for x in r])[te],
                              y[te], k) for s in range(r[0][3].shape[0])]
                line += f"; {label} by state " + " ".join(f"{a * 100:.0f}%" for a in accs)
        print(line)


if __name__ == "__main__":
    main(sys.argv)
