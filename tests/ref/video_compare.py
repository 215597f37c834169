"""Compare frames decoded by `videollm frames` with the ffmpeg command of the
original preprocessing (reference). Usage:
  video_compare.py OURS.rgb OURS.jsonl REF.rgb RES FPS [--max-frames N]
Checks: same number of frames (or the first N), times r/fps, and pixels
within the tolerance (max abs difference per channel, mean abs difference)."""
import json, sys
import numpy as np

ours_rgb, ours_jsonl, ref_rgb, res, fps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
max_frames = int(sys.argv[7]) if len(sys.argv) > 7 and sys.argv[6] == "--max-frames" else None
MAX_ABS = 2          # per-channel tolerance (identical FFmpeg filters: expected 0)
fsz = res * res * 3
a = np.fromfile(ours_rgb, dtype=np.uint8)
b = np.fromfile(ref_rgb, dtype=np.uint8)
assert a.size % fsz == 0 and b.size % fsz == 0, "partial frames"
na, nb = a.size // fsz, b.size // fsz
meta = [json.loads(l) for l in open(ours_jsonl)]
if max_frames is not None:
    nb = min(nb, max_frames)
    assert na >= nb, f"ours has {na} frames, reference {nb}"
    na = nb
assert na == nb, f"frame count: ours {na}, ffmpeg -r {nb}"
assert len(meta) >= na
worst = 0
for i in range(na):
    assert meta[i]["index"] == i, meta[i]
    assert abs(meta[i]["time"] - i / fps) < 1e-9, meta[i]
    fa = a[i * fsz:(i + 1) * fsz].astype(np.int16)
    fb = b[i * fsz:(i + 1) * fsz].astype(np.int16)
    d = np.abs(fa - fb)
    worst = max(worst, int(d.max()))
    assert d.max() <= MAX_ABS, f"frame {i}: max abs diff {d.max()} (mean {d.mean():.3f})"
print(f"{na} frames, times r/fps, max abs pixel diff {worst}")
