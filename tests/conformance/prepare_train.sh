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
"$PY" - "$W/fix" "$W/base_adapter" <<'P'
import json, os, sys
sys.path.insert(0, "tests/ref")
import model_ref as M
fix, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
aw = M.st_read(os.path.join(fix, "adapter", "adapter_model.safetensors"))
keep = {k: v for k, v in aw.items() if ".connector." in k}
M.st_write(os.path.join(out, "adapter_model.safetensors"), {k: v.to(M.torch.float32).numpy() for k, v in keep.items()})
cfg = json.load(open(os.path.join(fix, "adapter", "adapter_config.json")))
cfg["target_modules"] = []
json.dump(cfg, open(os.path.join(out, "adapter_config.json"), "w"))
P
"$VLM_BIN" convert --llm "$W/fix/llm" --vision "$W/fix/vision" --adapter "$W/base_adapter" --out "$W/base.gguf" --type f32 --quiet
HIDDEN=$("$PY" -c 'import json,sys; c=json.load(open(sys.argv[1])); print(c.get("vision_config", c)["hidden_size"])' "$W/fix/vision/config.json")
"$VLM_BIN" prepare robustness --features-dir "$W/feat" --out "$W/robust.jsonl" --hidden "$HIDDEN" --seed 7
n=$(wc -l < "$W/robust.jsonl")
[ "$n" -eq 5 ] || { echo "expected 5 robustness samples, got $n"; exit 1; }
"$VLM_BIN" train --model "$W/base.gguf" --data "$W/robust.jsonl" --lora-r 4 --lora-alpha 8 --max-steps 2 \
  --batch 1 --grad-accum 1 --out "$W/out" --quiet
ls "$W/out" | grep -q . || { echo "training wrote nothing"; exit 1; }
echo "prepare -> train: 5 robustness samples (3 text only) trained for 2 steps"
