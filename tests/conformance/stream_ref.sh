#!/usr/bin/env bash
# The streaming loop against an independent PyTorch reference of the original
# LiveInfer loop (tests/ref/stream_ref.py), on tiny random checkpoints in the
# published Hugging Face layouts, a lossless 384x384 clip and queries at
# several times: identical decisions and reply token ids, P(',') within 1e-4.
set -euo pipefail
PY=/usr/bin/python3
W="$VLM_TMP/stream"; mkdir -p "$W"
"$PY" tests/ref/make_fixtures.py "$W/fix" >/dev/null
"$VLM_BIN" convert --llm "$W/fix/llm" --vision "$W/fix/vision" --adapter "$W/fix/adapter" --out "$W/tiny.gguf" --type f32 2>/dev/null
ffmpeg -nostdin -v error -y -f lavfi -i "testsrc2=size=384x384:rate=2:duration=8" -c:v ffv1 "$W/clip.mkv"
ffmpeg -nostdin -v error -y -i "$W/clip.mkv" -f rawvideo -pix_fmt rgb24 "$W/frames.rgb"
SYS="A multimodal AI assistant is helping users with some activities. Below is their conversation, interleaved with the list of video frames received by the assistant."
cat > "$W/queries.json" <<'J'
[[0.0, "Please narrate the video in real time."], [1.2, "What is it?"], [3.0, "And now?"], [5.25, "Anything new?"]]
J
# prompt fragments as the original renders them, tokenized whole by HF tokenizers
"$PY" - "$W" "$SYS" <<'P'
import json, sys
w, sysmsg = sys.argv[1], sys.argv[2]
qs = json.load(open(w + "/queries.json"))
frags = ["<|begin_of_text|>" + sysmsg + "\n\n[", "\n[", "]\nAssistant:"] + ["]\nUser: " + q + "\nAssistant:" for _, q in qs]
json.dump(frags, open(w + "/frags.json", "w"))
P
node tests/ref/hf_tokenize.js "$W/fix/llm/tokenizer.json" "$W/frags.json" --add-special '<v>' > "$W/frag_ids.json"
"$PY" - "$W" <<'P'
import json, sys
w = sys.argv[1]
r = [x["ids"] for x in json.load(open(w + "/frag_ids.json"))]
json.dump({"start": r[0], "stream": r[1], "gen": r[2], "queries": r[3:]}, open(w + "/tok.json", "w"))
P
for MAXNEW in 6 24; do
  THR=$("$PY" tests/ref/stream_ref.py "$W/fix" "$W/frames.rgb" 384 2 $MAXNEW \
        0.0027,0.00268,0.00272,0.00265,0.0028,0.0026 "$W/queries.json" "$W/tok.json" "$W/ref.jsonl")
  "$VLM_BIN" stream --model "$W/tiny.gguf" --video "$W/clip.mkv" --json --threshold "$THR" --max-new-tokens $MAXNEW \
    --system "$SYS" --query "0:Please narrate the video in real time." --query "1.2:What is it?" \
    --query "3:And now?" --query "5.25:Anything new?" > "$W/ours.jsonl"
  printf 'max_new_tokens %-4s threshold %s: ' $MAXNEW "$THR"
  "$PY" tests/ref/trace_compare.py "$W/ours.jsonl" "$W/ref.jsonl"
done
