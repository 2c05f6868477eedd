"""The repository's PyTorch Llama (reference/lib/transformer.py's pieces) with per-row position_ids,
an additive 4D attention bias and LoRA on any of its linears: what run_recipe_reference.py runs the
recipe's loop on, independently of transformers + peft (train.py itself runs on the real stack in
src/cli/exportRecipe.test.ts).
Base weights rounded through float16, float32 math (train.py's --dtype studio)."""

import math
import os
import sys

import torch
import torch.nn.functional as F

REPO = os.environ.get("WHETSTONE_REPO", os.getcwd())
sys.path.insert(0, os.path.join(REPO, "reference"))
from lib import safetensors_io as st  # noqa: E402
from lib.transformer import rms_norm  # noqa: E402

DT = torch.float32
ORDER = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]


def load_base(model_dir):
    import json

    with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
        cfg = json.load(f)
    w = {k: v.to(torch.float16).to(DT) for k, v in st.read(os.path.join(model_dir, "model.safetensors"))[0].items()}
    return cfg, w


def load_adapter(adapter_dir):
    """(modules in model order, {module: (A, B)} trainable, scale, adapter_config)."""
    import json

    tensors = st.read(os.path.join(adapter_dir, "adapter_model.safetensors"))[0]
    with open(os.path.join(adapter_dir, "adapter_config.json"), encoding="utf-8") as f:
        acfg = json.load(f)
    r, alpha = acfg["r"], acfg["lora_alpha"]
    scale = alpha / math.sqrt(r) if acfg.get("use_rslora") else alpha / r
    modules = [k[len("base_model.model."):-len(".lora_A.weight")] for k in tensors if k.endswith(".lora_A.weight")]
    modules.sort(key=lambda m: (int(m.split(".")[2]), ORDER.index(".".join(m.split(".")[3:]))))
    lora = {}
    for m in modules:
        lora[m] = (tensors[f"base_model.model.{m}.lora_A.weight"].to(DT).clone().requires_grad_(),
                   tensors[f"base_model.model.{m}.lora_B.weight"].to(DT).clone().requires_grad_())
    return modules, lora, scale, acfg


def rope(x, pos, theta):
    """HF rotate_half RoPE on x (B,T,H,D) at positions pos (B,T)."""
    D = x.shape[-1]
    inv = 1.0 / (theta ** (torch.arange(0, D, 2, dtype=torch.float64) / D))
    ang = (pos.to(torch.float64)[..., None] * inv).to(x.dtype)
    cos = torch.cat([ang.cos(), ang.cos()], -1)[:, :, None, :]
    sin = torch.cat([ang.sin(), ang.sin()], -1)[:, :, None, :]
    x1, x2 = x[..., : D // 2], x[..., D // 2:]
    return x * cos + torch.cat([-x2, x1], -1) * sin


def forward(cfg, w, lora, scale, ids, pos, bias):
    """Logits (B,T,V) of LlamaForCausalLM with LoRA {module: (A, B)} (dropout 0)."""
    def lin(x, name):
        y = x @ w[name + ".weight"].T
        if name in lora:
            A, B = lora[name]
            y = y + scale * ((x @ A.T) @ B.T)
        return y

    H, nh = cfg["hidden_size"], cfg["num_attention_heads"]
    nkv = cfg.get("num_key_value_heads", nh)
    D = cfg.get("head_dim") or H // nh
    theta = cfg.get("rope_theta", 10000.0)
    Bn, T = ids.shape
    x = w["model.embed_tokens.weight"][ids]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = rms_norm(x, w[p + "input_layernorm.weight"], cfg["rms_norm_eps"])
        q = rope(lin(h, p + "self_attn.q_proj").view(Bn, T, nh, D), pos, theta)
        k = rope(lin(h, p + "self_attn.k_proj").view(Bn, T, nkv, D), pos, theta)
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
