#!/usr/bin/env bash
# Sessions and threads, on the tiny random model of tests/ref/make_fixtures.py:
#  - 8 sessions on one shared model, each in its own thread, give the same event
#    trace as one session alone (test_session threads; also run under TSan by
#    `make test-tsan`);
#  - frames pushed faster than the LM steps are dropped oldest first, each drop
#    is an event, every frame is evaluated or dropped once (test_session drops);
#  - `videollm stream` with the encoding pipeline (default) prints exactly what
#    the sequential loop (--no-pipeline) prints;
#  - raw frames on stdin that outrun the engine are dropped and reported.
set -euo pipefail
PY=/usr/bin/python3
W="$VLM_TMP/stream_threads"; mkdir -p "$W"
TEST_BIN="${VLM_TEST_SESSION:-$BUILD/tests/test_session}"
"$PY" tests/ref/make_fixtures.py "$W/fix" >/dev/null
"$VLM_BIN" convert --llm "$W/fix/llm" --vision "$W/fix/vision" --adapter "$W/fix/adapter" --out "$W/tiny.gguf" --type f32 2>/dev/null
ffmpeg -nostdin -v error -y -f lavfi -i "testsrc2=size=384x384:rate=2:duration=8" -c:v ffv1 "$W/clip.mkv"
ffmpeg -nostdin -v error -y -i "$W/clip.mkv" -f rawvideo -pix_fmt rgb24 "$W/frames.rgb"

"$TEST_BIN" threads "$W/tiny.gguf" "$W/frames.rgb" "${VLM_THREADS_FRAMES:-12}"
"$TEST_BIN" drops "$W/tiny.gguf" "$W/frames.rgb"
[ -n "${VLM_THREADS_ONLY:-}" ] && exit 0

Q=(--query "0:Please narrate the video in real time." --query "1.2:What is it?" --query "3:And now?")
"$VLM_BIN" stream --model "$W/tiny.gguf" --video "$W/clip.mkv" --json --threshold 0.0027 --max-new-tokens 6 \
  "${Q[@]}" > "$W/pipe.jsonl"
"$VLM_BIN" stream --model "$W/tiny.gguf" --video "$W/clip.mkv" --json --threshold 0.0027 --max-new-tokens 6 \
  --no-pipeline "${Q[@]}" > "$W/seq.jsonl"
cmp "$W/pipe.jsonl" "$W/seq.jsonl"
grep -q '"event":"response"' "$W/pipe.jsonl"
echo "pipeline = sequential: $(grep -c '"event":"frame"' "$W/pipe.jsonl") frames"

# 48 raw frames arrive at once on stdin; a queue of 2 cannot hold them
for i in 1 2 3; do cat "$W/frames.rgb"; done > "$W/many.rgb"
"$VLM_BIN" stream --model "$W/tiny.gguf" --video - --size 384x384 --json --threshold 0 --max-queue 2 \
  < "$W/many.rgb" > "$W/drops.jsonl"
"$PY" - "$W/drops.jsonl" <<'P'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
fr = [e["index"] for e in ev if e["event"] == "frame"]
dr = [e["index"] for e in ev if e["event"] == "dropped"]
assert dr, "no dropped events"
assert fr == sorted(fr), "frames out of order"
assert sorted(fr + dr) == list(range(48)), (fr, dr)
print(f"stdin: {len(fr)} frames evaluated, {len(dr)} dropped")
P
