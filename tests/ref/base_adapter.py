#!/usr/bin/python3
"""base_adapter.py FIXTURES OUT_DIR - a PEFT folder holding only the fixture
adapter's connector, with a target_modules that selects nothing. Converting
the fixture LLM with it gives the frozen, unmerged base that training starts
from (as tests/ref/train_ref.py writes it)."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model_ref  # noqa: E402

fix, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
cfg = model_ref.load_json(os.path.join(fix, "adapter", "adapter_config.json"))
cfg["target_modules"] = "no_module_has_this_name$"
json.dump(cfg, open(os.path.join(out, "adapter_config.json"), "w"), indent=1)
aw = model_ref.st_read(os.path.join(fix, "adapter", "adapter_model.safetensors"))
model_ref.st_write(os.path.join(out, "adapter_model.safetensors"),
                   {k: v.numpy().astype("float32") for k, v in aw.items() if ".connector." in k})
