"""Compare the event trace of `videollm stream --json` with the reference
trace of stream_ref.py: same events in the same order, same times, frame
indices and response token ids; P(interval) within 1e-4 relative."""
import json, sys

ours = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ref = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
ours = [e for e in ours if e["event"] in ("frame", "query", "response")]
worst = 0.0
for i, (a, b) in enumerate(zip(ours, ref)):
    assert a["event"] == b["event"], f"event {i}: ours {a}, reference {b}"
    assert abs(a["time"] - b["time"]) < 1e-9, f"event {i}: time {a['time']} vs {b['time']}"
    if a["event"] == "frame":
        assert a["index"] == b["index"], (a, b)
        rel = abs(a["p_interval"] - b["p_interval"]) / max(abs(b["p_interval"]), 1e-30)
        worst = max(worst, rel)
        assert rel < 1e-4, f"event {i}: p_interval {a['p_interval']} vs {b['p_interval']}"
    elif a["event"] == "query":
        assert a["text"] == b["text"], (a, b)
    else:
        assert a["token_ids"] == b["token_ids"], f"event {i}: tokens {a['token_ids']} vs {b['token_ids']}"
assert len(ours) == len(ref), f"ours has {len(ours)} events, reference {len(ref)}"
n = {k: sum(e["event"] == k for e in ref) for k in ("frame", "query", "response")}
print(f"trace identical: {n['frame']} frames, {n['query']} queries, {n['response']} responses; "
      f"max relative P(interval) error {worst:.2e}")
