"""PyTorch oracle for Mistral with a sliding window shorter than the sequence: the same tiny
random-weight decoder, LoRA step and KV-cache greedy decoding as reference/arch_fixtures.py (whose
model code it reuses), with attention masked as HF masking_utils does for sliding-window layers
(sliding_window_causal: key j is visible from query i iff i - sliding_window < j <= i; Mistral
applies config.sliding_window to every layer). Window 256, T = 640, so the logits at 600 and 640,
the loss, the LoRA gradients and the greedy tokens (positions 600..619) all depend on it.

Run from the repository root with Debian's torch:

    /usr/bin/python3 reference/mistral_window_fixtures.py

It (re)writes src/model/fixtures/arch-mistral-window/ in the layout of arch_fixtures.py
(config.json, model.safetensors F16, reference.json, lora.safetensors), which
src/model/archFixtures.test.ts runs with the other architectures. checks.maxAbsDiffFullAttention
in reference.json: how far the last-position logits move without the window.
"""

import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import arch_fixtures as af  # noqa: E402
from lib import fixture_json as fj  # noqa: E402

WINDOW = 256
NAME = "arch-mistral-window"
CFG = {**af.BASE_DECODER, "architectures": ["MistralForCausalLM"], "model_type": "mistral",
       "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 32768,
       "sliding_window": WINDOW, "bos_token_id": 1, "eos_token_id": 2}
full_attend = af.attend


def windowed_attend(q, k, v, pos0):
    """af.attend with HF's sliding window: kv_idx <= q_idx and kv_idx > q_idx - sliding_window."""
    B, Tq, Hq, D = q.shape
    Tk = k.shape[1]
    rep = Hq // k.shape[2]
    qh = q.transpose(1, 2)
    kh = k.transpose(1, 2).repeat_interleave(rep, dim=1)
    vh = v.transpose(1, 2).repeat_interleave(rep, dim=1)
    s = (qh @ kh.transpose(-1, -2)) / math.sqrt(D)
    qpos = torch.arange(pos0, pos0 + Tq)[:, None]
    kpos = torch.arange(Tk)[None, :]
    hidden = (kpos > qpos) | (kpos <= qpos - WINDOW)
    p = torch.softmax(s.masked_fill(hidden, float("-inf")), dim=-1)
    return (p @ vh).transpose(1, 2)


def main():
    torch.manual_seed(0)
    af.attend = windowed_attend  # decoder_forward looks attend up at call time
    af.make_model(NAME, CFG, 2001)
    # how much the window matters: the same prefixes with full attention
    path = os.path.join(af.OUT_DIR, NAME, "reference.json")
    import json
    with open(path) as f:
        doc = json.load(f)
    w = {k: v.to(af.DT) for k, v in af.st.read(os.path.join(af.OUT_DIR, NAME, "model.safetensors"))[0].items()}
    ids = torch.tensor([doc["ids"]])
    af.attend = full_attend
    diff = max(float((af.decoder_forward(w, CFG, ids[:, :n])[0, -1] - torch.tensor(r, dtype=af.DT)).abs().max())
               for n, r in zip(doc["prefixes"], doc["logits"]))
    assert diff > 1e-2, diff
    print(f"  {NAME}: full attention would move the last-position logits by up to {diff:.3f}")
    doc["checks"]["maxAbsDiffFullAttention"] = fj.F32(diff)
    doc["generator"] = "reference/mistral_window_fixtures.py"
    doc["ids"] = torch.tensor(doc["ids"])
    doc["logits"] = [torch.tensor(r, dtype=torch.float32) for r in doc["logits"]]
    doc["loss"] = fj.F32(doc["loss"])
    doc["greedy"]["margins"] = [fj.F32(m) for m in doc["greedy"]["margins"]]
    doc["checks"] = {k: fj.F32(v) if isinstance(v, float) else v for k, v in doc["checks"].items()}
    fj.write(path, doc)


if __name__ == "__main__":
    main()
