#!/usr/bin/python3
"""spoken_at_event.py STREAMS_DIR [FEATURES_DIR] - whether a model speaks at the frame of each event, apart from
whether what it says is right (docs/demo-model.md, "What limits it now").

STREAMS_DIR holds, per clip, NAME.events.json (`videollm synth`) and NAME.stream.jsonl
(`videollm stream --json`), as the recipe's WORK_DIR/streams. An event's frame is the first 2 fps
frame at or after it (the narration's own rule). Per action, and for appearances at 0 s apart,
prints how many events have a reply at that frame, and the median P(interval) there; then the
same P for frames with no event. `videollm score` says whether the replies are right; this says
whether the model spoke at all. Last, for the moves with a sentence "The <colour> <shape> moves
<direction>." in a reply within 1 s after them, how often its first such sentence names the right
direction, colour and shape. With FEATURES_DIR (the recipe's WORK_DIR/heldout: scene_XXXX.safetensors,
`videollm synth --features`, named as the streams), the frames with no event are split by whether
the head token changed from the frame before ("an object moving": a motion going on) or not.
Standard library only."""
import glob
import json
import os
import re
import struct
import sys
from array import array
from collections import defaultdict


def head_tokens(path):
    """The head token of every frame, [T] arrays of D floats (features [T, K, D], F32)."""
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    t = json.loads(raw[8:8 + n])["features"]
    if t["dtype"] != "F32" or len(t["shape"]) != 3:
        sys.exit(f"{path}: features are {t['dtype']} {t['shape']}, expected F32 [T, K, D]")
    T, K, D = t["shape"]
    s, e = t["data_offsets"]
    x = array("f")
    x.frombytes(raw[8 + n + s:8 + n + e])
    if sys.byteorder != "little":
        x.byteswap()
    return [x[r * K * D:r * K * D + D] for r in range(T)]


def moving_frames(path):
    """Frame indices whose head token differs from the frame before (features [T, K, D], F32)."""
    head = head_tokens(path)
    return {r for r in range(1, len(head)) if any(abs(a - b) > 1e-6 for a, b in zip(head[r], head[r - 1]))}


def event_paths(argv, n_args, who, doc):
    """The sorted *.events.json of the folder argv[1]; exits with doc when len(argv) is not in
    n_args, and naming who when the folder has none."""
    if len(argv) not in n_args:
        sys.exit(doc)
    paths = sorted(glob.glob(os.path.join(argv[1], "*.events.json")))
    if not paths:
        sys.exit(f"{who}: no *.events.json in {argv[1]}")
    return paths


def main(argv):
    paths = event_paths(argv, (2, 3), "spoken_at_event", __doc__)
    spoken, probs, quiet, quiet_moving = defaultdict(lambda: [0, 0]), defaultdict(list), [], []
    moves = [0, 0, 0, 0]  # with a move sentence; right direction, colour, shape
    for ev_path in paths:
        stream_path = ev_path[: -len(".events.json")] + ".stream.jsonl"
        with open(ev_path) as f:
            scene = json.load(f)
        events, shapes = scene["events"], {o["id"]: o["shape"] for o in scene["objects"]}
        tick_hz = scene["tick_hz"]
        with open(stream_path) as f:
            lines = [json.loads(line) for line in f if line.strip()]
        p = {round(x["time"], 2): x["p_interval"] for x in lines if x["event"] == "frame"}
        replies = [(x["time"], x["text"]) for x in lines if x["event"] == "response"]
        said = {round(t, 2) for t, _ in replies}
        at = set()
        for e in events:
            frame = -(-e["tick"] * 2 // tick_hz) / 2  # ceil to the 2 fps grid, in whole ticks
            at.add(frame)
            key = e["action"] + (" at 0 s" if e["time"] == 0 else "")
            spoken[key][0] += 1
            spoken[key][1] += frame in said
            if frame in p:
                probs[key].append(p[frame])
            if e["action"] == "moves":
                said_move = [m for t, text in replies if e["time"] <= t <= e["time"] + 1
                             for m in re.findall(r"The (\w+) (\w+) moves (\w+)\.", text)]
                if said_move:
                    colour, shape, direction = said_move[0]
                    moves[0] += 1
                    moves[1] += direction == e["direction"]
                    moves[2] += colour == e["colour"]
                    moves[3] += shape == shapes[e["object"]]
        moving = set()
        if len(argv) == 3:
            moving = moving_frames(os.path.join(argv[2], os.path.basename(ev_path)[: -len(".events.json")] +
                                                ".safetensors"))
        for t, v in p.items():
            if t not in at and t > 0:
                (quiet_moving if round(2 * t) in moving else quiet).append(v)
    print("| events | n | a reply at the event's frame | median P(interval) there |")
    print("|---|---|---|---|")
    for key in sorted(spoken):
        n, s = spoken[key]
        v = sorted(probs[key])
        med = f"{v[len(v) // 2]:.3f}" if v else "n/a"
        print(f"| {key} | {n} | {s} = {100.0 * s / n:.1f}% | {med} |")
    for name, q in (("frames with no event" + (", still" if len(argv) == 3 else ""), sorted(quiet)),
                    ("frames with no event, an object moving", sorted(quiet_moving))):
        if q:
            low = sum(x < 0.725 for x in q)
            print(f"| {name} | {len(q)} | P(interval) < 0.725 at {low} = {100.0 * low / len(q):.1f}% | "
                  f"{q[len(q) // 2]:.3f} |")
    if moves[0]:
        n = moves[0]
        print(f"moves with a move sentence within 1 s: {n}; its direction right in {100.0 * moves[1] / n:.1f}%, "
              f"colour {100.0 * moves[2] / n:.1f}%, shape {100.0 * moves[3] / n:.1f}%")


if __name__ == "__main__":
    main(sys.argv)
