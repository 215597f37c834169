#!/usr/bin/env bash
# vision-probe.sh - how much of "what appeared" a frozen, randomly initialised
# vision tower keeps in its 10 pooled tokens (docs/demo-model.md).
#
#   scripts/vision-probe.sh [WORK_DIR]
#
# For each tower setting (transformers' init; smooth patch filters with damped
# residual branches; the designed tower of `videollm calibrate --design-tower`,
# built on 20 scenes of seeds 10000...), `videollm init` makes the tower, `videollm synth
# --no-video --features` encodes SCENES scenes of 30 s, and tests/ref/vision_probe.py
# trains probes (ridge and a one-hidden-layer MLP, PyTorch) that read the
# colour / shape / size of each newly appeared object from the features of the
# frame that first shows it minus the frame before; scenes 0..109 train the
# probe, the rest test it. Settings: SCENES [150] SEED [1]
# TOWERS ["transformers smooth designed"].
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${BUILD:-build}"
BIN="$PWD/$BUILD/videollm"
W="${1:-$(mktemp -d "${TMPDIR:-/tmp}/vision-probe.XXXXXX")}"
SCENES="${SCENES:-150}" SEED="${SEED:-1}" TOWERS="${TOWERS:-transformers smooth designed}"
mkdir -p "$W"
"$BIN" synth --seed "$SEED" --scenes 4 --seconds 20 --no-video --out "$W/text" 2>/dev/null
"$BIN" tokenizer-train --vocab-size 300 --out "$W/tok.json" "$W/text/train.jsonl" 2>/dev/null
for setting in "transformers:0:1" "smooth:2:0.1" "designed:2:0.1"; do
  IFS=: read -r name basis res <<<"$setting"
  [[ " $TOWERS " == *" $name "* ]] || continue
  rm -rf "$W/$name" "$W/$name.init"
  type=()
  [ "$name" = designed ] && type=(--type f32) # the construction writes f32 weights
  "$BIN" init --tokenizer "$W/tok.json" --out "$W/$name.init" --seed "$SEED" --hidden 64 --layers 1 --heads 1 \
    --kv-heads 1 --ffn 128 --v-hidden 128 --v-layers 2 --v-heads 2 --v-ffn 512 --patch 32 --image 384 \
    --v-patch-basis "$basis" --v-residual-scale "$res" --gguf "$W/$name.gguf" "${type[@]}" --quiet
  model="$W/$name.gguf"
  if [ "$name" = designed ]; then
    model="$W/$name.designed.gguf"
    "$BIN" calibrate --model "$W/$name.gguf" --out "$model" --seed 10000 --scenes 20 --seconds 20 --design-tower --quiet
  fi
  "$BIN" synth --seed "$SEED" --scenes "$SCENES" --seconds 30 --no-video --out "$W/$name" --model "$model" \
    --features 2>/dev/null
  if [ "$name" = designed ]; then echo "== $name (calibrate --design-tower)"
  else echo "== $name (--v-patch-basis $basis --v-residual-scale $res)"; fi
  /usr/bin/python3 tests/ref/vision_probe.py "$W/$name"
done
