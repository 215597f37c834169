#!/usr/bin/env bash
# encode_features.sh - `videollm encode` against an independent path.
#
#   1. the tiny random fixture model (tests/ref/make_fixtures.py + videollm convert);
#   2. a 3 s lossless clip (FFV1, 10 fps, 384x384 = the model's resolution, so the
#      letterbox is the identity) from ffmpeg's testsrc2, which changes every frame;
#   3. `videollm encode --fps 2`: the frames are decoded independently with
#      `ffmpeg -r 2` and run through the float64 PyTorch SigLIP of tests/ref/model_ref.py;
#      the features must match within 1e-4 of the largest value, with the right
#      shape, dtype and __metadata__; --max-frames; progress lines on a pipe;
#   4. `videollm train --max-steps 1` accepts a JSONL line that points to the file;
#   5. a missing video and a model whose vision file is missing are refused with
#      exit status 1, a clear message and no output file or temporary left behind.
# Env (from tests/run.sh): BUILD, VLM_BIN, VLM_TMP.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD="${BUILD:-build}"
VLM_BIN="${VLM_BIN:-$PWD/$BUILD/videollm}"
PY=/usr/bin/python3
[ -x "$VLM_BIN" ] || { echo "missing $VLM_BIN"; exit 1; }
if ! "$PY" -c 'import torch, numpy' 2>/dev/null; then
  echo "skip: /usr/bin/python3 cannot import torch and numpy (scripts/install-deps)"; exit 77
fi
command -v ffmpeg >/dev/null || { echo "skip: no ffmpeg"; exit 77; }
base="${VLM_TMP:-$(mktemp -d)}"
w="$(mktemp -d "$base/encode.XXXXXX")"
trap 'rm -rf "$w"' EXIT

"$PY" tests/ref/make_fixtures.py "$w/fix" >/dev/null
"$VLM_BIN" convert --llm "$w/fix/llm" --vision "$w/fix/vision" --adapter "$w/fix/adapter" --out "$w/tiny.gguf" \
  --type f32 --quiet
ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=size=384x384:rate=10 -t 3 -c:v ffv1 -pix_fmt bgr0 "$w/clip.mkv"
ffmpeg -nostdin -v error -y -i "$w/clip.mkv" -r 2 -f rawvideo -pix_fmt rgb24 "$w/frames.rgb"

"$VLM_BIN" encode --model "$w/tiny.gguf" --video "$w/clip.mkv" --fps 2 --out "$w/f.safetensors" 2>"$w/enc.log" \
  || { cat "$w/enc.log"; exit 1; }
grep -q "^encode: .*frames" "$w/enc.log" || { echo "no progress lines"; cat "$w/enc.log"; exit 1; }
grep -q "^encode: wrote .*\[8, 10, 32\]" "$w/enc.log" || { echo "no summary line"; cat "$w/enc.log"; exit 1; }
"$VLM_BIN" encode --model "$w/tiny.gguf" --video "$w/clip.mkv" --max-frames 3 --out "$w/f3.safetensors" --quiet
! ls "$w" | grep -q "\.tmp\." || { echo "temporary file left behind"; exit 1; }

"$PY" - "$w" <<'PY'
import json, struct, sys
import numpy as np
import torch
sys.path.insert(0, "tests/ref")
import model_ref
torch.set_num_threads(2)
d = sys.argv[1]

def header(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    assert n % 8 == 0, "header length %d not 8-aligned" % n
    h = json.loads(raw[8:8 + n])
    assert set(h) == {"__metadata__", "features"}, sorted(h)
    f = h["features"]
    assert f["dtype"] == "F32" and f["data_offsets"] == [0, 4 * int(np.prod(f["shape"]))], f
    assert len(raw) == 8 + n + f["data_offsets"][1], "file size"
    return h, model_ref.st_read(path)["features"]

h, got = header(d + "/f.safetensors")
meta = h["__metadata__"]
want = {"fps": "2", "resolution": "384", "tokens_per_frame": "10", "vision_hidden": "32", "frames": "8",
        "model": "tiny.gguf", "video": "clip.mkv"}
assert meta == want, meta
S = 384
rgb = np.frombuffer(open(d + "/frames.rgb", "rb").read(), dtype=np.uint8).reshape(-1, S, S, 3)
assert tuple(got.shape) == (rgb.shape[0], 10, 32), (tuple(got.shape), rgb.shape)
vc, vw = model_ref.load_vision(d + "/fix")
worst = 0.0
for i in range(rgb.shape[0]):
    ref = model_ref.siglip(vc, vw, model_ref.normalise(rgb[i]), {})
    worst = max(worst, float((got[i] - ref).abs().max() / ref.abs().max()))
assert worst < 1e-4, worst
assert not torch.equal(got[0], got[1]), "frames 0 and 1 have equal features: the clip does not move?"
h3, got3 = header(d + "/f3.safetensors")
assert tuple(got3.shape) == (3, 10, 32) and h3["__metadata__"]["frames"] == "3", h3
assert torch.equal(got3, got[:3]), "--max-frames 3 differs from the first 3 frames"
print("encode: %d frames [%d, 10, 32] vs ffmpeg -r 2 + PyTorch SigLIP, worst max|d|/max|ref| = %.2e; metadata ok"
      % (rgb.shape[0], rgb.shape[0], worst))
# a sample that uses frames [2, 6) of the file: system, stream(1), user, assistant, stream(3, learn), assistant
conv = [{"role": "system", "content": "Watch the video."},
        {"role": "stream", "num_frames": 1, "learn": False},
        {"role": "user", "content": "Say what you see."},
        {"role": "assistant", "content": "Colours.", "learn": True},
        {"role": "stream", "num_frames": 3, "learn": True},
        {"role": "assistant", "content": "Numbers move.", "learn": True}]
with open(d + "/train.jsonl", "w") as f:
    f.write(json.dumps({"conversation": conv, "features": "f.safetensors", "frames": [2, 6]}) + "\n")
PY

"$VLM_BIN" train --model "$w/tiny.gguf" --data "$w/train.jsonl" --out "$w/run" --max-steps 1 --grad-accum 1 \
  --lora-r 2 --lora-alpha 4 2>"$w/train.log" || { cat "$w/train.log"; exit 1; }
grep -q "loss" "$w/train.log" || { cat "$w/train.log"; exit 1; }
echo "encode: videollm train accepts the features file"

# errors: exit 1, a message naming the culprit, nothing written
rc=0; "$VLM_BIN" encode --model "$w/tiny.gguf" --video "$w/none.mkv" --out "$w/x.safetensors" 2>"$w/e1" || rc=$?
[ $rc -eq 1 ] && grep -q "none.mkv" "$w/e1" && [ ! -e "$w/x.safetensors" ] || { echo "missing video: rc $rc"; cat "$w/e1"; exit 1; }
mkdir "$w/novision"; cp "$w/tiny.gguf" "$w/novision/"
rc=0; "$VLM_BIN" encode --model "$w/novision/tiny.gguf" --video "$w/clip.mkv" --out "$w/x.safetensors" 2>"$w/e2" || rc=$?
[ $rc -eq 1 ] && grep -q "vision" "$w/e2" && [ ! -e "$w/x.safetensors" ] || { echo "no vision: rc $rc"; cat "$w/e2"; exit 1; }
! ls "$w" | grep -q "\.tmp\." || { echo "temporary file left behind"; exit 1; }
echo "encode: refused: $(cat "$w/e1")"
echo "encode: refused: $(cat "$w/e2")"
