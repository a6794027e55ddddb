#!/usr/bin/python3
"""The peer: the same CLIP vision forward in Debian's PyTorch (python3-torch), on the same
checkpoint, for bench_clip's side-by-side numbers (scripts/run-bench.sh, section clip).

    /usr/bin/python3 bench/torch_clip.py --model DIR [--threads N] [--runs R]

Reads model.safetensors directly (header + numpy views), builds the transformers CLIP
vision tower from torch.nn.functional ops (pre-LN encoder, quick_gelu or gelu, CLS pooling,
post-LN, projection), and prints medians of alternating rounds in bench_clip's words:
"images/s batch 1" and "images/s batch 32". Never needed by the tests.
"""
import argparse
import json
import os
import struct
import time

import numpy as np
import torch
import torch.nn.functional as F

DT = {"F32": np.float32, "F16": np.float16, "BF16": None, "I64": np.int64}


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        raw = data[a:b]
        if t["dtype"] == "BF16":
            u = np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16
            arr = u.view(np.float32)
        else:
            arr = np.frombuffer(raw, dtype=DT[t["dtype"]])
        out[name] = torch.from_numpy(arr.astype(np.float32).reshape(t["shape"]))
    return out


class Vision:
    def __init__(self, model_dir):
        cfg = json.load(open(os.path.join(model_dir, "config.json")))
        v = cfg.get("vision_config", {})
        self.heads = v.get("num_attention_heads", 12)
        self.layers = v.get("num_hidden_layers", 12)
        self.patch = v.get("patch_size", 32)
        self.eps = v.get("layer_norm_eps", 1e-5)
        self.act = v.get("hidden_act", "quick_gelu")
        w = load_safetensors(os.path.join(model_dir, "model.safetensors"))
        self.w = {k: t for k, t in w.items() if k.startswith("vision_model.") or k == "visual_projection.weight"}

    def g(self, name):
        return self.w["vision_model." + name]

    @torch.no_grad()
    def __call__(self, px):
        x = F.conv2d(px, self.g("embeddings.patch_embedding.weight"), stride=self.patch)
        b, d = x.shape[0], x.shape[1]
        x = x.flatten(2).transpose(1, 2)
        cls = self.g("embeddings.class_embedding").expand(b, 1, d)
        x = torch.cat([cls, x], 1) + self.g("embeddings.position_embedding.weight")
        x = F.layer_norm(x, (d,), self.g("pre_layrnorm.weight"), self.g("pre_layrnorm.bias"), self.eps)
        hd = d // self.heads
        for i in range(self.layers):
            p = "encoder.layers.%d." % i
            h = F.layer_norm(x, (d,), self.g(p + "layer_norm1.weight"), self.g(p + "layer_norm1.bias"), self.eps)
            q = F.linear(h, self.g(p + "self_attn.q_proj.weight"), self.g(p + "self_attn.q_proj.bias")) * hd ** -0.5
            k = F.linear(h, self.g(p + "self_attn.k_proj.weight"), self.g(p + "self_attn.k_proj.bias"))
            v = F.linear(h, self.g(p + "self_attn.v_proj.weight"), self.g(p + "self_attn.v_proj.bias"))
            t = x.shape[1]
            q, k, v = (z.view(b, t, self.heads, hd).transpose(1, 2) for z in (q, k, v))
            a = torch.softmax(q @ k.transpose(-1, -2), -1) @ v
            a = a.transpose(1, 2).reshape(b, t, d)
            x = x + F.linear(a, self.g(p + "self_attn.out_proj.weight"), self.g(p + "self_attn.out_proj.bias"))
            h = F.layer_norm(x, (d,), self.g(p + "layer_norm2.weight"), self.g(p + "layer_norm2.bias"), self.eps)
            h = F.linear(h, self.g(p + "mlp.fc1.weight"), self.g(p + "mlp.fc1.bias"))
            h = h * torch.sigmoid(1.702 * h) if self.act == "quick_gelu" else F.gelu(h)
            x = x + F.linear(h, self.g(p + "mlp.fc2.weight"), self.g(p + "mlp.fc2.bias"))
        pooled = F.layer_norm(x[:, 0], (d,), self.g("post_layernorm.weight"), self.g("post_layernorm.bias"), self.eps)
        return F.linear(pooled, self.w["visual_projection.weight"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    m = Vision(a.model)
    size = json.load(open(os.path.join(a.model, "preprocessor_config.json"))).get("crop_size", 224)
    size = size["height"] if isinstance(size, dict) else size
    gen = torch.Generator().manual_seed(42)
    px = torch.rand(32, 3, size, size, generator=gen) * 2 - 1
    m(px[:1])  # warm-up
    t1, t32 = [], []
    for _ in range(a.runs):
        t0 = time.perf_counter()
        m(px[:1])
        t1.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        m(px)
        t32.append(time.perf_counter() - t0)
    t1.sort()
    t32.sort()
    print("pytorch %s, threads %d, %d runs: median (best)" % (torch.__version__, torch.get_num_threads(), a.runs))
    print("images/s batch 1         %.1f (%.1f)" % (1 / t1[len(t1) // 2], 1 / t1[0]))
    print("images/s batch 32        %.1f (%.1f)" % (32 / t32[len(t32) // 2], 32 / t32[0]))


if __name__ == "__main__":
    main()
