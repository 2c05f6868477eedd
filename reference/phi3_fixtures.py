"""PyTorch oracle for Phi-3 / Phi-4-mini (Phi3ForCausalLM), written from transformers'
modeling_phi3.py / configuration_phi3.py and masking_utils.py, not from Whetstone's code.

Run from the repository root with Debian's torch:

    /usr/bin/python3 reference/phi3_fixtures.py

It (re)writes src/model/fixtures/arch-phi3/ in the layout of reference/arch_fixtures.py (so
src/model/archFixtures.test.ts runs it with the other architectures): config.json,
model.safetensors (BF16), reference.json (ids, last-position logits of the prefixes 600 and 640,
loss, LoRA modules, 20 greedy ids decoded with a KV cache, checks), lora.safetensors (PEFT-keyed
A/B of qkv_proj, o_proj, gate_up_proj, down_proj and their gradients under grad/<key>).

What Phi-3 does (HF transformers):
- Phi3Attention: qkv = qkv_proj(h) (out = Hq*D + 2*Hkv*D), q = qkv[:, :Hq*D], k the next Hkv*D,
  v the rest; partial rotary: the first rotary_dim = int(head_dim * partial_rotary_factor) dims of
  each head rotate (rotate_half within them, inv_freq = 1/theta^(arange(0, rotary_dim, 2)/rotary_dim)),
  the rest pass through; scores / sqrt(head_dim); config.sliding_window on every layer
  (masking_utils: key j visible from query i iff i - sliding_window < j <= i).
- Phi3MLP: gate, up = gate_up_proj(h).chunk(2, -1); down_proj(up * silu(gate)).
- Decoder layer: x = x + attn(input_layernorm(x)); x = x + mlp(post_attention_layernorm(x)); RMSNorm w*x.
- Final norm, untied lm_head (tie_word_embeddings false here).
Tiny model: hidden 32, 4 heads, 2 kv heads, head_dim 8, partial_rotary_factor 0.5 (rotary_dim 4),
sliding_window 300 (< T = 640: Phi-3-mini-4k ships 2047), vocab 96, 2 layers.
Base weights rounded through fp16 before use; all math float64.
"""

import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import fixture_json as fj  # noqa: E402
from lib import lora as peft  # noqa: E402
from lib import safetensors_io as st  # noqa: E402
from lib.transformer import round_f16  # noqa: E402
from model_fixtures import OUT_DIR, draw, exact, rel  # noqa: E402

GENERATOR = "reference/phi3_fixtures.py"
DT = torch.float64
T = 640
PREFIXES = [600, 640]
PROMPT = 600
GREEDY = 20
TARGETS = ("self_attn.qkv_proj", "self_attn.o_proj", "mlp.gate_up_proj", "mlp.down_proj")

CONFIG = {
    "architectures": ["Phi3ForCausalLM"], "model_type": "phi3",
    "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 96,
    "max_position_embeddings": 4096, "original_max_position_embeddings": 4096,
    "rope_theta": 10000.0, "rope_scaling": None, "partial_rotary_factor": 0.5,
    "rms_norm_eps": 1e-5, "hidden_act": "silu", "sliding_window": 300,
    "attention_dropout": 0.0, "embd_pdrop": 0.0, "resid_pdrop": 0.0,
    "tie_word_embeddings": False, "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 2,
    "torch_dtype": "bfloat16",
}


def rms_norm(x, w, eps):
    return w * (x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps))


def longrope(cfg, R, seq_len):
    """HF _compute_longrope_parameters + the per-forward switch (dynamic_rope_update): float32
    inv_freq = 1 / (ext * base^(arange(0, R, 2) / R)) with ext = short_factor while
    seq_len = max(position_ids) + 1 <= original_max_position_embeddings, else long_factor; and the
    attention factor sqrt(1 + ln(max / original) / ln(original)) unless given."""
    rs = cfg["rope_scaling"]
    original = cfg.get("original_max_position_embeddings") or rs.get("original_max_position_embeddings") or cfg["max_position_embeddings"]
    factor = cfg["max_position_embeddings"] / original
    att = rs.get("attention_factor")
    if att is None:
        att = 1.0 if factor <= 1.0 else math.sqrt(1 + math.log(factor) / math.log(original))
    ext = torch.tensor(rs["long_factor"] if seq_len > original else rs["short_factor"], dtype=torch.float32)
    shape = torch.arange(0, R, 2, dtype=torch.int64).float() / R
    return 1.0 / (ext * cfg["rope_theta"] ** shape), att


def rope_partial(x, pos, theta, R, cfg=None):
    """HF Phi-3 apply_rotary_pos_emb with partial rotary: first R dims rotated, rest passed.
    With cfg["rope_scaling"] longrope: its float32 inv_freq and angles, cos/sin times the factor."""
    scale = 1.0
    if cfg is not None and cfg.get("rope_scaling"):
        inv, scale = longrope(cfg, R, int(pos.max()) + 1)
        ang = (pos.float()[:, None] * inv[None, :]).to(DT)  # float32 angles as HF's freqs
    else:
        inv = 1.0 / (theta ** (torch.arange(0, R, 2, dtype=DT) / R))
        ang = pos.to(DT)[:, None] * inv[None, :]
    emb = torch.cat([ang, ang], -1)[None, :, None, :].to(x.dtype)
    cos, sin = emb.cos() * scale, emb.sin() * scale
    x_rot, x_pass = x[..., :R], x[..., R:]
    x1, x2 = x_rot[..., : R // 2], x_rot[..., R // 2:]
    return torch.cat([x_rot * cos + torch.cat([-x2, x1], -1) * sin, x_pass], -1)


def attend(q, k, v, pos0, window):
    B, Tq, Hq, D = q.shape
    Tk = k.shape[1]
    rep = Hq // k.shape[2]
    qh, kh, vh = q.transpose(1, 2), k.transpose(1, 2).repeat_interleave(rep, 1), v.transpose(1, 2).repeat_interleave(rep, 1)
    s = (qh @ kh.transpose(-1, -2)) / math.sqrt(D)
    qpos = torch.arange(pos0, pos0 + Tq)[:, None]
    kpos = torch.arange(Tk)[None, :]
    hidden = kpos > qpos
    if window is not None:
        hidden = hidden | (kpos <= qpos - window)
    return (torch.softmax(s.masked_fill(hidden, float("-inf")), -1) @ vh).transpose(1, 2)


def linear(x, w, name, lora):
    y = x @ w[name + ".weight"].T
    if lora is not None and name in lora:
        A, Bm, s = lora[name]
        y = y + s * ((x @ A.T) @ Bm.T)
    return y


def phi3_forward(w, cfg, ids, lora=None, pos0=0, cache=None, window="config"):
    H, nh = cfg["hidden_size"], cfg["num_attention_heads"]
    nkv = cfg["num_key_value_heads"]
    D = cfg.get("head_dim") or H // nh
    R = int(D * cfg.get("partial_rotary_factor", 1.0))
    eps = cfg["rms_norm_eps"]
    win = cfg.get("sliding_window") if window == "config" else window
    B, Tn = ids.shape
    pos = torch.arange(pos0, pos0 + Tn)
    x = w["model.embed_tokens.weight"][ids]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = rms_norm(x, w[p + "input_layernorm.weight"], eps)
        qkv = linear(h, w, p + "self_attn.qkv_proj", lora)
        q = qkv[..., : nh * D].view(B, Tn, nh, D)
        k = qkv[..., nh * D: nh * D + nkv * D].view(B, Tn, nkv, D)
        v = qkv[..., nh * D + nkv * D:].view(B, Tn, nkv, D)
        q, k = rope_partial(q, pos, cfg["rope_theta"], R, cfg), rope_partial(k, pos, cfg["rope_theta"], R, cfg)
        if cache is not None:
            if len(cache) <= i:
                cache.append((k, v))
            else:
                cache[i] = (torch.cat([cache[i][0], k], 1), torch.cat([cache[i][1], v], 1))
            k, v = cache[i]
        a = attend(q, k, v, pos0, win).reshape(B, Tn, nh * D)
        x = x + linear(a, w, p + "self_attn.o_proj", lora)
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        gate, up = linear(h, w, p + "mlp.gate_up_proj", lora).chunk(2, dim=-1)
        x = x + linear(up * F.silu(gate), w, p + "mlp.down_proj", lora)
    x = rms_norm(x, w["model.norm.weight"], eps)
    return x @ w["lm_head.weight"].T


def phi3_weights(gen, cfg, storage):
    H, I, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    nh, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    D = H // nh
    w = {"model.embed_tokens.weight": draw(gen, V, H)}
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = exact(draw(gen, H, mean=1.0, std=0.1), storage)
        w[p + "self_attn.qkv_proj.weight"] = draw(gen, nh * D + 2 * nkv * D, H, std=H ** -0.5)
        w[p + "self_attn.o_proj.weight"] = draw(gen, H, nh * D, std=(nh * D) ** -0.5)
        w[p + "post_attention_layernorm.weight"] = exact(draw(gen, H, mean=1.0, std=0.1), storage)
        w[p + "mlp.gate_up_proj.weight"] = draw(gen, 2 * I, H, std=H ** -0.5)
        w[p + "mlp.down_proj.weight"] = draw(gen, H, I, std=I ** -0.5)
    w["model.norm.weight"] = exact(draw(gen, H, mean=1.0, std=0.1), storage)
    w["lm_head.weight"] = draw(gen, V, H, std=2 * H ** -0.5)
    return {k: v.to(storage) for k, v in w.items()}


def greedy(w, cfg, prompt, steps, window="config"):
    """Argmax decoding with a KV cache as HF generation runs it."""
    cache, out, margins = [], [], []
    with torch.no_grad():
        lg = phi3_forward(w, cfg, prompt, cache=cache, window=window)[0, -1]
        pos = prompt.shape[1]
        for _ in range(steps):
            top = torch.topk(lg, 2).values
            nxt = int(torch.argmax(lg))
            out.append(nxt)
            margins.append(float(top[0] - top[1]))
            lg = phi3_forward(w, cfg, torch.tensor([[nxt]]), pos0=pos, cache=cache, window=window)[0, -1]
            pos += 1
    return out, margins


LONGROPE = {
    **CONFIG, "partial_rotary_factor": 0.75, "sliding_window": None,
    "max_position_embeddings": 1024, "original_max_position_embeddings": 256,
    "rope_scaling": {"type": "longrope", "short_factor": [1.0, 1.25, 1.5], "long_factor": [2.0, 3.5, 6.0]},
}


def make(name, cfg, seed, prefixes):
    stored = phi3_weights(torch.Generator().manual_seed(seed), cfg, torch.bfloat16)
    folder = os.path.join(OUT_DIR, name)
    os.makedirs(folder, exist_ok=True)
    fj.write_plain(os.path.join(folder, "config.json"), cfg)
    st.write(os.path.join(folder, "model.safetensors"), dict(sorted(stored.items())), {"format": "pt"})
    w = {k: round_f16(v, DT) for k, v in stored.items()}
    w32 = {k: round_f16(v, torch.float32) for k, v in stored.items()}
    gen = torch.Generator().manual_seed(seed + 1)
    ids = torch.randint(0, cfg["vocab_size"], (1, T), generator=gen)

    with torch.no_grad():
        rows = [phi3_forward(w, cfg, ids[:, :n])[0, -1] for n in prefixes]
        d32 = max(float((phi3_forward(w32, cfg, ids[:, :n])[0, -1].to(DT) - r).abs().max()) for n, r in zip(prefixes, rows))
        checks = {"maxAbsDiffF32Math": fj.F32(d32)}
        if cfg.get("sliding_window"):
            d_full = max(float((phi3_forward(w, cfg, ids[:, :n], window=None)[0, -1] - r).abs().max()) for n, r in zip(prefixes, rows))
            assert d_full > 1e-2, d_full
            checks["maxAbsDiffFullAttention"] = fj.F32(d_full)
        full_rot = {**cfg, "partial_rotary_factor": 1.0, "rope_scaling": None}
        d_rot = max(float((phi3_forward(w, full_rot, ids[:, :n])[0, -1] - r).abs().max()) for n, r in zip(prefixes, rows))
        assert d_rot > 1e-2, d_rot
        checks["maxAbsDiffFullRotary"] = fj.F32(d_rot)
        if cfg.get("rope_scaling"):
            plain = {**cfg, "rope_scaling": None}
            d_plain = [float((phi3_forward(w, plain, ids[:, :n])[0, -1] - r).abs().max()) for n, r in zip(prefixes, rows)]
            assert min(d_plain) > 1e-2, d_plain
            checks["maxAbsDiffWithoutScaling"] = fj.F32(max(d_plain))
    assert d32 < 1e-3, d32
    # the cached decode must equal the full forward's rows
    with torch.no_grad():
        cache = []
        n = prefixes[-2]
        phi3_forward(w, cfg, ids[:, : n - 1], cache=cache)
        lg = phi3_forward(w, cfg, ids[:, n - 1: n], pos0=n - 1, cache=cache)[0, -1]
        assert float((lg - rows[-2]).abs().max()) < 1e-9

    r_, alpha = 4, 8
    lgen = torch.Generator().manual_seed(seed + 2)
    H, I = cfg["hidden_size"], cfg["intermediate_size"]
    dims = {"qkv_proj": (H, 64), "o_proj": (32, H), "gate_up_proj": (H, 2 * I), "down_proj": (I, H)}
    lora, modules, tensors = {}, [], {}
    for i in range(cfg["num_hidden_layers"]):
        for t in TARGETS:
            module = f"model.layers.{i}.{t}"
            fin, fout = dims[t.split(".")[1]]
            A = ((torch.rand(r_, fin, generator=lgen, dtype=DT) * 2 - 1) * 0.3).float().double().requires_grad_()
            Bm = ((torch.rand(fout, r_, generator=lgen, dtype=DT) * 2 - 1) * 0.3).float().double().requires_grad_()
            lora[module] = (A, Bm, alpha / r_)
            modules.append(module)
    logits = phi3_forward(w, cfg, ids, lora=lora)[0]
    loss = F.cross_entropy(logits[:-1], ids[0, 1:])
    loss.backward()
    for module in modules:
        A, Bm, _ = lora[module]
        for which, t in (("A", A), ("B", Bm)):
            key = peft.peft_key(module, which)
            tensors[key] = t.detach().float()
            tensors["grad/" + key] = t.grad.float()

    g_ids, margins = greedy(w, cfg, ids[:, :PROMPT], GREEDY)
    g32, _ = greedy(w32, cfg, ids[:, :PROMPT], GREEDY)
    assert g_ids == g32, (g_ids, g32)
    greedy_doc = {"promptLength": PROMPT, "ids": g_ids, "margins": [fj.F32(m) for m in margins]}
    if cfg.get("sliding_window"):
        greedy_doc["idsWithFullAttention"] = greedy(w, cfg, ids[:, :PROMPT], GREEDY, window=None)[0]
    print(f"  {name}: loss {float(loss):.5f}; greedy min margin {min(margins):.4f}; "
          + ", ".join(f"{k} {v.value:.3g}" for k, v in checks.items()))

    doc = {
        "name": name,
        "generator": GENERATOR,
        "architecture": cfg["architectures"][0],
        "notes": "Phi3ForCausalLM. ids: T=640 random ids, positions 0..T-1. logits[k]: logits (V) of the last position "
                 "of ids[:prefixes[k]], each its own forward. loss: mean next-token cross-entropy of the whole sequence "
                 "(the last position unlabelled) with the LoRA adapter of lora.safetensors on the fused qkv_proj and "
                 "gate_up_proj, o_proj and down_proj (r, alpha: scale alpha/r; A and B random; PEFT keys; gradients "
                 "under grad/<key>). greedy: argmax ids after ids[:600] decoded with a KV cache (idsWithFullAttention: "
                 "without the sliding window, if any). checks: how far the last-position logits move without the "
                 "window (maxAbsDiffFullAttention), with plain full RoPE (maxAbsDiffFullRotary), without the longrope "
                 "scaling (maxAbsDiffWithoutScaling). LongRoPE: float32 inv_freq and angles as HF, short factors for "
                 "prefixes within original_max_position_embeddings, long beyond. Base weights rounded through fp16, "
                 "float64 math.",
        "ids": ids[0],
        "prefixes": prefixes,
        "logits": rows,
        "lora": {"r": r_, "alpha": alpha, "modules": modules},
        "loss": fj.F32(float(loss)),
        "greedy": greedy_doc,
        "checks": checks,
    }
    n = fj.write(os.path.join(folder, "reference.json"), doc)
    st.write(os.path.join(folder, "lora.safetensors"), dict(sorted(tensors.items())), {"format": "pt"})
    size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
    print(f"wrote {rel(folder)}/ ({size} bytes; reference.json {n})")


def main():
    make("arch-phi3", CONFIG, 4001, PREFIXES)
    # LongRoPE (Phi-3-mini-128k, Phi-3.5-mini, Phi-4-mini): the prefix of 200 stays within the
    # original 256 positions (short factors), 600 and 640 go past them (long factors)
    make("arch-phi3-longrope", LONGROPE, 4101, [200] + PREFIXES)


if __name__ == "__main__":
    main()
