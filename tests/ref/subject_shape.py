#!/usr/bin/python3
"""subject_shape.py TOKENIZER.json STATES.bin - whether a model names the shape of a reply's subject
"The <colour> <shape>" (moves, turns, collisions, disappearances) by copying it from the
conversation (docs/demo-model.md, "What limits it now").

STATES.bin is `videollm hidden` output (teacher-forced) on synthetic narration data. At every colour
word after "The" that is followed by a shape word, it takes the model's most likely next token and
splits the subjects by whether the word after the latest earlier mention of that colour is the right
shape (a copy, "induction", would be right) or not. Prints, per group, how often the model is right
and how often it predicts that copied word. NumPy only."""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hidden_probe import samples  # noqa: E402

COLOURS = ["red", "green", "blue", "yellow", "white", "purple"]
SHAPES = ["square", "circle", "triangle"]


def subject_tokens(path, who, words=()):
    """The ids of the colour words, the shape words and "The" (with and without a leading space) in
    the tokenizer.json at path, and {id: word} for the given words (each with a leading space);
    exits naming who when one is not a single token."""
    vocab = json.load(open(path))["model"]["vocab"]
    try:
        return ({vocab["\u0120" + c] for c in COLOURS}, {vocab["\u0120" + s] for s in SHAPES},
                {vocab["The"], vocab["\u0120The"]}, {vocab["\u0120" + w]: w for w in words})
    except KeyError as e:
        sys.exit(f"{who}: the tokenizer has no single token for {e}")


def main(argv):
    if len(argv) != 3:
        sys.exit(__doc__)
    cid, sid, the, _ = subject_tokens(argv[1], "subject_shape")
    stats = {}
    for ids, am, _ in samples(argv[2]):
        for p in range(1, len(ids) - 1):
            if ids[p] in cid and ids[p + 1] in sid and ids[p - 1] in the:
                prev = np.nonzero(ids[:p] == ids[p])[0]
                copied = ids[prev[-1] + 1] if len(prev) else -1
                st = stats.setdefault(bool(copied == ids[p + 1]), [0, 0, 0])
                st[0] += 1
                st[1] += am[p] == ids[p + 1]
                st[2] += am[p] == copied
    if not stats:
        sys.exit("subject_shape: no \"The <colour> <shape>\" subjects found")
    for key, label in ((True, "the copy is right"), (False, "the copy is wrong")):
        if key in stats:
            k, right, cop = stats[key]
            print(f"{label}: {k} subjects, the model right {100 * right / k:.1f}%, "
                  f"the model predicts the copied word {100 * cop / k:.1f}%")
    k = sum(v[0] for v in stats.values())
    print(f"all: {k} subjects, the model right {100 * sum(v[1] for v in stats.values()) / k:.1f}%")


if __name__ == "__main__":
    main(sys.argv)
