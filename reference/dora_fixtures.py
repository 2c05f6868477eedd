"""PyTorch oracle for DoRA (Liu et al. 2024, "DoRA: Weight-Decomposed Low-Rank Adaptation") as
HF PEFT applies it to nn.Linear (use_dora=True, no dropout):

    W' = m * (W + s B A) / ||W + s B A||      norm over the input dimension: one per output row
    y  = x W'^T + b                            of the (out, in) weight; s = lora_alpha / r

with the norm treated as a constant in backward (the paper's section 4.3; PEFT's
weight_norm.detach()), so that A, B get gradients only through the numerator and the magnitude m
(PEFT's lora_magnitude_vector, initialised to ||W + s B A||) through its own factor.

Run from the repository root with Debian's torch:

    /usr/bin/python3 reference/dora_fixtures.py

It (re)writes src/model/fixtures/dora/:
- <name>.safetensors: the adapter in PEFT's layout (base_model.model.<module>.lora_A.weight,
  .lora_B.weight, .lora_magnitude_vector) and the gradients of the loss under grad/<key>.
- reference.json: per model its folder, ids, r, alpha, modules, the loss (mean next-token
  cross-entropy of the whole sequence) and the logits of the last position, and checks.

Models: the demo model stories260K (public/models/stories260K, weights rounded through fp16 as the
engine holds them), and the tiny random Qwen3 and GPT-2 of reference/arch_fixtures.py
(src/model/fixtures/arch-qwen3, arch-gpt2; run that first). The decoder and GPT-2 forwards are
arch_fixtures.py's own, with its linear replaced by the DoRA linear below. Math in float64, stored
as float32; A, B random (B not zero, so the norm is not ||W||) and m = ||W + s B A|| times a random
factor in [0.7, 1.3] (so m/||.|| is not 1).

With --check-peft DIR MODEL_DIR IDS_JSON: loads a PEFT DoRA adapter folder (adapter_config.json,
adapter_model.safetensors) as PEFT semantics say, applies it to the model and prints the logits of
the last position of the ids as JSON (the engine's export is compared with this).
"""

import json
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import arch_fixtures as af  # noqa: E402
from lib import fixture_json as fj  # noqa: E402
from lib import safetensors_io as st  # noqa: E402

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
OUT_DIR = os.path.join(ROOT, "src", "model", "fixtures", "dora")
GENERATOR = "reference/dora_fixtures.py"
DT = torch.float64
RANK, ALPHA = 4, 8

MODELS = [
    # name, model folder (relative to the repository), sequence length, seed
    ("stories260k", "public/models/stories260K", 64, 5001),
    ("qwen3", "src/model/fixtures/arch-qwen3", 96, 5002),
    ("gpt2", "src/model/fixtures/arch-gpt2", 96, 5003),
]


def peft_key(module, which):
    if which == "m":
        return f"base_model.model.{module}.lora_magnitude_vector"
    return f"base_model.model.{module}.lora_{which}.weight"


def out_in(W, conv1d):
    """The (out, in) weight of a Linear (GPT-2's Conv1D stores (in, out))."""
    return W.T if conv1d else W


def dora_norm(W, A, B, s, conv1d=False):
    return torch.linalg.norm(out_in(W, conv1d) + s * (B @ A), dim=1)


def dora_lin(x, w, name, lora, conv1d=False):
    W = w[name + ".weight"]
    Wo = out_in(W, conv1d)
    b = w.get(name + ".bias")
    if lora is None or name not in lora:
        y = x @ Wo.T
        return y if b is None else y + b
    A, B, m, s = lora[name]
    norm = dora_norm(W, A, B, s, conv1d).detach()  # section 4.3: no gradient through the norm
    z = x @ Wo.T + s * ((x @ A.T) @ B.T)
    y = (m / norm) * z
    return y if b is None else y + b


# arch_fixtures' forwards look `lin` up in their module: theirs becomes the DoRA linear
af.lin = dora_lin


def load_model(folder):
    cfg = json.load(open(os.path.join(ROOT, folder, "config.json")))
    w = st.read(os.path.join(ROOT, folder, "model.safetensors"))
    if isinstance(w, tuple):
        w = w[0]
    # the engine holds fp16 base weights: round through fp16 (exact for the F16 fixtures)
    w = {k: v.to(torch.float16).to(DT) for k, v in w.items()}
    if cfg["architectures"][0] == "LlamaForCausalLM" and cfg.get("tie_word_embeddings") and "lm_head.weight" not in w:
        pass
    return cfg, w


def forward(cfg, w, ids, lora):
    fwd = af.gpt2_forward if cfg["architectures"][0] == "GPT2LMHeadModel" else af.decoder_forward
    return fwd(w, cfg, ids, lora)[0]


def make(name, folder, T, seed):
    cfg, w = load_model(folder)
    is_gpt2 = cfg["architectures"][0] == "GPT2LMHeadModel"
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, cfg["vocab_size"], (1, T), generator=gen)
    s = ALPHA / RANK
    lora, tensors, mods = {}, {}, af.lora_modules(cfg, w)
    for m, i_, o_ in mods:
        A = ((torch.rand(RANK, i_, generator=gen, dtype=DT) * 2 - 1) * 0.3).float().double()
        B = ((torch.rand(o_, RANK, generator=gen, dtype=DT) * 2 - 1) * 0.3).float().double()
        f = torch.rand(o_, generator=gen, dtype=DT) * 0.6 + 0.7
        mag = (dora_norm(w[m + ".weight"], A, B, s, is_gpt2) * f).float().double()
        lora[m] = (A.requires_grad_(), B.requires_grad_(), mag.requires_grad_(), s)
    logits = forward(cfg, w, ids, lora)
    labels = ids[0, 1:]
    loss = F.cross_entropy(logits[:-1], labels)
    loss.backward()
    for m, (A, B, mag, _) in lora.items():
        for which, t in (("A", A), ("B", B), ("m", mag)):
            tensors[peft_key(m, which)] = t.detach().float()
            tensors["grad/" + peft_key(m, which)] = t.grad.float()
    checks = {}
    with torch.no_grad():
        w32 = {k: v.float() for k, v in w.items()}
        l32 = {m: (A.detach().float(), B.detach().float(), mag.detach().float(), s_) for m, (A, B, mag, s_) in lora.items()}
        checks["lossF32Math"] = fj.F32(float(F.cross_entropy(forward(cfg, w32, ids, l32)[:-1], labels)))
        # what DoRA changes: the loss of the same A, B as plain LoRA (m = the norm)
        plain = {m: (A.detach(), B.detach(), dora_norm(w[m + ".weight"], A.detach(), B.detach(), s_, is_gpt2), s_) for m, (A, B, mag, s_) in lora.items()}
        checks["lossWithMagnitudeAtNorm"] = fj.F32(float(F.cross_entropy(forward(cfg, w, ids, plain)[:-1], labels)))
    os.makedirs(OUT_DIR, exist_ok=True)
    st.write(os.path.join(OUT_DIR, f"{name}.safetensors"), dict(sorted(tensors.items())), {"format": "pt"})
    print(f"  {name}: loss {float(loss):.6f}; " + ", ".join(f"{k} {v.value:.6g}" for k, v in checks.items()))
    return {
        "name": name,
        "folder": folder,
        "architecture": cfg["architectures"][0],
        "ids": ids[0],
        "r": RANK,
        "alpha": ALPHA,
        "modules": [m for m, _, _ in mods],
        "loss": fj.F32(float(loss)),
        "lastLogits": logits[-1].detach(),
        "checks": checks,
    }


def peft_logits(adapter_dir, model_dir, ids):
    """Logits of the last position of ids with a PEFT DoRA adapter folder applied as PEFT does."""
    cfg, w = load_model(model_dir)
    is_gpt2 = cfg["architectures"][0] == "GPT2LMHeadModel"
    pc = json.load(open(os.path.join(adapter_dir, "adapter_config.json")))
    assert pc["peft_type"] == "LORA" and pc.get("use_dora") is True, "not a DoRA adapter"
    r, alpha = pc["r"], pc["lora_alpha"]
    s = alpha / (r ** 0.5) if pc.get("use_rslora") else alpha / r
    t = st.read(os.path.join(adapter_dir, "adapter_model.safetensors"))
    if isinstance(t, tuple):
        t = t[0]
    lora = {}
    for k in t:
        if k.endswith(".lora_A.weight"):
            m = k[len("base_model.model."):-len(".lora_A.weight")]
            lora[m] = (t[k].to(DT), t[peft_key(m, "B")].to(DT), t[peft_key(m, "m")].to(DT), s)
    assert lora, "no LoRA tensors"
    del is_gpt2
    with torch.no_grad():
        return forward(cfg, w, torch.tensor([ids]), lora)[-1]


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--check-peft":
        adapter_dir, model_dir, ids_json = sys.argv[2], sys.argv[3], sys.argv[4]
        print(json.dumps([float(v) for v in peft_logits(adapter_dir, model_dir, json.load(open(ids_json)))]))
        return
    torch.manual_seed(0)
    models = [make(*spec) for spec in MODELS]
    doc = {
        "generator": GENERATOR,
        "notes": "DoRA as PEFT (use_dora, no dropout): y = m/||W + sBA|| * (x W^T + s x A^T B^T) + b, the norm per "
                 "output row and detached in backward; s = alpha/r. Per model: the base folder, ids (no BOS), the "
                 "adapter <name>.safetensors (PEFT keys; A, B random, m = norm x U[0.7, 1.3]) and the gradients of "
                 "loss (mean next-token cross-entropy over ids) under grad/<key>; lastLogits: logits of the last "
                 "position. checks.lossWithMagnitudeAtNorm: the loss with m = the norm (DoRA's rescaling off).",
        "models": models,
    }
    n = fj.write(os.path.join(OUT_DIR, "reference.json"), doc)
    print(f"wrote src/model/fixtures/dora/ (reference.json {n} bytes)")


if __name__ == "__main__":
    main()
