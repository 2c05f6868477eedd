"""PyTorch oracle for LoRA+ (Hayou et al. 2024) in Whetstone's trainer: the 20 LoRA steps of
reference/train_fixtures.py (same stories260K base rounded through fp16, same A0/B0, batches,
clipping and AdamW) with the paper's two parameter groups: every lora_A at lr = 1e-3, every lora_B
at ratio x lr (ratio 16, the paper's and the studio's default), weight decay on both.

Run from the repository root with Debian's torch (not a venv), after train_fixtures.py:

    /usr/bin/python3 reference/loraplus_fixtures.py

It reads src/model/fixtures/stories260k_lora_train.json (batches, config) and
stories260k_lora_init.safetensors (A0, B0), and writes
- stories260k_loraplus.json: ratio, the per-step losses and gradient norms (before clipping);
- stories260k_loraplus_final.safetensors: A and B after the 20th update (PEFT keys, F32).
"""

import json
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
GENERATOR = "reference/loraplus_fixtures.py"
DT = torch.float64
RATIO = 16.0
# train_fixtures.py's 5e-3 with B at 16x (0.08) makes the loss climb: the paper pairs the ratio with a smaller lr
LR = 1e-3


def main():
    with open(os.path.join(OUT_DIR, "stories260k_lora_train.json"), encoding="utf-8") as f:
        fx = json.load(f)
    cfg = fx["config"]
    hf_cfg, hf_w, _, _ = stories260k.load()
    w = {k: round_f16(v, DT) for k, v in hf_w.items()}
    modules = lora.llama_modules(hf_cfg["num_hidden_layers"])
    init, _ = st.read(os.path.join(OUT_DIR, fx["files"]["init"]))
    params = {m: (init[lora.peft_key(m, "A")].to(DT).clone().requires_grad_(), init[lora.peft_key(m, "B")].to(DT).clone().requires_grad_()) for m in modules}
    a_params = [a for a, _ in params.values()]
    b_params = [b for _, b in params.values()]
    flat = [p for ab in params.values() for p in ab]
    opt = torch.optim.AdamW(
        [{"params": a_params, "lr": LR}, {"params": b_params, "lr": LR * RATIO}],
        betas=(cfg["beta1"], cfg["beta2"]), eps=cfg["eps"], weight_decay=cfg["weightDecay"],
    )
    s = cfg["scale"]
    losses, norms = [], []
    for step in range(cfg["numSteps"]):
        tokens = torch.tensor(fx["batches"][step]["tokens"], dtype=torch.long).reshape(cfg["batchSize"], cfg["seqLen"])
        labels = torch.tensor(fx["batches"][step]["labels"], dtype=torch.long).reshape(cfg["batchSize"], cfg["seqLen"])
        lo = {m: (A, Bm, s) for m, (A, Bm) in params.items()}
        logits = llama_forward(w, hf_cfg, tokens, lora=lo)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=cfg["ignoreIndex"], reduction="mean")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        norms.append(math.sqrt(sum(float((p.grad ** 2).sum()) for p in flat)))
        torch.nn.utils.clip_grad_norm_(flat, cfg["maxGradNorm"])
        opt.step()
        losses.append(float(loss))
    final = {}
    for m, (A, Bm) in params.items():
        final[lora.peft_key(m, "A")] = A.detach().to(torch.float32).clone()
        final[lora.peft_key(m, "B")] = Bm.detach().to(torch.float32).clone()
    path = os.path.join(OUT_DIR, "stories260k_loraplus_final.safetensors")
    n = st.write(path, final, {"format": "pt", "generator": GENERATOR})
    print(f"wrote {os.path.relpath(path)} ({n} bytes, {len(final)} tensors)")
    doc = {
        "generator": GENERATOR,
        "notes": "LoRA+ on the 20 steps of stories260k_lora_train.json: lora_B at ratio x lr, lora_A at lr (AdamW "
                 "param groups); everything else as that fixture. losses[t-1] / gradNorms[t-1]: step t's loss "
                 "before its update and the global gradient norm before clipping.",
        "ratio": RATIO,
        "lr": LR,
        "losses": [fj.F32(x) for x in losses],
        "gradNorms": [fj.F32(x) for x in norms],
    }
    path = os.path.join(OUT_DIR, "stories260k_loraplus.json")
    fj.write(path, doc)
    plain = fx["losses"]
    print(f"  LoRA+ losses {losses[0]:.4f} -> {losses[-1]:.4f} (plain LoRA {plain[0]:.4f} -> {plain[-1]:.4f})")


if __name__ == "__main__":
    main()
