"""LoRA as PEFT does it: module names, adapter keys, Kaiming-uniform A, zero B."""

import math

import torch

# every linear layer of a Llama block, in the order PEFT users usually list them
LLAMA_TARGETS = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                 "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")


def llama_modules(n_layers, targets=LLAMA_TARGETS):
    """HF module names, layer-major: model.layers.{i}.self_attn.q_proj, ..."""
    return [f"model.layers.{i}.{t}" for i in range(n_layers) for t in targets]


def peft_key(module, which):
    """Key in PEFT's adapter_model.safetensors: base_model.model.<module>.lora_A.weight (the
    adapter name "default" is dropped on save). which is "A" or "B"."""
    return f"base_model.model.{module}.lora_{which}.weight"


def kaiming_uniform_bound(fan_in, a=math.sqrt(5)):
    """PEFT's reset_lora_parameters: nn.init.kaiming_uniform_(lora_A.weight, a=sqrt(5)) on the
    (r, in) weight: U(-b, b) with b = gain * sqrt(3 / fan_in), gain = sqrt(2 / (1 + a^2)),
    i.e. b = 1/sqrt(in)."""
    gain = math.sqrt(2.0 / (1 + a * a))
    return gain * math.sqrt(3.0 / fan_in)


def init_a(gen, r, fan_in, dtype=torch.float32):
    """A (r, fan_in) drawn from U(-b, b) with a seeded generator (torch 1.13's kaiming_uniform_
    takes no generator; the distribution is the same), rounded to float32."""
    b = kaiming_uniform_bound(fan_in)
    return ((torch.rand(r, fan_in, generator=gen, dtype=torch.float64) * 2 - 1) * b).to(torch.float32).to(dtype)
