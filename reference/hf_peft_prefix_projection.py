"""PEFT itself trains a prefix with prefix_projection (its reparameterisation MLP); what does it save?
Builds PrefixTuningConfig(prefix_projection=True) on the model folder with seeded random embedding
and MLP weights, saves the adapter with save_pretrained into OUT_DIR, and prints as JSON the last
position's logits of the ids through that in-memory model (the MLP path) and with the adapter
disabled: {"adapter": [...], "base": [...]}. The test imports OUT_DIR with our reader and compares.

    .hf-venv/bin/python reference/hf_peft_prefix_projection.py MODEL_DIR OUT_DIR IDS_JSON N_VIRTUAL [GRADS_FILE]

With GRADS_FILE it also runs PEFT's training forward and backward on the ids (labels = the ids,
which transformers shifts: the mean cross-entropy of the next token over T - 1 positions) and
writes GRADS_FILE (safetensors, F32): the MLP's tensors under PEFT's names without ".default"
(prompt_encoder.embedding.weight, prompt_encoder.transform.{0,2}.{weight,bias}) and their
gradients under "grad/<name>"; the loss is added to the printed JSON as "loss".
"""

import json
import sys
import warnings

import torch


def main():
    model_dir, out_dir, ids_json, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    grads_file = sys.argv[5] if len(sys.argv) > 5 else None
    warnings.filterwarnings("ignore")
    from peft import PrefixTuningConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float16, attn_implementation="eager").to(torch.float32)
    cfg = PrefixTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=n, prefix_projection=True, encoder_hidden_size=24)
    pm = get_peft_model(model, cfg)
    gen = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        for name, p in pm.named_parameters():
            if p.requires_grad:
                p.copy_(torch.randn(p.shape, generator=gen) * (1.0 if "embedding" in name else 0.5))
    pm.eval()
    pm.save_pretrained(out_dir)
    with open(ids_json, encoding="utf-8") as f:
        ids = torch.tensor([json.load(f)], dtype=torch.long)
    with torch.no_grad():
        adapter = pm(input_ids=ids).logits[0, -1]
        with pm.disable_adapter():
            base = pm(input_ids=ids).logits[0, -1]
    result = {"adapter": [float(v) for v in adapter], "base": [float(v) for v in base]}
    if grads_file:
        from safetensors.torch import save_file

        pm.train()
        out = pm(input_ids=ids, labels=ids)
        out.loss.backward()
        tensors = {}
        for name, p in pm.named_parameters():
            if p.requires_grad:
                key = name.replace("prompt_encoder.default.", "prompt_encoder.")
                tensors[key] = p.detach().to(torch.float32).contiguous()
                tensors["grad/" + key] = p.grad.detach().to(torch.float32).contiguous()
        save_file(tensors, grads_file)
        result["loss"] = float(out.loss)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
