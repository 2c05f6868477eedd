"""Shared helpers for the reference/ oracle scripts (run them with Debian's /usr/bin/python3).

- safetensors_io: a tiny safetensors reader/writer (F32, F16, BF16, I32), no `safetensors` package.
- fixture_json: the fixture JSON style of ops_fixtures.py (f32 values with the fewest digits).
- stories260k: read llama2.c's stories260K.bin, convert it to the Hugging Face Llama layout, and
  llama2.c's tok512 encoder.
- transformer: plain PyTorch forwards (HF Llama/Qwen2 with optional LoRA, llama2.c Llama, GPT-2).
- lora: PEFT module names, keys and initialisation.
"""
