#!/usr/bin/python3
"""bind_route.py TOKENIZER FEATDIR BASE.gguf OUT.gguf - the prototype of the binding route (an
experiment's tool, not part of the recipe; docs/demo-model-experiments.md, "The shape of the colour
just named"): writes into a copy of the recipe's initial model (BASE.gguf, its base.gguf pair made
without --bind-route) what `videollm calibrate --bind-route` writes (src/model/bindroute.c), so that,
at a colour word, the model predicts the shape of the object of that colour in the latest frames.
With the defaults the output is bit for bit the pair `calibrate --bind-route` writes on the same
initial model; the kernel weights it prints (repr) are the table in src/model/bindroute.c.

FEATDIR holds the recipe's training features (scene_0000.safetensors ...): the head tokens of its
first 100 scenes give each bin's absent and present level. The recipe's layout: 4 layers, hidden
256, heads of 64, RoPE theta 500000; the diff heads reserve LM dimensions 0..19 and connector units
240..255; the designed tower's bins are vision dimensions 79..114 (colour-major, areas ascending:
small triangle, circle, square, large triangle, circle, square) and 154 is unused.

New reserved LM dimensions:
  20..31  per colour c, a 2-d shape code (simplex: square, circle, triangle) at 20 + 2c + k, written
          by the connector at head tokens (units 228..239: the colour's bins summed per shape), and
          by layer 2 heads 0-1 at text tokens (the latest frames' codes)
  32..34  the colour words' code (embedding): +-e1, +-e2, +-e3
  35..36  the gate's output, read by the LM head rows of the shape words
  37      the head-token indicator: vision dimension 154 (1 on head tokens: the head's output bias)
          through connector unit 227, amplified by layer 1's MLP unit 0
Layer 2 heads 0-1 attend from text tokens (the text constant, dimension 1) to head tokens (37) by a
recency kernel on RoPE pairs 2..15 fitted by least squares (head 0: the latest frame; head 1: the
latest two). Layer 2 MLP units 0..11: silu(A (<u_c, colour code> - thr * text const)) * code[c][k]
-> 35 + k. Environment (defaults = the recipe's): MC 1.5, GC 1.0, TC 1.5, S 15, A 6, OUT 1.5, GAM 10,
GI 2, AMPV 200, P0 2, K0 22, K1 28, K0B 33, K1B 40 (K0B 0: one fetch head). NumPy only."""
import json
import os
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gguf_check import Gguf, read_safetensors  # noqa: E402

COL = ["red", "green", "blue", "yellow", "white", "purple"]
SH = ["square", "circle", "triangle"]
H, DH, BASE, V_BINS, NB = 256, 64, 500000.0, 79, 6
BIN_SHAPE = [2, 1, 0, 2, 1, 0]  # bins ascending by area: tri s, circle s, square s, tri l, circle l, square l
SIMPLEX = np.array([[1.0, 0.0], [-0.5, np.sqrt(3) / 2], [-0.5, -np.sqrt(3) / 2]])  # per shape
D_CODE, D_COL, D_OUT, D_IND, D_END = 20, 32, 35, 37, 38
IND_UNIT, V_IND, AMP_UNIT = 227, 154, 0
CONN_UNITS = range(228, 240)
GATE_UNITS = range(0, 12)


def env(k, d):
    return float(os.environ.get(k, d))


def main(argv):
    tokp, featdir, src, dst = argv[1:5]
    MC, GC, TC, S, A, OUT, GAM = (env("MC", 1.5), env("GC", 1.0), env("TC", 1.5), env("S", 15), env("A", 6),
                                   env("OUT", 1.5), env("GAM", 10))
    GI = env("GI", 2.0)
    vocab = json.load(open(tokp))["model"]["vocab"]
    cid = [vocab["\u0120" + c] for c in COL]
    sid = [vocab["\u0120" + s] for s in SH]
    vsrc, vdst = src.replace(".gguf", ".vision.gguf"), dst.replace(".gguf", ".vision.gguf")
    g, gv = Gguf(src), Gguf(vsrc)

    def tensor(gg, name):
        t = gg.tensors[name]
        n = int(np.prod(t["ne"]))
        return np.frombuffer(gg.b, "<f4", n, gg.data + t["offset"]).reshape(t["ne"][::-1]).copy()

    # bin levels (absent v0, present v1) per bin dim, from the head tokens of training features
    F = np.concatenate([read_safetensors(f"{featdir}/scene_{i:04d}.safetensors")["features"][:, 0]
                        for i in range(100)])
    v0, v1 = np.zeros(36), np.zeros(36)
    for j in range(36):
        x = F[:, V_BINS + j]
        v0[j] = np.median(x[x < 1.0])
        v1[j] = np.median(x[x > 1.0])
    print("bins: absent %.2f..%.2f, present %.2f..%.2f" % (v0.min(), v0.max(), v1.min(), v1.max()), file=sys.stderr)

    T = {}
    names = ["token_embd.weight", "output.weight"] + [f"blk.{l}.{n}" for l in range(4) for n in (
        "attn_q.weight", "attn_k.weight", "attn_v.weight", "attn_output.weight", "ffn_gate.weight",
        "ffn_up.weight", "ffn_down.weight", "attn_norm.weight", "ffn_norm.weight")]
    for n in names:
        T[n] = tensor(g, n)
    TV = {n: tensor(gv, n) for n in ("mm.0.weight", "mm.0.bias", "mm.2.weight", "mm.2.bias",
                                     "v.head.ffn_down.bias")}
    assert TV["v.head.ffn_down.bias"][V_IND] == 0.0, "vision dimension 154 is in use"
    TV["v.head.ffn_down.bias"][V_IND] += 1.0  # the head token's indicator
    new = slice(D_CODE, D_END)
    # 1. nothing else writes the new dims; the designed heads of layers 0-1 do not read them
    T["token_embd.weight"][:, new] = 0
    for l in range(4):
        T[f"blk.{l}.attn_output.weight"][new] = 0
        T[f"blk.{l}.ffn_down.weight"][new] = 0
    for l in range(2):
        for n in ("attn_q.weight", "attn_k.weight", "attn_v.weight"):
            T[f"blk.{l}.{n}"][:, new] = 0
    TV["mm.2.weight"][new] = 0
    TV["mm.2.bias"][new] = 0
    # 2. connector: unit u(c,k) = gelu(z + b), z = sum_a simplex[shape(a)][k] (v_a / (v1_a - v0_a)); out = GC (h - gelu(b))
    b = 6.0
    gelu = lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))  # noqa: E731
    TV["mm.2.weight"][:, list(CONN_UNITS)] = 0
    for c in range(6):
        for k in range(2):
            u = CONN_UNITS[2 * c + k]
            TV["mm.0.weight"][u] = 0
            for a in range(NB):
                j = c * NB + a
                TV["mm.0.weight"][u, V_BINS + j] = SIMPLEX[BIN_SHAPE[a], k] / (v1[j] - v0[j])
            TV["mm.0.bias"][u] = b
            TV["mm.2.weight"][D_CODE + 2 * c + k, u] = GC
            TV["mm.2.bias"][D_CODE + 2 * c + k] = -GC * gelu(b)
    # 2b. the head-token indicator (vision dim 154, 1 on head tokens only) along LM dim 37
    TV["mm.0.weight"][:, V_IND] = 0
    TV["mm.2.weight"][:, IND_UNIT] = 0
    TV["mm.0.weight"][IND_UNIT] = 0
    TV["mm.0.weight"][IND_UNIT, V_IND] = 1.0
    TV["mm.0.bias"][IND_UNIT] = b
    TV["mm.2.weight"][D_IND, IND_UNIT] = GI
    TV["mm.2.bias"][D_IND] = -GI * gelu(b)
    # 3. colour words' code
    U = np.zeros((6, 3))
    for c in range(6):
        U[c, c // 2] = 1.0 if c % 2 == 0 else -1.0
    for c in range(6):
        T["token_embd.weight"][cid[c], D_COL:D_COL + 3] = MC * U[c]
    # 4. layer 2 head 0: text tokens (dim 1) attend to frame tokens (dim 0) of the last frames
    theta = BASE ** (-2.0 * np.arange(DH // 2) / DH)
    pairs = list(range(int(env("P0", 2)), 16))
    d = np.arange(0, 800)

    def kernel(k0, k1):
        target = np.where(d < k0, 1.0, np.where(d < k1, 1.0 - (d - k0) / (k1 - k0), 0.0))
        Kc = np.cos(np.outer(d, theta[pairs]))
        wt = np.where(d < 100, 5.0, 1.0)
        w = np.linalg.lstsq(Kc * wt[:, None], target * wt, rcond=None)[0]
        kern = Kc @ w
        print("kernel: k(15,26,37,48,60,100,150,300,600,799) = %s; max beyond 40 %.2f" % (
            np.round(kern[[15, 26, 37, 48, 60, 100, 150, 300, 600, 799]], 2), kern[40:].max()), file=sys.stderr)
        print("kernel weights (%g, %g): %s" % (k0, k1, ", ".join(repr(float(x)) for x in w)), file=sys.stderr)
        return w
    kernels = [kernel(env("K0", 22), env("K1", 28))]
    if env("K0B", 33) > 0:
        kernels.append(kernel(env("K0B", 33), env("K1B", 40)))
    # measured on the recipe's initial model: text tokens entering layer 2 (rms 0.76, the text constant
    # 0.683 on dimension 1; 0.77 for the gate), colour words at the final norm (0.65)
    rms_head, rms_text, rms_fin = 1.8, 0.77, 0.65
    x1, x0 = 0.683 / 0.76, GI / rms_head
    # 4b. layer 1 MLP unit AMP_UNIT: at head tokens, add a large indicator along dim 37, so that head tokens
    #     entering layer 2 have a nearly constant normalised indicator (about sqrt(H)); off elsewhere
    AMPV = env("AMPV", 200)
    if AMPV > 0:
        G1, U1, D1 = T["blk.1.ffn_gate.weight"], T["blk.1.ffn_up.weight"], T["blk.1.ffn_down.weight"]
        xi = GI / 0.9  # normalised indicator at layer 1's MLP input (head rms there ~0.9)
        G1[AMP_UNIT] = 0
        U1[AMP_UNIT] = 0
        D1[:, AMP_UNIT] = 0
        G1[AMP_UNIT, D_IND] = 6.0 / xi
        U1[AMP_UNIT, D_IND] = 1.0 / xi
        D1[D_IND, AMP_UNIT] = AMPV / 6.0
        x0, rms_head = np.sqrt(H) * 0.95, (AMPV + GI) / (np.sqrt(H) * 0.95)
    q, k_, v, o = (T["blk.2.attn_q.weight"], T["blk.2.attn_k.weight"], T["blk.2.attn_v.weight"],
                   T["blk.2.attn_output.weight"])
    nh = len(kernels)
    q[0:nh * DH] = 0
    k_[0:nh * DH] = 0
    v[0:nh * DH] = 0
    o[:, 0:nh * DH] = 0
    scale = S * np.sqrt(DH) / (x1 * x0)
    for h, w in enumerate(kernels):
        for i, p in enumerate(pairs):
            # score_i = q k cos(d theta) / sqrt(Dh), q = sqrt(|w| scale) x1, k = sign sqrt(|w| scale) x0
            a = np.sqrt(abs(w[i]) * scale)
            q[h * DH + 2 * p, 1] = a
            k_[h * DH + 2 * p, D_IND] = a * np.sign(w[i])
        for j in range(12):
            v[h * DH + j, D_CODE + j] = 1.0
        # head tokens hold codes of size GC (normalised GC / rms_head); write TC per unit code
        o[D_CODE:D_CODE + 12, h * DH:h * DH + 12] = np.eye(12) * TC / (GC / rms_head)
    # 5. layer 2 MLP: the gate
    G, Up, Dn = T["blk.2.ffn_gate.weight"], T["blk.2.ffn_up.weight"], T["blk.2.ffn_down.weight"]
    mcn, tcn = MC / rms_text, TC / rms_text
    for c in range(6):
        for kk in range(2):
            un = GATE_UNITS[2 * c + kk]
            G[un] = 0
            Up[un] = 0
            Dn[:, un] = 0
            G[un, D_COL:D_COL + 3] = A * U[c]
            G[un, 1] = -A * 0.5 * mcn / x1
            Up[un, D_CODE + 2 * c + kk] = 1.0
            on = A * 0.5 * mcn
            Dn[D_OUT + kk, un] = OUT / (on * tcn)
    # 6. LM head: shape words read dims 35-36
    for s in range(3):
        T["output.weight"][sid[s], D_OUT:D_OUT + 2] = GAM * SIMPLEX[s] * rms_fin / OUT

    shutil.copyfile(src, dst)
    shutil.copyfile(vsrc, vdst)
    for path, gg, TT in ((dst, g, T), (vdst, gv, TV)):
        with open(path, "r+b") as f:
            for name, arr in TT.items():
                t = gg.tensors[name]
                assert t["type"] == 0, name
                f.seek(gg.data + t["offset"])
                f.write(arr.astype("<f4").tobytes())
    print("wrote", dst, vdst, file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv)
