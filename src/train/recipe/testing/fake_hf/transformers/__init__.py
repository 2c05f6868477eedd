"""Stand-in for transformers (see ../README.md): AutoConfig and AutoModelForCausalLM over the
repository's PyTorch Llama."""

import copy
import json
import os
import sys
from types import SimpleNamespace

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
import reference_model as rm  # noqa: E402


class _Config(SimpleNamespace):
    def to_dict(self):
        return copy.deepcopy(vars(self))


class AutoConfig:
    @staticmethod
    def from_pretrained(path, revision=None):
        with open(os.path.join(path, "config.json"), encoding="utf-8") as f:
            return _Config(**json.load(f))


class _Model(torch.nn.Module):
    def __init__(self, path, config):
        super().__init__()
        self.cfg, self.w = rm.load_base(path)
        self.config = config
        self.lora, self.scale = {}, 1.0

    def forward(self, input_ids, position_ids, attention_mask):
        logits = rm.forward(self.cfg, self.w, self.lora, self.scale, input_ids, position_ids, attention_mask.to(torch.float32))
        return SimpleNamespace(logits=logits)

    def gradient_checkpointing_enable(self, gradient_checkpointing_kwargs=None):
        pass

    def enable_input_require_grads(self):
        pass


class AutoModelForCausalLM:
    @staticmethod
    def from_pretrained(path, config=None, revision=None, torch_dtype=None, attn_implementation=None):
        return _Model(path, config or AutoConfig.from_pretrained(path))
