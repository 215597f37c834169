#!/usr/bin/python3
"""subject_words.py TOKENIZER.json STATES.bin - how often a model, teacher-forced, names the subject
of a reply "The <colour> <shape> <action> ..." right, by action (docs/demo-model-experiments.md, "Which colour
moved: the colours' own moments").

STATES.bin is `videollm hidden` output on synthetic narration data (the recipe's
WORK_DIR/heldout/train.jsonl). At every "The" followed by a colour word, a shape word and an action
(moves, turns, collides, disappears) it compares the model's most likely next token at "The" with
the colour word and at the colour word with the shape word. Prints, per action, the subjects and
how often the colour, the shape and both are right. NumPy only."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hidden_probe import samples  # noqa: E402
from subject_shape import subject_tokens  # noqa: E402

ACTIONS = ["moves", "turns", "collides", "disappears"]


def main(argv):
    if len(argv) != 3:
        sys.exit(__doc__)
    cid, sid, the, act = subject_tokens(argv[1], "subject_words", ACTIONS)
    stats = {a: [0, 0, 0, 0] for a in ACTIONS}
    for ids, am, _ in samples(argv[2]):
        for p in range(len(ids) - 3):
            if ids[p] in the and ids[p + 1] in cid and ids[p + 2] in sid and ids[p + 3] in act:
                st = stats[act[ids[p + 3]]]
                c, s = am[p] == ids[p + 1], am[p + 1] == ids[p + 2]
                st[0] += 1
                st[1] += c
                st[2] += s
                st[3] += c and s
    if not sum(v[0] for v in stats.values()):
        sys.exit("subject_words: no \"The <colour> <shape> <action>\" subjects found")
    for a in ACTIONS:
        n, c, s, b = stats[a]
        if n:
            print(f"{a:10s} {n:5d} subjects: colour {100 * c / n:5.1f}%, shape {100 * s / n:5.1f}%, "
                  f"both {100 * b / n:5.1f}%")


if __name__ == "__main__":
    main(sys.argv)
