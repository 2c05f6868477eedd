"""PyTorch oracle for Whetstone's trainer: 20 steps of LoRA fine-tuning of stories260K.

Run from the repository root with Debian's torch (not a venv):

    /usr/bin/python3 reference/train_fixtures.py

It (re)writes, under src/model/fixtures/:
- stories260k_lora_train.json: the configuration, the 20 batches (tokens, labels), the loss and
  the global gradient norm (before clipping) of every step, and consistency checks.
- stories260k_lora_init.safetensors: A0 (seeded Kaiming-uniform, as PEFT) and B0 (zeros) of every
  module, F32, keyed like PEFT's adapter_model.safetensors
  (base_model.model.model.layers.{i}.self_attn.q_proj.lora_A.weight).
- stories260k_lora_final.safetensors: A and B after the 20th update, same keys (a PEFT adapter).
- stories260k_lora_grads.safetensors: the gradients of the steps 1 and 2 before clipping, keyed
  step1/<PEFT key> and step2/<PEFT key> (step 1 has dA = 0 exactly, since B0 = 0).

The trainer being mirrored: base weights (embeddings, linear weights, RMSNorm weights) frozen and
rounded through fp16; LoRA r=4, alpha=8 (scale alpha/r = 2), dropout 0 on q,k,v,o,gate,up,down of
every block; loss = mean cross-entropy over the labels that are not -100 (whole batch); global
gradient-norm clipping at 1.0 exactly as torch.nn.utils.clip_grad_norm_ (grads *= 1/(norm+1e-6)
when that is < 1); torch.optim.AdamW(lr 5e-3, betas 0.9/0.999, eps 1e-8, weight_decay 0.01) with a
constant learning rate, decay applied to A and B. Math in float64 (stored as float32); the run is
repeated in float32 and the differences are stored in checks, as a guide for test tolerances.
"""

import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import fixture_json as fj  # noqa: E402
from lib import lora  # noqa: E402
from lib import safetensors_io as st  # noqa: E402
from lib import stories260k  # noqa: E402
from lib.transformer import llama_forward, round_f16  # noqa: E402

OUT_DIR = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "model", "fixtures"))
GENERATOR = "reference/train_fixtures.py"
DT = torch.float64

CONFIG = {
    "rank": 4, "alpha": 8, "scale": 2.0, "dropout": 0.0, "rslora": False,
    "targetModules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "optimizer": "adamw", "lr": 5e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weightDecay": 0.01,
    "lrSchedule": "constant", "warmupSteps": 0, "maxGradNorm": 1.0, "clipEps": 1e-6,
    "batchSize": 2, "seqLen": 32, "numSteps": 20, "ignoreIndex": -100, "labelSmoothing": 0.0,
    "initSeed": 3001, "dataSeed": 3002, "sampleTemperature": 1.0,
}
# prompt positions masked with -100 in each row (on top of the last position, which has no next token)
MASKED_PREFIX = [3, 1]


def rel(path):
    return os.path.relpath(path, os.path.join(OUT_DIR, "..", "..", ".."))


def sample_batches(w, cfg, n_batches, B, T, seed):
    """n_batches*B sequences of T ids: BOS, then T-1 ids sampled from the model at temperature 1."""
    gen = torch.Generator().manual_seed(seed)
    n = n_batches * B
    ids = torch.ones(n, 1, dtype=torch.long)
    for _ in range(T - 1):
        probs = torch.softmax(llama_forward(w, cfg, ids)[:, -1] / CONFIG["sampleTemperature"], dim=-1)
        ids = torch.cat([ids, torch.multinomial(probs, 1, generator=gen)], dim=1)
    tokens = ids.reshape(n_batches, B, T)
    labels = torch.full_like(tokens, -100)
    labels[:, :, :-1] = tokens[:, :, 1:]  # labels[t] = tokens[t+1]; the last position has none
    for b, k in enumerate(MASKED_PREFIX):
        labels[:, b, :k] = -100
    return tokens, labels


def train(w, cfg, modules, a0, tokens, labels, dtype):
    """The 20 steps; returns per-step losses and grad norms, the step-1/2 grads, final A and B."""
    r, s = CONFIG["rank"], CONFIG["scale"]
    w = {k: v.to(dtype) for k, v in w.items()}
    params = {}
    for m in modules:
        out_features = w[m + ".weight"].shape[0]
        params[m] = (a0[m].to(dtype).clone().requires_grad_(),
                     torch.zeros(out_features, r, dtype=dtype, requires_grad=True))
    flat = [p for ab in params.values() for p in ab]
    opt = torch.optim.AdamW(flat, lr=CONFIG["lr"], betas=(CONFIG["beta1"], CONFIG["beta2"]),
                            eps=CONFIG["eps"], weight_decay=CONFIG["weightDecay"])
    losses, norms, coefs, grads = [], [], [], {}
    for step in range(CONFIG["numSteps"]):
        lo = {m: (A, Bm, s) for m, (A, Bm) in params.items()}
        logits = llama_forward(w, cfg, tokens[step], lora=lo)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels[step].reshape(-1),
                               ignore_index=CONFIG["ignoreIndex"], reduction="mean")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        norm = math.sqrt(sum(float((p.grad.to(DT) ** 2).sum()) for p in flat))
        if step < 2:
            for m, (A, Bm) in params.items():
                grads[f"step{step + 1}/{lora.peft_key(m, 'A')}"] = A.grad.detach().to(torch.float32).clone()
                grads[f"step{step + 1}/{lora.peft_key(m, 'B')}"] = Bm.grad.detach().to(torch.float32).clone()
        total = torch.nn.utils.clip_grad_norm_(flat, CONFIG["maxGradNorm"])
        assert abs(float(total) - norm) <= 1e-9 * (1 + norm) or dtype != DT, (float(total), norm)
        coefs.append(min(1.0, CONFIG["maxGradNorm"] / (norm + CONFIG["clipEps"])))
        opt.step()
        losses.append(float(loss))
        norms.append(norm)
    with torch.no_grad():
        lo = {m: (A, Bm, s) for m, (A, Bm) in params.items()}
        logits = llama_forward(w, cfg, tokens[0], lora=lo)
        final_loss = float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels[0].reshape(-1),
                                           ignore_index=CONFIG["ignoreIndex"]))
    final = {}
    for m, (A, Bm) in params.items():
        final[lora.peft_key(m, "A")] = A.detach().to(torch.float32).clone()
        final[lora.peft_key(m, "B")] = Bm.detach().to(torch.float32).clone()
    return losses, norms, coefs, grads, final, final_loss


def main():
    torch.manual_seed(0)  # every random draw below also uses its own seeded generator
    hf_cfg, hf_w, _, _ = stories260k.load()
    w = {k: round_f16(v, DT) for k, v in hf_w.items()}  # frozen base: fp16 values
    n_layers = hf_cfg["num_hidden_layers"]
    modules = lora.llama_modules(n_layers)
    assert [m.split(".")[-1] for m in modules[:7]] == CONFIG["targetModules"]

    gen = torch.Generator().manual_seed(CONFIG["initSeed"])
    a0 = {m: lora.init_a(gen, CONFIG["rank"], w[m + ".weight"].shape[1]) for m in modules}
    B, T, steps = CONFIG["batchSize"], CONFIG["seqLen"], CONFIG["numSteps"]
    tokens, labels = sample_batches(w, hf_cfg, steps, B, T, CONFIG["dataSeed"])

    losses, norms, coefs, grads, final, final_loss = train(w, hf_cfg, modules, a0, tokens, labels, DT)
    l32, n32, _, g32, f32, fl32 = train(w, hf_cfg, modules, a0, tokens, labels, torch.float32)
    d_loss = max(abs(a - b) for a, b in zip(losses, l32))
    d_norm = max(abs(a - b) / b for a, b in zip(norms, n32))
    d_final = max(float((final[k] - f32[k]).abs().max()) for k in final)
    d_grad = max(float((grads[k] - g32[k]).abs().max() / (grads[k].abs().max() + 1e-30)) for k in grads
                 if grads[k].abs().max() > 0)
    assert all(float(grads[f"step1/{lora.peft_key(m, 'A')}"].abs().max()) == 0 for m in modules)
    print(f"  losses {losses[0]:.4f} -> {losses[-1]:.4f} (after training, batch 0: {final_loss:.4f}); "
          f"grad norms {norms[0]:.3f} .. {norms[-1]:.3f}; clipped at {sum(c < 1 for c in coefs)} of {steps} steps")
    print(f"  float32 rerun: losses differ by <= {d_loss:.2e}, grad norms by <= {d_norm:.2e} (relative), "
          f"step-1/2 grads by <= {d_grad:.2e} (relative to each tensor's max), final A/B by <= {d_final:.2e}")

    init = {}
    for m in modules:
        init[lora.peft_key(m, "A")] = a0[m]
        init[lora.peft_key(m, "B")] = torch.zeros(w[m + ".weight"].shape[0], CONFIG["rank"])
    meta = {"format": "pt", "generator": GENERATOR}
    files = {"init": "stories260k_lora_init.safetensors", "final": "stories260k_lora_final.safetensors",
             "grads": "stories260k_lora_grads.safetensors"}
    for key, tensors in (("init", init), ("final", final), ("grads", grads)):
        path = os.path.join(OUT_DIR, files[key])
        n = st.write(path, tensors, meta)
        print(f"wrote {rel(path)} ({n} bytes, {len(tensors)} tensors)")

    module_rows = []
    for m in modules:
        out_f, in_f = w[m + ".weight"].shape
        module_rows.append({"module": m, "keyA": lora.peft_key(m, "A"), "keyB": lora.peft_key(m, "B"),
                            "shapeA": [CONFIG["rank"], in_f], "shapeB": [out_f, CONFIG["rank"]],
                            "initBound": fj.F32(lora.kaiming_uniform_bound(in_f))})
    doc = {
        "generator": GENERATOR,
        "notes": "LoRA fine-tuning of stories260K (fixtures/stories260k_logits.json has the model facts; base "
                 "weights rounded through fp16 and frozen). Step t (1-based) trains on batches[t-1]: losses[t-1] "
                 "is its loss before the update, gradNorms[t-1] the global L2 norm of all A and B grads before "
                 "clipping, clipCoefs[t-1] = min(1, maxGradNorm/(norm+clipEps)) the factor the grads were "
                 "multiplied by. tokens and labels are (batchSize, seqLen) row-major; labels[t] = tokens[t+1], "
                 "the last position and the first maskedPrefix[b] positions of row b are -100; the loss is the "
                 "mean over the non-ignored labels of the whole batch. Positions restart at 0 in each row, no "
                 "packing. A0/B0, final A/B and the step-1/2 grads are in the safetensors files (F32, PEFT "
                 "keys; grads prefixed step1/ and step2/). finalLossBatch0: the loss of batches[0] with the "
                 "final adapter. checks: the same run in float32 math, how far it lands from these float64 "
                 "results (use as a tolerance guide).",
        "config": CONFIG,
        "peftAdapterConfig": {
            "peft_type": "LORA", "task_type": "CAUSAL_LM", "r": CONFIG["rank"], "lora_alpha": CONFIG["alpha"],
            "lora_dropout": 0.0, "target_modules": CONFIG["targetModules"], "bias": "none",
            "fan_in_fan_out": False, "use_rslora": False, "init_lora_weights": True,
        },
        "files": files,
        "maskedPrefix": MASKED_PREFIX,
        "modules": module_rows,
        "shapes": {"tokens": [B, T], "labels": [B, T]},
        "batches": [{"tokens": tokens[i], "labels": labels[i]} for i in range(steps)],
        "numCounted": [int((labels[i] != -100).sum()) for i in range(steps)],
        "losses": [fj.F32(x) for x in losses],
        "gradNorms": [fj.F32(x) for x in norms],
        "clipCoefs": [fj.F32(x) for x in coefs],
        "finalLossBatch0": fj.F32(final_loss),
        "checks": {"float32MaxAbsDiffLoss": fj.F32(d_loss), "float32MaxRelDiffGradNorm": fj.F32(d_norm),
                   "float32MaxRelDiffGrads": fj.F32(d_grad), "float32MaxAbsDiffFinalAB": fj.F32(d_final),
                   "float32FinalLossBatch0": fj.F32(fl32)},
    }
    path = os.path.join(OUT_DIR, "stories260k_lora_train.json")
    n = fj.write(path, doc)
    print(f"wrote {rel(path)} ({n} bytes)")


if __name__ == "__main__":
    main()
