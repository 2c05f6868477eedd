"""PyTorch oracle for Whetstone's GPU ops: writes the JSON fixtures the kernel tests compare against.

Run (Debian's python3-torch lives in the system interpreter, not in a venv):

    /usr/bin/python3 reference/ops_fixtures.py            # from the repository root

It (re)writes src/gpu/ops/fixtures/<name>.json for name in
    attention_gqa, rope, rmsnorm, layernorm, cross_entropy, lora_linear, swiglu, gelu_new, adamw,
    attention_window, rope_partial, rmsnorm_offset, geglu_tanh
and prints one line per file. The output is deterministic (fixed seeds), so rerunning it on an
unchanged script gives byte-identical files; the files are committed and CI never runs this.

Conventions (they match /work/notes/layouts.md and src/gpu/ops/fixtures.ts):
- Each file is {"op", "generator", "notes", "cases": [...]}. A case holds "name", "config"
  (shapes and hyper-parameters), "shapes" (the shape of every tensor field) and the tensors
  themselves as flat row-major arrays (last index fastest).
- Inputs are drawn in float64, then rounded to float32 (fp16 for base weights) so the stored
  values are exactly what a kernel test uploads; all math is float64; results are stored rounded
  to float32, written with the fewest digits (at most 9) that round-trip through float32 (so read
  them through Float32Array / Math.fround to get the exact f32). fp16 base weights are written
  with their exact decimal value.
- Gradients are for the stored upstream gradient (dout / dy / dh / dloss).
"""

import json
import math
import os

import numpy as np
import torch
import torch.nn.functional as F

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "gpu", "ops", "fixtures")
GENERATOR = "reference/ops_fixtures.py"
DT = torch.float64


# ----------------------------------------------------------------------------- helpers


def f32(t):
    """Round a float64 tensor to the nearest float32 value (kept in float64 for the math)."""
    return t.to(torch.float32).to(DT)


def randn(gen, *shape, std=1.0):
    return f32(torch.randn(*shape, generator=gen, dtype=DT) * std)


def fmt_float(x):
    """Shortest decimal (<= 9 significant digits) that parses back to the same float32."""
    v = np.float32(x)
    if not np.isfinite(v):
        raise ValueError(f"non-finite value {x} in a fixture; fix the generator")
    if v == 0:
        return "-0" if np.signbit(v) else "0"
    for p in range(6, 10):
        s = f"{float(v):.{p}g}"
        if np.float32(float(s)) == v:
            return s
    raise AssertionError("9 significant digits always round-trip a float32")


def to_json_value(v):
    if isinstance(v, torch.Tensor):
        if v.dtype.is_floating_point:
            return [fmt_float(x) for x in v.detach().reshape(-1).tolist()]
        return [int(x) for x in v.reshape(-1).tolist()]
    return v


def dump_case(name, config, tensors):
    """A case: config plus tensors (float tensors stored f32, int tensors as ints), shapes recorded."""
    case = {"name": name, "config": config, "shapes": {}}
    for k, t in tensors.items():
        if isinstance(t, torch.Tensor):
            case["shapes"][k] = list(t.shape)
            case[k] = t
        else:  # a plain scalar (e.g. a loss)
            case[k] = t
    return case


def render(obj, indent=0):
    """JSON with one field per line and every array on one line (readable diffs, small files)."""
    pad = "  " * indent
    if isinstance(obj, dict):
        items = [f'{pad}  {json.dumps(k)}: {render(v, indent + 1)}' for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, list) and obj and isinstance(obj[0], dict):
        items = [f"{pad}  {render(v, indent + 1)}" for v in obj]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    if isinstance(obj, torch.Tensor) and obj.dtype == torch.float16:
        # fp16 values written exactly (few digits anyway), so they are fp16 even read as f64
        return "[" + ",".join(repr(float(x)) for x in obj.reshape(-1).tolist()) + "]"
    if isinstance(obj, torch.Tensor):
        vals = to_json_value(obj)
        return "[" + ",".join(vals if obj.dtype.is_floating_point else map(str, vals)) + "]"
    if isinstance(obj, np.float32):  # a stored result (e.g. a loss): float32, fewest digits
        return fmt_float(obj)
    return json.dumps(obj)  # config values keep their exact float64 repr


def write(name, notes, cases):
    doc = {"op": name, "generator": GENERATOR, "notes": notes, "cases": cases}
    text = render(doc) + "\n"
    json.loads(text)  # must be valid JSON
    path = os.path.normpath(os.path.join(OUT_DIR, f"{name}.json"))
    with open(path, "w") as f:
        f.write(text)
    print(f"wrote {os.path.relpath(path)} ({len(text)} bytes, {len(cases)} cases)")


def grads(out, upstream, inputs):
    return torch.autograd.grad(out, inputs, upstream)


def close(a, b, tol=1e-10):
    assert torch.allclose(a, b, atol=tol, rtol=tol), (a - b).abs().max().item()


# ----------------------------------------------------------------------------- attention


def attention_ref(q, k, v, doc_ids):
    """q (B,T,Hq,D), k/v (B,T,Hkv,D), doc_ids (B*T) or None -> out (B,T,Hq,D), lse (B,Hq,T)."""
    B, T, Hq, D = q.shape
    Hkv = k.shape[2]
    rep = Hq // Hkv
    scale = 1.0 / math.sqrt(D)
    qh = q.permute(0, 2, 1, 3)  # (B,Hq,T,D)
    # HF repeat_kv: kv head j serves q heads j*rep .. j*rep+rep-1
    kh = k.permute(0, 2, 1, 3).repeat_interleave(rep, dim=1)
    vh = v.permute(0, 2, 1, 3).repeat_interleave(rep, dim=1)
    s = (qh @ kh.transpose(-1, -2)) * scale  # (B,Hq,T,T)
    allowed = torch.ones(T, T, dtype=torch.bool).tril()[None, None]
    if doc_ids is not None:
        d = doc_ids.reshape(B, T)
        allowed = allowed & (d[:, None, :, None] == d[:, None, None, :])
    s = s.masked_fill(~allowed, float("-inf"))
    lse = torch.logsumexp(s, dim=-1)  # (B,Hq,T)
    p = torch.exp(s - lse[..., None])
    out = (p @ vh).permute(0, 2, 1, 3).contiguous()
    return out, lse


def attention_case(gen, name, B, T, Hq, Hkv, D, doc_ids=None):
    q = randn(gen, B, T, Hq, D).requires_grad_()
    k = randn(gen, B, T, Hkv, D).requires_grad_()
    v = randn(gen, B, T, Hkv, D).requires_grad_()
    ids = None if doc_ids is None else torch.tensor(doc_ids, dtype=torch.int32)
    out, lse = attention_ref(q, k, v, ids)
    # cross-check against PyTorch's own attention (torch 1.13 names it _scaled_dot_product_attention;
    # newer releases, scaled_dot_product_attention); a boolean mask is True where attention is allowed
    rep = Hq // Hkv
    allowed = torch.ones(T, T, dtype=torch.bool).tril()[None, None]
    if ids is not None:
        d = ids.reshape(B, T)
        allowed = (allowed & (d[:, None, :, None] == d[:, None, None, :])).expand(B, Hq, T, T)
    args = (q.permute(0, 2, 1, 3), k.permute(0, 2, 1, 3).repeat_interleave(rep, 1),
            v.permute(0, 2, 1, 3).repeat_interleave(rep, 1))
    if hasattr(F, "scaled_dot_product_attention"):
        sd = F.scaled_dot_product_attention(*args, attn_mask=allowed)
    else:
        sd = F._scaled_dot_product_attention(*args, attn_mask=allowed)[0]
    close(out, sd.permute(0, 2, 1, 3))
    dout = randn(gen, B, T, Hq, D)
    dq, dk, dv = grads(out, dout, (q, k, v))
    # FlashAttention-2's backward pre-pass: delta[b,h,t] = sum_d dout*out
    delta = (dout * out).sum(-1).permute(0, 2, 1)
    config = {"B": B, "T": T, "Hq": Hq, "Hkv": Hkv, "D": D, "causal": True,
              "scale": 1.0 / math.sqrt(D), "packed": ids is not None}
    tensors = {"q": q, "k": k, "v": v}
    if ids is not None:
        tensors["docIds"] = ids
    tensors.update({"out": out, "lse": lse, "dout": dout, "delta": delta, "dq": dq, "dk": dk, "dv": dv})
    return dump_case(name, config, tensors)


def make_attention():
    gen = torch.Generator().manual_seed(1001)
    cases = [
        attention_case(gen, "gqa_causal", 2, 7, 4, 2, 8),
        attention_case(gen, "packed_docs", 1, 9, 4, 2, 8, doc_ids=[0, 0, 0, 1, 1, 1, 1, 2, 2]),
        attention_case(gen, "single_token", 2, 1, 4, 2, 8),
    ]
    write("attention_gqa", "Causal GQA attention. q (B,T,Hq,D), k/v (B,T,Hkv,D), out (B,T,Hq,D); "
          "q head h uses kv head floor(h/(Hq/Hkv)). lse (B,Hq,T) = natural logsumexp of scale*q.k over "
          "allowed keys; delta (B,Hq,T) = sum_d dout*out. docIds (B*T), when present: token i sees j "
          "only if j<=i and docIds[j]==docIds[i]. dq/dk/dv are gradients for the upstream dout.", cases)


# ----------------------------------------------------------------------------- rope


def rope_ref(x, positions, theta):
    """x (B,T,H,D), positions (B*T) -> HF rotate_half RoPE."""
    B, T, H, D = x.shape
    inv_freq = 1.0 / (theta ** (torch.arange(0, D, 2, dtype=DT) / D))  # (D/2)
    ang = positions.reshape(B, T).to(DT)[..., None] * inv_freq  # (B,T,D/2)
    emb = torch.cat([ang, ang], dim=-1)[:, :, None, :]  # (B,T,1,D)
    cos, sin = emb.cos(), emb.sin()
    x1, x2 = x[..., : D // 2], x[..., D // 2:]
    rot = torch.cat([-x2, x1], dim=-1)
    return x * cos + rot * sin


def rope_case(gen, name, B, T, H, D, theta, positions):
    x = randn(gen, B, T, H, D).requires_grad_()
    pos = torch.tensor(positions, dtype=torch.int32)
    y = rope_ref(x, pos, theta)
    dy = randn(gen, B, T, H, D)
    (dx,) = grads(y, dy, (x,))
    config = {"B": B, "T": T, "H": H, "D": D, "theta": theta}
    return dump_case(name, config, {"x": x, "positions": pos, "y": y, "dy": dy, "dx": dx})


def make_rope():
    gen = torch.Generator().manual_seed(1002)
    cases = [
        rope_case(gen, "offset", 1, 5, 3, 8, 10000.0, [3, 4, 5, 6, 7]),
        rope_case(gen, "packed_restart", 1, 5, 3, 8, 10000.0, [0, 1, 2, 0, 1]),
    ]
    write("rope", "RoPE, HF rotate_half layout on x (B,T,H,D): for i<D/2 the pair (i, i+D/2) is rotated "
          "by pos*theta^(-2i/D). positions (B*T). dx is the gradient for the upstream dy.", cases)


# ----------------------------------------------------------------------------- norms


def make_norms():
    gen = torch.Generator().manual_seed(1003)
    N, C, eps = 5, 13, 1e-5
    x = randn(gen, N, C, std=1.5).requires_grad_()
    w = f32(1.0 + 0.3 * torch.randn(C, generator=gen, dtype=DT)).requires_grad_()
    ms = (x * x).mean(-1)
    rstd = torch.rsqrt(ms + eps)
    y = x * rstd[:, None] * w
    dy = randn(gen, N, C)
    dx, dw = grads(y, dy, (x, w))
    write("rmsnorm", "RMSNorm (Llama): y = x / sqrt(mean(x^2) + eps) * w on x (N,C), w (C). "
          "rstd (N) = 1/sqrt(mean(x^2)+eps). dx, dw for the upstream dy.",
          [dump_case("basic", {"N": N, "C": C, "eps": eps},
                     {"x": x, "w": w, "y": y, "rstd": rstd, "dy": dy, "dx": dx, "dw": dw})])

    gen = torch.Generator().manual_seed(1004)
    x = f32(randn(gen, N, C, std=1.5) + 0.7).requires_grad_()
    w = f32(1.0 + 0.3 * torch.randn(C, generator=gen, dtype=DT)).requires_grad_()
    b = randn(gen, C, std=0.5).requires_grad_()
    mean = x.mean(-1)
    var = ((x - mean[:, None]) ** 2).mean(-1)  # biased, as torch's layer_norm
    rstd = torch.rsqrt(var + eps)
    y = (x - mean[:, None]) * rstd[:, None] * w + b
    close(y, F.layer_norm(x, (C,), w, b, eps))
    dy = randn(gen, N, C)
    dx, dw, db = grads(y, dy, (x, w, b))
    write("layernorm", "LayerNorm: y = (x - mean) / sqrt(var + eps) * w + b, biased variance, on x (N,C). "
          "mean (N), rstd (N) = 1/sqrt(var+eps). dx, dw, db for the upstream dy.",
          [dump_case("basic", {"N": N, "C": C, "eps": eps},
                     {"x": x, "w": w, "b": b, "y": y, "mean": mean, "rstd": rstd,
                      "dy": dy, "dx": dx, "dw": dw, "db": db})])


# ----------------------------------------------------------------------------- cross-entropy


def ce_case(gen, name, N, V, labels, eps):
    logits = randn(gen, N, V, std=2.0).requires_grad_()
    lab = torch.tensor(labels, dtype=torch.int32)
    loss = F.cross_entropy(logits, lab.long(), ignore_index=-100, label_smoothing=eps, reduction="mean")
    # per-token loss (0 where ignored) so kernels that reduce in two passes can be checked
    row = F.cross_entropy(logits, lab.long(), ignore_index=-100, label_smoothing=eps, reduction="none")
    counted = int((lab != -100).sum())
    close(row.sum() / counted, loss)
    lse = torch.logsumexp(logits, -1)
    dloss = 1.0
    (dlogits,) = grads(loss, torch.tensor(dloss, dtype=DT), (logits,))
    config = {"N": N, "V": V, "ignoreIndex": -100, "labelSmoothing": eps, "reduction": "mean",
              "numCounted": counted}
    case = dump_case(name, config, {"logits": logits, "labels": lab, "lse": lse, "rowLoss": row,
                                    "dlogits": dlogits})
    case["loss"] = np.float32(loss.item())
    case["dloss"] = dloss
    return case


def make_cross_entropy():
    gen = torch.Generator().manual_seed(1005)
    N, V = 6, 37
    labels = [5, -100, 36, 0, -100, 17]
    cases = [
        ce_case(gen, "no_smoothing", N, V, labels, 0.0),
        ce_case(gen, "smoothing_0.1", N, V, labels, 0.1),
    ]
    write("cross_entropy", "F.cross_entropy semantics: logits (N,V), labels (N) with -100 ignored; "
          "loss = sum over counted rows of (1-eps)*nll + eps*mean_v(-logp_v), divided by numCounted. "
          "lse (N) = logsumexp of each logits row; rowLoss (N) per-token loss (0 if ignored); "
          "dlogits for upstream dloss (scalar; ignored rows are 0).", cases)


# ----------------------------------------------------------------------------- lora linear


def lora_case(gen, name, N, IN, OUT, r, alpha, bias, rslora):
    x = randn(gen, N, IN).requires_grad_()
    # base weight as it lives on the GPU: fp16 values (stored here already rounded)
    W = (torch.randn(OUT, IN, generator=gen, dtype=DT) * 0.3).to(torch.float16).to(DT)
    b = randn(gen, OUT, std=0.2) if bias else None
    A = randn(gen, r, IN, std=0.3).requires_grad_()
    Bm = randn(gen, OUT, r, std=0.3).requires_grad_()  # random, not the zero init, so dA != 0
    s = alpha / math.sqrt(r) if rslora else alpha / r
    y = x @ W.T + s * (x @ A.T) @ Bm.T
    if b is not None:
        y = y + b
    dy = randn(gen, N, OUT)
    dx, dA, dB = grads(y, dy, (x, A, Bm))
    config = {"N": N, "IN": IN, "OUT": OUT, "r": r, "alpha": alpha, "rslora": rslora, "scale": s,
              "hasBias": bias, "dropout": 0.0}
    tensors = {"x": x, "W": W.to(torch.float16)}
    if b is not None:
        tensors["bias"] = b
    tensors.update({"A": A, "B": Bm, "y": y, "dy": dy, "dx": dx, "dA": dA, "dB": dB})
    return dump_case(name, config, tensors)


def make_lora():
    gen = torch.Generator().manual_seed(1006)
    N, IN, OUT, r, alpha = 5, 12, 10, 4, 8
    cases = [
        lora_case(gen, "bias", N, IN, OUT, r, alpha, True, False),
        lora_case(gen, "no_bias", N, IN, OUT, r, alpha, False, False),
        lora_case(gen, "rslora", N, IN, OUT, r, alpha, True, True),
    ]
    write("lora_linear", "y = x W^T (+ bias) + scale * (x A^T) B^T with x (N,IN), W (OUT,IN) holding fp16 "
          "values (pack with packF16), bias (OUT), A (r,IN), B (OUT,r); scale = alpha/r, or "
          "alpha/sqrt(r) for rsLoRA; dropout 0. dx, dA, dB for the upstream dy (W and bias frozen).", cases)


# ----------------------------------------------------------------------------- activations


def gelu_new(x):
    # HF NewGELUActivation
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def make_activations():
    gen = torch.Generator().manual_seed(1007)
    N, Fd = 4, 11
    gate = randn(gen, N, Fd, std=2.0).requires_grad_()
    up = randn(gen, N, Fd, std=1.5).requires_grad_()
    h = F.silu(gate) * up
    close(h, gate * torch.sigmoid(gate) * up)
    dh = randn(gen, N, Fd)
    dgate, dup = grads(h, dh, (gate, up))
    write("swiglu", "SwiGLU: h = silu(gate) * up, silu(g) = g*sigmoid(g), on gate, up (N,F). dgate, dup for "
          "the upstream dh.",
          [dump_case("basic", {"N": N, "F": Fd}, {"gate": gate, "up": up, "h": h, "dh": dh,
                                                    "dgate": dgate, "dup": dup})])

    gen = torch.Generator().manual_seed(1008)
    x = randn(gen, N, Fd, std=2.0).requires_grad_()
    y = gelu_new(x)
    close(y, F.gelu(x, approximate="tanh"))
    dy = randn(gen, N, Fd)
    (dx,) = grads(y, dy, (x,))
    write("gelu_new", "gelu_new (HF NewGELUActivation, tanh approximation): "
          "y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) on x (N,F). dx for the upstream dy.",
          [dump_case("basic", {"N": N, "F": Fd}, {"x": x, "y": y, "dy": dy, "dx": dx})])


# ----------------------------------------------------------------------------- adamw


def make_adamw():
    gen = torch.Generator().manual_seed(1009)
    shape = (2, 5)
    lr, betas, eps, wd, steps = 1e-2, (0.9, 0.999), 1e-8, 0.1, 3
    p0 = randn(gen, *shape)
    p = torch.nn.Parameter(p0.clone())
    opt = torch.optim.AdamW([p], lr=lr, betas=betas, eps=eps, weight_decay=wd)
    step_cases = []
    for i in range(steps):
        # later grads smaller, one entry exactly 0, to exercise the second-moment history
        g = randn(gen, *shape, std=1.0 / (i + 1))
        g.view(-1)[3] = 0.0
        p.grad = g.clone()
        opt.step()
        st = opt.state[p]
        step_cases.append({"step": i + 1, "grad": g, "param": p.detach().clone(),
                           "exp_avg": st["exp_avg"].clone(), "exp_avg_sq": st["exp_avg_sq"].clone()})
    config = {"shape": list(shape), "numel": p0.numel(), "lr": lr, "beta1": betas[0], "beta2": betas[1],
              "eps": eps, "weightDecay": wd, "numSteps": steps}
    case = dump_case("three_steps", config, {"param0": p0})
    case["shapes"].update({"grad": list(shape), "param": list(shape), "exp_avg": list(shape),
                           "exp_avg_sq": list(shape)})
    case["steps"] = step_cases
    write("adamw", "torch.optim.AdamW (decoupled weight decay: p *= 1 - lr*wd; m = b1 m + (1-b1) g; "
          "v = b2 v + (1-b2) g^2; p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)), from param0 with zero "
          "state. steps[t-1] holds the grad applied at step t and param, exp_avg, exp_avg_sq after it "
          "(each shaped like param0). steps[0] is the one-step case.", [case])


# ----------------------------------------------------------------------------- Gemma 3 / Phi-3 / Mistral ops


def window_allowed(T, window, doc_ids, B):
    """(B,1,T,T) bool: HF masking_utils, causal_mask_function AND sliding_window_overlay
    (kv_idx <= q_idx and kv_idx > q_idx - sliding_window), AND same document when packed."""
    qi = torch.arange(T)[:, None]
    kj = torch.arange(T)[None, :]
    allowed = (kj <= qi) & (kj > qi - window)
    allowed = allowed[None, None].expand(B, 1, T, T)
    if doc_ids is not None:
        d = doc_ids.reshape(B, T)
        allowed = allowed & (d[:, None, :, None] == d[:, None, None, :])
    return allowed


def attention_window_case(gen, name, B, T, Hq, Hkv, D, window, scale, doc_ids=None):
    q = randn(gen, B, T, Hq, D).requires_grad_()
    k = randn(gen, B, T, Hkv, D).requires_grad_()
    v = randn(gen, B, T, Hkv, D).requires_grad_()
    ids = None if doc_ids is None else torch.tensor(doc_ids, dtype=torch.int32)
    rep = Hq // Hkv
    qh = q.permute(0, 2, 1, 3)
    kh = k.permute(0, 2, 1, 3).repeat_interleave(rep, dim=1)
    vh = v.permute(0, 2, 1, 3).repeat_interleave(rep, dim=1)
    allowed = window_allowed(T, window, ids, B)
    s = (qh @ kh.transpose(-1, -2)) * scale
    s = s.masked_fill(~allowed, float("-inf"))
    lse = torch.logsumexp(s, dim=-1)
    out = (torch.exp(s - lse[..., None]) @ vh).permute(0, 2, 1, 3).contiguous()
    # cross-check: PyTorch's attention with the same boolean mask (its scale is 1/sqrt(D), so the
    # scale is folded into q)
    sdpa = getattr(F, "scaled_dot_product_attention", None)
    args = (qh * (scale * math.sqrt(D)), kh, vh)
    sd = sdpa(*args, attn_mask=allowed) if sdpa else F._scaled_dot_product_attention(*args, attn_mask=allowed)[0]
    close(out, sd.permute(0, 2, 1, 3))
    # and the window must matter: full causal attention differs
    full = torch.ones(T, T, dtype=torch.bool).tril()
    assert window >= T or not torch.equal(allowed[0, 0], full)
    dout = randn(gen, B, T, Hq, D)
    dq, dk, dv = grads(out, dout, (q, k, v))
    delta = (dout * out).sum(-1).permute(0, 2, 1)
    config = {"B": B, "T": T, "Hq": Hq, "Hkv": Hkv, "D": D, "window": window, "scale": scale,
              "packed": ids is not None}
    tensors = {"q": q, "k": k, "v": v}
    if ids is not None:
        tensors["docIds"] = ids
    tensors.update({"out": out, "lse": lse, "dout": dout, "delta": delta, "dq": dq, "dk": dk, "dv": dv})
    return dump_case(name, config, tensors)


def make_attention_window():
    gen = torch.Generator().manual_seed(1011)
    cases = [
        attention_window_case(gen, "window3_gqa", 2, 8, 4, 2, 8, 3, 1.0 / math.sqrt(8)),
        attention_window_case(gen, "window2_packed_docs_scale", 1, 9, 2, 1, 8, 2, 0.25,
                              doc_ids=[0, 0, 0, 1, 1, 1, 1, 2, 2]),
        attention_window_case(gen, "window1_self_only", 1, 5, 2, 2, 4, 1, 0.5),
    ]
    write("attention_window", "Sliding-window causal GQA attention, Hugging Face semantics "
          "(masking_utils: kv_idx <= q_idx and kv_idx > q_idx - sliding_window): token i sees j iff "
          "i - window < j <= i (and docIds[j]==docIds[i] when packed). Scores scale*q.k with the stored "
          "scale (Gemma 3: query_pre_attn_scalar^-0.5). Layouts as attention_gqa.", cases)


def rope_partial_ref(x, positions, theta, R):
    """HF partial rotary (Phi-3, GPT-NeoX): the first R dims rotated with rotate_half within them,
    inv_freq = 1/theta^(arange(0,R,2)/R); dims R.. passed through."""
    B, T, H, D = x.shape
    inv_freq = 1.0 / (theta ** (torch.arange(0, R, 2, dtype=DT) / R))
    ang = positions.reshape(B, T).to(DT)[..., None] * inv_freq
    emb = torch.cat([ang, ang], dim=-1)[:, :, None, :]
    cos, sin = emb.cos(), emb.sin()
    x_rot, x_pass = x[..., :R], x[..., R:]
    x1, x2 = x_rot[..., : R // 2], x_rot[..., R // 2:]
    rot = torch.cat([-x2, x1], dim=-1)
    return torch.cat([x_rot * cos + rot * sin, x_pass], dim=-1)


def make_rope_partial():
    gen = torch.Generator().manual_seed(1012)
    cases = []
    for name, B, T, H, D, R, theta, positions in [
        ("rotary_half_of_12", 1, 5, 3, 12, 6, 10000.0, [3, 4, 5, 6, 7]),
        ("rotary_8_of_20_packed", 1, 6, 2, 20, 8, 500000.0, [0, 1, 2, 3, 0, 1]),
    ]:
        x = randn(gen, B, T, H, D).requires_grad_()
        pos = torch.tensor(positions, dtype=torch.int32)
        y = rope_partial_ref(x, pos, theta, R)
        if R == D:
            close(y, rope_ref(x, pos, theta))
        dy = randn(gen, B, T, H, D)
        (dx,) = grads(y, dy, (x,))
        config = {"B": B, "T": T, "H": H, "D": D, "rotaryDim": R, "theta": theta}
        cases.append(dump_case(name, config, {"x": x, "positions": pos, "y": y, "dy": dy, "dx": dx}))
    write("rope_partial", "Partial RoPE (HF Phi-3 / GPT-NeoX partial_rotary_factor): on x (B,T,H,D) the first "
          "rotaryDim dims are rotated in the rotate_half layout of a rotaryDim-wide head (pairs (i, i+rotaryDim/2), "
          "angle pos*theta^(-2i/rotaryDim)); dims rotaryDim.. are passed through. dx for the upstream dy.", cases)


def make_rmsnorm_offset():
    gen = torch.Generator().manual_seed(1013)
    N, C, eps = 5, 13, 1e-6
    x = randn(gen, N, C, std=1.5).requires_grad_()
    # Gemma stores w near 0 (the scale is 1 + w)
    w = randn(gen, C, std=0.3).requires_grad_()
    rstd = torch.rsqrt((x * x).mean(-1) + eps)
    # HF Gemma3RMSNorm: self._norm(x.float()) * (1.0 + self.weight.float())
    y = (x * rstd[:, None]) * (1.0 + w)
    dy = randn(gen, N, C)
    dx, dw = grads(y, dy, (x, w))
    write("rmsnorm_offset", "Gemma RMSNorm: y = x / sqrt(mean(x^2) + eps) * (1 + w) on x (N,C), w (C) as stored. "
          "rstd (N). dx, dw for the upstream dy (dw = sum_n dy*x*rstd, as for plain RMSNorm).",
          [dump_case("gemma", {"N": N, "C": C, "eps": eps},
                     {"x": x, "w": w, "y": y, "rstd": rstd, "dy": dy, "dx": dx, "dw": dw})])


def make_geglu():
    gen = torch.Generator().manual_seed(1014)
    N, Fd = 4, 11
    gate = randn(gen, N, Fd, std=2.0).requires_grad_()
    up = randn(gen, N, Fd, std=1.5).requires_grad_()
    # HF gelu_pytorch_tanh (PytorchGELUTanh) = F.gelu(approximate="tanh"); written out here
    g = 0.5 * gate * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (gate + 0.044715 * torch.pow(gate, 3.0))))
    close(g, F.gelu(gate, approximate="tanh"))
    h = g * up
    dh = randn(gen, N, Fd)
    dgate, dup = grads(h, dh, (gate, up))
    write("geglu_tanh", "GeGLU (Gemma MLP, hidden_activation gelu_pytorch_tanh): h = gelu_tanh(gate) * up on gate, up "
          "(N,F), gelu_tanh(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). dgate, dup for the upstream dh.",
          [dump_case("basic", {"N": N, "F": Fd}, {"gate": gate, "up": up, "h": h, "dh": dh,
                                                    "dgate": dgate, "dup": dup})])


def main():
    torch.manual_seed(0)  # every fixture also uses its own seeded generator
    os.makedirs(OUT_DIR, exist_ok=True)
    make_attention()
    make_rope()
    make_norms()
    make_cross_entropy()
    make_lora()
    make_activations()
    make_adamw()
    make_attention_window()
    make_rope_partial()
    make_rmsnorm_offset()
    make_geglu()


if __name__ == "__main__":
    main()
