"""PyTorch oracle for prefix tuning (Li & Liang 2021) as HF PEFT's PREFIX_TUNING applies it to a
causal LM, written from PEFT's and transformers' published code paths:

- PEFT's PrefixEncoder (prefix_projection false, the default) is an Embedding of
  num_virtual_tokens rows of num_layers * 2 * token_dim values: the table `prompt_embeddings`
  [P, L*2*token_dim]. For models with num_key_value_heads (grouped-query attention) PEFT sets
  token_dim = hidden_size // num_attention_heads * num_key_value_heads and num_attention_heads =
  num_key_value_heads (_prepare_prompt_learning_config), so the prefix is per kv head.
- get_prompt views the table as (B, P, 2L, heads, token_dim // heads), permutes to
  (2L, B, heads, P, head_dim) and splits it in pairs: layer l's past key is [2l], its past value
  [2l + 1] (DynamicCache.from_legacy_cache).
- The base model gets these as past_key_values: cached keys are used as they are (no RoPE on
  them), cache_position = arange(P, P + T) and position_ids from it (PEFT drops position_ids), the
  attention mask is ones over the prefix and causal over the sequence.

That is arch_fixtures.decoder_forward with its `cache` pre-filled with the prefix and pos0 = P.
With prefix_projection true PEFT trains an Embedding(P, token_dim) -> Linear(token_dim, E) ->
tanh -> Linear(E, L*2*token_dim) and SAVES ITS OUTPUT as prompt_embeddings (the MLP is not
saved; inference loads the table): a saved adapter is always the table.

Run from the repository root with Debian's torch:

    /usr/bin/python3 reference/prefix_fixtures.py

It (re)writes src/model/fixtures/prefix/:
- <name>.safetensors: prompt_embeddings [P, L*2*token_dim] (random N(0, 1), PEFT's Embedding
  init) and grad/prompt_embeddings, the gradient of the loss.
- reference.json: per model its folder, ids, P, token_dim, heads, the loss (mean next-token
  cross-entropy of the whole sequence, labels[t] = ids[t+1]), the logits of the last position,
  8 greedy tokens generated with the prefix in the KV cache from the first 12 ids, and checks
  (lossBase: the loss without the prefix; lossPositionsFrom0: with the prefix but the tokens at
  positions 0.. instead of P.. (what HF does not do)).

Models: the demo model stories260K (public/models/stories260K, weights rounded through fp16 as the
engine holds them; MHA) and the tiny random Qwen2 of reference/arch_fixtures.py
(src/model/fixtures/arch-qwen2: GQA 4:2, q/k/v biases). Math in float64; stored as float32.

With --check-peft DIR MODEL_DIR IDS_JSON: loads a PEFT PREFIX_TUNING adapter folder
(adapter_config.json, adapter_model.safetensors) as PEFT does (shapes from the config's
num_virtual_tokens, num_layers, num_attention_heads, token_dim) and prints the logits of the last
position of the ids as JSON.
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
OUT_DIR = os.path.join(ROOT, "src", "model", "fixtures", "prefix")
GENERATOR = "reference/prefix_fixtures.py"
DT = torch.float64
KEY = "prompt_embeddings"

MODELS = [
    # name, model folder (relative to the repository), sequence length, prefix length, seed
    ("stories260k", "public/models/stories260K", 64, 5, 7001),
    ("qwen2", "src/model/fixtures/arch-qwen2", 96, 3, 7002),
]


def load_model(folder):
    cfg = json.load(open(os.path.join(ROOT, folder, "config.json")))
    w = st.read(os.path.join(ROOT, folder, "model.safetensors"))
    if isinstance(w, tuple):
        w = w[0]
    return cfg, {k: v.to(torch.float16).to(DT) for k, v in w.items()}


def peft_dims(cfg):
    """(num_layers, heads, token_dim) as PEFT's _prepare_prompt_learning_config sets them."""
    nh = cfg["num_attention_heads"]
    token_dim, heads = cfg["hidden_size"], nh
    if "num_key_value_heads" in cfg:
        token_dim = token_dim // heads * cfg["num_key_value_heads"]
        heads = cfg["num_key_value_heads"]
    return cfg["num_hidden_layers"], heads, token_dim


def prefix_cache(table, L, heads, token_dim):
    """PEFT get_prompt for batch 1: per layer (key, value), each (1, P, heads, head_dim) as arch_fixtures' cache holds them."""
    P = table.shape[0]
    pkv = table.view(1, P, 2 * L, heads, token_dim // heads).permute(2, 0, 3, 1, 4)  # (2L, 1, heads, P, hd)
    return [(pkv[2 * l].transpose(1, 2), pkv[2 * l + 1].transpose(1, 2)) for l in range(L)]


def forward(w, cfg, ids, table, pos0=None):
    """Logits (1, T, V) of ids with the prefix as past_key_values (tokens at positions P.. unless pos0 says otherwise)."""
    L, heads, token_dim = peft_dims(cfg)
    P = table.shape[0]
    cache = prefix_cache(table, L, heads, token_dim)
    return af.decoder_forward(w, cfg, ids, None, pos0=P if pos0 is None else pos0, cache=cache)


def greedy(w, cfg, prompt, table, n):
    """n greedy tokens after prompt with the prefix in the cache, one forward per token against it (HF generate)."""
    L, heads, token_dim = peft_dims(cfg)
    P = table.shape[0]
    cache = prefix_cache(table, L, heads, token_dim)
    with torch.no_grad():
        logits = af.decoder_forward(w, cfg, prompt, None, pos0=P, cache=cache)
        out, pos = [], P + prompt.shape[1]
        for _ in range(n):
            nxt = int(torch.argmax(logits[0, -1]))
            out.append(nxt)
            logits = af.decoder_forward(w, cfg, torch.tensor([[nxt]]), None, pos0=pos, cache=cache)
            pos += 1
    return out


def make(name, folder, T, P, seed):
    cfg, w = load_model(folder)
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, cfg["vocab_size"], (1, T), generator=gen)
    L, heads, token_dim = peft_dims(cfg)
    table = torch.randn(P, L * 2 * token_dim, generator=gen, dtype=DT).float().double().requires_grad_()
    logits = forward(w, cfg, ids, table)[0]
    labels = ids[0, 1:]
    loss = F.cross_entropy(logits[:-1], labels)
    loss.backward()
    checks = {}
    with torch.no_grad():
        checks["lossBase"] = fj.F32(float(F.cross_entropy(af.decoder_forward(w, cfg, ids, None)[0][:-1], labels)))
        checks["lossPositionsFrom0"] = fj.F32(float(F.cross_entropy(forward(w, cfg, ids, table, pos0=0)[0][:-1], labels)))
    tokens = greedy(w, cfg, ids[:, :12], table.detach(), 8)
    os.makedirs(OUT_DIR, exist_ok=True)
    st.write(os.path.join(OUT_DIR, f"{name}.safetensors"), {KEY: table.detach().float(), "grad/" + KEY: table.grad.float()}, {"format": "pt"})
    print(f"  {name}: P {P}, loss {float(loss):.6f}; " + ", ".join(f"{k} {v.value:.6g}" for k, v in checks.items()) + f"; greedy {tokens}")
    return {
        "name": name,
        "folder": folder,
        "architecture": cfg["architectures"][0],
        "ids": ids[0],
        "P": P,
        "numLayers": L,
        "heads": heads,
        "tokenDim": token_dim,
        "loss": fj.F32(float(loss)),
        "lastLogits": logits[-1].detach(),
        "greedyPromptLength": 12,
        "greedy": tokens,
        "checks": checks,
    }


def peft_logits(adapter_dir, model_dir, ids):
    """Logits of the last position of ids with a PEFT PREFIX_TUNING adapter folder, as PEFT loads it."""
    cfg, w = load_model(model_dir)
    pc = json.load(open(os.path.join(adapter_dir, "adapter_config.json")))
    assert pc["peft_type"] == "PREFIX_TUNING", f"not a prefix-tuning adapter: {pc['peft_type']}"
    assert pc["task_type"] == "CAUSAL_LM", pc["task_type"]
    P, L, heads, token_dim = pc["num_virtual_tokens"], pc["num_layers"], pc["num_attention_heads"], pc["token_dim"]
    # loading re-runs PEFT's GQA adjustment: it must leave the saved values as they are
    if "num_key_value_heads" in cfg:
        assert token_dim // heads * cfg["num_key_value_heads"] == token_dim and heads == cfg["num_key_value_heads"], "config not as PEFT prepares it"
    assert L == cfg["num_hidden_layers"], f"num_layers {L}, the model has {cfg['num_hidden_layers']}"
    t = st.read(os.path.join(adapter_dir, "adapter_model.safetensors"))
    if isinstance(t, tuple):
        t = t[0]
    assert list(t.keys()) == [KEY], f"tensors {list(t.keys())}"
    table = t[KEY].to(DT)
    assert tuple(table.shape) == (P, L * 2 * token_dim), f"{KEY} is {tuple(table.shape)}, PEFT has {(P, L * 2 * token_dim)}"
    with torch.no_grad():
        return forward(w, cfg, torch.tensor([ids]), table)[0][-1]


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--check-peft":
        adapter_dir, model_dir, ids_json = sys.argv[2], sys.argv[3], sys.argv[4]
        print(json.dumps([float(v) for v in peft_logits(adapter_dir, model_dir, json.load(open(ids_json)))]))
        return
    torch.manual_seed(0)
    models = [make(*spec) for spec in MODELS]
    doc = {
        "generator": GENERATOR,
        "notes": "Prefix tuning as PEFT's PREFIX_TUNING (prefix_projection false): prompt_embeddings [P, L*2*token_dim] "
                 "as past_key_values (layer l key = view index 2l, value 2l+1; no RoPE on them), the tokens at positions "
                 "P.., every query sees the prefix. Per model: the base folder, ids (no BOS), P, the table and its loss "
                 "gradient in <name>.safetensors; loss: mean next-token cross-entropy over ids; lastLogits: logits of the "
                 "last position; greedy: 8 greedy tokens after ids[:greedyPromptLength] with the prefix in the KV cache.",
        "models": models,
    }
    n = fj.write(os.path.join(OUT_DIR, "reference.json"), doc)
    print(f"wrote src/model/fixtures/prefix/ (reference.json {n} bytes)")


if __name__ == "__main__":
    main()
