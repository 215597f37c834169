#!/usr/bin/env bash
# bench-train.sh - training throughput of `videollm train` against a PyTorch
# training step (tests/ref/train_bench.py) on the same samples, in one run.
#
#   scripts/bench-train.sh [BUILD_DIR] [SCENES] [SECONDS] [EPOCHS]
#
# Data: `videollm synth` (seed 11, SCENES scenes of SECONDS s, 2 fps video) with the
# features of the tiny fixture model (tests/ref/make_fixtures.py: 2 layers, hidden 64,
# vocabulary 306, SigLIP hidden 32, 10 tokens per frame), i.e. sequences of several
# hundred tokens (11 per frame + the narration).
# Model: the fixture converted to f32 without merged LoRA (connector-only adapter).
# Both sides: LoRA r 8, alpha 16, dropout 0 on q/k/v/o/gate/up/down of every layer and
# lm_head, plus the connector; batch 1, no accumulation, AdamW, clip 1.0, 2 threads.
#
# What is timed:
#   C:     the loop of `videollm train` from the first to the last optimizer step
#          (the tokens/s of its last progress line): per step the collate, reading the
#          step's frame features, forward + backward (with recomputation) and the
#          clipped AdamW step. Loading the model, validating the data file and
#          writing the checkpoint / adapter are not timed.
#   torch: forward + backward + clip_grad_norm_ + AdamW.step per step, after one
#          untimed warm-up step; inputs prepared beforehand.
# Tokens: the unpadded sequence length of every step's sample.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${1:-${BUILD:-build}}"
SCENES="${2:-6}"
SECONDS_PER_SCENE="${3:-20}"
EPOCHS="${4:-3}"
BIN="$PWD/$BUILD/videollm"
PY=/usr/bin/python3
[ -x "$BIN" ] || { echo "missing $BIN (make BUILD=$BUILD)"; exit 1; }
w="$(mktemp -d "${TMPDIR:-/tmp}/bench-train.XXXXXX")"
trap 'rm -rf "$w"' EXIT

"$PY" tests/ref/make_fixtures.py "$w/fix" >/dev/null
"$PY" tests/ref/base_adapter.py "$w/fix" "$w/base_adapter"
"$BIN" convert --llm "$w/fix/llm" --vision "$w/fix/vision" --adapter "$w/base_adapter" --out "$w/base.gguf" \
  --type f32 --quiet
"$BIN" synth --seed 11 --scenes "$SCENES" --seconds "$SECONDS_PER_SCENE" --fps-video 2 --out "$w/data" \
  --model "$w/base.gguf" --features 2>/dev/null
"$PY" -c '
import json, sys
for l in open(sys.argv[1]):
    print(json.dumps(json.loads(l)["conversation"]))' "$w/data/train.jsonl" > "$w/convs.jsonl"
"$BIN" labels --tokenizer "$w/fix/llm/tokenizer.json" "$w/convs.jsonl" > "$w/labels.jsonl"
n_tok=$("$PY" -c '
import json, sys
n = [len(json.loads(l)["input_ids"]) for l in open(sys.argv[1])]
print("%d samples, %d-%d tokens (mean %.0f)" % (len(n), min(n), max(n), sum(n) / len(n)))' "$w/labels.jsonl")
steps=$((SCENES * EPOCHS))
echo "data: $n_tok; $steps optimizer steps per side (batch 1), 2 threads"

"$BIN" train --model "$w/base.gguf" --data "$w/data/train.jsonl" --out "$w/run" --lora-r 8 --lora-alpha 16 \
  --lora-dropout 0 --lr 1e-4 --batch 1 --grad-accum 1 --epochs "$EPOCHS" --warmup-ratio 0 --threads 2 \
  2>"$w/train.log" || { cat "$w/train.log"; exit 1; }
c_rate=$(grep -o '[0-9.]* tokens/s' "$w/train.log" | tail -n 1 | cut -d' ' -f1)
echo "C:     $(grep ' tokens/s' "$w/train.log" | tail -n 1 | sed 's/^train: //')"
t_line=$("$PY" tests/ref/train_bench.py "$w/fix" "$w/data/train.jsonl" "$w/labels.jsonl" "$steps")
echo "$t_line"
t_rate=$(echo "$t_line" | grep -o '[0-9.]* tokens/s' | cut -d' ' -f1)
"$PY" -c 'import sys; c, t = float(sys.argv[1]), float(sys.argv[2]); print("C %.0f tokens/s, torch %.0f tokens/s, ratio %.2fx (target >= 2x)" % (c, t, c / t))' \
  "$c_rate" "$t_rate"
