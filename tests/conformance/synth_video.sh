#!/usr/bin/env bash
# videollm synth: a short scene is written as FFV1 (lossless) video; ffprobe
# reports the expected codec, size, frame count and duration; `videollm frames`
# decodes it at 2 fps into the frame count the conversation uses; decoded
# frame 0 equals ffmpeg's own decode exactly and shows the first object in
# its palette colour at the position the events file gives.
set -euo pipefail
T="$VLM_TMP/synth"; rm -rf "$T"; mkdir -p "$T"
"$VLM_BIN" synth --seed 3 --scenes 1 --seconds 6 --fps-video 10 --out "$T" 2>"$T/log"
grep -q "scene 1/1" "$T/log"
probe=$(ffprobe -v error -select_streams v:0 -count_frames -show_entries stream=codec_name,width,height,nb_read_frames -of csv=p=0 "$T/scene_0000.mkv")
[ "$probe" = "ffv1,384,384,60" ] || { echo "ffprobe: $probe"; exit 1; }
dur=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$T/scene_0000.mkv")
/usr/bin/python3 -c "import sys; d=float('$dur'); sys.exit(0 if abs(d-6.0)<0.2 else 1)" || { echo "duration $dur"; exit 1; }
"$VLM_BIN" frames --video "$T/scene_0000.mkv" --fps 2 --resolution 384 --out "$T/s.rgb" > "$T/s.jsonl"
ffmpeg -nostdin -v error -y -i "$T/scene_0000.mkv" -frames:v 1 -f rawvideo -pix_fmt rgb24 "$T/f0.rgb"
/usr/bin/python3 - "$T" <<'PY'
import json, sys
d = sys.argv[1]
n = sum(1 for _ in open(d + "/s.jsonl"))
line = json.loads(open(d + "/train.jsonl").readline())
frames = sum(m.get("num_frames", 0) for m in line["conversation"] if m["role"] == "stream")
s, e = line["frames"]
assert frames == e - s, (frames, s, e)
assert n >= e, ("decoded", n, "needed", e)
S = 384 * 384 * 3
a = open(d + "/s.rgb", "rb").read(S); b = open(d + "/f0.rgb", "rb").read()
assert a == b, "frame 0 differs from ffmpeg's decode"
ev = json.load(open(d + "/scene_0000.events.json"))["events"][0]
pal = {"red": (230, 40, 40), "green": (40, 200, 60), "blue": (50, 90, 235), "yellow": (240, 220, 40),
       "white": (245, 245, 245), "purple": (160, 60, 210)}
o = (ev["y"] * 384 + ev["x"]) * 3
assert tuple(a[o:o + 3]) == pal[ev["colour"]], (tuple(a[o:o + 3]), ev)
print("synth video: %d sampled frames, conversation [%d, %d), frame 0 exact" % (n, s, e))
PY
# same seed: byte-identical files; another seed: different ones
"$VLM_BIN" synth --seed 3 --scenes 1 --seconds 6 --fps-video 10 --out "$T/again" 2>/dev/null
"$VLM_BIN" synth --seed 4 --scenes 1 --seconds 6 --fps-video 10 --out "$T/other" 2>/dev/null
for f in scene_0000.mkv scene_0000.events.json train.jsonl; do
  cmp -s "$T/$f" "$T/again/$f" || { echo "$f differs between two runs with one seed"; exit 1; }
  ! cmp -s "$T/$f" "$T/other/$f" || { echo "$f is the same for seeds 3 and 4"; exit 1; }
done
# H.264 in MP4
"$VLM_BIN" synth --seed 4 --scenes 1 --seconds 3 --codec x264 --fps-video 10 --out "$T/x264" 2>/dev/null
probe=$(ffprobe -v error -select_streams v:0 -count_frames -show_entries stream=codec_name,width,height,nb_read_frames -of csv=p=0 "$T/x264/scene_0000.mp4")
[ "$probe" = "h264,384,384,30" ] || { echo "ffprobe x264: $probe"; exit 1; }
# features with a tiny random model; the trainer validates every line of train.jsonl
/usr/bin/python3 tests/ref/make_fixtures.py "$T/fix" >/dev/null
"$VLM_BIN" convert --llm "$T/fix/llm" --vision "$T/fix/vision" --adapter "$T/fix/adapter" --out "$T/tiny.gguf" --type f32 2>/dev/null
"$VLM_BIN" synth --seed 9 --scenes 2 --seconds 8 --out "$T/feat" --model "$T/tiny.gguf" --features 2>/dev/null
/usr/bin/python3 - "$T/feat" <<'PY'
import json, struct, sys
d = sys.argv[1]
for line in open(d + "/train.jsonl"):
    s = json.loads(line)
    raw = open(d + "/" + s["features"], "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    h = json.loads(raw[8:8 + n])
    shape = h["features"]["shape"]
    assert h["features"]["dtype"] == "F32" and shape[1:] == [10, 32], h
    assert len(raw) == 8 + n + 4 * shape[0] * shape[1] * shape[2]
    assert s["frames"][1] <= shape[0], (s["frames"], shape)
print("features: shapes and frame ranges ok")
PY
"$VLM_BIN" train --model "$T/tiny.gguf" --data "$T/feat/train.jsonl" --out "$T/run" --max-steps 1 --grad-accum 1 2>"$T/train.log" \
  || { cat "$T/train.log"; exit 1; }
grep -q "loss" "$T/train.log"
echo "synth: train.jsonl accepted by videollm train"
# --no-video: features from the renders equal those of a 2 fps FFV1 clip decoded by the stream's
# reader, byte for byte, and the conversations are the same
"$VLM_BIN" synth --seed 9 --scenes 2 --seconds 8 --fps-video 2 --out "$T/feat2" --model "$T/tiny.gguf" --features 2>/dev/null
"$VLM_BIN" synth --seed 9 --scenes 2 --seconds 8 --no-video --out "$T/nov" --model "$T/tiny.gguf" --features 2>/dev/null
for f in scene_0000.safetensors scene_0001.safetensors train.jsonl scene_0000.events.json; do
  cmp -s "$T/feat2/$f" "$T/nov/$f" || { echo "--no-video: $f differs from the 2 fps clip's"; exit 1; }
done
[ ! -e "$T/nov/scene_0000.mkv" ] || { echo "--no-video wrote a video"; exit 1; }
echo "synth: --no-video features identical to the 2 fps clip's"
