#!/usr/bin/env bash
# hidden_cli.sh - `videollm hidden` on a small fresh model, checked in NumPy
# against the model's own GGUF tensors (tests/ref/gguf_check.py's reader):
#   - one record per data line, n_states = n_layer + 1, n_embd;
#   - state 0 at text positions is the token's embedding row, at frame
#     positions the connector (Linear, exact GELU, Linear) of its features;
#   - argmax is that of the final norm and lm_head on the last state;
#   - --samples 1 writes one record; a missing features file stops with
#     exit 1, the line in the message, and no file left.
# Env (from tests/run.sh): VLM_BIN, VLM_TMP.
set -euo pipefail
PY=/usr/bin/python3
W="$VLM_TMP/hidden_cli"; rm -rf "$W"; mkdir -p "$W"
B="$VLM_BIN"
if ! "$PY" -c 'import numpy' 2>/dev/null; then echo "skip: /usr/bin/python3 cannot import numpy"; exit 77; fi
"$B" synth --seed 2 --scenes 6 --seconds 6 --no-video --out "$W/text" 2>/dev/null
"$B" tokenizer-train --vocab-size 300 --out "$W/tok.json" "$W/text/train.jsonl" 2>/dev/null
"$B" init --tokenizer "$W/tok.json" --out "$W/init" --seed 4 --hidden 64 --layers 2 --heads 2 --kv-heads 2 --ffn 128 \
  --v-hidden 32 --v-layers 1 --v-heads 2 --v-ffn 64 --patch 32 --image 384 --gguf "$W/m.gguf" --type f32 --quiet
"$B" synth --seed 2 --scenes 3 --seconds 6 --no-video --out "$W/d" --model "$W/m.gguf" --features 2>/dev/null
"$B" hidden --model "$W/m.gguf" --data "$W/d/train.jsonl" --out "$W/s.bin" 2>"$W/log"
grep -q "^hidden: 3 samples, [0-9]* positions -> " "$W/log" || { echo "FAIL: summary line"; cat "$W/log"; exit 1; }
"$B" hidden --model "$W/m.gguf" --data "$W/d/train.jsonl" --out "$W/one.bin" --samples 1 2>/dev/null
"$PY" - "$W" "$(cd "$(dirname "$0")/../ref" && pwd)" <<'PY'
import json, math, struct, sys
import numpy as np
W, ref = sys.argv[1], sys.argv[2]
sys.path.insert(0, ref)
from gguf_check import Gguf
lm, vis = Gguf(W + "/m.gguf"), Gguf(W + "/m.vision.gguf")
E = lm.values("token_embd.weight").astype(np.float64)           # [V][H]
out = lm.values("output.weight").astype(np.float64) if "output.weight" in lm.tensors else E
g = lm.values("output_norm.weight").astype(np.float64)
eps = float(lm.kv.get("llama.attention.layer_norm_rms_epsilon", 1e-5))
W0, b0 = vis.values("mm.0.weight").astype(np.float64), vis.values("mm.0.bias").astype(np.float64)
W2, b2 = vis.values("mm.2.weight").astype(np.float64), vis.values("mm.2.bias").astype(np.float64)
n_layer = int(lm.kv["llama.block_count"])
v_id = int(lm.kv["videollm.v_placeholder_id"])
def records(path):
    raw = open(path, "rb").read(); off = 0
    while off < len(raw):
        n, S, H = np.frombuffer(raw, "<i4", 3, off); off += 12
        ids = np.frombuffer(raw, "<i4", n, off); off += 4 * n
        am = np.frombuffer(raw, "<i4", n, off); off += 4 * n
        hid = np.frombuffer(raw, "<f4", S * n * H, off).reshape(S, n, H); off += 4 * S * n * H
        yield ids, am, hid
    assert off == len(raw)
def features(path):
    raw = open(path, "rb").read(); n = struct.unpack("<Q", raw[:8])[0]; h = json.loads(raw[8:8 + n])
    return np.frombuffer(raw[8 + n:], dtype=np.float32).reshape(h["features"]["shape"]).astype(np.float64)
lines = [json.loads(l) for l in open(W + "/d/train.jsonl") if l.strip()]
recs = list(records(W + "/s.bin"))
assert len(recs) == len(lines) == 3, (len(recs), len(lines))
assert len(list(records(W + "/one.bin"))) == 1
erf = np.vectorize(math.erf)
worst_t = worst_f = 0.0; agree = total = 0
for (ids, am, hid), line in zip(recs, lines):
    S, n, H = hid.shape
    assert S == n_layer + 1 and H == E.shape[1], (S, H)
    V = E.shape[0]
    text = ids < V
    worst_t = max(worst_t, np.abs(hid[0][text] - E[ids[text]]).max())
    F = features(W + "/d/" + line["features"])
    a, b = line["frames"]
    x = F[a:b].reshape(-1, F.shape[-1])
    h1 = x @ W0.T + b0
    conn = (0.5 * h1 * (1 + erf(h1 / math.sqrt(2)))) @ W2.T + b2
    fr = ids == v_id  # the frame placeholders
    assert fr.sum() == conn.shape[0], (fr.sum(), conn.shape)
    worst_f = max(worst_f, np.abs(hid[0][fr] - conn).max() / (np.abs(conn).max() + 1e-12))
    last = hid[-1].astype(np.float64)
    logits = (last / np.sqrt((last ** 2).mean(1, keepdims=True) + eps) * g) @ out.T
    top = np.sort(logits, 1)
    ok = logits.argmax(1) == am
    agree += ok.sum(); total += n
    assert (ok | (top[:, -1] - top[:, -2] < 1e-3)).all(), "argmax differs where it is clear"
print(f"text embeddings max |diff| {worst_t:.3g}; connector max relative diff {worst_f:.3g}; argmax {agree}/{total}")
assert worst_t == 0.0 and worst_f < 1e-4 and agree >= 0.995 * total
PY
# a missing features file: exit 1, the line named, no file
sed -n 1p "$W/d/train.jsonl" > "$W/bad.jsonl"
sed -n 2p "$W/d/train.jsonl" | sed 's/"features": *"[^"]*"/"features": "nope.safetensors"/' >> "$W/bad.jsonl"
cp "$W"/d/scene_*.safetensors "$W/" 2>/dev/null || true
set +e
"$B" hidden --model "$W/m.gguf" --data "$W/bad.jsonl" --out "$W/bad.bin" 2>"$W/err"; rc=$?
set -e
[ $rc -eq 1 ] && grep -q "line 2" "$W/err" && grep -q "nope.safetensors" "$W/err" && [ ! -e "$W/bad.bin" ] \
  && [ ! -e "$W/bad.bin.tmp" ] || { echo "FAIL: missing features gave $rc"; cat "$W/err"; exit 1; }
echo "missing features: $(cut -c1-120 "$W/err")"
