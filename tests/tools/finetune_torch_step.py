#!/usr/bin/env python3
"""One optimisation step of CLIP fine-tuning, written independently in PyTorch, to check
clipsearch finetune's (src/app/finetune*.c, src/clip/tower_train.c) against it.

    finetune_torch_step.py INPUTS.json MODEL_DIR TRAIN OPTIMIZER LR OUT.json

INPUTS.json comes from build/cs_ft_inputs (the pixels and token ids clipsearch feeds the
towers, so preprocessing and tokenization are not what is compared here). TRAIN is
"heads", "last:K" or "all"; OPTIMIZER "sgd" or "adamw" (torch.optim.AdamW's defaults, weight
decay 0.01). The step: the whole file is one batch in file order, CLIP's symmetric
contrastive loss with scale exp(logit_scale), float64 throughout. OUT.json receives, for
every trained tensor, a deterministic sample of its updated entries (at most 64: index
and value) -- the golden that tests/integration/finetune_torch.sh compares clipsearch's
output with, here or, without torch, from the copy kept in tests/fixtures."""
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_read  # noqa: E402  (beside this file)

torch.set_default_dtype(torch.float64)


def load_safetensors(path):
    return {name: torch.tensor(values, dtype=torch.float64).reshape(shape)
            for name, (shape, values) in safetensors_read.floats(path).items()}


def sample(t):
    """At most 64 entries of a flattened tensor, evenly spaced, always the last."""
    n = t.numel()
    step = max(1, n // 64)
    idx = list(range(0, n, step))[:63]
    if n - 1 not in idx:
        idx.append(n - 1)
    flat = t.reshape(-1)
    return [[i, float(flat[i])] for i in idx]


def main():
    if sys.argv[1] == "embed":
        return embed_main()
    inputs_path, model_dir, train, optimizer, lr, out_path = sys.argv[1:7]
    lr = float(lr)
    cfg = json.load(open(f"{model_dir}/config.json"))
    W = load_safetensors(f"{model_dir}/model.safetensors")
    inp = json.load(open(inputs_path))
    vc, tc = cfg["vision_config"], cfg["text_config"]

    def layers_of(c):
        return c["num_hidden_layers"]

    k = 0 if train == "heads" else 10**9 if train == "all" else int(train.split(":")[1])
    trained = ["visual_projection.weight", "text_projection.weight"]
    if train == "all":
        trained += [n for n in W if n.startswith(("vision_model.embeddings.", "text_model.embeddings.",
                                                  "vision_model.pre_layrnorm."))]
    for tower, c, final in (("vision_model", vc, "post_layernorm"),
                            ("text_model", tc, "final_layer_norm")):
        if k:
            trained += [n for n in W if n.startswith(f"{tower}.encoder.layers.")
                        and int(n.split(".")[3]) >= layers_of(c) - k]
            trained += [f"{tower}.{final}.weight", f"{tower}.{final}.bias"]
    params = {n: W[n].clone().requires_grad_(n in trained) for n in W}
    image_embedding, text_embedding = build(params, vc, tc)
    img = torch.stack([image_embedding(p) for p in inp["pixels"]])
    txt = torch.stack([text_embedding(t) for t in inp["ids"]])
    img = img / img.norm(dim=-1, keepdim=True)
    txt = txt / txt.norm(dim=-1, keepdim=True)
    scale = math.exp(float(params["logit_scale"]))
    logits = scale * img @ txt.T
    target = torch.arange(logits.shape[0])
    loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
    loss.backward()
    train_params = [params[n] for n in trained]
    if optimizer == "sgd":
        opt = torch.optim.SGD(train_params, lr=lr)
    else:
        opt = torch.optim.AdamW(train_params, lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    opt.step()
    out = {"train": train, "optimizer": optimizer, "lr": lr, "loss": float(loss),
           "tensors": {n: sample(params[n].detach()) for n in trained}}
    json.dump(out, open(out_path, "w"), indent=0)


def embed_main():
    """embed INPUTS.json MODEL_DIR OUT.json: the unit embeddings of every input image and
    text under MODEL_DIR's weights (a checkpoint clipsearch wrote), read here
    independently: {"images": [[...]], "texts": [[...]]}."""
    inputs_path, model_dir, out_path = sys.argv[2:5]
    cfg = json.load(open(f"{model_dir}/config.json"))
    params = load_safetensors(f"{model_dir}/model.safetensors")
    inp = json.load(open(inputs_path))
    image_embedding, text_embedding = build(params, cfg["vision_config"], cfg["text_config"])
    with torch.no_grad():
        img = torch.stack([image_embedding(p) for p in inp["pixels"]])
        txt = torch.stack([text_embedding(t) for t in inp["ids"]])
    img = img / img.norm(dim=-1, keepdim=True)
    txt = txt / txt.norm(dim=-1, keepdim=True)
    json.dump({"images": img.tolist(), "texts": txt.tolist()}, open(out_path, "w"))


def build(params, vc, tc):
    """The two towers over params (a dict of tensors named as in the checkpoint)."""

    def layers_of(c):
        return c["num_hidden_layers"]

    def act(x, name):
        if name == "quick_gelu":
            return x * torch.sigmoid(1.702 * x)
        return F.gelu(x)

    def encoder(x, tower, c, causal):
        d, h = c["hidden_size"], c["num_attention_heads"]
        hd = d // h
        T = x.shape[0]
        mask = torch.full((T, T), float("-inf")).triu(1) if causal else torch.zeros(T, T)
        for l in range(layers_of(c)):
            p = lambda s: params[f"{tower}.encoder.layers.{l}.{s}"]
            y = F.layer_norm(x, (d,), p("layer_norm1.weight"), p("layer_norm1.bias"), c.get("layer_norm_eps", 1e-5))
            q = (y @ p("self_attn.q_proj.weight").T + p("self_attn.q_proj.bias")).reshape(T, h, hd).transpose(0, 1)
            kk = (y @ p("self_attn.k_proj.weight").T + p("self_attn.k_proj.bias")).reshape(T, h, hd).transpose(0, 1)
            v = (y @ p("self_attn.v_proj.weight").T + p("self_attn.v_proj.bias")).reshape(T, h, hd).transpose(0, 1)
            att = torch.softmax(q @ kk.transpose(1, 2) / math.sqrt(hd) + mask, dim=-1)
            o = (att @ v).transpose(0, 1).reshape(T, d)
            x = x + o @ p("self_attn.out_proj.weight").T + p("self_attn.out_proj.bias")
            y = F.layer_norm(x, (d,), p("layer_norm2.weight"), p("layer_norm2.bias"), c.get("layer_norm_eps", 1e-5))
            f = act(y @ p("mlp.fc1.weight").T + p("mlp.fc1.bias"), c.get("hidden_act", "quick_gelu"))
            x = x + f @ p("mlp.fc2.weight").T + p("mlp.fc2.bias")
        return x

    def image_embedding(pixels):
        s, ps = vc["image_size"], vc["patch_size"]
        img = torch.tensor(pixels).reshape(1, 3, s, s)
        patches = F.conv2d(img, params["vision_model.embeddings.patch_embedding.weight"], stride=ps)
        patches = patches.flatten(2).transpose(1, 2)[0]
        x = torch.cat([params["vision_model.embeddings.class_embedding"].reshape(1, -1), patches])
        x = x + params["vision_model.embeddings.position_embedding.weight"][: x.shape[0]]
        d = vc["hidden_size"]
        eps = vc.get("layer_norm_eps", 1e-5)
        x = F.layer_norm(x, (d,), params["vision_model.pre_layrnorm.weight"], params["vision_model.pre_layrnorm.bias"], eps)
        x = encoder(x, "vision_model", vc, False)
        pooled = F.layer_norm(x[0], (d,), params["vision_model.post_layernorm.weight"],
                              params["vision_model.post_layernorm.bias"], eps)
        return params["visual_projection.weight"] @ pooled

    def text_embedding(ids):
        ids = torch.tensor(ids)
        x = params["text_model.embeddings.token_embedding.weight"][ids]
        x = x + params["text_model.embeddings.position_embedding.weight"][: len(ids)]
        x = encoder(x, "text_model", tc, True)
        d = tc["hidden_size"]
        pooled = F.layer_norm(x[-1], (d,), params["text_model.final_layer_norm.weight"],
                              params["text_model.final_layer_norm.bias"], tc.get("layer_norm_eps", 1e-5))
        return params["text_projection.weight"] @ pooled

    return image_embedding, text_embedding


if __name__ == "__main__":
    main()
