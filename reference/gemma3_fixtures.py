"""PyTorch oracle for Gemma 3 text (Gemma3ForCausalLM), written from transformers'
modeling_gemma3.py / configuration_gemma3.py and masking_utils.py, not from Whetstone's code.

Run from the repository root with Debian's torch:

    /usr/bin/python3 reference/gemma3_fixtures.py

It (re)writes src/model/fixtures/arch-gemma3/ in the layout of reference/arch_fixtures.py (so
src/model/archFixtures.test.ts runs it with the other architectures):
- config.json, model.safetensors (BF16): random weights, 2 layers (one sliding, one full), hidden
  32, 2 heads, 1 kv head, head_dim 16, query_pre_attn_scalar 8, sliding_window 512, vocab 96, tied.
- reference.json: ids (T = 640), logits of the last position of the prefixes 600 and 640, the
  loss, the LoRA modules, 20 greedy ids from a 600-token prompt (KV-cache positions 600..619, past
  the 512 window), checks.
- lora.safetensors: the LoRA A/B (PEFT keys) and their gradients (grad/<PEFT key>) of the mean
  next-token cross-entropy.
- logits.safetensors: logits (T, V) F32 of every position (src/arch/gemma3.test.ts).
And src/model/fixtures/arch-gemma3-d256/ (no logits.safetensors): the same with Gemma 3 270M / 1B's
attention, head_dim 256 and query_pre_attn_scalar 256, no rope_scaling, and layer kinds from
sliding_window_pattern 2 (one head, T = 560, prefixes 530 / 560, greedy after 530).

What Gemma 3 does (HF transformers):
- Gemma3TextScaledWordEmbedding: embed_tokens(ids) * embed_scale.to(weight dtype), embed_scale =
  hidden_size ** 0.5; the normalizer is rounded to the checkpoint's dtype (BF16 here: 5.65625).
- Gemma3RMSNorm: x * rsqrt(mean(x^2) + eps) * (1 + w), in float32 from the stored w.
- Decoder layer: h = input_layernorm(x); a = attn(h); x = x + post_attention_layernorm(a);
  h = pre_feedforward_layernorm(x); x = x + post_feedforward_layernorm(mlp(h)).
- Attention: q_norm / k_norm (Gemma3RMSNorm over head_dim) on each head after the projections,
  then RoPE; scores * query_pre_attn_scalar ** -0.5; sliding layers mask keys j <= i - sliding_window
  (masking_utils.sliding_window_overlay: kv_idx > q_idx - sliding_window); local layers use
  rope_local_base_freq with default RoPE, global layers rope_theta with rope_scaling (linear here).
- MLP: down(gelu_pytorch_tanh(gate(h)) * up(h)).
- layer_types, or sliding_window_pattern: layer i slides iff (i + 1) % pattern != 0.
- Tied LM head; final norm (1 + w).
Base weights are rounded through fp16 before use (the engine keeps them as fp16); all math float64.
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
from model_fixtures import OUT_DIR, VOCAB, draw, exact, rel  # noqa: E402

GENERATOR = "reference/gemma3_fixtures.py"
DT = torch.float64
T = 640
PROMPT = 600
PREFIXES = [600, 640]
GREEDY = 20
TARGETS = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
           "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")

CONFIG = {
    "architectures": ["Gemma3ForCausalLM"], "model_type": "gemma3_text",
    "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
    "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 16,
    "query_pre_attn_scalar": 8, "vocab_size": 96, "max_position_embeddings": 1024,
    "rms_norm_eps": 1e-6, "hidden_activation": "gelu_pytorch_tanh",
    "rope_theta": 1000000.0, "rope_local_base_freq": 10000.0,
    "rope_scaling": {"rope_type": "linear", "factor": 8.0},
    "sliding_window": 512, "layer_types": ["sliding_attention", "full_attention"],
    "attn_logit_softcapping": None, "final_logit_softcapping": None,
    "attention_bias": False, "attention_dropout": 0.0, "tie_word_embeddings": True,
    "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0, "torch_dtype": "bfloat16",
}


def rms_norm_1p(x, w, eps):
    return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps) * (1.0 + w)


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def inv_freq(theta, D, factor=1.0):
    # HF default rope init: 1 / base^(arange(0, dim, 2) / dim); linear scaling divides by factor
    return 1.0 / (theta ** (torch.arange(0, D, 2, dtype=DT) / D)) / factor


def rope(x, pos, inv):
    """HF rotate_half RoPE on x (B,T,H,D) at positions pos (T)."""
    ang = pos.to(DT)[:, None] * inv[None, :]
    emb = torch.cat([ang, ang], -1)[None, :, None, :].to(x.dtype)
    D = x.shape[-1]
    x1, x2 = x[..., : D // 2], x[..., D // 2:]
    return x * emb.cos() + torch.cat([-x2, x1], -1) * emb.sin()


def attention(q, k, v, scale, window):
    B, Tq, Hq, D = q.shape
    rep = Hq // k.shape[2]
    qh, kh, vh = q.transpose(1, 2), k.transpose(1, 2).repeat_interleave(rep, 1), v.transpose(1, 2).repeat_interleave(rep, 1)
    s = (qh @ kh.transpose(-1, -2)) * scale
    i = torch.arange(Tq)[:, None]
    j = torch.arange(Tq)[None, :]
    allowed = j <= i
    if window is not None:
        allowed = allowed & (j > i - window)
    p = torch.softmax(s.masked_fill(~allowed, float("-inf")), -1)
    return (p @ vh).transpose(1, 2)


def layer_types(cfg):
    if cfg.get("layer_types") is not None:
        return cfg["layer_types"]
    pattern = cfg.get("sliding_window_pattern", 6)
    return ["sliding_attention" if (i + 1) % pattern else "full_attention" for i in range(cfg["num_hidden_layers"])]


def linear(x, w, name, lora):
    y = x @ w[name + ".weight"].T
    if lora is not None and name in lora:
        A, Bm, s = lora[name]
        y = y + s * ((x @ A.T) @ Bm.T)
    return y


def gemma3_forward(w, cfg, ids, lora=None, full_attention=False, embed_scale=None):
    H, nh, nkv, D = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
    eps = cfg["rms_norm_eps"]
    B, Tn = ids.shape
    scale = cfg["query_pre_attn_scalar"] ** -0.5
    if embed_scale is None:
        embed_scale = float(torch.tensor(H ** 0.5).to(torch.bfloat16))  # .to(embedding dtype)
    x = w["model.embed_tokens.weight"][ids] * embed_scale
    pos = torch.arange(Tn)
    factor = (cfg.get("rope_scaling") or {}).get("factor", 1.0)
    inv_global = inv_freq(cfg["rope_theta"], D, factor)
    inv_local = inv_freq(cfg["rope_local_base_freq"], D)
    for i, kind in enumerate(layer_types(cfg)):
        p = f"model.layers.{i}."
        sliding = kind == "sliding_attention"
        inv = inv_local if sliding else inv_global
        h = rms_norm_1p(x, w[p + "input_layernorm.weight"], eps)
        q = linear(h, w, p + "self_attn.q_proj", lora).view(B, Tn, nh, D)
        k = linear(h, w, p + "self_attn.k_proj", lora).view(B, Tn, nkv, D)
        v = linear(h, w, p + "self_attn.v_proj", lora).view(B, Tn, nkv, D)
        q = rope(rms_norm_1p(q, w[p + "self_attn.q_norm.weight"], eps), pos, inv)
        k = rope(rms_norm_1p(k, w[p + "self_attn.k_norm.weight"], eps), pos, inv)
        window = cfg["sliding_window"] if sliding and not full_attention else None
        a = attention(q, k, v, scale, window).reshape(B, Tn, nh * D)
        x = x + rms_norm_1p(linear(a, w, p + "self_attn.o_proj", lora), w[p + "post_attention_layernorm.weight"], eps)
        h = rms_norm_1p(x, w[p + "pre_feedforward_layernorm.weight"], eps)
        m = gelu_tanh(linear(h, w, p + "mlp.gate_proj", lora)) * linear(h, w, p + "mlp.up_proj", lora)
        x = x + rms_norm_1p(linear(m, w, p + "mlp.down_proj", lora), w[p + "post_feedforward_layernorm.weight"], eps)
    x = rms_norm_1p(x, w["model.norm.weight"], eps)
    return x @ w["model.embed_tokens.weight"].T


def gemma3_weights(gen, cfg, storage):
    H, I, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    nh, nkv, D = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
    # Gemma's norm weights sit around 0 (the scale is 1 + w); embeddings small (they are scaled
    # by sqrt(hidden) and also form the tied head)
    w = {"model.embed_tokens.weight": draw(gen, V, H, std=0.3)}
    norm = lambda n: exact(draw(gen, n, std=0.2), storage)  # noqa: E731
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        for n in ("input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm", "post_feedforward_layernorm"):
            w[p + n + ".weight"] = norm(H)
        w[p + "self_attn.q_norm.weight"] = norm(D)
        w[p + "self_attn.k_norm.weight"] = norm(D)
        for m, rows in (("q", nh * D), ("k", nkv * D), ("v", nkv * D)):
            w[p + f"self_attn.{m}_proj.weight"] = draw(gen, rows, H, std=H ** -0.5)
        w[p + "self_attn.o_proj.weight"] = draw(gen, H, nh * D, std=(nh * D) ** -0.5)
        w[p + "mlp.gate_proj.weight"] = draw(gen, I, H, std=H ** -0.5)
        w[p + "mlp.up_proj.weight"] = draw(gen, I, H, std=H ** -0.5)
        w[p + "mlp.down_proj.weight"] = draw(gen, H, I, std=I ** -0.5)
    w["model.norm.weight"] = norm(H)
    return {k: v.to(storage) for k, v in w.items()}


def greedy(forward, ids, steps):
    ids = list(ids)
    out, margins = [], []
    for _ in range(steps):
        logits = forward(torch.tensor([ids]))[0, -1]
        top = torch.topk(logits, 2).values
        nxt = int(torch.argmax(logits))
        out.append(nxt)
        margins.append(float(top[0] - top[1]))
        ids.append(nxt)
    return out, margins


# Gemma 3 270M / 1B attention: head_dim 256, query_pre_attn_scalar 256, no rope_scaling, the
# layer kinds from sliding_window_pattern (2: sliding, full)
CONFIG_D256 = {
    **{k: v for k, v in CONFIG.items() if k != "layer_types"},
    "head_dim": 256, "query_pre_attn_scalar": 256, "rope_scaling": None, "sliding_window_pattern": 2,
    "num_attention_heads": 1,
}


def make(name, cfg, seed, full_logits, T=T, PREFIXES=PREFIXES, PROMPT=PROMPT):  # noqa: N803
    stored = gemma3_weights(torch.Generator().manual_seed(seed), cfg, torch.bfloat16)
    folder = os.path.join(OUT_DIR, name)
    os.makedirs(folder, exist_ok=True)
    fj.write_plain(os.path.join(folder, "config.json"), cfg)
    st.write(os.path.join(folder, "model.safetensors"), dict(sorted(stored.items())), {"format": "pt"})
    w = {k: round_f16(v, DT) for k, v in stored.items()}
    gen = torch.Generator().manual_seed(seed + 1)
    # ids 5.. (no special tokens), BOS first
    ids = [1] + [int(x) for x in torch.randint(5, len(VOCAB), (T - 1,), generator=gen)]
    x = torch.tensor([ids])

    logits = gemma3_forward(w, cfg, x)[0]
    w32 = {k: round_f16(v, torch.float32) for k, v in stored.items()}
    d32 = float((gemma3_forward(w32, cfg, x)[0].to(DT) - logits).abs().max())
    assert d32 < 1e-3, d32
    # the window must matter: full attention on the sliding layer changes rows >= 512 only
    full = gemma3_forward(w, cfg, x, full_attention=True)[0]
    d_full = (full - logits).abs().max(-1).values
    assert float(d_full[:512].max()) == 0.0
    assert float(d_full[512:].max()) > 1e-2, float(d_full[512:].max())
    # and the embedding normalizer's rounding to BF16 (5.65625, not 5.65685) shows too
    d_scale = float((gemma3_forward(w, cfg, x, embed_scale=cfg["hidden_size"] ** 0.5)[0] - logits).abs().max())

    # loss and LoRA gradients (r 4, alpha 8, all linear modules; B nonzero so dA is nonzero too)
    r, alpha = 4, 8
    lgen = torch.Generator().manual_seed(seed + 2)
    lora, keys = {}, []
    H, I = cfg["hidden_size"], cfg["intermediate_size"]
    Q, KV = cfg["num_attention_heads"] * cfg["head_dim"], cfg["num_key_value_heads"] * cfg["head_dim"]
    dims = {"q_proj": (H, Q), "k_proj": (H, KV), "v_proj": (H, KV), "o_proj": (Q, H),
            "gate_proj": (H, I), "up_proj": (H, I), "down_proj": (I, H)}
    for i in range(cfg["num_hidden_layers"]):
        for t in TARGETS:
            module = f"model.layers.{i}.{t}"
            fin, fout = dims[t.split(".")[1]]
            A = peft.init_a(lgen, r, fin).to(DT).requires_grad_()
            Bm = (0.05 * torch.randn(fout, r, generator=lgen, dtype=DT)).to(torch.float32).to(DT).requires_grad_()
            lora[module] = (A, Bm, alpha / r)
            keys.append(module)
    labels = torch.tensor(ids[1:] + [-100])
    lg = gemma3_forward(w, cfg, x, lora=lora)[0]
    loss = F.cross_entropy(lg, labels, ignore_index=-100)
    loss.backward()
    tensors = {}
    modules = []
    for module in keys:
        A, Bm, _ = lora[module]
        ka, kb = peft.peft_key(module, "A"), peft.peft_key(module, "B")
        tensors[ka] = A.detach().to(torch.float32)
        tensors[kb] = Bm.detach().to(torch.float32)
        tensors["grad/" + ka] = A.grad.to(torch.float32)
        tensors["grad/" + kb] = Bm.grad.to(torch.float32)
        modules.append(module)
    assert all(float(tensors["grad/" + peft.peft_key(m, "A")].abs().max()) > 0 for m in modules)

    g_ids, margins = greedy(lambda t: gemma3_forward(w, cfg, t), ids[:PROMPT], GREEDY)
    g32, _ = greedy(lambda t: gemma3_forward(w32, cfg, t), ids[:PROMPT], GREEDY)
    assert g_ids == g32, (g_ids, g32)
    g_full, _ = greedy(lambda t: gemma3_forward(w, cfg, t, full_attention=True), ids[:PROMPT], GREEDY)
    print(f"  {name}: logits std {float(logits.std()):.2f}; f32 math {d32:.2e}; full attention changes rows >= 512 "
          f"by up to {float(d_full[512:].max()):.3f}; an unrounded normalizer by {d_scale:.2e}; loss {float(loss):.4f}; "
          f"greedy min margin {min(margins):.4f}; {sum(a != b for a, b in zip(g_ids, g_full))} of 20 greedy ids differ without the window")

    doc = {
        "name": name,
        "generator": GENERATOR,
        "architecture": cfg["architectures"][0],
        "notes": f"Gemma3ForCausalLM. ids: T={T} ids, BOS first, positions 0..T-1. logits[k]: logits (V) of the last "
                 "position of ids[:prefixes[k]]; logits.safetensors holds every position's (T, V). loss: mean "
                 "cross-entropy of position t against ids[t+1] (the last unlabelled) with the LoRA adapter of "
                 "lora.safetensors (r, alpha: scale alpha/r; PEFT keys; gradients under grad/<key>). Base weights "
                 f"rounded through fp16, float64 math. greedy: 20 argmax ids after ids[:{PROMPT}] (KV-cache positions "
                 f"{PROMPT}..{PROMPT + 19}, past the 512-token window); idsWithFullAttention: the same without the window. "
                 "checks.maxAbsDiffFullAttention: how far rows >= 512 move if the sliding layer attended to "
                 "everything (rows < 512 do not move); maxAbsDiffUnroundedEmbedScale: sqrt(hidden) not rounded to BF16.",
        "ids": torch.tensor(ids),
        "prefixes": PREFIXES,
        "logits": [logits[n - 1] for n in PREFIXES],
        "lora": {"r": r, "alpha": alpha, "modules": modules},
        "loss": fj.F32(float(loss)),
        "greedy": {"promptLength": PROMPT, "ids": g_ids, "margins": [fj.F32(m) for m in margins],
                   "idsWithFullAttention": g_full},
        "checks": {"maxAbsDiffF32Math": fj.F32(d32), "maxAbsDiffFullAttention": fj.F32(float(d_full[512:].max())),
                   "maxAbsDiffUnroundedEmbedScale": fj.F32(d_scale)},
    }
    n = fj.write(os.path.join(folder, "reference.json"), doc)
    st.write(os.path.join(folder, "lora.safetensors"), dict(sorted(tensors.items())), {"format": "pt"})
    if full_logits:
        st.write(os.path.join(folder, "logits.safetensors"), {"logits": logits.to(torch.float32)}, {"format": "pt"})
    size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
    print(f"wrote {rel(folder)}/ ({size} bytes; reference.json {n})")


def main():
    make("arch-gemma3", CONFIG, 3001, True)
    # one head and T = 560 keep the test time down (the D = 256 kernels are slow on a CPU rasteriser)
    make("arch-gemma3-d256", CONFIG_D256, 3101, False, T=560, PREFIXES=[530, 560], PROMPT=530)


if __name__ == "__main__":
    main()
