"""PyTorch oracle for bottleneck adapters as the AdapterHub `adapters` library applies them to
Llama-family decoders (Houlsby et al. 2019 = the library's "double_seq_bn" / DoubleSeqBnConfig;
Pfeiffer et al. 2020 = "seq_bn" / SeqBnConfig), written from the library's published math.

Where the library inserts them (adapters/models/llama/modeling_llama.py, LlamaDecoderLayerWithAdapters):

    residual = x
    h = self_attn(input_layernorm(x))                  # o_proj output
    x = self.attention_adapters(h, residual, None)     # BottleneckLayer "mh_adapter"
    residual = x
    h = mlp(post_attention_layernorm(x))               # down_proj output
    x = self.output_adapters(h, residual, None)        # BottleneckLayer "output_adapter"

BottleneckLayer(hidden_states=h, residual_input=r, layer_norm=None) with one active adapter runs
Adapter.pre_forward, Adapter.forward and Adapter.post_forward (methods/bottleneck.py, modeling.py):

    pre_forward:  residual_before_ln True -> residual = h
                  original_ln_before True -> hidden = h + r   (layer_norm None: just the add)
                                    False -> hidden = h
    forward:      up = adapter_up(f(adapter_down[0](hidden))) * scaling       (scaling 1.0)
                  output = up + residual      (adapter_residual_before_ln False, ln_after False:
                                               the add comes after the absent adapter layer norm)
    post_forward: original_ln_after True -> output = output + r  (layer_norm None: just the add)

so with g(v) = W_up f(W_down v + b_down) + b_up:
    double_seq_bn (original_ln_before False): out = g(h) + h + r           (adapters after attention and MLP)
    seq_bn        (original_ln_before True):  out = g(h + r) + h + r        (adapter after the MLP only)
(a layer without an adapter at a location: BottleneckLayer returns h + r, the usual residual).
Non-linearity: seq_bn "relu", double_seq_bn "swish" (transformers' get_activation: SiLU).
Width: int(hidden_size // reduction_factor). Init "bert": weights N(0, 0.02), biases 0, so a
fresh adapter is close to (not exactly) the identity. No dropout, gating, PHM or layer norms.

Run from the repository root with Debian's torch:

    /usr/bin/python3 reference/bottleneck_fixtures.py

It (re)writes src/model/fixtures/bottleneck/:
- <case>.safetensors: the adapter in the library's state_dict names
  (model.layers.N.{attention,output}_adapters.adapters.bottleneck.adapter_down.0.{weight,bias},
  ...adapter_up.{weight,bias}) and the loss gradients under grad/<key>.
- reference.json: per case the model folder, ids, variant, reduction factor, loss (mean
  next-token cross-entropy of the sequence), the logits of the last position and checks.

Models: the demo model stories260K (public/models/stories260K; weights rounded through fp16 as the
engine holds them) and the tiny random Qwen2 of reference/arch_fixtures.py (arch-qwen2, q/k/v
biases, GQA). Adapter weights random and large enough to matter (std 0.2, biases std 0.1), float64
math, stored as float32.

With --check-adapters ADAPTER_DIR MODEL_DIR IDS_JSON: loads an adapters-library folder
(adapter_config.json + adapter.safetensors), applies it with the flags its config names (the
pre/forward/post logic above, read from the config, not from the variant) and prints the logits of
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
OUT_DIR = os.path.join(ROOT, "src", "model", "fixtures", "bottleneck")
GENERATOR = "reference/bottleneck_fixtures.py"
DT = torch.float64
NAME = "bottleneck"

CASES = [
    # case, model folder, sequence length, variant, reduction factor, seed
    ("stories260k-houlsby", "public/models/stories260K", 64, "houlsby", 8, 7001),
    ("stories260k-pfeiffer", "public/models/stories260K", 64, "pfeiffer", 16, 7002),
    ("qwen2-houlsby", "src/model/fixtures/arch-qwen2", 96, "houlsby", 5, 7003),
    ("qwen2-pfeiffer", "src/model/fixtures/arch-qwen2", 96, "pfeiffer", 3, 7004),
]

# the two configs' fields that decide the math (SeqBnConfig / DoubleSeqBnConfig)
VARIANT_CONFIG = {
    "houlsby": {"mh_adapter": True, "output_adapter": True, "original_ln_before": False, "original_ln_after": True,
                "residual_before_ln": True, "adapter_residual_before_ln": False, "ln_before": False, "ln_after": False,
                "non_linearity": "swish", "scaling": 1.0},
    "pfeiffer": {"mh_adapter": False, "output_adapter": True, "original_ln_before": True, "original_ln_after": True,
                 "residual_before_ln": True, "adapter_residual_before_ln": False, "ln_before": False, "ln_after": False,
                 "non_linearity": "relu", "scaling": 1.0},
}


def key(layer, location, which):
    p = f"model.layers.{layer}.{location}_adapters.adapters.{NAME}"
    return {"down": p + ".adapter_down.0.weight", "down_b": p + ".adapter_down.0.bias",
            "up": p + ".adapter_up.weight", "up_b": p + ".adapter_up.bias"}[which]


def act(name):
    if name == "relu":
        return F.relu
    if name in ("swish", "silu"):
        return F.silu
    raise ValueError(f"non-linearity {name} is not one the studio writes")


def adapter_layer(h, r, mod, cfg):
    """BottleneckLayer(h, residual_input=r, layer_norm=None) with one adapter `mod` (or none)."""
    if mod is None:
        return h + r
    assert not cfg["ln_before"] and not cfg["ln_after"], "adapter layer norms are not supported here"
    # pre_forward
    assert cfg["residual_before_ln"] is True
    residual = h
    hidden = h + r if cfg["original_ln_before"] else h
    # forward
    up = (act(cfg["non_linearity"])(hidden @ mod["down"].T + mod["down_b"]) @ mod["up"].T + mod["up_b"]) * cfg["scaling"]
    output = up + residual
    # post_forward
    if cfg["original_ln_after"]:
        output = output + r
    return output


def decoder_forward(w, mcfg, ids, adapters, acfg):
    """arch_fixtures.decoder_forward (Llama / Qwen2) with the library's attention/output adapter layers."""
    H, nh = mcfg["hidden_size"], mcfg["num_attention_heads"]
    nkv = mcfg.get("num_key_value_heads", nh)
    D = mcfg.get("head_dim") or H // nh
    eps = mcfg["rms_norm_eps"]
    B, Tn = ids.shape
    positions = torch.arange(Tn)
    inv = af.inv_freq(mcfg, D, Tn)
    x = w["model.embed_tokens.weight"][ids]
    for i in range(mcfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = af.rms_norm(x, w[p + "input_layernorm.weight"], eps)
        q = af.lin(h, w, p + "self_attn.q_proj", None).view(B, Tn, nh, D)
        k = af.lin(h, w, p + "self_attn.k_proj", None).view(B, Tn, nkv, D)
        v = af.lin(h, w, p + "self_attn.v_proj", None).view(B, Tn, nkv, D)
        q, k = af.rope(q, positions, inv), af.rope(k, positions, inv)
        a = af.attend(q, k, v, 0).reshape(B, Tn, nh * D)
        x = adapter_layer(af.lin(a, w, p + "self_attn.o_proj", None), x, adapters.get((i, "attention")), acfg)
        h = af.rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        g = F.silu(af.lin(h, w, p + "mlp.gate_proj", None)) * af.lin(h, w, p + "mlp.up_proj", None)
        x = adapter_layer(af.lin(g, w, p + "mlp.down_proj", None), x, adapters.get((i, "output")), acfg)
    x = af.rms_norm(x, w["model.norm.weight"], eps)
    head = w["model.embed_tokens.weight"] if mcfg.get("tie_word_embeddings") else w["lm_head.weight"]
    return (x @ head.T)[0]


def load_model(folder):
    cfg = json.load(open(os.path.join(ROOT, folder, "config.json")))
    w = st.read(os.path.join(ROOT, folder, "model.safetensors"))
    if isinstance(w, tuple):
        w = w[0]
    # the engine holds fp16 base weights: round through fp16 (exact for the F16 fixtures)
    return cfg, {k: v.to(torch.float16).to(DT) for k, v in w.items()}


def locations(acfg):
    return [loc for loc, on in (("attention", acfg["mh_adapter"]), ("output", acfg["output_adapter"])) if on]


def make(case, folder, T, variant, rf, seed):
    mcfg, w = load_model(folder)
    acfg = VARIANT_CONFIG[variant]
    C = mcfg["hidden_size"]
    r = max(1, int(C // rf))
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, mcfg["vocab_size"], (1, T), generator=gen)
    adapters, tensors = {}, {}
    for i in range(mcfg["num_hidden_layers"]):
        for loc in locations(acfg):
            def rnd(*shape, std):
                return (torch.randn(*shape, generator=gen, dtype=DT) * std).float().double().requires_grad_()
            adapters[(i, loc)] = {"down": rnd(r, C, std=0.2), "down_b": rnd(r, std=0.1), "up": rnd(C, r, std=0.2), "up_b": rnd(C, std=0.1)}
    logits = decoder_forward(w, mcfg, ids, adapters, acfg)
    labels = ids[0, 1:]
    loss = F.cross_entropy(logits[:-1], labels)
    loss.backward()
    for (i, loc), mod in adapters.items():
        for which, t in mod.items():
            tensors[key(i, loc, which)] = t.detach().float()
            tensors["grad/" + key(i, loc, which)] = t.grad.float()
    with torch.no_grad():
        base = F.cross_entropy(decoder_forward(w, mcfg, ids, {}, acfg)[:-1], labels)
        # the other variant's placement with the same weights where it has them: the placement matters
        other = "pfeiffer" if variant == "houlsby" else "houlsby"
        swapped = {k: {n: t.detach() for n, t in m.items()} for k, m in adapters.items() if k[1] in locations(VARIANT_CONFIG[other])}
        moved = F.cross_entropy(decoder_forward(w, mcfg, ids, swapped, {**VARIANT_CONFIG[other], "non_linearity": acfg["non_linearity"]})[:-1], labels)
    checks = {"baseLoss": fj.F32(float(base)), "lossOtherPlacement": fj.F32(float(moved))}
    os.makedirs(OUT_DIR, exist_ok=True)
    st.write(os.path.join(OUT_DIR, f"{case}.safetensors"), dict(sorted(tensors.items())), {"format": "pt"})
    print(f"  {case}: r {r}, loss {float(loss):.6f}; base {float(base):.6f}, other placement {float(moved):.6f}")
    return {
        "name": case,
        "folder": folder,
        "architecture": mcfg["architectures"][0],
        "ids": ids[0],
        "variant": variant,
        "reductionFactor": rf,
        "width": r,
        "adapterName": NAME,
        "loss": fj.F32(float(loss)),
        "lastLogits": logits[-1].detach(),
        "checks": checks,
    }


def library_logits(adapter_dir, model_dir, ids):
    """Last-position logits with an adapters-library folder applied with the flags of its config."""
    mcfg, w = load_model(model_dir)
    full = json.load(open(os.path.join(adapter_dir, "adapter_config.json")))
    acfg = full["config"]
    assert acfg.get("architecture") == "bottleneck", "not a bottleneck adapter"
    assert not acfg.get("is_parallel") and not acfg.get("use_gating") and not acfg.get("phm_layer")
    name = full["name"]
    t = st.read(os.path.join(adapter_dir, "adapter.safetensors"))
    if isinstance(t, tuple):
        t = t[0]
    C = mcfg["hidden_size"]
    r = max(1, int(C // acfg["reduction_factor"]))
    adapters, used = {}, 0
    for i in range(mcfg["num_hidden_layers"]):
        if i in acfg.get("leave_out", []):
            continue
        for loc in locations(acfg):
            p = f"model.layers.{i}.{loc}_adapters.adapters.{name}"
            mod = {"down": t[p + ".adapter_down.0.weight"], "down_b": t[p + ".adapter_down.0.bias"], "up": t[p + ".adapter_up.weight"], "up_b": t[p + ".adapter_up.bias"]}
            assert tuple(mod["down"].shape) == (r, C) and tuple(mod["up"].shape) == (C, r), f"{p}: shapes {mod['down'].shape}, {mod['up'].shape}"
            adapters[(i, loc)] = {k: v.to(DT) for k, v in mod.items()}
            used += 4
    assert used == len(t), f"the file has {len(t)} tensors, the config names {used}"
    with torch.no_grad():
        return decoder_forward(w, mcfg, torch.tensor([ids]), adapters, acfg)[-1]


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--check-adapters":
        adapter_dir, model_dir, ids_json = sys.argv[2], sys.argv[3], sys.argv[4]
        print(json.dumps([float(v) for v in library_logits(adapter_dir, model_dir, json.load(open(ids_json)))]))
        return
    torch.manual_seed(0)
    cases = [make(*spec) for spec in CASES]
    doc = {
        "generator": GENERATOR,
        "notes": "Bottleneck adapters as the AdapterHub adapters library (Llama decoder layer, layer_norm None): "
                 "double_seq_bn (houlsby): out = g(h) + h + r after attention and after the MLP, swish; seq_bn "
                 "(pfeiffer): out = g(h + r) + h + r after the MLP, relu; g(v) = W_up f(W_down v + b_down) + b_up, "
                 "width C // reductionFactor. Per case: ids (no BOS), the adapter <name>.safetensors (library keys, "
                 "random weights std 0.2, biases std 0.1) and the gradients of the loss (mean next-token cross-entropy) "
                 "under grad/<key>; lastLogits: logits of the last position. checks: the base model's loss and the "
                 "loss with the same weights at the other variant's placement.",
        "cases": cases,
    }
    n = fj.write(os.path.join(OUT_DIR, "reference.json"), doc)
    print(f"wrote src/model/fixtures/bottleneck/ (reference.json {n} bytes)")


if __name__ == "__main__":
    main()
