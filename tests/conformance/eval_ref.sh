#!/usr/bin/env bash
# `videollm eval` against an independent PyTorch reference of the original
# stream_evaluate (tests/ref/eval_ref.py, float64, on the Hugging Face fixture
# folders): 8 generated samples (multi-turn narration, queries after partly
# learned streams, unlearned and trailing streams, single-frame turns) with
# labels from the Python collator (labels_ref.py, HF tokenizer via node) and
# random frame features. The fixture's ',' row is tuned so that every branch
# of the metric occurs (early replies, look-aheads, never replying). Metrics
# must agree within 1e-4 relative and every turn's frame diff exactly, at
# threshold 0 and at a threshold that zeroes some rows. Then the errors for
# bad data lines and the --plot output.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=/usr/bin/python3
VLM_BIN="${VLM_BIN:-$PWD/${BUILD:-build}/videollm}"
if ! "$PY" -c 'import torch, numpy, jinja2' 2>/dev/null; then
  echo "skip: /usr/bin/python3 cannot import torch, numpy and jinja2 (scripts/install-deps)"; exit 77
fi
base="${VLM_TMP:-$(mktemp -d)}"
W="$(mktemp -d "$base/eval_ref.XXXXXX")"
trap 'rm -rf "$W"' EXIT

"$PY" tests/ref/make_fixtures.py "$W/fix" >/dev/null
THR=$("$PY" tests/ref/eval_ref.py prepare "$W/fix" "$W" | tail -n 1)
"$VLM_BIN" convert --llm "$W/fix/llm" --vision "$W/fix/vision" --adapter "$W/fix/adapter" --out "$W/m.gguf" \
  --type f32 --quiet

status=0
for T in 0 "$THR"; do
  "$VLM_BIN" eval --model "$W/m.gguf" --data "$W/data.jsonl" --threshold "$T" --fps 2 --json > "$W/ours_$T.json"
done
"$PY" tests/ref/eval_ref.py check "$W/fix" "$W" 0 "$W/ours_0.json" "$THR" "$W/ours_$THR.json" || status=1

# --plot: one point per frame of the chosen sample, one red line per reference reply
"$VLM_BIN" eval --model "$W/m.gguf" --data "$W/data.jsonl" --sample 1 --plot "$W/p.svg" > "$W/table.txt"
grep -q '^average over 8 samples' "$W/table.txt" || { echo "FAIL: no average line"; cat "$W/table.txt"; status=1; }
"$PY" - "$W" <<'P' || status=1
import json, sys, xml.dom.minidom
w = sys.argv[1]
conv = json.loads(open(w + "/data.jsonl").readlines()[1])["conversation"]
nf = sum(m["num_frames"] for m in conv if m["role"] == "stream")
doc = xml.dom.minidom.parse(w + "/p.svg")
circles = doc.getElementsByTagName("circle")
reds = [l for l in doc.getElementsByTagName("line") if l.getAttribute("stroke") == "red"]
frames, replies, seen = 0, 0, False
for m in conv:
    if m["role"] == "stream":
        frames += m["num_frames"]
        seen = True
    elif m["role"] == "assistant" and seen:
        replies += 1
        seen = False
ok = len(circles) == nf and len(reds) == replies
print("plot: %d points for %d frames, %d reply lines for %d replies: %s" % (len(circles), nf, len(reds), replies,
      "ok" if ok else "FAIL"))
sys.exit(0 if ok else 1)
P

# bad data: each error names the line and what is wrong
cp "$W/feat_0.safetensors" "$W/f.safetensors"
good=$(sed -n 1p "$W/data.jsonl")
expect_error() {  # $1 = data text, $2 = text the message must contain
  printf '%s\n' "$1" > "$W/bad.jsonl"
  if "$VLM_BIN" eval --model "$W/m.gguf" --data "$W/bad.jsonl" > /dev/null 2> "$W/err.txt"; then
    echo "FAIL: accepted: $2"; status=1; return
  fi
  if ! grep -qF -- "$2" "$W/err.txt"; then echo "FAIL: expected '$2' in: $(cat "$W/err.txt")"; status=1; return; fi
  echo "error ok: $(cat "$W/err.txt")"
}
expect_error "$good"$'\n''{"conversation": [' 'line 2: malformed JSON'
expect_error '[1, 2]' 'line 1: not a JSON object'
expect_error "$(echo "$good" | "$PY" -c 'import json,sys; d=json.loads(sys.stdin.read()); d["features"]="missing.safetensors"; print(json.dumps(d))')" 'line 1: features: '
expect_error "$(echo "$good" | "$PY" -c 'import json,sys; d=json.loads(sys.stdin.read()); d["frames"]=[0, 999]; print(json.dumps(d))')" 'line 1: frames [0, 999) outside'
expect_error "$(echo "$good" | "$PY" -c 'import json,sys; d=json.loads(sys.stdin.read()); d["frames"]=[0, 1]; print(json.dumps(d))')" 'line 1: the conversation has'
expect_error "$(echo "$good" | "$PY" -c 'import json,sys; d=json.loads(sys.stdin.read()); del d["features"]; print(json.dumps(d))')" 'line 1: "features" missing'
expect_error "$(echo "$good" | "$PY" -c 'import json,sys; d=json.loads(sys.stdin.read()); d["conversation"][2]["content"]="a <v> b"; print(json.dumps(d))')" 'does a text contain "<v>"'
printf '\n\n' > "$W/empty.jsonl"
if "$VLM_BIN" eval --model "$W/m.gguf" --data "$W/empty.jsonl" >/dev/null 2>&1; then echo "FAIL: empty data accepted"; status=1; fi
exit $status
