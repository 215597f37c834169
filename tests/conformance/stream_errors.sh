#!/usr/bin/env bash
# `videollm stream` on bad input: each case exits non-zero with a message on
# stderr that names the problem, and never crashes (exit status >= 128) or
# hangs. A video that breaks mid-way still prints the replies made so far and
# writes a complete --save file (checked with Python's json.load).
set -uo pipefail
PY=/usr/bin/python3
W="$VLM_TMP/stream_errors"; mkdir -p "$W"
"$PY" tests/ref/make_fixtures.py "$W/fix" >/dev/null || exit 1
"$VLM_BIN" convert --llm "$W/fix/llm" --vision "$W/fix/vision" --adapter "$W/fix/adapter" --out "$W/tiny.gguf" \
  --type f32 2>/dev/null || exit 1
M="$W/tiny.gguf"
fails=0
# expect NAME PATTERN [--stdin FILE] ARGS... : non-zero (not a crash), stderr matching PATTERN
expect() {
  local name="$1" pat="$2"; shift 2
  local in=/dev/null
  if [ "$1" = "--stdin" ]; then in="$2"; shift 2; fi
  timeout 60 "$VLM_BIN" stream --model "$M" "$@" < "$in" > "$W/out" 2> "$W/err"
  local rc=$?
  if [ $rc -eq 0 ] || [ $rc -ge 124 ]; then
    echo "FAIL $name: exit status $rc"; sed 's/^/  | /' "$W/err"; fails=$((fails+1)); return
  fi
  if ! grep -Eq -- "$pat" "$W/err"; then
    echo "FAIL $name: stderr does not match /$pat/:"; sed 's/^/  | /' "$W/err"; fails=$((fails+1)); return
  fi
  printf 'ok   %-22s rc=%d  %s\n' "$name" $rc "$(head -n 1 "$W/err")"
}

ffmpeg -nostdin -v error -y -f lavfi -i "testsrc2=size=384x384:rate=2:duration=8" -c:v ffv1 "$W/clip.mkv"
ffmpeg -nostdin -v error -y -f lavfi -i "testsrc2=size=320x240:rate=10:duration=6" -c:v libx264 -pix_fmt yuv420p \
  -g 10 -movflags +faststart "$W/clip.mp4"
ffmpeg -nostdin -v error -y -i "$W/clip.mp4" -c copy "$W/plain.mp4"
ffmpeg -nostdin -v error -y -f lavfi -i "testsrc2=size=320x240:rate=10:duration=1" -frames:v 0 -c:v libx264 "$W/zero.mp4"
ffmpeg -nostdin -v error -y -f lavfi -i "testsrc2=size=320x240:rate=10:duration=1" -frames:v 0 -c:v ffv1 "$W/zero.mkv"
half() { local s; s=$(stat -c %s "$1"); head -c $((s / 2)) "$1" > "$2"; }
head -c 40 "$W/clip.mp4" > "$W/header.mp4"           # ftyp box only
head -c 65536 /dev/urandom > "$W/random.mp4"
: > "$W/empty.mp4"
half "$W/plain.mp4" "$W/halfplain.mp4"                # the index (moov) is at the end: lost
half "$W/clip.mp4" "$W/half.mp4"                      # index first: decodes some frames
half "$W/clip.mkv" "$W/half.mkv"
ffmpeg -nostdin -v error -y -i "$W/clip.mkv" -frames:v 3 -f rawvideo -pix_fmt rgb24 "$W/three.rgb"
head -c $((384 * 384 * 3 * 2 + 1000)) "$W/three.rgb" > "$W/cut.rgb"

expect missing-file      'nope\.mp4.*(No such file|cannot open)'   --video "$W/nope.mp4"
expect empty-file        'empty\.mp4.*(cannot open|Invalid data)'  --video "$W/empty.mp4"
expect random-bytes      'random\.mp4.*(cannot open|Invalid data)' --video "$W/random.mp4"
expect header-only-mp4   'header\.mp4'                             --video "$W/header.mp4"
expect mp4-no-index      'halfplain\.mp4.*(cannot open|Invalid)'   --video "$W/halfplain.mp4"
expect zero-frames-mp4   'zero\.mp4.*(no decodable|cannot)'        --video "$W/zero.mp4"
expect zero-frames-mkv   'zero\.mkv.*(no decodable|cannot open)'   --video "$W/zero.mkv"
expect no-camera         '/dev/video9.*cannot open camera'         --video /dev/video9
expect query-no-colon    "bad --query 'nocolon': no ':'"           --video "$W/clip.mkv" --query nocolon
expect query-negative    "bad --query '-1:x': .*>= 0"              --video "$W/clip.mkv" --query -1:x
expect query-not-number  "bad --query 'abc:x': .*not a number"     --video "$W/clip.mkv" --query abc:x
expect query-empty-text  "bad --query '3:': .*empty"               --video "$W/clip.mkv" --query 3:
expect query-no-time     "bad --query ':x': no time"               --video "$W/clip.mkv" --query :x
expect raw-no-size       'raw frames on stdin need a size'         --video -
expect raw-bad-size      "bad --size '0x5'"                        --video - --size 0x5
expect raw-truncated     'truncated raw frame 2: got 1000 of 442368' --stdin "$W/cut.rgb" --video - --size 384x384 --json
grep -c '"event":"frame"' "$W/out" | grep -qx 2 || { echo "FAIL raw-truncated: the 2 whole frames were not streamed"; fails=$((fails+1)); }
expect bad-threshold     'threshold'                               --video "$W/clip.mkv" --threshold 2
expect bad-max-queue     'max_queue'                               --video "$W/clip.mkv" --max-queue 0

# broken mid-way: replies so far printed, --save complete and valid, exit non-zero
for f in half.mkv half.mp4; do
  expect "midway-$f" "$f.*(ends early|error)" --video "$W/$f" --threshold 0.0027 --max-new-tokens 4 \
    --query "0:Please narrate the video in real time." --save "$W/$f.json"
  grep -q 'Assistant:' "$W/out" || { echo "FAIL midway-$f: no reply printed"; fails=$((fails+1)); }
  "$PY" - "$W/$f.json" <<'P' || fails=$((fails+1))
import json, sys
h = json.load(open(sys.argv[1]))
conv = h["conversation"]
assert h["frame_fps"] == 2.0 and conv, h
assert any(e.get("role") == "assistant" for e in conv), conv
assert all({"time", "fps", "cost"} <= set(e) for e in conv), conv
print(f"     --save {sys.argv[1].rsplit('/', 1)[1]}: {len(conv)} entries, valid JSON")
P
done
ls "$W"/*.json.tmp 2>/dev/null && { echo "FAIL: temporary --save file left behind"; fails=$((fails+1)); }
[ $fails -eq 0 ] || { echo "$fails failed"; exit 1; }
echo "all bad inputs rejected cleanly"
