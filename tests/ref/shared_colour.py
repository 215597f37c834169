#!/usr/bin/python3
"""shared_colour.py STREAMS_DIR [FEATURES_DIR SHAPE_DIM] - which events a model narrates, split by
whether another object on screen has the subject's colour, and what its replies get wrong where it
misses (docs/demo-model.md, "What limits it now").

STREAMS_DIR holds, per clip, NAME.events.json (`videollm synth`) and NAME.stream.jsonl
(`videollm stream --json`), as the recipe's WORK_DIR/streams. An event counts as narrated when a
sentence of a reply within [t, t + 1 s] is its text (for the recipe's clips this is exactly what
`videollm score` counts; the script prints the total to compare). An event's colour is shared when
another object present then has the subject's colour (for "turns", or the new one). Per action it
prints narrated events for unique and shared colours; then, for the missed unique-colour events of
each action, whether the window was silent, named another action, or which fields of the first
sentence with the event's action are wrong (size, colour, shape, direction, new colour).

With FEATURES_DIR (the recipe's WORK_DIR/heldout: scene_XXXX.safetensors, `videollm synth
--features`) and SHAPE_DIM (where the designed tower's head token holds its three shape sums, square,
circle, triangle: the "shapes" dimension of `videollm calibrate --design-tower`'s report line), it
also checks the tower itself: at every appearance after the first frame, whether the largest change
of the shape sums from the frame before names the appearing object's shape. Standard library only
(and spoken_at_event.py beside it)."""
import json
import os
import re
import sys
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from spoken_at_event import event_paths, head_tokens  # noqa: E402

SHAPES = ["square", "circle", "triangle"]
PATTERNS = {
    "appears": re.compile(r"^a (small|large) (\w+) (\w+) appears\.$"),
    "moves": re.compile(r"^the (\w+) (\w+) moves (\w+)\.$"),
    "turns": re.compile(r"^the (\w+) (\w+) turns (\w+)\.$"),
    "collides": re.compile(r"^the (\w+) (\w+) collides with the (\w+) (\w+)\.$"),
    "disappears": re.compile(r"^the (\w+) (\w+) disappears\.$"),
}
ACTIONS = list(PATTERNS)


def wrong_fields(action, groups, ev, shape, size):
    """The fields of a parsed sentence that differ from the event."""
    if action == "appears":
        want = [("size", size), ("colour", ev["colour"]), ("shape", shape)]
    else:
        want = [("colour", ev["colour"]), ("shape", shape)]
        if action == "moves":
            want.append(("direction", ev["direction"]))
        if action == "turns":
            want.append(("new colour", ev["new_colour"]))
    return [name for (name, w), g in zip(want, groups) if g != w]


def main(argv):
    paths = event_paths(argv, (2, 4), "shared_colour", __doc__)
    shape_dim = int(argv[3]) if len(argv) == 4 else None
    total, narrated = Counter(), Counter()
    misses = {a: Counter() for a in ACTIONS}
    tower = Counter()
    for ev_path in paths:
        name = os.path.basename(ev_path)[: -len(".events.json")]
        with open(ev_path) as f:
            scene = json.load(f)
        objects = {o["id"]: (o["shape"], o["size"]) for o in scene["objects"]}
        sentences = []
        with open(os.path.join(argv[1], name + ".stream.jsonl")) as f:
            for line in f:
                r = json.loads(line) if line.strip() else {}
                if r.get("event") == "response":
                    for s in re.split(r"(?<=\.)\s+", r.get("text", "").strip().lower()):
                        if s:
                            sentences.append((r["time"], s))
        heads = head_tokens(os.path.join(argv[2], name + ".safetensors")) if shape_dim is not None else None
        colour = {}  # object -> its colour now
        for ev in scene["events"]:
            o, a = ev["object"], ev["action"]
            others = [c for p, c in colour.items() if p != o]
            shared = ev["colour"] in others or (a == "turns" and ev["new_colour"] in others)
            key = (a, "shared" if shared else "unique")
            t = ev["time"]
            window = [s for rt, s in sentences if t - 1e-6 <= rt <= t + 1.0 + 1e-6]
            ok = ev["text"].lower() in window
            total[key] += 1
            narrated[key] += ok
            if not ok and not shared:
                parsed = [m.groups() for m in (PATTERNS[a].match(s) for s in window) if m]
                if not window:
                    misses[a]["silent"] += 1
                elif not parsed:
                    misses[a]["another action"] += 1
                else:
                    bad = wrong_fields(a, parsed[0], ev, *objects[o])
                    misses[a]["wrong " + " + ".join(bad) if bad else "right, in another sentence"] += 1
            if a == "appears":
                frame = -(-ev["tick"] * 2 // scene["tick_hz"])  # the first 2 fps frame at or after it
                if heads is not None and 1 <= frame < len(heads):
                    ch = [heads[frame][shape_dim + k] - heads[frame - 1][shape_dim + k] for k in range(3)]
                    tower[key[1]] += 1
                    tower[key[1] + " right"] += SHAPES[ch.index(max(ch))] == objects[o][0]
                colour[o] = ev["colour"]
            elif a == "turns":
                colour[o] = ev["new_colour"]
            elif a == "disappears":
                colour.pop(o, None)
    print("narrated within 1 s (a sentence equal to the event's text), unique / shared colour:")
    for a in ACTIONS:
        cells = []
        for k in ("unique", "shared"):
            n, m = total[(a, k)], narrated[(a, k)]
            cells.append(f"{k} {m}/{n} = {100 * m / n:.1f}%" if n else f"{k} 0/0")
        print(f"  {a:10s} " + ", ".join(cells))
    print(f"  all: {sum(narrated.values())}/{sum(total.values())}")
    for a in ACTIONS:
        if misses[a]:
            print(f"missed {a} (unique colour): " + ", ".join(f"{k} {v}" for k, v in misses[a].most_common()))
    if shape_dim is not None:
        for k in ("unique", "shared"):
            if tower[k]:
                print(f"tower: the shape sums' largest change names the appearing shape for {tower[k + ' right']}"
                      f"/{tower[k]} appearances after the first frame ({k} colour)")


if __name__ == "__main__":
    main(sys.argv)
