#!/usr/bin/python3
"""shape_at_colour.py TOKENIZER.json STATES.bin - teacher-forced, at every colour word followed by a
shape word: is the model's most likely next token that shape (docs/demo-model-experiments.md, "The
shape of the colour just named")? Split by the word before the colour ("The": a subject; a size word:
an appearance; other: e.g. an answer) and by the action that follows the shape.

STATES.bin is `videollm hidden` output on synthetic narration data (the recipe's
WORK_DIR/heldout/train.jsonl). Prints, per group, the count, how often the shape is right and how
often the prediction is a shape word at all. NumPy only."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hidden_probe import samples  # noqa: E402

COLOURS = ["red", "green", "blue", "yellow", "white", "purple"]
SHAPES = ["square", "circle", "triangle"]
ACTIONS = ["appears", "moves", "turns", "collides", "disappears"]


def main(argv):
    if len(argv) != 3:
        sys.exit(__doc__)
    vocab = json.load(open(argv[1]))["model"]["vocab"]
    try:
        cid = {vocab["\u0120" + c] for c in COLOURS}
        sid = {vocab["\u0120" + s] for s in SHAPES}
        aid = {vocab["\u0120" + a]: a for a in ACTIONS}
        sizes = {vocab["\u0120small"], vocab["\u0120large"]}
        the = {vocab["The"], vocab["\u0120The"]}
    except KeyError as e:
        sys.exit(f"shape_at_colour: the tokenizer has no single token for {e}")
    stats = {}
    for ids, am, _ in samples(argv[2]):
        n = len(ids)
        for i in range(1, n - 1):
            if ids[i] not in cid or ids[i + 1] not in sid:
                continue
            ctx = "The" if ids[i - 1] in the else "size" if ids[i - 1] in sizes else "other"
            act = next((aid[ids[j]] for j in range(i + 2, min(n, i + 4)) if ids[j] in aid), "?")
            s = stats.setdefault((ctx, act), [0, 0, 0])
            s[0] += 1
            s[1] += am[i] == ids[i + 1]
            s[2] += am[i] in sid
    if not stats:
        sys.exit("shape_at_colour: no colour word followed by a shape word")
    tot = [0, 0, 0]
    for key in sorted(stats):
        n, r, sh = stats[key]
        tot = [a + b for a, b in zip(tot, stats[key])]
        print(f"{key[0]:5s} {key[1]:10s} {n:5d}: right shape {100 * r / n:5.1f}%  a shape word {100 * sh / n:5.1f}%")
    print(f"all {tot[0]}: right shape {100 * tot[1] / tot[0]:.1f}%")


if __name__ == "__main__":
    main(sys.argv)
