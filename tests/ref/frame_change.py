#!/usr/bin/python3
"""frame_change.py FEATURES_DIR [N_TRAIN] - how large a change each kind of event makes in the
frame tokens the LM receives, and whether a move's direction can be read off that change
(docs/demo-model-experiments.md, "Moves are a small change").

FEATURES_DIR holds, per clip, scene_XXXX.safetensors (`videollm synth --features`: one F32 tensor
`features` [T, 10, D], the tower's tokens of the 2 fps frames, head token first) and
scene_XXXX.events.json, as the recipe's WORK_DIR/heldout. An event belongs to the first 2 fps
frame at or after it (the narration's rule); events at 0 s are left out (no frame before them).

Prints, per kind of frame (the action of its event; "+" when two events share it; "still" and
"moving" for frames with no event, by whether the head token changed), the median and 10th
percentile of the L2 change of the head token and of the nine grid tokens from the frame before.
Then a ridge probe (one-vs-rest, lambda 1e-2) of a move's direction from the head token's change
and from the summed change of the grid tokens, fitted on the moves of the first N_TRAIN clips
(default half of them) and scored on the rest. Needs NumPy."""
import glob
import json
import struct
import sys

import numpy as np

DIRECTIONS = ["left", "right", "up", "down"]


def load(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    t = json.loads(raw[8:8 + n])["features"]
    if t["dtype"] != "F32":
        sys.exit(f"{path}: features are {t['dtype']}, expected F32")
    s, e = t["data_offsets"]
    return np.frombuffer(raw[8 + n + s:8 + n + e], dtype=np.float32).reshape(t["shape"])


def frame_of(tick):
    return -(-tick * 2 // 10)  # first 2 fps frame (ticks of 0.1 s) at or after the tick


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    paths = sorted(glob.glob(sys.argv[1] + "/scene_*.safetensors"))
    if not paths:
        sys.exit(f"{sys.argv[1]}: no scene_*.safetensors")
    n_train = int(sys.argv[2]) if len(sys.argv) == 3 else len(paths) // 2
    change = {}
    X, Y, clip = [], [], []
    for i, p in enumerate(paths):
        f = load(p).astype(np.float64)
        events = json.load(open(p[:-len(".safetensors")] + ".events.json"))["events"]
        label = [None] * f.shape[0]
        for e in events:
            r = frame_of(e["tick"])
            if e["tick"] == 0 or r >= f.shape[0]:
                continue
            label[r] = e["action"] if label[r] is None else label[r].rstrip("+") + "+"
            if e["action"] == "moves":
                X.append(np.concatenate([f[r, 0] - f[r - 1, 0], (f[r, 1:] - f[r - 1, 1:]).sum(0)]))
                Y.append(DIRECTIONS.index(e["direction"]))
                clip.append(i)
        for r in range(1, f.shape[0]):
            head = np.linalg.norm(f[r, 0] - f[r - 1, 0])
            grid = np.linalg.norm(f[r, 1:] - f[r - 1, 1:])
            kind = label[r] or ("moving" if head > 1e-6 else "still")
            change.setdefault(kind, []).append((head, grid))
    print(f"{len(paths)} clips; L2 change of the frame tokens from the frame before")
    print(f"{'frame':12s} {'n':>6s} {'head median':>12s} {'head p10':>9s} {'grid median':>12s} {'grid p10':>9s}")
    for kind in sorted(change):
        v = np.array(change[kind])
        print(f"{kind:12s} {len(v):6d} {np.median(v[:, 0]):12.3f} {np.percentile(v[:, 0], 10):9.3f}"
              f" {np.median(v[:, 1]):12.3f} {np.percentile(v[:, 1], 10):9.3f}")
    X, Y, clip = np.array(X), np.array(Y), np.array(clip)
    tr, te = clip < n_train, clip >= n_train
    if tr.sum() < 8 or te.sum() < 8:
        sys.exit(f"too few moves to probe ({tr.sum()} / {te.sum()})")
    D = X.shape[1] // 2
    for name, cols in (("head token change", slice(0, D)), ("summed grid change", slice(D, 2 * D))):
        A = np.c_[X[tr][:, cols], np.ones(tr.sum())]
        B = np.c_[X[te][:, cols], np.ones(te.sum())]
        W = np.linalg.solve(A.T @ A + 1e-2 * np.eye(A.shape[1]), A.T @ np.eye(4)[Y[tr]])
        acc = ((B @ W).argmax(1) == Y[te]).mean()
        print(f"direction of a move from the {name}: {100 * acc:.1f}% of {te.sum()} test moves"
              f" (ridge on {tr.sum()}; chance 25%)")


if __name__ == "__main__":
    main()
