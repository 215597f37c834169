#!/usr/bin/env bash
# Data made by `videollm prepare` trains: the robustness samples (three of
# them text only, two with noise/zero frame features) and a narration stream
# built from the hand-made annotation files in tests/data/prepare go through
# `videollm train` on the tiny fixture model for two steps.
set -euo pipefail
PY=/usr/bin/python3
W="$VLM_TMP/prepare_train"; mkdir -p "$W"
"$PY" tests/ref/make_fixtures.py "$W/fix" >/dev/null
# a connector-only adapter gives the frozen, unmerged base (as train_grad.sh does)
"$PY" tests/ref/base_adapter.py "$W/fix" "$W/base_adapter"
"$VLM_BIN" convert --llm "$W/fix/llm" --vision "$W/fix/vision" --adapter "$W/base_adapter" --out "$W/base.gguf" --type f32 --quiet
HIDDEN=$("$PY" -c 'import json,sys; c=json.load(open(sys.argv[1])); print(c.get("vision_config", c)["hidden_size"])' "$W/fix/vision/config.json")
"$VLM_BIN" prepare robustness --features-dir "$W/feat" --out "$W/robust.jsonl" --hidden "$HIDDEN" --seed 7
n=$(wc -l < "$W/robust.jsonl")
[ "$n" -eq 5 ] || { echo "expected 5 robustness samples, got $n"; exit 1; }
"$VLM_BIN" train --model "$W/base.gguf" --data "$W/robust.jsonl" --lora-r 4 --lora-alpha 8 --max-steps 2 \
  --batch 1 --grad-accum 1 --out "$W/out" --quiet
ls "$W/out" | grep -q . || { echo "training wrote nothing"; exit 1; }
echo "prepare -> train: 5 robustness samples (3 text only) trained for 2 steps"
