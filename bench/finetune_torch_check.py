#!/usr/bin/env python3
"""Cross-check of clipsearch finetune's loss and gradient (src/app/finetune_loss.c)
against PyTorch autograd, run by hand (needs torch and numpy; not part of the tests):

    build/bench_finetune --dump /tmp/ft.bin && python3 bench/finetune_torch_check.py /tmp/ft.bin

The C side writes a batch of 12 pairs (the last image repeats the first, with another
caption) with its losses and gradients; here the same numbers come from
transformers-style CLIP loss (mean of both cross-entropies over logits_per_text and its
transpose) and sentence-transformers' MultipleNegativesRankingLoss (text -> image), in
float64. Exit status 1 when the losses or any gradient entry differ by more than 1e-6."""
import sys

import numpy as np
import torch
import torch.nn.functional as F

B, DV, DT, P, SCALE = 12, 96, 64, 32, 14.3
raw = open(sys.argv[1], "rb").read()
off = 0


def take(n, dtype=np.float32):
    global off
    a = np.frombuffer(raw, dtype=dtype, count=n, offset=off)
    off += a.nbytes
    return a


xi = take(B * DV).reshape(B, DV)
xt = take(B * DT).reshape(B, DT)
wv = take(P * DV).reshape(P, DV)
wt = take(P * DT).reshape(P, DT)
bad = 0
for name in ("clip", "mnrl"):
    loss_c = take(1, np.float64)[0]
    gv_c = take(P * DV).reshape(P, DV)
    gt_c = take(P * DT).reshape(P, DT)
    Wv = torch.tensor(wv, dtype=torch.float64, requires_grad=True)
    Wt = torch.tensor(wt, dtype=torch.float64, requires_grad=True)
    img = F.normalize(torch.tensor(xi, dtype=torch.float64) @ Wv.T, dim=-1)
    txt = F.normalize(torch.tensor(xt, dtype=torch.float64) @ Wt.T, dim=-1)
    logits_per_text = SCALE * txt @ img.T
    labels = torch.arange(B)
    loss = F.cross_entropy(logits_per_text, labels)
    if name == "clip":
        loss = (loss + F.cross_entropy(logits_per_text.T, labels)) / 2
    loss.backward()
    dl = abs(loss.item() - loss_c)
    dv = np.abs(Wv.grad.numpy() - gv_c).max()
    dt = np.abs(Wt.grad.numpy() - gt_c).max()
    print(f"{name}: loss C {loss_c:.12f} torch {loss.item():.12f}; max |dWv - torch| {dv:.2e}, "
          f"max |dWt - torch| {dt:.2e} (largest entries {np.abs(gv_c).max():.2f}, {np.abs(gt_c).max():.2f})")
    bad |= dl > 1e-6 or dv > 1e-6 or dt > 1e-6
sys.exit(1 if bad else 0)
