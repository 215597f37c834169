#!/usr/bin/python3
"""vision_probe.py DIR - probes on frozen-tower features of synthetic scenes
(scripts/vision-probe.sh): for every object that appears after tick 0, the
input is the feature difference between the first 2 fps frame that shows it
and the frame before, either all 10 tokens (10 x D) or the pooled token plus
the sum of the 9 grid tokens (2 x D, invariant to where the object is); the
targets are its colour (6), shape (3) and size (2). Ridge regression to one-hot
targets and a one-hidden-layer MLP (256 GELU units, AdamW, 400 full-batch
steps), trained on scenes 0..109 and tested on the rest."""
import glob
import json
import math
import struct
import sys

import numpy as np
import torch

torch.set_num_threads(2)
torch.manual_seed(0)
COLOURS = ["red", "green", "blue", "yellow", "white", "purple"]
SHAPES = ["square", "circle", "triangle"]


def features(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    h = json.loads(raw[8:8 + n])
    return np.frombuffer(raw[8 + n:], dtype=np.float32).reshape(h["features"]["shape"])


def load(d, summed):
    X, Y, scene = [], [], []
    for i, ep in enumerate(sorted(glob.glob(d + "/scene_*.events.json"))):
        ev = json.load(open(ep))
        F = features(ep.replace(".events.json", ".safetensors"))
        for e in ev["events"]:
            if e["action"] != "appears" or e["tick"] == 0:
                continue
            f = math.ceil(e["tick"] / 5)  # first 2 fps frame showing the tick
            if f >= len(F):
                continue
            dd = F[f] - F[f - 1]
            X.append(np.concatenate([dd[0], dd[1:].sum(0)]) if summed else dd.ravel())
            o = ev["objects"][e["object"]]
            Y.append((COLOURS.index(e["colour"]), SHAPES.index(o["shape"]), int(o["size"] == "large")))
            scene.append(i)
    return np.array(X, dtype=np.float64), np.array(Y), np.array(scene)


def main():
    d = sys.argv[1]
    for summed in (False, True):
        X, Y, sc = load(d, summed)
        tr, te = sc < 110, sc >= 110
        mu, sd = X[tr].mean(0), X[tr].std(0) + 1e-9
        Xn = (X - mu) / sd
        Xt = torch.tensor(Xn, dtype=torch.float32)
        out = []
        for name, k, col in (("colour", 6, 0), ("shape", 3, 1), ("size", 2, 2)):
            T = np.eye(k)[Y[:, col]]
            A = Xn[tr]
            W = np.linalg.solve(A.T @ A + 100.0 * np.eye(A.shape[1]), A.T @ T[tr])
            ridge = ((Xn[te] @ W).argmax(1) == Y[te, col]).mean()
            y = torch.tensor(Y[:, col])
            net = torch.nn.Sequential(torch.nn.Linear(X.shape[1], 256), torch.nn.GELU(), torch.nn.Linear(256, k))
            opt = torch.optim.AdamW(net.parameters(), 1e-3, weight_decay=0.1)
            m = torch.tensor(tr)
            for _ in range(400):
                loss = torch.nn.functional.cross_entropy(net(Xt[m]), y[m])
                opt.zero_grad()
                loss.backward()
                opt.step()
            with torch.no_grad():
                mlp = (net(Xt[~m]).argmax(1) == y[~m]).float().mean().item()
            out.append(f"{name} ridge {100 * ridge:.0f}% MLP {100 * mlp:.0f}%")
        kind = "pooled + sum of grid tokens" if summed else "all 10 tokens"
        print(f"{kind:28s} ({tr.sum()} train / {te.sum()} test objects): " + ", ".join(out))


if __name__ == "__main__":
    main()
