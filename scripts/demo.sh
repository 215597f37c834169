#!/usr/bin/env bash
# make demo: the main job on the embedded default model. A held-out clip of the
# synthetic world is generated, `videollm stream` watches it with the default
# model (models/default/, trained by `make demo-model`) and narrates it as it
# plays; then the ground-truth event list is printed for comparison, with the
# narration score and the streaming metrics of this clip.
#   DEMO_SEED [4242]: which clip (the training scenes use seeds 1..3200, the
#   held-out evaluation 1000000..1000199); DEMO_SECONDS [20].
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${BUILD:-build}"
BIN="$BUILD/videollm"
MODEL=models/default/videollm-demo.gguf
SEED="${DEMO_SEED:-4242}"
SECS="${DEMO_SECONDS:-20}"
D="$BUILD/demo"
[ -f "$MODEL" ] || { echo "make demo: the default model $MODEL is missing (make demo-model trains it)" >&2; exit 1; }
rm -rf "$D"
mkdir -p "$D"

echo "== a new clip: videollm synth --seed $SEED --seconds $SECS (2 fps FFV1 video, never seen in training)"
"$BIN" synth --seed "$SEED" --scenes 1 --seconds "$SECS" --fps-video 2 --out "$D" --model "$MODEL" --features \
  2>"$D/synth.log"
CLIP="$D/scene_0000.mkv"
echo "   $CLIP"
echo
echo "== videollm stream --video $CLIP (default model; one line per reply, as it happens)"
QUERY="Please concisely narrate the video in real time."
"$BIN" stream --video "$CLIP" --query "0:$QUERY" --save "$D/history.json"
echo
echo "== what really happened ($D/scene_0000.events.json)"
/usr/bin/python3 - "$D/scene_0000.events.json" <<'PY'
import json, sys
for e in json.load(open(sys.argv[1]))["events"]:
    print("(Video Time = %.1fs) %s" % (e["time"], e["text"]))
PY
echo
echo "== narration score of this clip (videollm score: events narrated within 1 s with the right object and action)"
"$BIN" score --events "$D/scene_0000.events.json" --replies "$D/history.json"
echo
echo "== streaming metrics of this clip (videollm eval: the original's LM-PPL, LM-Correctness, TimeDiff, Fluency)"
"$BIN" eval --data "$D/train.jsonl"
echo
echo "The report of the default model on 200 held-out clips, with the baselines: models/default/REPORT.md"
