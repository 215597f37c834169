#!/usr/bin/python3
"""mover_colour.py FEATURES_DIR DIM_X DIM_Y [N_COLOURS] - whether the designed tower's per-colour
moments name the colour of an object that moves (docs/demo-model-experiments.md, "Which colour moved: the
colours' own moments").

FEATURES_DIR holds, per clip, scene_XXXX.safetensors and scene_XXXX.events.json (the recipe's
WORK_DIR/heldout; see frame_change.py). DIM_X and DIM_Y are the head token's dimensions of colour
0's column and row moments (colour k at + k), as `videollm calibrate --design-tower` reports them
("moments 67 and 73"); N_COLOURS defaults to 6, in the palette's order (docs/synth.md).

For every move after 0 s, at the first 2 fps frame at or after it, the colour k with the largest
|change of X_k| + |change of Y_k| (and, for the signed sum Z_k = X_k + Y_k that
`calibrate --readout-colours` writes, the largest |change of Z_k|) from the frame before is taken
as the mover's colour; prints how often that is the event's colour. A move is along one axis, so
the two should agree. Needs NumPy."""
import glob
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from frame_change import frame_of, load  # noqa: E402

PALETTE = ["red", "green", "blue", "yellow", "white", "purple"]


def main(argv):
    if len(argv) not in (4, 5):
        sys.exit(__doc__)
    dx, dy = int(argv[2]), int(argv[3])
    nc = int(argv[4]) if len(argv) == 5 else len(PALETTE)
    paths = sorted(glob.glob(argv[1] + "/scene_*.safetensors"))
    if not paths:
        sys.exit(f"{argv[1]}: no scene_*.safetensors")
    n = right_xy = right_z = 0
    for p in paths:
        f = load(p).astype(np.float64)
        if max(dx, dy) + nc > f.shape[2]:
            sys.exit(f"{p}: the moments' dimensions lie outside the {f.shape[2]}-wide tokens")
        for e in json.load(open(p[:-len(".safetensors")] + ".events.json"))["events"]:
            r = frame_of(e["tick"])
            if e["action"] != "moves" or e["tick"] == 0 or r >= f.shape[0]:
                continue
            d = f[r, 0] - f[r - 1, 0]
            ddx, ddy = d[dx:dx + nc], d[dy:dy + nc]
            want = PALETTE.index(e["colour"])
            n += 1
            right_xy += int(np.argmax(np.abs(ddx) + np.abs(ddy)) == want)
            right_z += int(np.argmax(np.abs(ddx + ddy)) == want)
    if not n:
        sys.exit("no moves found")
    print(f"{n} moves; the colour with the largest moment change is the mover's: "
          f"|dX_k| + |dY_k| {right_xy}/{n} = {100 * right_xy / n:.1f}%, |dZ_k| {right_z}/{n} = {100 * right_z / n:.1f}%")


if __name__ == "__main__":
    main(sys.argv)
