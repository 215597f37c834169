#!/usr/bin/env bash
# train_grad.sh - the training step against an independent PyTorch autograd reference.
#
#   1. tests/ref/make_fixtures.py writes the tiny Hugging Face checkpoints;
#   2. tests/ref/train_ref.py labels two streaming conversations with the Python
#      model of the original collator (ids from Hugging Face's Rust tokenizer),
#      draws frame features, and computes in float64 the loss, every LoRA and
#      connector gradient, the loss with stream_loss_weight 2.5 and ten
#      AdamW + clip + cosine-schedule steps; it also writes a connector-only
#      adapter so that `videollm convert` gives the frozen, unmerged base;
#   3. the base is converted to f32 (and bf16 / q8_0 / q4_0);
#   4. `test_train grad` compares: the batch our text pipeline builds, the stream
#      labels, loss (1e-5 relative), gradients (1e-4 of each tensor's max), the
#      weighted loss, finite differences (with and without dropout), the ten
#      optimizer steps, PEFT export/import and checkpoint resume;
#      `test_train quant` checks the other base types stay close to the f32 result;
#   5-8. `videollm train` end to end (LoRA): the exported adapter, resume, the merged model, bad input;
#   9. full fine-tuning: `test_train full` (gradients, finite differences, AdamW, determinism,
#      export round trip through the runtime, q8_0 refused), then `videollm train --full`
#      against torch, its resume, `--freeze` against torch with frozen parameters,
#      `videollm stream` on the exported pair, refused options.
# Env (from tests/run.sh): BUILD, VLM_BIN, VLM_TMP, VLM_NPM.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD="${BUILD:-build}"
VLM_BIN="${VLM_BIN:-$PWD/$BUILD/videollm}"
export VLM_NPM="${VLM_NPM:-$PWD/.deps/npm}"
PY=/usr/bin/python3
DRIVER="$BUILD/tests/test_train"
[ -x "$DRIVER" ] || { echo "missing $DRIVER (make BUILD=$BUILD tests)"; exit 1; }
[ -x "$VLM_BIN" ] || { echo "missing $VLM_BIN"; exit 1; }
if ! "$PY" -c 'import torch, numpy' 2>/dev/null; then
  echo "skip: /usr/bin/python3 cannot import torch and numpy (scripts/install-deps)"; exit 77
fi
[ -d "$VLM_NPM/node_modules/tokenizers" ] || { echo "skip: no npm tokenizers in $VLM_NPM"; exit 77; }

base="${VLM_TMP:-$(mktemp -d)}"
work="$(mktemp -d "$base/train_grad.XXXXXX")"
trap 'rm -rf "$work"' EXIT

"$PY" tests/ref/make_fixtures.py "$work/fix" >/dev/null
"$PY" tests/ref/train_ref.py "$work/fix" "$work/ref"
for t in f32 bf16 q8_0 q4_0; do
  "$VLM_BIN" convert --llm "$work/fix/llm" --vision "$work/fix/vision" --adapter "$work/ref/base_adapter" \
    --out "$work/base_$t.gguf" --type "$t" --quiet
done
"$DRIVER" grad "$work/base_f32.gguf" "$work/ref" "$work/fix/adapter" "$work/fix/llm/tokenizer.json"
for t in bf16 q8_0 q4_0; do
  "$DRIVER" quant "$work/base_$t.gguf" "$work/ref" "$work/fix/adapter" "$t"
done

# 5. `videollm train` end to end: batch 2 holds both samples, so ten epochs are the reference's
#    ten optimizer steps; the exported PEFT adapter must hold the reference's parameters.
TRAIN=("$VLM_BIN" train --model "$work/base_f32.gguf" --lora-r 8 --lora-alpha 16 --lora-dropout 0 --lr 1e-2
       --batch 2 --grad-accum 1 --epochs 10 --warmup-ratio 0.2 --weight-decay 0.01 --init-adapter "$work/fix/adapter")
data="$work/ref/data"
"${TRAIN[@]}" --data "$data/train.jsonl" --out "$work/o1" 2>"$work/o1.log"
tail -n 2 "$work/o1.log"
"$PY" - "$work/o1/adapter/adapter_model.safetensors" "$work/ref/gold.safetensors" <<'PYEOF'
import sys
sys.path.insert(0, "tests/ref")
import model_ref
got, gold = model_ref.st_read(sys.argv[1]), model_ref.st_read(sys.argv[2])
worst = 0.0
for k, v in got.items():
    ref = gold["adam." + k]
    worst = max(worst, float((v - ref).abs().max() / ref.abs().max()))
assert len(got) == sum(1 for k in gold if k.startswith("adam.")), "tensor count differs"
print("videollm train: %d exported tensors vs torch AdamW after 10 steps, worst max|p - ref| / max|ref| = %.2e"
      % (len(got), worst))
sys.exit(0 if worst < 1e-4 else 1)
PYEOF

# 6. resume: 4 steps, stop, run again -> bit-identical to the uninterrupted run
"${TRAIN[@]}" --data "$data/train.jsonl" --out "$work/o2" --max-steps 4 --quiet
"${TRAIN[@]}" --data "$data/train.jsonl" --out "$work/o2" 2>"$work/o2.log"
grep -q "resuming from .* at step 4 of 10" "$work/o2.log" || { echo "no resume line"; cat "$work/o2.log"; exit 1; }
cmp "$work/o1/adapter/adapter_model.safetensors" "$work/o2/adapter/adapter_model.safetensors"
echo "resume after 4 of 10 steps: identical adapter"

# 7. round trip: the exported adapter merged by `videollm convert` reproduces the trained model
"$VLM_BIN" convert --llm "$work/fix/llm" --vision "$work/fix/vision" --adapter "$work/o1/adapter" \
  --out "$work/merged.gguf" --type f32 --quiet
"$DRIVER" merged "$work/base_f32.gguf" "$work/merged.gguf" "$work/o1/adapter" "$work/ref"

# 8. bad input: a clear error naming the line, exit 1, no checkpoint or temporary left behind
check_bad() { # file, expected substring
  local out="$work/bad_$1" rc=0
  "${TRAIN[@]}" --data "$data/$1.jsonl" --out "$out" 2>"$out.err" || rc=$?
  if [ $rc -ne 1 ] || ! grep -q -- "$2" "$out.err" || ls "$out" 2>/dev/null | grep -q .; then
    echo "bad input $1: rc $rc, expected '$2', left: $(ls "$out" 2>/dev/null)"; cat "$out.err"; exit 1
  fi
  echo "bad input $1: $(tail -n 1 "$out.err")"
}
check_bad bad_json "bad_json.jsonl line 2"
check_bad bad_missing "line 2: feature file"
check_bad bad_range "line 2: frames \[1, 4) go past the 3 frames"
check_bad bad_count "line 1: the conversation has 5 stream frames"
check_bad bad_nan "not finite (nan) (sample line 1"
# a non-finite loss after a checkpoint exists leaves that checkpoint untouched
"${TRAIN[@]}" --data "$data/train.jsonl" --out "$work/o3" --max-steps 1 --quiet
sum1=$(sha256sum "$work/o3/checkpoint.safetensors" | cut -d' ' -f1)
rc=0; "${TRAIN[@]}" --data "$data/bad_nan.jsonl" --out "$work/o3" --quiet 2>/dev/null || rc=$?
sum2=$(sha256sum "$work/o3/checkpoint.safetensors" | cut -d' ' -f1)
[ $rc -eq 1 ] && [ "$sum1" = "$sum2" ] && ! ls "$work/o3" | grep -q tmp || { echo "checkpoint changed on a failed run"; exit 1; }
echo "a failed run leaves the previous checkpoint as it was"

# 9. full fine-tuning
"$DRIVER" full "$work/base_f32.gguf" "$work/ref" "$work/fix/adapter" "$work/base_q8_0.gguf"
FULL=("$VLM_BIN" train --full --model "$work/base_f32.gguf" --lr 1e-3 --batch 2 --grad-accum 1 --epochs 10
      --warmup-ratio 0.2 --weight-decay 0.01)
"${FULL[@]}" --data "$data/train.jsonl" --out "$work/f1" 2>"$work/f1.log"
tail -n 2 "$work/f1.log"
"$DRIVER" fullcli "$work/f1/model.gguf" "$work/ref"
# frozen tensors: torch with requires_grad False on them until step 4 (tests/ref/train_ref.py)
"${FULL[@]}" --data "$data/train.jsonl" --out "$work/fz" --freeze 'model.layers.0.self_attn.*,connector.2.*' \
  --freeze-steps 4 2>"$work/fz.log"
grep -q "freezing 6 tensors .* until step 4" "$work/fz.log" || { echo "no freeze line"; cat "$work/fz.log"; exit 1; }
"$DRIVER" fullcli "$work/fz/model.gguf" "$work/ref" adam_frz.
# held slices: torch with those elements' gradients zeroed and values put back until step 4
"${FULL[@]}" --data "$data/train.jsonl" --out "$work/hold" --freeze-steps 4 --freeze \
  'model.layers.0.self_attn.q_proj.weight[0:3],connector.0.weight[:,1:4],model.embed_tokens.weight[:,2:5],model.layers.1.post_attention_layernorm.weight[4:]' \
  2>"$work/hold.log"
grep -q "freezing [0-9]* values of 4 tensors until step 4" "$work/hold.log" || { echo "no hold line"; cat "$work/hold.log"; exit 1; }
"$DRIVER" fullcli "$work/hold/model.gguf" "$work/ref" adam_hold.
rc=0; "${FULL[@]}" --data "$data/train.jsonl" --out "$work/fz2" --freeze-steps 4 2>"$work/fz2.err" || rc=$?
[ $rc -eq 2 ] && grep -q "needs --freeze" "$work/fz2.err" || { echo "--freeze-steps alone: rc $rc"; exit 1; }
rc=0; "${FULL[@]}" --data "$data/train.jsonl" --out "$work/fz2" --freeze 'model.layers.7.*' 2>"$work/fz2.err" || rc=$?
[ $rc -eq 1 ] && grep -q "'model.layers.7.\*' matches no trained tensor" "$work/fz2.err" \
  || { echo "--freeze matching nothing: rc $rc"; cat "$work/fz2.err"; exit 1; }
echo "full: --freeze until step 4 (whole tensors, and slices) matches torch with requires_grad False (a zeroed gradient and the values put back) until then; bad patterns refused"
ls "$work/f1" | grep -q tmp && { echo "temporary files left: $(ls "$work/f1")"; exit 1; }
"${FULL[@]}" --data "$data/train.jsonl" --out "$work/f2" --max-steps 4 --quiet
"${FULL[@]}" --data "$data/train.jsonl" --out "$work/f2" 2>"$work/f2.log"
grep -q "resuming from .* at step 4 of 10" "$work/f2.log" || { echo "no resume line"; cat "$work/f2.log"; exit 1; }
cmp "$work/f1/model.gguf" "$work/f2/model.gguf"
cmp "$work/f1/model.vision.gguf" "$work/f2/model.vision.gguf"
echo "full: resume after 4 of 10 steps: identical exported pair"
"${FULL[@]}" --data "$data/train.jsonl" --out "$work/f3" --max-steps 1 --out-type f16 --quiet
ffmpeg -nostdin -v error -y -f lavfi -i "testsrc2=size=384x384:rate=2:duration=3" -c:v ffv1 "$work/clip.mkv"
for m in "$work/f1/model.gguf" "$work/f3/model.gguf"; do
  "$VLM_BIN" stream --model "$m" --video "$work/clip.mkv" --json --threshold 0 --max-new-tokens 4 >"$work/s.jsonl"
  n=$(grep -c '"event": *"frame"' "$work/s.jsonl" || true)
  [ "$n" -eq 6 ] || { echo "stream on $m: $n frame events"; head "$work/s.jsonl"; exit 1; }
done
echo "full: videollm stream runs the exported f32 and f16 pairs (6 frames each)"
for opt in "--lora-r 8" "--init-adapter $work/fix/adapter"; do
  rc=0; "${FULL[@]}" --data "$data/train.jsonl" --out "$work/f4" $opt 2>"$work/f4.err" || rc=$?
  [ $rc -eq 2 ] && grep -q "LoRA option" "$work/f4.err" || { echo "--full $opt: rc $rc"; cat "$work/f4.err"; exit 1; }
done
rc=0; "${TRAIN[@]}" --data "$data/train.jsonl" --out "$work/f4" --out-type f16 2>/dev/null || rc=$?
[ $rc -eq 2 ] || { echo "--out-type without --full: rc $rc"; exit 1; }
rc=0; "${FULL[@]}" --model "$work/base_q8_0.gguf" --data "$data/train.jsonl" --out "$work/f5" 2>"$work/f5.err" || rc=$?
[ $rc -eq 1 ] && grep -q "q8_0" "$work/f5.err" || { echo "q8_0 base with --full: rc $rc"; cat "$work/f5.err"; exit 1; }
echo "full: LoRA options, --out-type without --full and a q8_0 base are refused"
