#!/usr/bin/python3
"""stream_ref.py - independent reference of the original streaming loop
(VideoLLM-online demo/inference.py LiveInfer + demo/cli.py), in PyTorch on the
HF fixture folders, using model_ref.py's float64 model.

usage: stream_ref.py FIXTURES FRAMES.rgb RES FPS MAX_NEW THRESHOLDS QUERIES.json TOKENIZE.json OUT.jsonl

FRAMES.rgb holds the sampled, letterboxed frames (RES x RES RGB24); frame r
has time r/FPS. QUERIES.json: [[time, text], ...]. TOKENIZE.json: HF
tokenizer ids of the prompt fragments (made by tests/ref/hf_tokenize.js):
{"start": [...], "stream": [...], "gen": [...], "queries": [[...], ...]}.
THRESHOLDS is a comma list: the first threshold whose decisions all stay at
least 1e-6 away from it is used (printed on stderr as "threshold=T"), so the
C side, which runs in float32, takes the same decisions.

The loop, per frame pushed (as cli.py calls liveinfer() after each frame):
  1. a query earlier than the next queued frame is answered first;
  2. the frame is fed after the pending tokens: the start prompt for the
     first frame, eos + "\\n[" after a reply, else the sampled ',';
  3. a query at or before the frame's time is answered after it;
  4. silent iff softmax(logits)[','] >= threshold, else the argmax without
     ',' is sampled and a reply follows (prompt "]\\nAssistant:").
Replies: greedy, at most MAX_NEW tokens, stop at eos. One documented
deviation of videollm is modelled: a reply cut at the cap is closed with an
eos (fed with the next frame, followed by "\\n[").
Writes the event trace as JSON lines: frame {time, index, p_interval},
query {time, text}, response {time, token_ids}."""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model_ref as M  # noqa: E402


def main():
    (fix, frames_path, res, fps, max_new, thresholds, queries_path, tok_path, out_path) = sys.argv[1:10]
    res, fps, max_new = int(res), float(fps), int(max_new)
    thresholds = [float(x) for x in thresholds.split(",")]
    queries = json.load(open(queries_path))
    toks = json.load(open(tok_path))
    tj = M.load_json(os.path.join(fix, "llm", "tokenizer.json"))
    interval = tj["model"]["vocab"][","]
    eos_str = M.load_json(os.path.join(fix, "llm", "tokenizer_config.json"))["eos_token"]
    eos_str = eos_str["content"] if isinstance(eos_str, dict) else eos_str
    eos = {t["content"]: t["id"] for t in tj["added_tokens"]}[eos_str]

    vc, vw = M.load_vision(fix)
    cfg, lw, conn, _ = M.load_llm(fix)
    lm = M.Llama(cfg, lw)
    raw = np.fromfile(frames_path, dtype=np.uint8).reshape(-1, res, res, 3)
    with torch.no_grad():
        frame_embeds = [M.connector(conn, M.siglip(vc, vw, M.normalise(f), {})) for f in raw]

    def embed_ids(ids):
        return lm.w["model.embed_tokens.weight"][torch.tensor(ids, dtype=torch.long)]

    def run(thr):
        events, margins = [], []
        cache = [None] * lm.L
        state = {"last": None, "started": False}
        fq = []                       # queued frames (time, index, embeds)
        qq = [(float(t), q, ids) for (t, q), ids in zip(queries, toks["queries"])]

        def respond(t, query_ids, query):
            if query is not None:
                events.append({"event": "query", "time": t, "text": query})
                ids = query_ids
            else:
                ids = toks["gen"]
            out = []
            x = embed_ids(ids)
            for _ in range(max_new):
                logits = lm.forward(x, cache)[-1]
                tok = int(logits.argmax())
                out.append(tok)
                if tok == eos:
                    break
                x = embed_ids([tok])
            state["last"] = [out[-1]] if out[-1] == eos else [out[-1], eos]
            events.append({"event": "response", "time": t, "token_ids": out})

        def call():
            while fq:
                if qq and fq[0][0] > qq[0][0]:
                    t, q, ids = qq.pop(0)
                    respond(t, ids, q)
                    return
                t, index, fe = fq.pop(0)
                if not state["started"]:
                    prefix = toks["start"]
                else:
                    prefix = list(state["last"])
                    if prefix and prefix[-1] == eos:
                        prefix += toks["stream"]
                state["started"] = True
                x = torch.cat([embed_ids(prefix), fe], 0)
                logits = lm.forward(x, cache)[-1]
                p = torch.softmax(logits, -1)
                pi = float(p[interval])
                margins.append(abs(pi - thr))
                events.append({"event": "frame", "time": t, "index": index, "p_interval": pi})
                if qq and t >= qq[0][0]:
                    tq, q, ids = qq.pop(0)
                    respond(tq, ids, q)
                    return
                if pi >= thr:
                    state["last"] = [interval]
                    continue
                p[interval] = 0
                state["last"] = [int(p.argmax())]
                respond(t, None, None)
                return

        with torch.no_grad():
            for r in range(len(frame_embeds)):
                fq.append((r / fps, r, frame_embeds[r]))
                call()
        return events, min(margins) if margins else 1.0

    for thr in thresholds:
        events, margin = run(thr)
        if margin > 1e-6:
            break
    else:
        sys.exit("stream_ref: every threshold is too close to some P(',')")
    n_resp = sum(e["event"] == "response" for e in events)
    print("threshold=%r responses=%d margin=%.3g" % (thr, n_resp, margin), file=sys.stderr)
    with open(out_path, "w") as f:
        for e in events:
            f.write(json.dumps(e) + "\n")
    print(thr)


if __name__ == "__main__":
    main()
