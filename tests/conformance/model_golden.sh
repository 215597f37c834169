#!/usr/bin/env bash
# model_golden.sh - the model runtime against an independent PyTorch reference.
#
#   1. tests/ref/make_fixtures.py writes tiny random Hugging Face checkpoints
#      (Llama BF16 shards, SigLIP F32, PEFT LoRA adapter + connector);
#   2. `videollm convert` turns them into GGUF pairs of every weight type;
#   3. tests/ref/model_ref.py computes golden tensors from the HF folders
#      (its own safetensors reader and LoRA merge, float64 torch);
#   4. `test_model golden` runs our runtime on each file and compares every
#      stage (preprocessing, SigLIP layers, MAP head, pooling, connector, LM
#      layers, logits one-pass and through the KV cache in 3 chunks, greedy
#      tokens) with per-type bounds (see docs/runtime.md).
# Env (from tests/run.sh): BUILD, VLM_BIN, VLM_TMP.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD="${BUILD:-build}"
VLM_BIN="${VLM_BIN:-$PWD/$BUILD/videollm}"
PY=/usr/bin/python3
DRIVER="$BUILD/tests/test_model"
[ -x "$DRIVER" ] || { echo "missing $DRIVER (make BUILD=$BUILD tests)"; exit 1; }
[ -x "$VLM_BIN" ] || { echo "missing $VLM_BIN"; exit 1; }
if ! "$PY" -c 'import torch, numpy' 2>/dev/null; then
  echo "skip: /usr/bin/python3 cannot import torch and numpy (scripts/install-deps)"; exit 77
fi

base="${VLM_TMP:-$(mktemp -d)}"
work="$(mktemp -d "$base/model_golden.XXXXXX")"
trap 'rm -rf "$work"' EXIT

"$PY" tests/ref/make_fixtures.py "$work/fix" >/dev/null
"$PY" tests/ref/model_ref.py "$work/fix" "$work/gold.safetensors"

status=0
for t in f32 f16 bf16 q8_0 q4_0; do
  "$VLM_BIN" convert --llm "$work/fix/llm" --vision "$work/fix/vision" --adapter "$work/fix/adapter" \
    --out "$work/m_$t.gguf" --type "$t" --quiet
  echo "== $t"
  "$DRIVER" golden "$work/m_$t.gguf" "$work/gold.safetensors" "$t" || status=1
done
exit $status
