"""The real consumers of our PEFT exports: Hugging Face transformers loads the base model folder and
peft's PeftModel.from_pretrained loads the adapter folder we wrote (any PEFT type: LoRA / rsLoRA /
DoRA, prompt tuning, (IA)^3, prefix tuning); prints the logits of the last position of the ids as
JSON, {"adapter": [...], "base": [...]} (base: the same PeftModel with its adapter disabled), which
the tests compare with the engine's.

Runs in .hf-venv (`npm run hf-stack`), not /usr/bin/python3:

    .hf-venv/bin/python reference/hf_peft_logits.py MODEL_DIR ADAPTER_DIR IDS_JSON

The base weights are rounded through float16 as the engine holds them, the math is float32.
"""

import json
import sys
import warnings

import torch


def main():
    model_dir, adapter_dir, ids_json = sys.argv[1], sys.argv[2], sys.argv[3]
    warnings.filterwarnings("ignore")
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, config=config, dtype=torch.float16, attn_implementation="eager")
    model = model.to(torch.float32).eval()
    from peft import PeftModel

    model = PeftModel.from_pretrained(model, adapter_dir).eval()
    with open(ids_json, encoding="utf-8") as f:
        ids = torch.tensor([json.load(f)], dtype=torch.long)
    with torch.no_grad():
        adapter = model(input_ids=ids).logits[0, -1]
        with model.disable_adapter():
            base = model(input_ids=ids).logits[0, -1]
    print(json.dumps({"adapter": [float(v) for v in adapter], "base": [float(v) for v in base]}))


if __name__ == "__main__":
    main()
