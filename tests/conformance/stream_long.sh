#!/usr/bin/env bash
# A 10-minute stream (1,200 frames at 2 fps) on the tiny random model with a
# 512-position cache, so that the eviction policy runs dozens of times
# (test_session long): the KV length never exceeds the cache, eviction events
# are emitted, silent frames and evictions allocate nothing, and VmRSS at
# frame 1,200 is within 10% of frame 100 (per-frame time is printed; it is
# held to 10% only with VLM_STRICT_TIME=1, since wall time on a shared
# machine is noise). Then `videollm stream`
# on a short clip with a small --ctx reports kv_evict events in --json.
set -euo pipefail
PY=/usr/bin/python3
W="$VLM_TMP/stream_long"; mkdir -p "$W"
"$PY" tests/ref/make_fixtures.py "$W/fix" >/dev/null
"$VLM_BIN" convert --llm "$W/fix/llm" --vision "$W/fix/vision" --adapter "$W/fix/adapter" --out "$W/tiny.gguf" --type f32 2>/dev/null
"$BUILD/tests/test_session" long "$W/tiny.gguf" 1200 512

ffmpeg -nostdin -v error -y -f lavfi -i "testsrc2=size=384x384:rate=2:duration=10" -c:v ffv1 "$W/clip.mkv"
"$VLM_BIN" stream --model "$W/tiny.gguf" --video "$W/clip.mkv" --json --threshold 0 --ctx 200 > "$W/out.jsonl"
"$PY" - "$W/out.jsonl" <<'P'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
fr = [e for e in ev if e["event"] == "frame"]
kv = [e for e in ev if e["event"] == "kv_evict"]
assert len(fr) == 20, len(fr)
assert kv and all(e["positions"] > 0 for e in kv), "no kv_evict events"
print(f"cli: {len(fr)} frames, {len(kv)} evictions ({sum(e['positions'] for e in kv)} positions) with --ctx 200")
P
