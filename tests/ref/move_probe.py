#!/usr/bin/python3
"""move_probe.py TOKENIZER.json STATES.bin MODEL.gguf DIM_DX [HEAD] - whether a
model's hidden states carry the direction of a move where it is needed
(docs/demo-model-experiments.md, "The direction of a move: a readout").

STATES.bin is `videollm hidden` output on synthetic narration data, MODEL.gguf
the LM file it was made with (designed by `videollm calibrate --move-readout`,
whose report line names DIM_DX, the dimension of the change of the column
moments; the row moments' is the next one). For every reply "The <colour>
<shape> moves <direction>." it takes the last frame token before the reply and
the " moves" token (which predicts the direction), and prints:
  - the model's own teacher-forced accuracy on the direction word;
  - at the frame's last token after layer 0 (state 1), the direction read as
    the largest of -dX, dX, -dY, dY (left, right, up, down) along DIM_DX and
    DIM_DX + 1: what heads 0-1 of layer 0 wrote there;
  - at " moves", on every state (0 = input embeddings, k = output of layer
    k - 1), the same readout along the first two output columns of layer 1's
    head HEAD (default 1, the word head; 0 for the reply head), where those
    heads write dX and dY, each centred on its mean over the moves.
Chance is about 25%. NumPy only (and gguf_check.py and hidden_probe.py beside
this file)."""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gguf_check import Gguf  # noqa: E402
from hidden_probe import samples  # noqa: E402

DIRECTIONS = ["left", "right", "up", "down"]


def largest(a, b):
    """left, right, up, down: the largest of -a, a, -b, b"""
    return np.argmax(np.stack([-a, a, -b, b], 1), 1)


def main(argv):
    if len(argv) not in (5, 6):
        print(__doc__, file=sys.stderr)
        return 2
    tok = json.load(open(argv[1]))
    vocab = tok["model"]["vocab"]
    # <v> (a frame position): the id after the tokenizer's last
    frame_id = max(list(vocab.values()) + [a["id"] for a in tok.get("added_tokens", [])]) + 1
    moves = vocab["\u0120moves"]
    dirs = [vocab["\u0120" + d] for d in DIRECTIONS]
    dx = int(argv[4])
    head = int(argv[5]) if len(argv) == 6 else 1
    g = Gguf(argv[3])
    wo = np.asarray(g.values("blk.1.attn_output.weight"), dtype=np.float64)
    labels, right, fx, fy, at = [], [], [], [], []
    for ids, am, hid in samples(argv[2]):
        if wo.ndim == 1:
            wo = wo.reshape(hid.shape[2], -1)
        for t in range(len(ids) - 1):
            if ids[t] != moves or ids[t + 1] not in dirs:
                continue
            f = t
            while f > 0 and ids[f] != frame_id:
                f -= 1
            labels.append(dirs.index(ids[t + 1]))
            right.append(am[t] == ids[t + 1])
            fx.append(hid[1, f, dx])
            fy.append(hid[1, f, dx + 1])
            at.append(hid[:, t, :].astype(np.float64))
    if not labels:
        print("no move replies in the data", file=sys.stderr)
        return 1
    y = np.array(labels)
    print("%d move replies; the model's own direction word right: %.1f%%" % (len(y), 100 * np.mean(right)))
    print("frame's last token after layer 0, dimensions %d and %d: %.1f%%" %
          (dx, dx + 1, 100 * np.mean(largest(np.array(fx), np.array(fy)) == y)))
    dh = wo.shape[1] // 4
    u0, u1 = wo[:, head * dh], wo[:, head * dh + 1]
    at = np.stack(at)  # [moves][states][H]
    for s in range(at.shape[1]):
        a = at[:, s] @ u0 / (u0 @ u0)
        b = at[:, s] @ u1 / (u1 @ u1)
        print("' moves', state %d, along head %d's dX and dY: %.1f%%" %
              (s, head, 100 * np.mean(largest(a - a.mean(), b - b.mean()) == y)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
