"""PyTorch oracle for the architecture modules (src/arch): tiny random-weight Hugging Face folders,
one per architecture, with logits at T = 640 (so RoPE scaling matters), the loss and the LoRA
gradients of one training step, and 20 greedy tokens; plus the RoPE inverse frequencies of every
supported rope_type.

Run from the repository root with Debian's torch (not a venv):

    /usr/bin/python3 reference/arch_fixtures.py

It (re)writes, under src/model/fixtures/:
- arch-<name>/config.json, model.safetensors (F16): the model (random weights, drawn here).
- arch-<name>/reference.json: ids, logits rows, loss, greedy ids/margins, checks (see README.md).
- arch-<name>/lora.safetensors: PEFT-keyed LoRA A/B of every targeted module and their gradients
  (keys grad/<PEFT key>), plus the gradients of every 1-D base weight (grad/<tensor name>).
- rope_inv_freq.json: HF inv_freq for default, linear, dynamic and llama3 settings.

Written from the published math of the models (HF modeling_llama / modeling_qwen2 /
modeling_mistral / modeling_qwen3 / modeling_gpt2 and modeling_rope_utils), not from Whetstone's
code. Conventions as reference/README.md: weights fp16 (stored F16, exact), float64 math for the
model, RoPE frequencies and angles in float32 as HF computes them, results stored as float32.
Deterministic.
"""

import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import fixture_json as fj  # noqa: E402
from lib import safetensors_io as st  # noqa: E402
from lib.transformer import gelu_new  # noqa: E402

OUT_DIR = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "model", "fixtures"))
GENERATOR = "reference/arch_fixtures.py"
DT = torch.float64
T = 640
PREFIXES = [600, 640]  # logits of the last position of these prefixes
PROMPT = 600  # greedy prompt length
GREEDY = 20
RANK, ALPHA = 4, 8


def rel(path):
    return os.path.relpath(path, os.path.join(OUT_DIR, "..", "..", ".."))


# ----------------------------------------------------------------------------- RoPE (HF semantics)

def inv_freq_default(theta, D):
    # 1 / base^(arange(0, D, 2) / D), float32 as in _compute_default_rope_parameters
    return 1.0 / (theta ** (torch.arange(0, D, 2, dtype=torch.int64).float() / D))


def inv_freq(cfg, D, seq_len):
    """float32 inv_freq (D/2) for cfg's rope_scaling; seq_len = max(position_ids) + 1 of the forward."""
    theta = cfg.get("rope_theta", 10000.0)
    rs = cfg.get("rope_scaling") or {}
    kind = rs.get("rope_type", rs.get("type", "default"))
    if kind == "default":
        return inv_freq_default(theta, D)
    if kind == "linear":
        return inv_freq_default(theta, D) / rs["factor"]
    if kind == "dynamic":
        maxp, factor = cfg["max_position_embeddings"], rs["factor"]
        if seq_len <= maxp:
            return inv_freq_default(theta, D)
        # HF dynamic_rope_update: seq_len is a tensor, so the base is computed in float32 tensors
        s = torch.tensor(seq_len, dtype=torch.int64)
        base = theta * ((factor * s / maxp) - (factor - 1)) ** (D / (D - 2))
        return 1.0 / (base ** (torch.arange(0, D, 2, dtype=torch.int64).float() / D))
    if kind == "llama3":
        inv = inv_freq_default(theta, D)
        factor, low, high = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
        old = rs["original_max_position_embeddings"]
        low_w, high_w = old / low, old / high
        wavelen = 2 * math.pi / inv
        scaled = torch.where(wavelen > low_w, inv / factor, inv)
        smooth = (old / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = ~(wavelen < high_w) * ~(wavelen > low_w)
        return torch.where(medium, smoothed, scaled)
    raise ValueError(kind)


def rope(x, positions, inv):
    """HF rotate_half RoPE on x (B,T,H,D) at integer positions (T); angles f32 as HF, math in x's dtype."""
    ang = (positions.float()[:, None] * inv[None, :])  # f32 product, as inv_freq @ position_ids
    emb = torch.cat([ang, ang], -1).to(x.dtype)
    cos, sin = emb.cos()[None, :, None, :], emb.sin()[None, :, None, :]
    D = x.shape[-1]
    x1, x2 = x[..., : D // 2], x[..., D // 2:]
    return x * cos + torch.cat([-x2, x1], -1) * sin


# ----------------------------------------------------------------------------- models

def rms_norm(x, w, eps):
    return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps) * w


def lin(x, w, name, lora, conv1d=False):
    W = w[name + ".weight"]
    y = x @ (W if conv1d else W.T)
    b = w.get(name + ".bias")
    if b is not None:
        y = y + b
    if lora is not None and name in lora:
        A, B, s = lora[name]
        y = y + s * ((x @ A.T) @ B.T)
    return y


def attend(q, k, v, pos0):
    """q (B,Tq,Hq,D) at positions pos0.., k/v (B,Tk,Hkv,D) at 0..Tk-1; causal; GQA as repeat_kv."""
    B, Tq, Hq, D = q.shape
    Tk = k.shape[1]
    rep = Hq // k.shape[2]
    qh = q.transpose(1, 2)
    kh = k.transpose(1, 2).repeat_interleave(rep, dim=1)
    vh = v.transpose(1, 2).repeat_interleave(rep, dim=1)
    s = (qh @ kh.transpose(-1, -2)) / math.sqrt(D)
    qpos = torch.arange(pos0, pos0 + Tq)[:, None]
    kpos = torch.arange(Tk)[None, :]
    p = torch.softmax(s.masked_fill(kpos > qpos, float("-inf")), dim=-1)
    return (p @ vh).transpose(1, 2)


def decoder_forward(w, cfg, ids, lora=None, pos0=0, cache=None):
    """Llama / Qwen2 / Mistral / Qwen3 decoder on ids (B,T) at positions pos0..; with `cache` (a
    list of per-layer (k_rot, v), possibly empty) the new keys/values are appended and attention
    covers the cache, as HF generation does (cached keys keep the rotation they got). Returns
    logits (B,T,V)."""
    H, nh = cfg["hidden_size"], cfg["num_attention_heads"]
    nkv = cfg.get("num_key_value_heads", nh)
    D = cfg.get("head_dim") or H // nh
    eps = cfg["rms_norm_eps"]
    qk_norm = cfg["architectures"][0] == "Qwen3ForCausalLM"
    B, Tn = ids.shape
    positions = torch.arange(pos0, pos0 + Tn)
    inv = inv_freq(cfg, D, pos0 + Tn)
    x = w["model.embed_tokens.weight"][ids]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = rms_norm(x, w[p + "input_layernorm.weight"], eps)
        q = lin(h, w, p + "self_attn.q_proj", lora).view(B, Tn, nh, D)
        k = lin(h, w, p + "self_attn.k_proj", lora).view(B, Tn, nkv, D)
        v = lin(h, w, p + "self_attn.v_proj", lora).view(B, Tn, nkv, D)
        if qk_norm:  # Qwen3: RMSNorm over head_dim of every head, before RoPE
            q = rms_norm(q, w[p + "self_attn.q_norm.weight"], eps)
            k = rms_norm(k, w[p + "self_attn.k_norm.weight"], eps)
        q, k = rope(q, positions, inv), rope(k, positions, inv)
        if cache is not None:
            if len(cache) <= i:
                cache.append((k, v))
            else:
                cache[i] = (torch.cat([cache[i][0], k], 1), torch.cat([cache[i][1], v], 1))
            k, v = cache[i]
        a = attend(q, k, v, pos0).reshape(B, Tn, nh * D)
        x = x + lin(a, w, p + "self_attn.o_proj", lora)
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        g = F.silu(lin(h, w, p + "mlp.gate_proj", lora)) * lin(h, w, p + "mlp.up_proj", lora)
        x = x + lin(g, w, p + "mlp.down_proj", lora)
    x = rms_norm(x, w["model.norm.weight"], eps)
    head = w["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else w["lm_head.weight"]
    return x @ head.T


def gpt2_forward(w, cfg, ids, lora=None, pos0=0, cache=None):
    """GPT2LMHeadModel: Conv1D weights [in, out] (y = x W + b), c_attn = q | k | v, learned positions.
    No RoPE, so generation by full recompute equals the cached one (cache ignored)."""
    assert pos0 == 0
    H, nh = cfg["n_embd"], cfg["n_head"]
    D = H // nh
    eps = cfg["layer_norm_epsilon"]
    B, Tn = ids.shape
    t = "transformer."

    def ln(x, name):
        return F.layer_norm(x, (H,), w[name + ".weight"], w[name + ".bias"], eps)

    x = w[t + "wte.weight"][ids] + w[t + "wpe.weight"][:Tn][None]
    for i in range(cfg["n_layer"]):
        p = f"{t}h.{i}."
        qkv = lin(ln(x, p + "ln_1"), w, p + "attn.c_attn", lora, conv1d=True)
        q, k, v = (z.view(B, Tn, nh, D) for z in qkv.split(H, dim=-1))
        x = x + lin(attend(q, k, v, 0).reshape(B, Tn, H), w, p + "attn.c_proj", lora, conv1d=True)
        f = gelu_new(lin(ln(x, p + "ln_2"), w, p + "mlp.c_fc", lora, conv1d=True))
        x = x + lin(f, w, p + "mlp.c_proj", lora, conv1d=True)
    x = ln(x, t + "ln_f")
    head = w[t + "wte.weight"] if cfg.get("tie_word_embeddings", True) else w["lm_head.weight"]
    return x @ head.T


# ----------------------------------------------------------------------------- random models

def decoder_weights(cfg, gen):
    H, I, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    nh = cfg["num_attention_heads"]
    nkv = cfg.get("num_key_value_heads", nh)
    D = cfg.get("head_dim") or H // nh
    arch = cfg["architectures"][0]
    qkv_bias = arch == "Qwen2ForCausalLM" or cfg.get("attention_bias", False)
    o_bias = arch != "Qwen2ForCausalLM" and cfg.get("attention_bias", False)

    def mat(o, i, gain=1.0):
        return torch.randn(o, i, generator=gen, dtype=DT) * gain / math.sqrt(i)

    def vec(n, mean=0.0, std=0.1):
        return mean + std * torch.randn(n, generator=gen, dtype=DT)

    w = {"model.embed_tokens.weight": 0.5 * torch.randn(V, H, generator=gen, dtype=DT)}
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = vec(H, 1.0)
        for m, rows in (("q", nh * D), ("k", nkv * D), ("v", nkv * D)):
            w[p + f"self_attn.{m}_proj.weight"] = mat(rows, H, 1.5)
            if qkv_bias:
                w[p + f"self_attn.{m}_proj.bias"] = vec(rows, 0.0, 0.2)
        w[p + "self_attn.o_proj.weight"] = mat(H, nh * D)
        if o_bias:
            w[p + "self_attn.o_proj.bias"] = vec(H, 0.0, 0.2)
        if arch == "Qwen3ForCausalLM":
            w[p + "self_attn.q_norm.weight"] = vec(D, 1.0, 0.2)
            w[p + "self_attn.k_norm.weight"] = vec(D, 1.0, 0.2)
        w[p + "post_attention_layernorm.weight"] = vec(H, 1.0)
        w[p + "mlp.gate_proj.weight"] = mat(I, H)
        w[p + "mlp.up_proj.weight"] = mat(I, H)
        w[p + "mlp.down_proj.weight"] = mat(H, I)
    w["model.norm.weight"] = vec(H, 1.0)
    if not cfg.get("tie_word_embeddings"):
        w["lm_head.weight"] = mat(V, H, 2.0)
    return w


def gpt2_weights(cfg, gen):
    H, V, P = cfg["n_embd"], cfg["vocab_size"], cfg["n_positions"]
    I = cfg.get("n_inner") or 4 * H
    t = "transformer."

    def conv(i, o, gain=1.0):  # Conv1D weight [in, out]
        return torch.randn(i, o, generator=gen, dtype=DT) * gain / math.sqrt(i)

    def vec(n, mean=0.0, std=0.1):
        return mean + std * torch.randn(n, generator=gen, dtype=DT)

    w = {t + "wte.weight": 0.5 * torch.randn(V, H, generator=gen, dtype=DT), t + "wpe.weight": 0.5 * torch.randn(P, H, generator=gen, dtype=DT)}
    for i in range(cfg["n_layer"]):
        p = f"{t}h.{i}."
        w[p + "ln_1.weight"], w[p + "ln_1.bias"] = vec(H, 1.0), vec(H)
        w[p + "attn.c_attn.weight"], w[p + "attn.c_attn.bias"] = conv(H, 3 * H, 1.5), vec(3 * H)
        w[p + "attn.c_proj.weight"], w[p + "attn.c_proj.bias"] = conv(H, H), vec(H)
        w[p + "ln_2.weight"], w[p + "ln_2.bias"] = vec(H, 1.0), vec(H)
        w[p + "mlp.c_fc.weight"], w[p + "mlp.c_fc.bias"] = conv(H, I), vec(I)
        w[p + "mlp.c_proj.weight"], w[p + "mlp.c_proj.bias"] = conv(I, H), vec(H)
    w[t + "ln_f.weight"], w[t + "ln_f.bias"] = vec(H, 1.0), vec(H)
    return w


def lora_modules(cfg, w):
    """(module, in, out) of every LoRA target: all linear layers of every block."""
    out = []
    if cfg["architectures"][0] == "GPT2LMHeadModel":
        for i in range(cfg["n_layer"]):
            for m in ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"):
                name = f"transformer.h.{i}.{m}"
                i_, o_ = w[name + ".weight"].shape  # Conv1D [in, out]
                out.append((name, i_, o_))
        return out
    for i in range(cfg["num_hidden_layers"]):
        for m in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"):
            name = f"model.layers.{i}.{m}"
            o_, i_ = w[name + ".weight"].shape
            out.append((name, i_, o_))
    return out


def peft_key(module, which):
    return f"base_model.model.{module}.lora_{which}.weight"


# ----------------------------------------------------------------------------- fixtures

BASE_DECODER = {
    "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
    "num_key_value_heads": 1, "vocab_size": 256, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
    "hidden_act": "silu", "tie_word_embeddings": False, "torch_dtype": "float16",
}

MODELS = [
    ("arch-llama3", {**BASE_DECODER, "architectures": ["LlamaForCausalLM"], "model_type": "llama",
                     "max_position_embeddings": 1024, "bos_token_id": 1, "eos_token_id": 2,
                     "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                      "original_max_position_embeddings": 64}}),
    ("arch-llama-linear", {**BASE_DECODER, "architectures": ["LlamaForCausalLM"], "model_type": "llama",
                           "max_position_embeddings": 1024, "bos_token_id": 1, "eos_token_id": 2,
                           "rope_scaling": {"type": "linear", "factor": 4.0}}),
    ("arch-llama-dynamic", {**BASE_DECODER, "architectures": ["LlamaForCausalLM"], "model_type": "llama",
                            "max_position_embeddings": 512, "bos_token_id": 1, "eos_token_id": 2,
                            "rope_scaling": {"rope_type": "dynamic", "factor": 2.0}}),
    ("arch-qwen2", {**BASE_DECODER, "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
                    "num_attention_heads": 4, "num_key_value_heads": 2, "rope_theta": 1000000.0, "rms_norm_eps": 1e-6,
                    "max_position_embeddings": 32768, "use_sliding_window": False, "sliding_window": 4096, "eos_token_id": 4}),
    ("arch-qwen3", {**BASE_DECODER, "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3",
                    "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "rope_theta": 1000000.0,
                    "rms_norm_eps": 1e-6, "max_position_embeddings": 40960, "attention_bias": False,
                    "tie_word_embeddings": True, "use_sliding_window": False, "eos_token_id": 4}),
    ("arch-mistral", {**BASE_DECODER, "architectures": ["MistralForCausalLM"], "model_type": "mistral",
                      "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 32768,
                      "sliding_window": 4096, "bos_token_id": 1, "eos_token_id": 2}),
    ("arch-gpt2", {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "n_embd": 32, "n_layer": 2, "n_head": 4,
                   "n_inner": 64, "n_positions": 1024, "n_ctx": 1024, "vocab_size": 256, "activation_function": "gelu_new",
                   "layer_norm_epsilon": 1e-5, "bos_token_id": 2, "eos_token_id": 2, "tie_word_embeddings": True,
                   "torch_dtype": "float16"}),
]


def make_model(name, cfg, seed):
    gen = torch.Generator().manual_seed(seed)
    is_gpt2 = cfg["architectures"][0] == "GPT2LMHeadModel"
    w = gpt2_weights(cfg, gen) if is_gpt2 else decoder_weights(cfg, gen)
    w = {k: v.to(torch.float16) for k, v in w.items()}  # stored F16: the model IS the fp16 weights
    w64 = {k: v.to(DT) for k, v in w.items()}
    fwd = gpt2_forward if is_gpt2 else decoder_forward
    V = cfg["vocab_size"]
    ids = torch.randint(0, V, (1, T), generator=gen)

    # logits of the last position of each prefix (each its own forward, as dynamic RoPE depends on length)
    rows = [fwd(w64, cfg, ids[:, :n])[0, -1] for n in PREFIXES]
    checks = {}
    if cfg.get("rope_scaling"):
        plain = {**cfg, "rope_scaling": None}
        checks["maxAbsDiffWithoutScaling"] = fj.F32(max(float((fwd(w64, plain, ids[:, :n])[0, -1] - r).abs().max()) for n, r in zip(PREFIXES, rows)))
    w32 = {k: v.float() for k, v in w.items()}
    checks["maxAbsDiffF32Math"] = fj.F32(max(float((fwd(w32, cfg, ids[:, :n])[0, -1].double() - r).abs().max()) for n, r in zip(PREFIXES, rows)))

    # one LoRA training step on the whole sequence: loss = mean CE over labels[t] = ids[t+1]
    mods = lora_modules(cfg, w)
    lora, tensors = {}, {}
    for j, (m, i_, o_) in enumerate(mods):
        A = (torch.rand(RANK, i_, generator=gen, dtype=DT) * 2 - 1) * 0.3
        B = (torch.rand(o_, RANK, generator=gen, dtype=DT) * 2 - 1) * 0.3
        A, B = A.float().double().requires_grad_(), B.float().double().requires_grad_()
        lora[m] = (A, B, ALPHA / RANK)
    # the same loss's gradients of every 1-D weight (norm weights, biases): what full fine-tuning adds
    wg = {k: (v.clone().requires_grad_() if v.dim() == 1 and not k.endswith("wpe.weight") else v) for k, v in w64.items()}
    logits = fwd(wg, cfg, ids, lora)[0]
    labels = ids[0, 1:]
    loss = F.cross_entropy(logits[:-1], labels)
    loss.backward()
    for m, (A, B, _) in lora.items():
        tensors[peft_key(m, "A")] = A.detach().float()
        tensors[peft_key(m, "B")] = B.detach().float()
        tensors["grad/" + peft_key(m, "A")] = A.grad.float()
        tensors["grad/" + peft_key(m, "B")] = B.grad.float()
    vector_grads = sorted(k for k, v in wg.items() if v.requires_grad)
    for k in vector_grads:
        tensors["grad/" + k] = wg[k].grad.float()
    with torch.no_grad():
        lora32 = {m: (A.detach().float(), B.detach().float(), s) for m, (A, B, s) in lora.items()}
        loss32 = F.cross_entropy(fwd(w32, cfg, ids, lora32)[0][:-1], labels)
    checks["lossF32Math"] = fj.F32(float(loss32))

    # greedy from the first PROMPT ids, with the KV cache as HF generation runs it
    with torch.no_grad():
        out, margins = [], []
        if is_gpt2:
            seq = ids[:, :PROMPT]
            for _ in range(GREEDY):
                lg = fwd(w64, cfg, seq)[0, -1]
                top = torch.topk(lg, 2).values
                nxt = int(torch.argmax(lg))
                out.append(nxt)
                margins.append(float(top[0] - top[1]))
                seq = torch.cat([seq, torch.tensor([[nxt]])], 1)
        else:
            cache = []
            lg = fwd(w64, cfg, ids[:, :PROMPT], cache=cache)[0, -1]
            pos = PROMPT
            for _ in range(GREEDY):
                top = torch.topk(lg, 2).values
                nxt = int(torch.argmax(lg))
                out.append(nxt)
                margins.append(float(top[0] - top[1]))
                lg = fwd(w64, cfg, torch.tensor([[nxt]]), pos0=pos, cache=cache)[0, -1]
                pos += 1
    print(f"  {name}: loss {float(loss):.5f} (f32 {float(loss32):.5f}); greedy min margin {min(margins):.4f}; "
          + ", ".join(f"{k} {v.value:.3g}" for k, v in checks.items()))

    d = os.path.join(OUT_DIR, name)
    os.makedirs(d, exist_ok=True)
    fj.write_plain(os.path.join(d, "config.json"), cfg)
    st.write(os.path.join(d, "model.safetensors"), dict(sorted(w.items())), {"format": "pt"})
    st.write(os.path.join(d, "lora.safetensors"), dict(sorted(tensors.items())), {"format": "pt"})
    doc = {
        "name": name,
        "generator": GENERATOR,
        "architecture": cfg["architectures"][0],
        "notes": "ids: T random token ids (no BOS). logits[k]: logits (V) of the last position of the prefix "
                 "ids[:prefixes[k]], each its own forward from position 0. loss: mean next-token cross-entropy of "
                 "the whole sequence (labels[t] = ids[t+1], the last position unlabelled) with the LoRA adapter of "
                 "lora.safetensors (r, alpha; A and B random, PEFT keys; gradients of that loss under grad/<key>, and "
                 "those of every 1-D base weight listed in vectorGrads (norm weights, biases) under grad/<name>). "
                 "greedy: argmax ids after ids[:promptLength] without the adapter, decoded with a KV cache as HF "
                 "generation does (dynamic RoPE: cached keys keep their rotation), margins = top1 - top2.",
        "ids": ids[0],
        "prefixes": PREFIXES,
        "logits": [r for r in rows],
        "lora": {"r": RANK, "alpha": ALPHA, "modules": [m for m, _, _ in mods]},
        "vectorGrads": vector_grads,
        "loss": fj.F32(float(loss)),
        "greedy": {"promptLength": PROMPT, "ids": out, "margins": [fj.F32(m) for m in margins]},
        "checks": checks,
    }
    n = fj.write(os.path.join(d, "reference.json"), doc)
    size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
    print(f"wrote {rel(d)}/ ({size} bytes; reference.json {n})")


def make_rope_cases():
    cases = []
    specs = [
        ("default", {"rope_theta": 10000.0}, 64, [0]),
        ("linear", {"rope_theta": 10000.0, "rope_scaling": {"rope_type": "linear", "factor": 4.0}}, 64, [0]),
        ("llama3.1", {"rope_theta": 500000.0, "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                                               "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}}, 128, [0]),
        ("llama3.2", {"rope_theta": 500000.0, "rope_scaling": {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
                                                               "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}}, 64, [0]),
        ("dynamic", {"rope_theta": 10000.0, "max_position_embeddings": 2048, "rope_scaling": {"rope_type": "dynamic", "factor": 2.0}}, 64,
         [100, 2048, 2049, 4096, 5000]),
    ]
    for name, cfg, D, seqs in specs:
        for s in seqs:
            cases.append({"name": f"{name} D={D} seq={s}", "config": cfg, "D": D, "seqLen": s, "invFreq": inv_freq(cfg, D, s)})
    path = os.path.join(OUT_DIR, "rope_inv_freq.json")
    n = fj.write(path, {"generator": GENERATOR, "notes": "HF inv_freq (float32) for each setting; seqLen = max(position_ids) + 1 of the forward (dynamic only).", "cases": cases})
    print(f"wrote {rel(path)} ({n} bytes)")


def main():
    torch.manual_seed(0)
    make_rope_cases()
    for k, (name, cfg) in enumerate(MODELS):
        make_model(name, cfg, 1000 + k)


if __name__ == "__main__":
    main()
