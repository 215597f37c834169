#!/usr/bin/env bash
# convert_fixture.sh - `videollm convert` end to end on tiny random Hugging Face
# checkpoints (tests/ref/make_fixtures.py): every --type, the three adapter
# layouts, checked by an independent GGUF reader (tests/ref/gguf_check.py)
# against PyTorch's merged weights; then every broken input must be refused
# with a message naming the problem and must leave no file behind. With the
# real Llama-3 tokenizer available, a fixture with its 128,256-token
# vocabulary checks the tokenizer metadata at full size.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=/usr/bin/python3
BIN="${VLM_BIN:-$PWD/build/videollm}"
T="${VLM_TMP:-$(mktemp -d)}/convert"
rm -rf "$T"
mkdir -p "$T/out"
fx="$T/fx"
$PY tests/ref/make_fixtures.py "$fx" --broken

# 1. every output type with the released-style adapter, plus the other adapter layouts
specs=()
for t in f32 f16 bf16 q8_0 q4_0; do
  "$BIN" convert --llm "$fx/llm" --vision "$fx/vision" --adapter "$fx/adapter" --out "$T/out/m_$t.gguf" --type "$t" \
    2> "$T/out/m_$t.log" || { cat "$T/out/m_$t.log"; exit 1; }
  specs+=("$T/out/m_$t.gguf:$t:$fx/adapter")
done
grep -q "v.patch_embd.weight: row length 16 is not a multiple of 32; stored as f16 instead of q8_0" "$T/out/m_q8_0.log"
grep -q "100% 73/73 tensors" "$T/out/m_f32.log"
"$BIN" convert --llm "$fx/llm" --vision "$fx/vision" --adapter "$fx/adapter_list" --out "$T/out/list.gguf" \
  --type f32 --quiet
specs+=("$T/out/list.gguf:f32:$fx/adapter_list")
"$BIN" convert --llm "$fx/llm" --vision "$fx/vision" --adapter "$fx/adapter_lmbase" --out "$T/out/lmbase" \
  --type bf16 --quiet
test -f "$T/out/lmbase.vision.gguf"  # PATH without .gguf: the vision file is PATH.vision.gguf
mv "$T/out/lmbase" "$T/out/lmbase.gguf"
specs+=("$T/out/lmbase.gguf:bf16:$fx/adapter_lmbase")
$PY tests/ref/gguf_check.py --llm "$fx/llm" --vision "$fx/vision" "${specs[@]}"
# live1: one token per frame, no interval token
"$BIN" convert --llm "$fx/llm" --vision "$fx/vision" --adapter "$fx/adapter" --out "$T/out/live1.gguf" \
  --live-version live1 --type f16 --quiet
$PY - "$T/out/live1.gguf" <<'EOF'
import sys
sys.path.insert(0, "tests/ref")
from gguf_check import Gguf
g = Gguf(sys.argv[1])
got = (g.key("videollm.live_version", 8), g.key("videollm.frame_num_tokens", 4),
       g.key("videollm.frame_token_interval_id", 5), g.array("videollm.frame_token_pooled", 5))
assert got == ("live1", 1, -1, []), got
print("live1 keys ok")
EOF

# 2. refusals: each broken input names its problem, exits 1, writes nothing
fails=0
refuse() { # name expected-substring args...
  local name="$1" want="$2"; shift 2
  local log="$T/out/refuse_$name.log"
  rm -f "$T/out/r.gguf" "$T/out/r.vision.gguf"
  if "$BIN" convert "$@" --out "$T/out/r.gguf" --quiet 2> "$log"; then
    echo "FAIL $name: accepted"; fails=$((fails+1)); return
  fi
  if ! grep -qF -- "$want" "$log"; then
    echo "FAIL $name: message lacks: $want"; sed 's/^/    /' "$log"; fails=$((fails+1)); return
  fi
  if ls "$T/out"/r.* >/dev/null 2>&1; then echo "FAIL $name: left files behind"; ls "$T/out"; fails=$((fails+1)); return; fi
  echo "ok   refused $name: $(head -c 160 "$log" | tr '\n' ' ')"
}
while IFS=$'\t' read -r case want; do
  d="$fx/broken/$case"
  refuse "$case" "$want" --llm "$d/llm" --vision "$d/vision" --adapter "$d/adapter"
done < <($PY -c 'import json,sys; [print(k, v, sep="\t") for k, v in json.load(open(sys.argv[1])).items()]' \
           "$fx/broken/cases.json")
refuse no_adapter "no --adapter was given" --llm "$fx/llm" --vision "$fx/vision"
refuse swapped_folders "is not \"llama\"" --llm "$fx/vision" --vision "$fx/llm" --adapter "$fx/adapter"
refuse missing_folder "config.json: file not found" --llm "$T/nope" --vision "$fx/vision" --adapter "$fx/adapter"
"$BIN" convert --llm "$fx/llm" --vision "$fx/vision" --out "$T/out/x.gguf" --type q5_0 2>/dev/null && fails=$((fails+1))
[ $fails -eq 0 ] || { echo "$fails refusal checks failed"; exit 1; }

# 3. the real Llama-3 tokenizer (128,256 ids, 280,147 merges) travels intact
if [ -n "${VLM_LLAMA3_TOKENIZER:-}" ] && [ -f "$VLM_LLAMA3_TOKENIZER" ]; then
  $PY tests/ref/make_fixtures.py "$T/fx3" --tokenizer "$VLM_LLAMA3_TOKENIZER"
  "$BIN" convert --llm "$T/fx3/llm" --vision "$T/fx3/vision" --adapter "$T/fx3/adapter" --out "$T/out/l3.gguf" \
    --type q8_0 --quiet
  $PY tests/ref/gguf_check.py --llm "$T/fx3/llm" --vision "$T/fx3/vision" "$T/out/l3.gguf:q8_0:$T/fx3/adapter"
else
  echo "skipped the Llama-3 tokenizer case (VLM_LLAMA3_TOKENIZER not set)"
fi
echo "convert_fixture: all checks passed"
