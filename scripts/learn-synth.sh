#!/usr/bin/env bash
# learn-synth.sh - a small, reproducible learning experiment on the synthetic world.
#
#   scripts/learn-synth.sh [BUILD_DIR] [OUT_DIR]
#
#   1. the tiny fixture model (tests/ref/make_fixtures.py: random 2-layer Llama,
#      hidden 64, vocabulary 306; random 2-layer SigLIP, hidden 32) converted to f32
#      with a connector-only adapter: the frozen, unmerged base `videollm train` needs;
#   2. `videollm synth` (seed 1000, SCENES scenes of SECONDS s, 2 fps video) with
#      the features of that vision tower (--features: vlm_vision_encode_rgb on
#      every frame the stream samples, before the connector);
#   3. the first TRAIN scenes for training, the rest held out;
#   4. `videollm eval` of the untrained base on the held-out scenes;
#   5. `videollm train` in chunks of EVAL_EVERY optimizer steps (--max-steps; each
#      chunk resumes from the checkpoint and exports the PEFT adapter), and after
#      every chunk `videollm convert --adapter` (LoRA merged) + `videollm eval` on
#      the held-out scenes;
#   6. a table of LM-PPL, LM-Correctness, TimeDiff and Fluency over the steps
#      (also in OUT_DIR/table.md), with the training loss of the last step.
# Settings can be changed through the environment (defaults in brackets):
#   SCENES [40] SCENE_SECONDS [24] TRAIN [32] EPOCHS [10] EVAL_EVERY [40] LORA_R [32]
#   LORA_ALPHA [64] LR [2e-3] THREADS [2] SEED [1000]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${1:-${BUILD:-build}}"
OUT="${2:-$(mktemp -d "${TMPDIR:-/tmp}/learn-synth.XXXXXX")}"
SCENES="${SCENES:-40}" SECONDS_PER_SCENE="${SCENE_SECONDS:-24}" TRAIN="${TRAIN:-32}" EPOCHS="${EPOCHS:-10}"
EVAL_EVERY="${EVAL_EVERY:-40}" LORA_R="${LORA_R:-32}" LORA_ALPHA="${LORA_ALPHA:-64}" LR="${LR:-2e-3}"
THREADS="${THREADS:-2}" SEED="${SEED:-1000}"
BIN="$PWD/$BUILD/videollm"
PY=/usr/bin/python3
[ -x "$BIN" ] || { echo "missing $BIN (make BUILD=$BUILD)"; exit 1; }
[ "$TRAIN" -lt "$SCENES" ] || { echo "TRAIN ($TRAIN) must be below SCENES ($SCENES)"; exit 1; }
mkdir -p "$OUT"
echo "learn-synth: working in $OUT"
t0=$(date +%s)

# 1. model
"$PY" tests/ref/make_fixtures.py "$OUT/fix" >/dev/null
"$PY" tests/ref/base_adapter.py "$OUT/fix" "$OUT/base_adapter"
"$BIN" convert --llm "$OUT/fix/llm" --vision "$OUT/fix/vision" --adapter "$OUT/base_adapter" \
  --out "$OUT/base.gguf" --type f32 --quiet

# 2-3. data
"$BIN" synth --seed "$SEED" --scenes "$SCENES" --seconds "$SECONDS_PER_SCENE" --fps-video 2 --out "$OUT/data" \
  --model "$OUT/base.gguf" --features 2>"$OUT/synth.log"
head -n "$TRAIN" "$OUT/data/train.jsonl" > "$OUT/data/split_train.jsonl"
tail -n +"$((TRAIN + 1))" "$OUT/data/train.jsonl" > "$OUT/data/split_heldout.jsonl"
echo "learn-synth: $SCENES scenes of ${SECONDS_PER_SCENE} s: $TRAIN train, $((SCENES - TRAIN)) held out ($(($(date +%s) - t0)) s)"

# 4-5. evaluate, train a chunk, evaluate ...
evaluate() { # model, step, loss
  "$BIN" eval --model "$1" --data "$OUT/data/split_heldout.jsonl" --threads "$THREADS" --json > "$OUT/eval_$2.json"
  "$PY" - "$OUT/eval_$2.json" "$2" "$3" >> "$OUT/rows.txt" <<'PY'
import json, sys
a = json.load(open(sys.argv[1]))["average"]
v = [a[k] if a[k] is not None else float("nan") for k in ("lm_ppl", "lm_correctness", "time_diff", "fluency")]
print("%s %s %r %r %r %r" % (sys.argv[2], sys.argv[3], *v))
PY
  echo "learn-synth: step $2: $(tail -n 1 "$OUT/rows.txt") ($(($(date +%s) - t0)) s)"
}
rm -f "$OUT/rows.txt"
evaluate "$OUT/base.gguf" 0 -
TRAIN_ARGS=(--model "$OUT/base.gguf" --data "$OUT/data/split_train.jsonl" --out "$OUT/run" --lora-r "$LORA_R"
            --lora-alpha "$LORA_ALPHA" --lora-dropout 0.05 --lr "$LR" --epochs "$EPOCHS" --batch 1 --grad-accum 1
            --warmup-ratio 0.05 --threads "$THREADS" --seed 42)
total=$((TRAIN * EPOCHS))
step=0
while [ "$step" -lt "$total" ]; do
  "$BIN" train "${TRAIN_ARGS[@]}" --max-steps "$EVAL_EVERY" 2>"$OUT/train_chunk.log" \
    || { cat "$OUT/train_chunk.log"; exit 1; }
  cat "$OUT/train_chunk.log" >> "$OUT/train.log"
  line=$(grep "^train: step " "$OUT/train_chunk.log" | tail -n 1)
  step=$(echo "$line" | sed 's/^train: step \([0-9]*\)\/.*/\1/')
  loss=$(echo "$line" | sed 's/.* loss \([0-9.naif-]*\) .*/\1/')
  "$BIN" convert --llm "$OUT/fix/llm" --vision "$OUT/fix/vision" --adapter "$OUT/run/adapter" \
    --out "$OUT/trained.gguf" --type f32 --quiet
  evaluate "$OUT/trained.gguf" "$step" "$loss"
done

# 6. the table
"$PY" - "$OUT/rows.txt" "$OUT/table.md" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
out = ["| step | train loss | LM-PPL | LM-Correctness | TimeDiff (s) | Fluency |", "|---:|---:|---:|---:|---:|---:|"]
for s, loss, ppl, corr, td, fl in rows:
    out.append("| %s | %s | %.3f | %.3f | %.3f | %.3f |" % (s, loss if loss != "-" else "(untrained)", float(ppl),
                                                          float(corr), float(td), float(fl)))
open(sys.argv[2], "w").write("\n".join(out) + "\n")
print("\n".join(out))
PY
echo "learn-synth: done in $(($(date +%s) - t0)) s; table in $OUT/table.md"
