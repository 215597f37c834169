#!/usr/bin/python3
"""first_frame.py STREAMS_DIR - how a model narrates the objects of a clip's first frame, by how many
there are (docs/demo-model-experiments.md, "Two new objects in one reply").

STREAMS_DIR holds, per clip, NAME.events.json (`videollm synth`) and NAME.stream.jsonl
(`videollm stream --json`), as the recipe's WORK_DIR/streams. Every clip starts with one or two
objects appearing at 0 s. An appearance counts as narrated when a reply within 1 s holds its
sentence exactly ("A small red circle appears.": size, colour and shape right; `videollm score`
asks the same of an appearance). For the missed ones, counts what the reply's sentences got wrong
against the best-matching truth; how many first replies name one colour twice, how many are all
right, and how many name the right colours but give one a size or shape that is not its own.
Standard library only."""
import glob
import json
import re
import sys
from collections import Counter

SENT = re.compile(r"A (small|large) (\w+) (\w+) appears\.")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    c = Counter()
    for ef in sorted(glob.glob(sys.argv[1] + "/*.events.json")):
        with open(ef) as f:
            events = json.load(f)["events"]
        said = []
        with open(ef[: -len(".events.json")] + ".stream.jsonl") as f:
            for line in f:
                r = json.loads(line)
                if r.get("event") == "response" and r["time"] <= 1.0:
                    said += SENT.findall(r["text"])
        first = [e for e in events if e["tick"] == 0]
        n = len(first)
        c["clips", n] += 1
        colours = [s[1] for s in said]
        c["one colour twice", n] += len(colours) != len(set(colours))
        truth = [tuple(SENT.match(e["text"]).groups()) for e in first]
        if sorted(said) == sorted(truth):
            c["all right", n] += 1
        elif sorted(s[1] for s in said) == sorted(t[1] for t in truth):
            c["colours right, a size or shape bound to the wrong one", n] += 1
        for t in truth:
            c["events", n] += 1
            if t in said:
                c["narrated", n] += 1
                continue
            # the sentence closest to it (most fields equal) among those not matching another truth
            rest = [s for s in said if s not in truth] or [("", "", "")]
            best = max(rest, key=lambda s: sum(a == b for a, b in zip(s, t)))
            for field, a, b in zip(("size", "colour", "shape"), best, t):
                c["wrong " + field, n] += a != b
    for n in (1, 2):
        if not c["clips", n]:
            continue
        print(f"{n} object(s) at 0 s: {c['clips', n]} clips, {c['narrated', n]} of {c['events', n]} appearances "
              f"narrated ({100 * c['narrated', n] / c['events', n]:.1f}%); missed ones wrong in size "
              f"{c['wrong size', n]}, colour {c['wrong colour', n]}, shape {c['wrong shape', n]}; "
              f"first replies naming one colour twice: {c['one colour twice', n]}; first replies all right: "
              f"{c['all right', n]}, naming the right colours but a wrong size or shape: "
              f"{c['colours right, a size or shape bound to the wrong one', n]}")


if __name__ == "__main__":
    main()
