"""Plain PyTorch forwards written from the Hugging Face definitions (transformers' modeling_llama,
modeling_qwen2, modeling_gpt2) and from llama2.c's run.c. Weights are dicts of HF tensor names;
every tensor must already be in the math dtype (the callers round base weights through fp16
first). Shapes follow /work/notes/layouts.md: q (B,T,Hq,D), k/v (B,T,Hkv,D)."""

import math

import torch
import torch.nn.functional as F


def round_f16(t, dtype):
    """A tensor rounded to fp16 (round to nearest even), returned in the math dtype."""
    return t.to(torch.float16).to(dtype)


def rms_norm(x, w, eps):
    # LlamaRMSNorm: normalise, then multiply by the weight
    return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps) * w


def rope_angles(T, D, theta, dtype):
    """(T, D/2) angles pos * theta^(-2i/D) for positions 0..T-1."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, D, 2, dtype=torch.float64) / D))
    return (torch.arange(T, dtype=torch.float64)[:, None] * inv_freq[None, :]).to(dtype)


def rope_halves(x, ang):
    """HF rotate_half RoPE on x (B,T,H,D): pair (i, i + D/2) rotated by ang[:, i]."""
    D = x.shape[-1]
    cos = torch.cat([ang.cos(), ang.cos()], -1)[None, :, None, :]
    sin = torch.cat([ang.sin(), ang.sin()], -1)[None, :, None, :]
    x1, x2 = x[..., : D // 2], x[..., D // 2:]
    return x * cos + torch.cat([-x2, x1], -1) * sin


def rope_interleaved(x, ang):
    """llama2.c RoPE on x (B,T,H,D): pair (2i, 2i + 1) rotated by ang[:, i]."""
    cos, sin = ang.cos()[None, :, None, :], ang.sin()[None, :, None, :]
    x0, x1 = x[..., 0::2], x[..., 1::2]
    return torch.stack([x0 * cos - x1 * sin, x0 * sin + x1 * cos], -1).flatten(-2)


def attention(q, k, v):
    """Causal GQA attention, q (B,T,Hq,D), k/v (B,T,Hkv,D) -> (B,T,Hq,D); q head h uses kv head
    h // (Hq/Hkv) (HF repeat_kv); scale 1/sqrt(D)."""
    B, T, Hq, D = q.shape
    rep = Hq // k.shape[2]
    qh = q.transpose(1, 2)
    kh = k.transpose(1, 2).repeat_interleave(rep, dim=1)
    vh = v.transpose(1, 2).repeat_interleave(rep, dim=1)
    s = (qh @ kh.transpose(-1, -2)) / math.sqrt(D)
    mask = torch.ones(T, T, dtype=torch.bool, device=q.device).triu(1)
    p = torch.softmax(s.masked_fill(mask, float("-inf")), dim=-1)
    return (p @ vh).transpose(1, 2)


def linear(x, w, name, lora=None):
    """nn.Linear with HF weight (OUT, IN) and optional bias, plus LoRA: lora[name] = (A, B, scale)
    with A (r, IN), B (OUT, r): y = x W^T + b + scale (x A^T) B^T."""
    y = x @ w[name + ".weight"].T
    b = w.get(name + ".bias")
    if b is not None:
        y = y + b
    if lora is not None and name in lora:
        A, Bm, s = lora[name]
        y = y + s * ((x @ A.T) @ Bm.T)
    return y


def llama_forward(w, cfg, ids, lora=None):
    """HF LlamaForCausalLM / Qwen2ForCausalLM (Qwen2 = Llama + q/k/v biases, present in `w` as
    *.bias) on ids (B,T) -> logits (B,T,V). cfg is the HF config dict."""
    H = cfg["hidden_size"]
    nh, nkv = cfg["num_attention_heads"], cfg.get("num_key_value_heads", cfg["num_attention_heads"])
    D = cfg.get("head_dim") or H // nh
    eps = cfg["rms_norm_eps"]
    B, T = ids.shape
    x = w["model.embed_tokens.weight"][ids]
    ang = rope_angles(T, D, cfg.get("rope_theta", 10000.0), x.dtype)
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = rms_norm(x, w[p + "input_layernorm.weight"], eps)
        q = linear(h, w, p + "self_attn.q_proj", lora).view(B, T, nh, D)
        k = linear(h, w, p + "self_attn.k_proj", lora).view(B, T, nkv, D)
        v = linear(h, w, p + "self_attn.v_proj", lora).view(B, T, nkv, D)
        a = attention(rope_halves(q, ang), rope_halves(k, ang), v).reshape(B, T, nh * D)
        x = x + linear(a, w, p + "self_attn.o_proj", lora)
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        g = F.silu(linear(h, w, p + "mlp.gate_proj", lora)) * linear(h, w, p + "mlp.up_proj", lora)
        x = x + linear(g, w, p + "mlp.down_proj", lora)
    x = rms_norm(x, w["model.norm.weight"], eps)
    head = w["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else w["lm_head.weight"]
    return x @ head.T


def llama2c_forward(w, cfg, ids, theta=10000.0, eps=1e-5):
    """llama2.c run.c's forward on its own (unpermuted) weights: interleaved RoPE, shared
    classifier. w from stories260k.parse_checkpoint, already in the math dtype."""
    dim, nh, nkv, D = cfg["dim"], cfg["n_heads"], cfg["n_kv_heads"], cfg["head_dim"]
    B, T = ids.shape
    x = w["token_embedding"][ids]
    ang = rope_angles(T, D, theta, x.dtype)
    for i in range(cfg["n_layers"]):
        h = rms_norm(x, w["rms_att"][i], eps)
        q = (h @ w["wq"][i].T).view(B, T, nh, D)
        k = (h @ w["wk"][i].T).view(B, T, nkv, D)
        v = (h @ w["wv"][i].T).view(B, T, nkv, D)
        a = attention(rope_interleaved(q, ang), rope_interleaved(k, ang), v).reshape(B, T, dim)
        x = x + a @ w["wo"][i].T
        h = rms_norm(x, w["rms_ffn"][i], eps)
        x = x + (F.silu(h @ w["w1"][i].T) * (h @ w["w3"][i].T)) @ w["w2"][i].T
    return rms_norm(x, w["rms_final"], eps) @ w["token_embedding"].T


def gelu_new(x):
    # HF NewGELUActivation (tanh approximation)
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def gpt2_forward(w, cfg, ids):
    """HF GPT2LMHeadModel on ids (B,T) -> logits (B,T,V). Conv1D weights are [in, out]
    (y = x W + b); c_attn's output splits as q | k | v; learned positions; tied lm_head."""
    H, nh = cfg["n_embd"], cfg["n_head"]
    D = H // nh
    eps = cfg["layer_norm_epsilon"]
    B, T = ids.shape
    t = "transformer."

    def conv1d(x, name):
        return x @ w[name + ".weight"] + w[name + ".bias"]

    def ln(x, name):
        return F.layer_norm(x, (H,), w[name + ".weight"], w[name + ".bias"], eps)

    x = w[t + "wte.weight"][ids] + w[t + "wpe.weight"][:T][None]
    for i in range(cfg["n_layer"]):
        p = f"{t}h.{i}."
        qkv = conv1d(ln(x, p + "ln_1"), p + "attn.c_attn")
        q, k, v = (z.view(B, T, nh, D) for z in qkv.split(H, dim=-1))
        x = x + conv1d(attention(q, k, v).reshape(B, T, H), p + "attn.c_proj")
        x = x + conv1d(gelu_new(conv1d(ln(x, p + "ln_2"), p + "mlp.c_fc")), p + "mlp.c_proj")
    x = ln(x, t + "ln_f")
    head = w[t + "wte.weight"] if cfg.get("tie_word_embeddings", True) else w["lm_head.weight"]
    return x @ head.T
