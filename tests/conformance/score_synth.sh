#!/usr/bin/env bash
# videollm score on `videollm synth` clips (seed 11, 3 scenes of 30 s, 2 fps
# video, no questions), against a small Python reimplementation of the
# documented rules (grammar regexes, greedy matching by time):
#  - each event's own text as a reply at the first sampled frame >= the event
#    (ceil(tick * 2 / 10) / 2 s, events of one frame joined): 100% narrated,
#    no false sentence;
#  - the replies of train.jsonl at the frames its conversation places them:
#    100% narrated;
#  - the first copy shifted by +1.5 s: 0% within 1 s, every sentence false;
#  - the silent and every:1 narration baselines (the most frequent reply of
#    train.jsonl, found independently here).
# Every count of the overall JSON (and per action) must equal the
# reference's. Then `videollm eval --baseline` on the same train.jsonl (no
# features files exist) with the real Llama-3 tokenizer, when present: LM
# metrics null, silent turns never early, every:1 turns all exactly
# n_stream - 1 early, Fluency and TimeDiff recomputed from the turn counts.
set -euo pipefail
T="$VLM_TMP/score"; rm -rf "$T"; mkdir -p "$T"
"$VLM_BIN" synth --seed 11 --scenes 3 --seconds 30 --fps-video 2 --questions-every 0 --out "$T/d" 2>/dev/null
/usr/bin/python3 - "$T" <<'PY'
import collections, glob, json, math, os, re, shutil, sys
T = sys.argv[1]
C = "red|green|blue|yellow|white|purple"; S = "square|circle|triangle"
GRAMMAR = [
    ("appears", re.compile(r"a (small|large) (%s) (%s) appears" % (C, S))),
    ("moves", re.compile(r"the (%s) (%s) moves (left|right|up|down)" % (C, S))),
    ("turns", re.compile(r"the (%s) (%s) turns (%s)" % (C, S, C))),
    ("collides", re.compile(r"the (%s) (%s) collides with the (%s) (%s)" % (C, S, C, S))),
    ("disappears", re.compile(r"the (%s) (%s) disappears" % (C, S))),
]
def parse(sentence):
    s = " ".join(sentence.lower().split())
    if s.endswith("."): s = s[:-1].rstrip()
    for action, rx in GRAMMAR:
        m = rx.fullmatch(s)
        if m:
            g = m.groups()
            if action == "appears": return (action, g[1], g[2], g[0])
            return (action, g[0], g[1]) + tuple(g[2:])
    return None
def sentences(text):
    return [p for p in re.split(r"[.!?\n\r]", text) if p.strip()]
def reference(events, replies, window=1.0):
    """events [(time, fact)], replies [(time, text)] -> overall counts"""
    sent = []
    for k, (t, text) in enumerate(sorted(replies, key=lambda r: r[0])):
        for p in sentences(text): sent.append([t, parse(p), None])
    out = collections.Counter(events=len(events), sentences=len(sent))
    out["unparsable"] = sum(1 for s in sent if s[1] is None)
    left = []
    for t, f in sorted(events, key=lambda e: e[0]):
        for s in sent:
            if s[2] is None and s[1] == f and t - 1e-6 <= s[0] <= t + window + 1e-6:
                s[2] = "hit"; out["narrated"] += 1; break
        else: left.append((t, f))
    for t, f in left:
        for s in sent:
            if s[2] is None and s[1] is not None and s[1][:3] == f[:3] and t - 1e-6 <= s[0] <= t + window + 1e-6:
                s[2] = "detail"; out["wrong_detail"] += 1; break
    out["false"] = sum(1 for s in sent if s[1] is not None and s[2] != "hit")
    # fields: each event against the earliest sentence of its action in its window
    for t, f in events:
        s = next((s[1] for s in sent if s[1] is not None and s[1][0] == f[0] and
                  t - 1e-6 <= s[0] <= t + window + 1e-6), None)
        if s is None: continue
        out["f_events"] += 1; out["f_colour"] += s[1] == f[1]; out["f_shape"] += s[2] == f[2]
        if f[0] == "appears": out["f_size_events"] += 1; out["f_size"] += s[3] == f[3]
        if f[0] in ("moves", "turns"): out["f_detail_events"] += 1; out["f_detail"] += s[3] == f[3]
        if f[0] == "collides": out["f_other_events"] += 1; out["f_other"] += s[3:5] == f[3:5]
    return out
COLOURS, SHAPES = C.split("|"), S.split("|")
SWAP = {"small": "large", "large": "small", "left": "up", "right": "down", "up": "right", "down": "left"}
def garble(text, k):
    """the event's sentence with some words changed, by rules on the event index k"""
    out = []
    for i, w in enumerate(text.rstrip(".").split()):
        if w in COLOURS and (k + i) % 3 == 0: w = COLOURS[(COLOURS.index(w) + 1) % 6]
        elif w in SHAPES and (k + i) % 4 == 1: w = SHAPES[(SHAPES.index(w) + 1) % 3]
        elif w in SWAP and k % 2 == 0: w = SWAP[w]
        out.append(w)
    return " ".join(out) + "." 
def write_stream(path, replies):
    with open(path, "w") as f:
        for t, text in replies:
            f.write(json.dumps({"event": "frame", "time": t, "index": int(t * 2), "p_interval": 0.5}) + "\n")
            f.write(json.dumps({"event": "response", "time": t, "text": text, "token_ids": [1]}) + "\n")
d = T + "/d"
train = [json.loads(l) for l in open(d + "/train.jsonl")]
cases = {"ceil": {}, "shift": {}, "train": {}, "silent": {}, "every1": {}, "garbled": {}}
# the most frequent assistant text made only of grammar sentences (ties: first seen)
cnt = collections.Counter(); order = []
for s in train:
    for m in s["conversation"]:
        if m["role"] == "assistant" and sentences(m["content"]) and all(parse(p) for p in sentences(m["content"])):
            if m["content"] not in cnt: order.append(m["content"])
            cnt[m["content"]] += 1
text = max(order, key=lambda x: (cnt[x], -order.index(x)))
for name in ["ceil", "shift", "train", "garbled"]: os.makedirs("%s/%s" % (T, name), exist_ok=True)
for i, path in enumerate(sorted(glob.glob(d + "/scene_*.events.json"))):
    doc = json.load(open(path)); stem = os.path.basename(path)[:-len(".events.json")]
    events = [(e["tick"] / 10, parse(e["text"])) for e in doc["events"]]
    assert all(f for _, f in events)
    byframe = collections.OrderedDict()
    for e in doc["events"]: byframe.setdefault((e["tick"] * 2 + 9) // 10, []).append(e["text"])
    ceil = [(fr / 2, " ".join(ts)) for fr, ts in byframe.items()]
    shift = [(t + 1.5, x) for t, x in ceil]
    garbled = [(fr / 2, " ".join(garble(x, 7 * i + j) for j, x in enumerate(ts))) for fr, ts in byframe.items()]
    s0, cum, trep = train[i]["frames"][0], 0, []
    for m in train[i]["conversation"]:
        if m["role"] == "stream": cum += m["num_frames"]
        if m["role"] == "assistant": trep.append(((s0 + cum - 1) / 2, m["content"]))
    nfr = int(math.floor(doc["seconds"] * 2 + 1e-9))
    every1 = [(r / 2, text) for r in range(nfr)]
    for name, reps in [("ceil", ceil), ("shift", shift), ("train", trep), ("garbled", garbled)]:
        shutil.copy(path, "%s/%s/" % (T, name)); write_stream("%s/%s/%s.stream.jsonl" % (T, name, stem), reps)
    for name, reps in [("ceil", ceil), ("shift", shift), ("train", trep), ("silent", []), ("every1", every1),
                       ("garbled", garbled)]:
        c = reference(events, reps)
        for k, v in c.items(): cases[name][k] = cases[name].get(k, 0) + v
        for a, _ in GRAMMAR:
            ca = reference([e for e in events if e[1][0] == a], [])
            cases[name]["events_" + a] = cases[name].get("events_" + a, 0) + ca["events"]
json.dump({"text": text, "cases": cases}, open(T + "/expected.json", "w"))
print("reference:", json.dumps(cases))
PY
"$VLM_BIN" score --dir "$T/ceil" --json > "$T/ceil.json"
"$VLM_BIN" score --dir "$T/shift" --json > "$T/shift.json"
"$VLM_BIN" score --dir "$T/train" --json > "$T/train.json"
"$VLM_BIN" score --dir "$T/garbled" --json > "$T/garbled.json"
"$VLM_BIN" score --dir "$T/d" --baseline silent --json > "$T/silent.json"
"$VLM_BIN" score --dir "$T/d" --baseline every:1 --text-from "$T/d/train.jsonl" --json > "$T/every1.json"
"$VLM_BIN" score --dir "$T/ceil" > "$T/ceil.txt"   # the table form runs too
grep -q "^overall: .* (100.0%)" "$T/ceil.txt"
/usr/bin/python3 - "$T" <<'PY'
import json, sys
T = sys.argv[1]
exp = json.load(open(T + "/expected.json"))
for name, want in exp["cases"].items():
    got = json.load(open("%s/%s.json" % (T, name)))
    o = got["overall"]
    for k in ["events", "narrated", "wrong_detail", "sentences", "unparsable", "false"]:
        assert o[k] == want.get(k, 0), (name, k, o[k], want.get(k, 0))
    for a in ["appears", "moves", "turns", "collides", "disappears"]:
        assert o["by_action"][a]["events"] == want["events_" + a], (name, a)
    assert sum(s["events"] for s in got["scenes"]) == o["events"] and len(got["scenes"]) == 3
    assert o["missed"] == o["events"] - o["narrated"] - o["wrong_detail"]
    for k in ["events", "colour", "shape", "size_events", "size", "detail_events", "detail", "other_events", "other"]:
        assert o["fields"][k] == want.get("f_" + k, 0), (name, "fields", k, o["fields"][k], want.get("f_" + k, 0))
    print("%-7s events %d narrated %d (%s%%) wrong detail %d sentences %d false %d" % (
        name, o["events"], o["narrated"], o["narrated_pct"], o["wrong_detail"], o["sentences"], o["false"]))
ceil = json.load(open(T + "/ceil.json"))["overall"]
assert ceil["narrated_pct"] == 100.0 and ceil["false"] == 0 and ceil["unparsable"] == 0 and ceil["mean_latency"] <= 0.5
assert json.load(open(T + "/train.json"))["overall"]["narrated_pct"] == 100.0
g = json.load(open(T + "/garbled.json"))["overall"]["fields"]
assert 0 < g["colour"] < g["events"] and 0 < g["shape"] < g["events"] and 0 < g["size"] < g["size_events"], g
assert 0 < g["detail"] < g["detail_events"], g
print("garbled fields:", json.dumps(g))
sh = json.load(open(T + "/shift.json"))["overall"]
assert sh["narrated"] == 0 and sh["false"] == sh["sentences"] > 0
si = json.load(open(T + "/silent.json"))
assert si["overall"]["narrated"] == 0 and si["overall"]["sentences"] == 0 and si["baseline"] == "silent"
assert json.load(open(T + "/every1.json"))["text"] == exp["text"]
PY
# bad input: a missing replies file, a malformed events file, an unknown baseline
rm "$T/ceil/scene_0001.stream.jsonl"
! "$VLM_BIN" score --dir "$T/ceil" 2>"$T/err" >/dev/null && grep -q "scene_0001.stream.jsonl" "$T/err"
echo '{"objects": [], "events": [' > "$T/bad.events.json"
! "$VLM_BIN" score --events "$T/bad.events.json" --replies "$T/d/train.jsonl" 2>"$T/err" && grep -q "malformed" "$T/err"
! "$VLM_BIN" score --dir "$T/d" --baseline loud 2>"$T/err" && grep -q "silent" "$T/err"

# videollm eval --baseline on train.jsonl: tokenizer only, no features files
if [ ! -f "${VLM_LLAMA3_TOKENIZER:-}" ]; then echo "eval --baseline skipped: no Llama-3 tokenizer"; exit 0; fi
for b in silent every:1 every:3; do
  "$VLM_BIN" eval --baseline "$b" --tokenizer "$VLM_LLAMA3_TOKENIZER" --data "$T/d/train.jsonl" --json > "$T/eval_${b/:/}.json"
done
/usr/bin/python3 - "$T" <<'PY'
import json, sys
T = sys.argv[1]
for b in ["silent", "every1", "every3"]:
    doc = json.load(open("%s/eval_%s.json" % (T, b)))
    assert doc["average"]["lm_ppl"] is None and doc["average"]["lm_correctness"] is None, b
    assert len(doc["samples"]) == 3
    tds, fls = [], []
    for s in doc["samples"]:
        diffs, flus = [], []
        for t in s["turns"]:
            if "diff" not in t: continue
            d, nv, nl = t["diff"], t["n_stream"], t["n_lm"]
            if b == "silent": assert d <= 0, t
            if b == "every1": assert d == nv - 1 and t["lookahead"] == 0, t
            diffs.append(abs(d))
            if nl:
                assert t["ppl"] is None and t["n_correct"] == 0
                f = (nv + 0) / (nv + nl) if d == 0 else (nv - d) / (nv + nl) if d > 0 else (nv - 1) / (nv + nl)
                assert abs(t["fluency"] - f) < 1e-12, (t, f)
                flus.append(f)
        fd = sum(diffs) / len(diffs) if diffs else 0.0
        fl = sum(flus) / len(flus) if flus else 1.0
        assert abs(s["frame_diff"] - fd) < 1e-12 and abs(s["fluency"] - fl) < 1e-12, s
        tds.append(fd / 2); fls.append(fl)
    a = doc["average"]
    assert abs(a["time_diff"] - sum(tds) / 3) < 1e-12 and abs(a["fluency"] - sum(fls) / 3) < 1e-12
    print("eval --baseline %-6s TimeDiff %.4f s  Fluency %.2f%%" % (b, a["time_diff"], 100 * a["fluency"]))
PY
