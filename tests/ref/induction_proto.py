#!/usr/bin/python3
"""induction_proto.py TOKENIZER BASE.gguf STATES.bin OUT.gguf [GAMMA] - an experiment, not part of the
recipe: writes a designed induction pair into a copy of the default model's initial LM (the recipe's
base.gguf: 4 layers, hidden 256, 4 heads of 64, difference heads in layer 0, the reply head as head 0 of
layer 1) so that, at a colour word, the model predicts the shape that followed the latest earlier mention
of that colour (docs/demo-model-experiments.md, "A designed induction pair").

STATES.bin is `videollm hidden` output of BASE.gguf on training conversations: the layer inputs of
colour and shape words, used to find their directions and the scales below. Environment: SO, SI (the
written codes, in normalised units at layer 2; default 8), MATCH, BONUS, REC (score terms, in logits;
40, 12, 8), SINK (0: none; else the logits every text query gives <|begin_of_text|>). The RoPE pairs are GGUF's adjacent pairs, theta_i = 500000^(-2i/64).

  layer 1, head 2 (previous token): query and key read the text tokens' constant (dimension 1) on the
    8 fastest RoPE pairs, key rotated by one position, so each text token attends to the token before
    it; value: the six colour codes of that token (dual basis of the colour words' mean normalised
    layer-1 inputs, the common mean of text tokens removed); output: six random residual directions.
  layer 2, head 0 (induction): on six of the slowest pairs (nearly position-free) the query is the
    current token's colour code and the key the previous-token code written above (MATCH logits for a
    match); on a seventh, the query's colour indicator times the key's shape indicator (BONUS: keys
    that are shape words, so "green triangle" beats "turns green ."); on pair 15 (theta 0.0021,
    monotone over 1,500 positions) the colour indicator times the text constant (REC: the latest wins);
    value: the key's shape code; output: three random residual directions.
  output.weight: the three shape words' rows get GAMMA (default 1.5) times those directions."""
import json
import os
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gguf_check import Gguf  # noqa: E402
from hidden_probe import samples  # noqa: E402

COL = ["red", "green", "blue", "yellow", "white", "purple"]
SH = ["square", "circle", "triangle"]
H, DH, BASE, EPS, TEXT_V = 256, 64, 500000.0, 1e-5, 512


def main(argv):
    tokp, src, states, dst = argv[1:5]
    gam = float(argv[5]) if len(argv) > 5 else 1.5
    env = lambda k, d: float(os.environ.get(k, d))  # noqa: E731
    so_units, si_units = env("SO", 8), env("SI", 8)
    match, bonus, rec, sink = env("MATCH", 40), env("BONUS", 12), env("REC", 8), env("SINK", 0)
    vocab = json.load(open(tokp))["model"]["vocab"]
    cid = [vocab["\u0120" + c] for c in COL]
    bos = next(a["id"] for a in json.load(open(tokp))["added_tokens"] if a["content"] == "<|begin_of_text|>")
    sid = [vocab["\u0120" + s] for s in SH]
    g = Gguf(src)

    def tensor(name):
        t = g.tensors[name]
        n = int(np.prod(t["ne"]))
        return np.frombuffer(g.b, "<f4", n, g.data + t["offset"]).reshape(t["ne"][::-1]).copy()

    theta = BASE ** (-2.0 * np.arange(DH // 2) / DH)
    # mean normalised layer inputs (layers 1 and 2) of the colour and shape words and of all text tokens
    acc = {1: {}, 2: {}}
    dim1, rms2 = [], []
    for ids, _, hid in samples(states):
        text = ids < TEXT_V
        for L in (1, 2):
            h = hid[L].astype(np.float64)
            nx = h / np.sqrt((h ** 2).mean(1, keepdims=True) + EPS)
            for t in cid + sid + [bos, "all"]:
                m = text if t == "all" else ids == t
                if m.any():
                    a = acc[L].setdefault(t, [np.zeros(H), 0])
                    a[0] += nx[m].sum(0)
                    a[1] += m.sum()
            if L == 1:
                dim1.append(nx[text, 1])
        rms2.append(np.sqrt((hid[2][text].astype(np.float64) ** 2).mean(1)))
    x_t = np.median(np.concatenate(dim1))  # the text constant after layer 1's norm
    rms2 = np.median(np.concatenate(rms2))  # raw rms of text tokens entering layer 2

    def mean(L, t):
        s, c = acc[L][t]
        return s / c

    def dual(ts, L):
        """unit rows w_i with w_i . (m_j - common part) = 0 for i != j (dimensions 0-2 left out)"""
        mu = mean(L, "all").copy()
        mu[:3] = 0
        mu /= np.linalg.norm(mu)
        M = np.array([mean(L, t) - (mean(L, t) @ mu) * mu for t in ts])
        M[:, :3] = 0
        W = np.linalg.pinv(M).T
        return W / np.linalg.norm(W, axis=1, keepdims=True)

    D1, D2, S2 = dual(cid, 1), dual(cid, 2), dual(sid, 2)
    m1 = np.array([mean(1, t) @ D1[i] for i, t in enumerate(cid)])
    m2 = np.array([mean(2, t) @ D2[i] for i, t in enumerate(cid)])
    ms = np.array([mean(2, t) @ S2[i] for i, t in enumerate(sid)])
    print("colour codes: layer 1 %s, layer 2 %s; shape codes %s; text constant %.2f; layer-2 rms %.4f"
          % (np.round(m1, 2), np.round(m2, 2), np.round(ms, 2), x_t, rms2), file=sys.stderr)
    # residual directions the heads write: random, off dimensions 0-2, orthogonal to the codes read
    rng = np.random.default_rng(7)
    R = rng.standard_normal((9, H))
    R[:, :3] = 0
    rs = []
    for v in R:
        for u in list(D2) + list(S2) + rs:
            v = v - (v @ u) * u
        rs.append(v / np.linalg.norm(v))
    r_prev, r_ind = np.array(rs[:6]), np.array(rs[6:9])

    # layer 1, head 2: the previous token
    q1, k1 = tensor("blk.1.attn_q.weight"), tensor("blk.1.attn_k.weight")
    v1, o1 = tensor("blk.1.attn_v.weight"), tensor("blk.1.attn_output.weight")
    h0, P = 2 * DH, 8
    sc = np.array([np.cos((d - 1) * theta[:P]).sum() for d in range(1500)])
    gap = sc[1] - np.max(np.delete(sc, 1))
    u = np.sqrt(12.0 * np.sqrt(DH) / gap) / x_t
    for w in (q1, k1, v1):
        w[h0:h0 + DH] = 0
    o1[:, h0:h0 + DH] = 0
    for i in range(P):
        q1[h0 + 2 * i, 1] = u
        k1[h0 + 2 * i, 1] = u * np.cos(theta[i])
        k1[h0 + 2 * i + 1, 1] = u * np.sin(theta[i])
    so = so_units * rms2 / np.median(m1)
    for j in range(6):
        v1[h0 + j] = D1[j]
        o1[:, h0 + j] = so * r_prev[j]
    # layer 2, head 0: induction
    q2, k2 = tensor("blk.2.attn_q.weight"), tensor("blk.2.attn_k.weight")
    v2, o2 = tensor("blk.2.attn_v.weight"), tensor("blk.2.attn_output.weight")
    for w in (q2, k2, v2):
        w[0:DH] = 0
    o2[:, 0:DH] = 0
    kc = so * np.median(m1) / rms2  # the previous-token code after layer 2's norm
    a = np.sqrt(match * np.sqrt(DH) / (np.median(m2) * kc))
    for j in range(6):
        q2[48 + 2 * j] = a * D2[j]
        k2[48 + 2 * j] = a * r_prev[j]
    colour_any, shape_any = D2.sum(0), S2.sum(0) / np.sqrt(3)
    bq = np.sqrt(bonus * np.sqrt(DH) / (np.median(m2) * np.median(ms) / np.sqrt(3)))
    q2[60], k2[60] = bq * colour_any, bq * shape_any
    rq = np.sqrt(rec * np.sqrt(DH) / (np.median(m2) * x_t))
    q2[30] = rq * colour_any
    k2[30, 1] = rq
    if sink > 0:
        # an attention sink: every text query scores SINK logits on <|begin_of_text|> (value ~ 0), so
        # the head stays quiet where no colour matches; pair 31 (the slowest)
        sk = mean(2, bos).copy()
        sk[:3] = 0
        sk /= np.linalg.norm(sk)
        xs = mean(2, bos) @ sk
        zq = np.sqrt(sink * np.sqrt(DH) / (x_t * xs))
        q2[62, 1] = zq
        k2[62] = zq * sk
    si = si_units * rms2 / np.median(ms)
    for j in range(3):
        v2[j] = S2[j]
        o2[:, j] = si * r_ind[j]
    out = tensor("output.weight")
    for j, t in enumerate(sid):
        out[t] += gam * r_ind[j]

    shutil.copyfile(src, dst)
    with open(dst, "r+b") as f:
        for name, arr in (("blk.1.attn_q.weight", q1), ("blk.1.attn_k.weight", k1), ("blk.1.attn_v.weight", v1),
                          ("blk.1.attn_output.weight", o1), ("blk.2.attn_q.weight", q2),
                          ("blk.2.attn_k.weight", k2), ("blk.2.attn_v.weight", v2),
                          ("blk.2.attn_output.weight", o2), ("output.weight", out)):
            t = g.tensors[name]
            assert t["type"] == 0, name
            f.seek(g.data + t["offset"])
            f.write(arr.astype("<f4").tobytes())
    print("wrote", dst, file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv)
