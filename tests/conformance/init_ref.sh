#!/usr/bin/env bash
# init_ref.sh - `videollm init` against independent PyTorch checks.
#
#   1. a small byte-level BPE tokenizer (tests/ref/make_fixtures.py's);
#   2. `videollm init ... --gguf` writes the Hugging Face folders and the GGUF
#      pair; the same seed again gives byte-identical files, another seed
#      different weights and the same configs;
#   3. tests/ref/init_check.py loads the folders into plain-PyTorch skeletons
#      with transformers' module names (strict), checks the configs, and
#      compares every tensor with the same skeleton initialised in torch as
#      transformers' _init_weights does (both connector modes);
#   4. tests/ref/gguf_check.py validates the GGUF pair against the folders;
#   5. tests/ref/model_ref.py (float64 PyTorch, via init_check.py golden)
#      computes every stage of the model on the folders and `test_model
#      golden` compares our runtime on the GGUF files (f32 and f16);
#   6. refused parameters leave nothing behind.
# Env (from tests/run.sh): BUILD, VLM_BIN, VLM_TMP.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD="${BUILD:-build}"
BIN="${VLM_BIN:-$PWD/$BUILD/videollm}"
PY=/usr/bin/python3
DRIVER="$BUILD/tests/test_model"
[ -x "$DRIVER" ] || { echo "missing $DRIVER (make BUILD=$BUILD tests)"; exit 1; }
[ -x "$BIN" ] || { echo "missing $BIN"; exit 1; }
if ! "$PY" -c 'import torch, numpy' 2>/dev/null; then
  echo "skip: /usr/bin/python3 cannot import torch and numpy (scripts/install-deps)"; exit 77
fi
base="${VLM_TMP:-$(mktemp -d)}"
w="$(mktemp -d "$base/init_ref.XXXXXX")"
trap 'rm -rf "$w"' EXIT

"$PY" tests/ref/init_check.py tokenizer "$w/tok.json"
dims=(--hidden 128 --layers 2 --heads 4 --kv-heads 2 --ffn 384 --v-hidden 64 --v-layers 2 --v-heads 2 --v-ffn 256
      --patch 32 --image 384)

# 2. the model, determinism
"$BIN" init --tokenizer "$w/tok.json" --out "$w/m" --seed 7 "${dims[@]}" --gguf "$w/m.gguf" --type f32
"$BIN" init --tokenizer "$w/tok.json" --out "$w/same" --seed 7 "${dims[@]}" --quiet
"$BIN" init --tokenizer "$w/tok.json" --out "$w/other" --seed 8 "${dims[@]}" --quiet
n=0
for f in $(cd "$w/m" && find . -type f | sort); do
  cmp -s "$w/m/$f" "$w/same/$f" || { echo "FAIL: $f differs between two runs with seed 7"; exit 1; }
  if [[ "$f" == *.safetensors ]]; then
    ! cmp -s "$w/m/$f" "$w/other/$f" || { echo "FAIL: $f is the same for seeds 7 and 8"; exit 1; }
  else
    cmp -s "$w/m/$f" "$w/other/$f" || { echo "FAIL: $f depends on the seed"; exit 1; }
  fi
  n=$((n+1))
done
[ "$n" -eq 10 ] || { echo "FAIL: $n files written, expected 10"; exit 1; }
echo "determinism: $n files identical for seed 7 twice; the 3 weight files differ for seed 8"

# 3. configs, shapes and initialisation in PyTorch
"$PY" tests/ref/init_check.py check "$w/m"
"$BIN" init --tokenizer "$w/tok.json" --out "$w/torch" --seed 3 "${dims[@]}" --connector-init torch --quiet
"$PY" tests/ref/init_check.py check "$w/torch" --connector-init torch

# 4. the GGUF pair against the folders; an f16 pair converted from the folders afterwards
"$PY" tests/ref/gguf_check.py --llm "$w/m/llm" --vision "$w/m/vision" "$w/m.gguf:f32:$w/m/adapter"
"$BIN" convert --llm "$w/m/llm" --vision "$w/m/vision" --adapter "$w/m/adapter" --out "$w/m16.gguf" --type f16 --quiet

# 5. the runtime against the PyTorch reference model
"$PY" tests/ref/init_check.py golden "$w/m" "$w/gold.safetensors"
status=0
for t in f32 f16; do
  g="$w/m.gguf"; [ "$t" = f16 ] && g="$w/m16.gguf"
  echo "== $t"
  "$DRIVER" golden "$g" "$w/gold.safetensors" "$t" || status=1
done

# 6. refusals: a message naming the problem, nothing left behind
before="$(ls -A "$w" | sort)"
refuse() {  # refuse 'expected message' args...
  local want="$1"; shift
  if "$BIN" init --tokenizer "$w/tok.json" --out "$w/bad" "$@" 2> "$w/err.txt"; then
    echo "FAIL: accepted: $*"; status=1; return
  fi
  grep -qF -- "$want" "$w/err.txt" || { echo "FAIL: '$*' said: $(cat "$w/err.txt")"; status=1; }
  rm -f "$w/err.txt"
  [ "$(ls -A "$w" | sort)" = "$before" ] || { echo "FAIL: '$*' left files: $(ls -A "$w")"; status=1; }
}
refuse "hidden size 100 is not a multiple of the head count 3" --hidden 100 --heads 3
refuse "head count 4 is not a multiple of the kv head count 3" --kv-heads 3
refuse "image size 100 is not a multiple of the patch size 32" --image 100
refuse "cannot be pooled 3x3" --image 64 --patch 32
refuse "converting to GGUF" --gguf "$w/missing/m.gguf"
refuse "--heads needs a non-negative integer" --heads four
refuse "unknown --connector-init" --connector-init kaiming
"$PY" - "$w/tok.json" "$w/tok_no_eot.json" <<'EOF'
import json, sys
t = json.load(open(sys.argv[1], encoding="utf-8"))
t["added_tokens"] = [a for a in t["added_tokens"] if a["content"] != "<|eot_id|>"]
json.dump(t, open(sys.argv[2], "w", encoding="utf-8"), ensure_ascii=False)
EOF
before="$(ls -A "$w" | sort)"
refuse "no special added token \"<|eot_id|>\"" --tokenizer "$w/tok_no_eot.json"
[ $status -eq 0 ] && echo "refusals: ok"
exit $status
