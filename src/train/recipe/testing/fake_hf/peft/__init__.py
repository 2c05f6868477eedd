"""Stand-in for peft (see ../README.md): PeftModel.from_pretrained / save_pretrained of a LoRA
adapter folder, on the stand-in model of ../transformers."""

import json
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
import reference_model as rm  # noqa: E402
from lib import safetensors_io as st  # noqa: E402


class PeftModel(torch.nn.Module):
    def __init__(self, model, adapter_dir):
        super().__init__()
        self.base = model
        self.modules_order, lora, scale, self.adapter_config = rm.load_adapter(adapter_dir)
        self.factors = torch.nn.ParameterList()
        self.names = []
        for m in self.modules_order:
            A, B = (torch.nn.Parameter(t.detach().clone()) for t in lora[m])
            self.factors.extend([A, B])
            self.names += [f"base_model.model.{m}.lora_A.default.weight", f"base_model.model.{m}.lora_B.default.weight"]
            model.lora[m] = (A, B)
        model.scale = scale
        for t in model.w.values():
            t.requires_grad_(False)

    @staticmethod
    def from_pretrained(model, adapter_dir, is_trainable=False):
        return PeftModel(model, adapter_dir)

    def named_parameters(self, *a, **k):
        return iter(list(zip(self.names, self.factors)))

    def parameters(self, *a, **k):
        return iter(list(self.factors))

    def forward(self, **kw):
        return self.base(**kw)

    def save_pretrained(self, path, is_main_process=True, save_function=None, state_dict=None):
        if not is_main_process:
            return
        os.makedirs(path, exist_ok=True)
        tensors = {n.replace(".default.", "."): p.detach().clone() for n, p in zip(self.names, self.factors)}
        st.write(os.path.join(path, "adapter_model.safetensors"), tensors, {"format": "pt"})
        with open(os.path.join(path, "adapter_config.json"), "w", encoding="utf-8") as f:
            json.dump(self.adapter_config, f, indent=2)
