"""Runs an exported recipe's training loop (whetstone_recipe.train, the part of train.py that holds
the studio's semantics) without transformers: the base model is the repository's own PyTorch
Llama reference (reference/lib/transformer.py's pieces, with per-row position_ids and the
recipe's 4D attention bias), the adapter the recipe's initial_adapter/ (PEFT keys), base weights
rounded through float16 and float32 math as train.py's --dtype studio. Prints one JSON object:
{"history": [...], "initial_keys": N}.

    /usr/bin/python3 run_recipe_reference.py RECIPE_DIR MODEL_DIR [REPO_ROOT]
"""

import json
import math
import os
import sys

import torch
import torch.nn.functional as F

recipe_dir, model_dir = sys.argv[1], sys.argv[2]
repo_root = sys.argv[3] if len(sys.argv) > 3 else os.getcwd()
sys.path.insert(0, os.path.join(repo_root, "reference"))
sys.path.insert(0, recipe_dir)
import whetstone_recipe as wr  # noqa: E402
from lib import safetensors_io as st  # noqa: E402
from lib.transformer import rms_norm  # noqa: E402

torch.set_grad_enabled(True)
DT = torch.float32

with open(os.path.join(recipe_dir, "job.json"), encoding="utf-8") as f:
    job = json.load(f)
with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
    cfg = json.load(f)
w = {k: v.to(torch.float16).to(DT) for k, v in st.read(os.path.join(model_dir, "model.safetensors"))[0].items()}

adapter = st.read(os.path.join(recipe_dir, "initial_adapter", "adapter_model.safetensors"))[0]
with open(os.path.join(recipe_dir, "initial_adapter", "adapter_config.json"), encoding="utf-8") as f:
    acfg = json.load(f)
r, alpha = acfg["r"], acfg["lora_alpha"]
scale = alpha / math.sqrt(r) if acfg.get("use_rslora") else alpha / r
assert abs(scale - job["lora"]["scale"]) < 1e-12, (scale, job["lora"]["scale"])

# trainable tensors in the studio's order (model order, A then B), as PEFT's named_parameters
modules = []
for key in adapter:
    if key.endswith(".lora_A.weight"):
        modules.append(key[len("base_model.model."):-len(".lora_A.weight")])


def layer_of(m):
    return int(m.split(".")[2])


ORDER = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]
modules.sort(key=lambda m: (layer_of(m), ORDER.index(".".join(m.split(".")[3:]))))
lora, params, names = {}, [], []
for m in modules:
    A = adapter[f"base_model.model.{m}.lora_A.weight"].to(DT).clone().requires_grad_()
    B = adapter[f"base_model.model.{m}.lora_B.weight"].to(DT).clone().requires_grad_()
    lora[m] = (A, B)
    params += [A, B]
    names += [f"base_model.model.{m}.lora_A.default.weight", f"base_model.model.{m}.lora_B.default.weight"]


def lin(x, name):
    y = x @ w[name + ".weight"].T
    if name in lora:
        A, B = lora[name]
        y = y + scale * ((x @ A.T) @ B.T)
    return y


def rope(x, pos, theta):
    """HF rotate_half RoPE on x (B,T,H,D) at positions pos (B,T)."""
    D = x.shape[-1]
    inv = 1.0 / (theta ** (torch.arange(0, D, 2, dtype=torch.float64) / D))
    ang = (pos.to(torch.float64)[..., None] * inv).to(DT)  # (B,T,D/2)
    cos = torch.cat([ang.cos(), ang.cos()], -1)[:, :, None, :]
    sin = torch.cat([ang.sin(), ang.sin()], -1)[:, :, None, :]
    x1, x2 = x[..., : D // 2], x[..., D // 2:]
    return x * cos + torch.cat([-x2, x1], -1) * sin


def forward(batch):
    ids, pos, bias = batch["input_ids"], batch["position_ids"], batch["attention_bias"]
    H, nh = cfg["hidden_size"], cfg["num_attention_heads"]
    nkv = cfg.get("num_key_value_heads", nh)
    D = cfg.get("head_dim") or H // nh
    Bn, T = ids.shape
    x = w["model.embed_tokens.weight"][ids]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = rms_norm(x, w[p + "input_layernorm.weight"], cfg["rms_norm_eps"])
        q = rope(lin(h, p + "self_attn.q_proj").view(Bn, T, nh, D), pos, cfg.get("rope_theta", 10000.0))
        k = rope(lin(h, p + "self_attn.k_proj").view(Bn, T, nkv, D), pos, cfg.get("rope_theta", 10000.0))
        v = lin(h, p + "self_attn.v_proj").view(Bn, T, nkv, D)
        rep = nh // nkv
        qh, kh, vh = q.transpose(1, 2), k.transpose(1, 2).repeat_interleave(rep, 1), v.transpose(1, 2).repeat_interleave(rep, 1)
        s = (qh @ kh.transpose(-1, -2)) / math.sqrt(D) + bias
        a = (torch.softmax(s, -1) @ vh).transpose(1, 2).reshape(Bn, T, nh * D)
        x = x + lin(a, p + "self_attn.o_proj")
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"], cfg["rms_norm_eps"])
        x = x + lin(F.silu(lin(h, p + "mlp.gate_proj")) * lin(h, p + "mlp.up_proj"), p + "mlp.down_proj")
    x = rms_norm(x, w["model.norm.weight"], cfg["rms_norm_eps"])
    head = w["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else w["lm_head.weight"]
    return x @ head.T


train_rows = wr.read_rows(os.path.join(recipe_dir, job["data"]["train_batches"]))
eval_rows = wr.read_rows(os.path.join(recipe_dir, job["data"]["eval_batches"])) if job["data"]["eval_batches"] else []
torch.manual_seed(job["seed"])
history = wr.train(job, train_rows, eval_rows, forward, params, names=names, micro_batch_size=int(os.environ.get("MICRO_BATCH", "0")) or None)
print(json.dumps({"history": history, "initial_keys": len(adapter)}))
