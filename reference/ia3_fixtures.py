"""PyTorch oracle for (IA)^3 (Liu et al. 2022, "Few-Shot Parameter-Efficient Fine-Tuning is Better
and Cheaper than In-Context Learning") as HF PEFT's IA3 applies it to nn.Linear (no dropout):

    target, not feedforward (k_proj, v_proj):  y = l * (x W^T + b)      l: ia3_l [out, 1]
    feedforward (down_proj):                   y = (x * l) W^T + b      l: ia3_l [1, in]

PEFT's default targets for llama / mistral / qwen2 (TRANSFORMERS_MODELS_TO_IA3_TARGET_MODULES_MAPPING
and ..._FEEDFORWARD_MODULES_MAPPING): target_modules [k_proj, v_proj, down_proj], feedforward_modules
[down_proj]; l initialised to ones (init_ia3_weights). PEFT's merge: W <- W * l per output row and
b <- b * l (not feedforward), W <- W * l per input column (feedforward; b unchanged).

Run from the repository root with Debian's torch:

    /usr/bin/python3 reference/ia3_fixtures.py

It (re)writes src/model/fixtures/ia3/:
- <name>.safetensors: the vectors as PEFT saves them (base_model.model.<module>.ia3_l, [out, 1] or
  [1, in]) and the gradients of the loss under grad/<key> (same shapes).
- reference.json: per model its folder, ids, the modules (with feedforward flags), the loss (mean
  next-token cross-entropy of the whole sequence), the logits of the last position, and checks.

Models: the demo model stories260K (public/models/stories260K, weights rounded through fp16 as the
engine holds them) and the tiny random Qwen2 of reference/arch_fixtures.py
(src/model/fixtures/arch-qwen2: k/v biases, which the output scaling scales too). The decoder
forward is arch_fixtures.py's own with its linear replaced by the (IA)^3 linear below. Math in
float64, stored as float32; the vectors are random in [0.5, 1.5] (so that they are not ones).

With --check-peft DIR MODEL_DIR IDS_JSON: loads a PEFT IA3 adapter folder (adapter_config.json,
adapter_model.safetensors) as PEFT semantics say (shapes checked), applies it to the model and
prints the logits of the last position of the ids as JSON (the engine's export is compared with this).
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
OUT_DIR = os.path.join(ROOT, "src", "model", "fixtures", "ia3")
GENERATOR = "reference/ia3_fixtures.py"
DT = torch.float64
TARGETS = ["k_proj", "v_proj", "down_proj"]
FEEDFORWARD = ["down_proj"]

MODELS = [
    # name, model folder (relative to the repository), sequence length, seed
    ("stories260k", "public/models/stories260K", 64, 6001),
    ("qwen2", "src/model/fixtures/arch-qwen2", 96, 6002),
]


def peft_key(module):
    return f"base_model.model.{module}.ia3_l"


def ia3_lin(x, w, name, ia3, conv1d=False):
    assert not conv1d, "only Linear layers here"
    W = w[name + ".weight"]
    b = w.get(name + ".bias")
    if ia3 is None or name not in ia3:
        y = x @ W.T
        return y if b is None else y + b
    l, ff = ia3[name]
    if ff:
        y = (x * l.reshape(-1)) @ W.T
        return y if b is None else y + b
    y = x @ W.T
    if b is not None:
        y = y + b
    return y * l.reshape(-1)


# arch_fixtures' forwards look `lin` up in their module: theirs becomes the (IA)^3 linear
af.lin = ia3_lin


def load_model(folder):
    cfg = json.load(open(os.path.join(ROOT, folder, "config.json")))
    w = st.read(os.path.join(ROOT, folder, "model.safetensors"))
    if isinstance(w, tuple):
        w = w[0]
    # the engine holds fp16 base weights: round through fp16 (exact for the F16 fixtures)
    return cfg, {k: v.to(torch.float16).to(DT) for k, v in w.items()}


def ia3_modules(cfg, w):
    """(module, feedforward, in, out) of every targeted linear, in model order."""
    out = []
    for m, i_, o_ in af.lora_modules(cfg, w):
        short = m.split(".")[-1]
        if short in TARGETS:
            out.append((m, short in FEEDFORWARD, i_, o_))
    return out


def make(name, folder, T, seed):
    cfg, w = load_model(folder)
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, cfg["vocab_size"], (1, T), generator=gen)
    ia3, tensors, mods = {}, {}, ia3_modules(cfg, w)
    for m, ff, i_, o_ in mods:
        shape = (1, i_) if ff else (o_, 1)
        l = (torch.rand(*shape, generator=gen, dtype=DT) + 0.5).float().double()
        ia3[m] = (l.requires_grad_(), ff)
    logits = af.decoder_forward(w, cfg, ids, ia3)[0]
    labels = ids[0, 1:]
    loss = F.cross_entropy(logits[:-1], labels)
    loss.backward()
    for m, (l, _) in ia3.items():
        tensors[peft_key(m)] = l.detach().float()
        tensors["grad/" + peft_key(m)] = l.grad.float()
    checks = {}
    with torch.no_grad():
        w32 = {k: v.float() for k, v in w.items()}
        i32 = {m: (l.detach().float(), ff) for m, (l, ff) in ia3.items()}
        checks["lossF32Math"] = fj.F32(float(F.cross_entropy(af.decoder_forward(w32, cfg, ids, i32)[0][:-1], labels)))
        # what the vectors change: the loss of the base model (every vector one)
        checks["lossBase"] = fj.F32(float(F.cross_entropy(af.decoder_forward(w, cfg, ids, None)[0][:-1], labels)))
    os.makedirs(OUT_DIR, exist_ok=True)
    st.write(os.path.join(OUT_DIR, f"{name}.safetensors"), dict(sorted(tensors.items())), {"format": "pt"})
    print(f"  {name}: loss {float(loss):.6f}; " + ", ".join(f"{k} {v.value:.6g}" for k, v in checks.items()))
    return {
        "name": name,
        "folder": folder,
        "architecture": cfg["architectures"][0],
        "ids": ids[0],
        "modules": [m for m, _, _, _ in mods],
        "feedforward": [m for m, ff, _, _ in mods if ff],
        "loss": fj.F32(float(loss)),
        "lastLogits": logits[-1].detach(),
        "checks": checks,
    }


def matches(module, names):
    """PEFT's list matching: the module path is a name or ends with '.' + name."""
    return any(module == n or module.endswith("." + n) for n in names)


def peft_logits(adapter_dir, model_dir, ids):
    """Logits of the last position of ids with a PEFT IA3 adapter folder applied as PEFT does."""
    cfg, w = load_model(model_dir)
    pc = json.load(open(os.path.join(adapter_dir, "adapter_config.json")))
    assert pc["peft_type"] == "IA3", f"not an IA3 adapter: {pc['peft_type']}"
    targets, ff_names = pc["target_modules"], pc["feedforward_modules"] or []
    assert all(f in targets for f in ff_names), "feedforward_modules must be a subset of target_modules"
    t = st.read(os.path.join(adapter_dir, "adapter_model.safetensors"))
    if isinstance(t, tuple):
        t = t[0]
    ia3 = {}
    for m, i_, o_ in af.lora_modules(cfg, w):
        if not matches(m, targets):
            continue
        ff = matches(m, ff_names)
        l = t[peft_key(m)].to(DT)
        want = (1, i_) if ff else (o_, 1)
        assert tuple(l.shape) == want, f"{peft_key(m)} is {tuple(l.shape)}, PEFT has {want}"
        ia3[m] = (l, ff)
    assert ia3 and len(ia3) == len(t), f"{len(t)} tensors in the file, {len(ia3)} targeted modules"
    with torch.no_grad():
        return af.decoder_forward(w, cfg, torch.tensor([ids]), ia3)[0][-1]


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--check-peft":
        adapter_dir, model_dir, ids_json = sys.argv[2], sys.argv[3], sys.argv[4]
        print(json.dumps([float(v) for v in peft_logits(adapter_dir, model_dir, json.load(open(ids_json)))]))
        return
    torch.manual_seed(0)
    models = [make(*spec) for spec in MODELS]
    doc = {
        "generator": GENERATOR,
        "notes": "(IA)^3 as PEFT's IA3 (no dropout): k_proj/v_proj y = l * (x W^T + b), down_proj (feedforward) "
                 "y = (x * l) W^T + b. Per model: the base folder, ids (no BOS), the vectors <name>.safetensors "
                 "(PEFT keys and shapes, [out,1] / [1,in], random in [0.5, 1.5]) and the gradients of loss (mean "
                 "next-token cross-entropy over ids) under grad/<key>; lastLogits: logits of the last position. "
                 "checks.lossBase: the loss with every vector one (the base model).",
        "models": models,
    }
    n = fj.write(os.path.join(OUT_DIR, "reference.json"), doc)
    print(f"wrote src/model/fixtures/ia3/ (reference.json {n} bytes)")


if __name__ == "__main__":
    main()
