"""PyTorch oracle for Whetstone's model engine: logits of stories260K and of three tiny HF models.

Run from the repository root with Debian's torch (not a venv):

    /usr/bin/python3 reference/model_fixtures.py

It (re)writes, under src/model/fixtures/:
- stories260k_logits.json: full logits of stories260K for two prompts and its greedy continuation
  from BOS. The weights come from ../shared/models/stories260K/stories260K.bin (or are downloaded
  from the canonical source; the sha256 is checked), converted to the HF Llama layout here.
- tiny-qwen2/, tiny-gpt2/, tiny-llama-sharded/: random-weight Hugging Face model folders
  (config.json, safetensors weights, tokenizer.json, tokenizer_config.json) for the real loader.
- tiny_models_logits.json: their logits on a fixed id sequence.

Conventions (see reference/README.md): base weights, norm weights and embeddings are rounded
through fp16 before use (the engine keeps them as fp16), all math runs in float64 and results are
stored rounded to float32. Every forward is cross-checked in float32 math, and the largest
difference is stored beside the result. The output is deterministic.
"""

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import fixture_json as fj  # noqa: E402
from lib import safetensors_io as st  # noqa: E402
from lib import stories260k  # noqa: E402
from lib.transformer import gpt2_forward, llama2c_forward, llama_forward, round_f16  # noqa: E402

OUT_DIR = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "model", "fixtures"))
GENERATOR = "reference/model_fixtures.py"
DT = torch.float64


def rel(path):
    return os.path.relpath(path, os.path.join(OUT_DIR, "..", "..", ".."))


def rounded(weights, dtype=DT):
    """Every tensor rounded through fp16, in the math dtype."""
    return {k: round_f16(v, dtype) for k, v in weights.items()}


def max_diff(a, b):
    return float((a.to(DT) - b.to(DT)).abs().max())


# ----------------------------------------------------------------------------- stories260K

PROMPT2 = "Tom and Lily went to the park. They saw a big dog."
GREEDY_STEPS = 40


def greedy(forward, ids, steps):
    """Argmax decoding (full recompute each step); returns (new ids, top1 - top2 margins)."""
    ids = list(ids)
    out, margins = [], []
    for _ in range(steps):
        logits = forward(torch.tensor([ids]))[0, -1]
        top = torch.topk(logits, 2).values
        nxt = int(torch.argmax(logits))
        out.append(nxt)
        margins.append(float(top[0] - top[1]))
        ids.append(nxt)
    return out, margins


def make_stories260k():
    hf_cfg, hf_w, c2c, w2c = stories260k.load()
    tok = stories260k.tokenizer()
    w64, w32 = rounded(hf_w, DT), rounded(hf_w, torch.float32)
    raw64 = {k: v.to(DT) for k, v in hf_w.items()}  # fp32 weights, no fp16 rounding
    l2c64 = {k: round_f16(v, DT) for k, v in w2c.items()}

    def hf64(ids):
        return llama_forward(w64, hf_cfg, ids)

    prompts = []
    for name, text in (("once_upon_a_time", "Once upon a time"), ("park", PROMPT2)):
        ids = tok.encode(text)
        if name == "once_upon_a_time":
            assert ids == [1, 403, 407, 261, 378], ids  # ground truth in tokenizers-and-templates.md
        x = torch.tensor([ids])
        logits = hf64(x)[0]
        # the llama2.c forward (interleaved RoPE, unpermuted wq/wk) must agree: proves the permutation
        l2c = llama2c_forward(l2c64, c2c, x)[0]
        assert max_diff(logits, l2c) < 1e-9, max_diff(logits, l2c)
        f32 = llama_forward(w32, hf_cfg, x)[0]
        d32 = max_diff(logits, f32)
        assert d32 < 1e-3, d32
        d_raw = max_diff(logits, llama_forward(raw64, hf_cfg, x)[0])
        prompts.append({
            "name": name, "text": text, "ids": ids,
            "shapes": {"logits": list(logits.shape)},
            "logits": logits,
            "checks": {"maxAbsDiffLlama2cForward": fj.F32(max_diff(logits, l2c)),
                       "maxAbsDiffF32Math": fj.F32(d32),
                       "maxAbsDiffWithoutFp16Rounding": fj.F32(d_raw)},
        })
        print(f"  stories260K {name}: T={len(ids)}; llama2.c forward agrees; f32 math differs by {d32:.2e}; "
              f"skipping fp16 rounding would differ by {d_raw:.2e}")

    ids, margins = greedy(hf64, [1], GREEDY_STEPS)
    ids32, _ = greedy(lambda x: llama_forward(w32, hf_cfg, x), [1], GREEDY_STEPS)
    ids2c, _ = greedy(lambda x: llama2c_forward(l2c64, c2c, x), [1], GREEDY_STEPS)
    assert ids == ids32 == ids2c, (ids, ids32, ids2c)
    text = tok.decode(ids)
    print(f"  greedy from BOS ({GREEDY_STEPS} ids, min top1-top2 margin {min(margins):.3f}): {text!r}")

    doc = {
        "model": "stories260K",
        "generator": GENERATOR,
        "notes": "stories260K (llama2.c tinyllamas, MIT) converted to the HF Llama layout (wq/wk rows "
                 "permuted per head: new row i < hd/2 = llama2.c row 2i, new row hd/2+i = row 2i+1). "
                 "Every weight (embeddings, linear weights, RMSNorm weights) rounded through fp16; float64 "
                 "math; logits stored as float32. prompts[].logits is (T, vocab) row-major for ids starting "
                 "with BOS (1); positions 0..T-1. greedy.ids: the first 40 argmax ids after the single BOS "
                 "prompt (no stop token), greedy.margins: top1 - top2 logit at each step. checks: the same "
                 "forward in llama2.c form (interleaved RoPE on unpermuted weights), in float32 math, and "
                 "with unrounded fp32 weights (how far a loader that skips fp16 rounding would land).",
        "source": {"file": "stories260K.bin", "sha256": stories260k.SHA256["stories260K.bin"]},
        "config": hf_cfg,
        "prompts": prompts,
        "greedy": {"promptIds": [1], "ids": ids, "text": text,
                   "margins": [fj.F32(m) for m in margins]},
    }
    path = os.path.join(OUT_DIR, "stories260k_logits.json")
    n = fj.write(path, doc)
    print(f"wrote {rel(path)} ({n} bytes)")


# ----------------------------------------------------------------------------- tiny HF models

SPECIALS = ["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]
PIECES = [".", ",", "!", "?", "'", "##s", "##ed", "##ing", "##ly"]
WORDS = ("once upon a time there was little girl named lily she liked to play with her ball in the park "
         "one day saw big red dog and it ran fast happy sad tom boy he they friend mom said want go home "
         "sun sky tree bird sang jump look at cat hat box small good very you i we is are not what can help "
         "kind blue green eat cake smile laugh user assistant system hello thank nice new old fun run").split()
VOCAB = SPECIALS + PIECES + WORDS
assert len(VOCAB) == 96 and len(set(VOCAB)) == 96, (len(VOCAB), len(set(VOCAB)))
IDS = [1, 20, 33, 47, 11, 95, 64, 28, 6, 80]  # a fixed sequence, including the last id (95)
CHATML = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] "
          "+ '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
          "{% endif %}")


def tokenizer_json(bos):
    """A WordPiece tokenizer over VOCAB (96 ids): lowercase, whitespace/punctuation split, ## pieces.
    tokenizers.js 0.2.0 has no WordLevel model; whole-word WordPiece behaves like one."""
    added = [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for i, t in enumerate(SPECIALS)]
    post = None
    if bos:
        post = {"type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                         {"Sequence": {"id": "B", "type_id": 1}}],
                "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}}
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": {"type": "Lowercase"},
        "pre_tokenizer": {"type": "Whitespace"},
        "post_processor": post,
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "<unk>", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": {t: i for i, t in enumerate(VOCAB)}},
    }


def tokenizer_config(bos_token, eos_token, chat_template=None):
    c = {"add_bos_token": bos_token is not None, "add_eos_token": False, "bos_token": bos_token,
         "eos_token": eos_token, "unk_token": "<unk>", "pad_token": None,
         "clean_up_tokenization_spaces": False, "model_max_length": 64,
         "tokenizer_class": "PreTrainedTokenizerFast"}
    if chat_template is not None:
        c["chat_template"] = chat_template
    return c


def draw(gen, *shape, std=1.0, mean=0.0):
    return (mean + std * torch.randn(*shape, generator=gen, dtype=DT)).to(torch.float32)


def exact(t, storage):
    """Make a float32 tensor exactly representable in fp16 and in `storage` (values below fp16's
    normal range become 0), so every conversion path (fp16, or f32 for biases and norms) agrees."""
    t = t.to(torch.float16).to(torch.float32)
    t = t.to(storage).to(torch.float32)
    t[t.abs() < 2.0 ** -14] = 0.0
    assert torch.equal(t.to(torch.float16).to(torch.float32), t)
    return t


def llama_family_weights(gen, cfg, storage):
    """Random weights named as in HF Llama/Qwen2: linear weights std 1/sqrt(in), embeddings std 1;
    1-D tensors (norm weights ~1, biases) made fp16-exact."""
    H, I = cfg["hidden_size"], cfg["intermediate_size"]
    nh, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    D = H // nh
    qkv_bias = cfg["model_type"] == "qwen2"
    w = {"model.embed_tokens.weight": draw(gen, cfg["vocab_size"], H)}
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = exact(draw(gen, H, mean=1.0, std=0.1), storage)
        for m, rows in (("q", nh * D), ("k", nkv * D), ("v", nkv * D)):
            w[p + f"self_attn.{m}_proj.weight"] = draw(gen, rows, H, std=H ** -0.5)
            if qkv_bias:
                w[p + f"self_attn.{m}_proj.bias"] = exact(draw(gen, rows, std=0.1), storage)
        w[p + "self_attn.o_proj.weight"] = draw(gen, H, nh * D, std=(nh * D) ** -0.5)
        w[p + "post_attention_layernorm.weight"] = exact(draw(gen, H, mean=1.0, std=0.1), storage)
        w[p + "mlp.gate_proj.weight"] = draw(gen, I, H, std=H ** -0.5)
        w[p + "mlp.up_proj.weight"] = draw(gen, I, H, std=H ** -0.5)
        w[p + "mlp.down_proj.weight"] = draw(gen, H, I, std=I ** -0.5)
    w["model.norm.weight"] = exact(draw(gen, H, mean=1.0, std=0.1), storage)
    if not cfg["tie_word_embeddings"]:
        w["lm_head.weight"] = draw(gen, cfg["vocab_size"], H, std=2 * H ** -0.5)
    return {k: v.to(storage) for k, v in w.items()}


def gpt2_weights(gen, cfg):
    H, V, P = cfg["n_embd"], cfg["vocab_size"], cfg["n_positions"]
    I = 4 * H
    f32 = torch.float32
    w = {"transformer.wte.weight": draw(gen, V, H, std=0.4),  # tied head: logits std ~2
         # positions are added to embeddings; fp16-exact, like the 1-D tensors
         "transformer.wpe.weight": exact(draw(gen, P, H, std=0.3), f32)}
    for i in range(cfg["n_layer"]):
        p = f"transformer.h.{i}."
        for ln in ("ln_1", "ln_2"):
            w[p + ln + ".weight"] = exact(draw(gen, H, mean=1.0, std=0.1), f32)
            w[p + ln + ".bias"] = exact(draw(gen, H, std=0.1), f32)
        # Conv1D: weight [in, out], y = x W + b
        for name, (fin, fout) in (("attn.c_attn", (H, 3 * H)), ("attn.c_proj", (H, H)),
                                  ("mlp.c_fc", (H, I)), ("mlp.c_proj", (I, H))):
            w[p + name + ".weight"] = draw(gen, fin, fout, std=fin ** -0.5)
            w[p + name + ".bias"] = exact(draw(gen, fout, std=0.1), f32)
    w["transformer.ln_f.weight"] = exact(draw(gen, H, mean=1.0, std=0.1), f32)
    w["transformer.ln_f.bias"] = exact(draw(gen, H, std=0.1), f32)
    return w


def write_folder(name, config, tensors, tok_json, tok_cfg, shards=None):
    """A Hugging Face model folder; `shards` is a list of name predicates, one per shard file."""
    folder = os.path.join(OUT_DIR, name)
    os.makedirs(folder, exist_ok=True)
    for f in os.listdir(folder):  # stale shards from an older layout
        if f.endswith(".safetensors") or f.endswith(".index.json"):
            os.remove(os.path.join(folder, f))
    fj.write_plain(os.path.join(folder, "config.json"), config)
    fj.write_plain(os.path.join(folder, "tokenizer.json"), tok_json)
    fj.write_plain(os.path.join(folder, "tokenizer_config.json"), tok_cfg)
    meta = {"format": "pt"}
    if shards is None:
        st.write(os.path.join(folder, "model.safetensors"), tensors, meta)
    else:
        weight_map, total = {}, 0
        for k, pick in enumerate(shards):
            fname = f"model-{k + 1:05d}-of-{len(shards):05d}.safetensors"
            part = {n: t for n, t in tensors.items() if pick(n) and n not in weight_map}
            for n, t in part.items():
                weight_map[n] = fname
                total += t.numel() * t.element_size()
            st.write(os.path.join(folder, fname), part, meta)
        assert set(weight_map) == set(tensors)
        fj.write_plain(os.path.join(folder, "model.safetensors.index.json"),
                       {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))})
    # read back what was written: the oracle runs on the stored tensors
    files = sorted(f for f in os.listdir(folder) if f.endswith(".safetensors"))
    back = {}
    for f in files:
        back.update(st.read(os.path.join(folder, f))[0])
    assert set(back) == set(tensors) and all(torch.equal(back[k], tensors[k]) for k in tensors)
    size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
    print(f"wrote {rel(folder)}/ ({', '.join(sorted(os.listdir(folder)))}; {size} bytes)")
    return back


def logits_case(name, arch, storage, config, stored, forward):
    x = torch.tensor([IDS])
    logits = forward(rounded(stored, DT), config, x)[0]
    d32 = max_diff(logits, forward(rounded(stored, torch.float32), config, x)[0])
    assert d32 < 1e-3, d32
    d_raw = max_diff(logits, forward({k: v.to(DT) for k, v in stored.items()}, config, x)[0])
    changed = sum(int((round_f16(v, DT) != v.to(DT)).sum()) for v in stored.values())
    print(f"  {name}: logits std {float(logits.std()):.2f}; f32 math differs by {d32:.2e}; fp16 rounding "
          f"changes {changed} stored values and the logits by {d_raw:.2e}")
    return {"name": name, "folder": name, "architecture": arch, "storageDtype": storage, "ids": IDS,
            "shapes": {"logits": list(logits.shape)}, "logits": logits,
            "checks": {"maxAbsDiffF32Math": fj.F32(d32), "maxAbsDiffWithoutFp16Rounding": fj.F32(d_raw),
                       "valuesChangedByFp16Rounding": changed}}


def make_tiny_models():
    cases = []

    qwen = {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 32,
            "intermediate_size": 48, "num_hidden_layers": 2, "num_attention_heads": 4,
            "num_key_value_heads": 2, "vocab_size": 96, "max_position_embeddings": 64,
            "rope_theta": 1000000.0, "rms_norm_eps": 1e-6, "hidden_act": "silu",
            "tie_word_embeddings": False, "use_sliding_window": False, "sliding_window": None,
            "attention_dropout": 0.0, "bos_token_id": None, "eos_token_id": 4, "torch_dtype": "bfloat16"}
    w = llama_family_weights(torch.Generator().manual_seed(2001), qwen, torch.bfloat16)
    w = write_folder("tiny-qwen2", qwen, w, tokenizer_json(bos=False),
                     tokenizer_config(None, "<|im_end|>", CHATML))
    cases.append(logits_case("tiny-qwen2", "Qwen2ForCausalLM", "BF16", qwen, w, llama_forward))

    gpt2 = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "n_embd": 32, "n_layer": 2,
            "n_head": 4, "n_inner": None, "vocab_size": 96, "n_positions": 64, "n_ctx": 64,
            "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5, "tie_word_embeddings": True,
            "scale_attn_weights": True, "scale_attn_by_inverse_layer_idx": False,
            "reorder_and_upcast_attn": False, "attn_pdrop": 0.0, "embd_pdrop": 0.0, "resid_pdrop": 0.0,
            "bos_token_id": 2, "eos_token_id": 2, "torch_dtype": "float32"}
    w = gpt2_weights(torch.Generator().manual_seed(2002), gpt2)
    w = write_folder("tiny-gpt2", gpt2, w, tokenizer_json(bos=False), tokenizer_config("</s>", "</s>"))
    cases.append(logits_case("tiny-gpt2", "GPT2LMHeadModel", "F32", gpt2, w, gpt2_forward))

    llama = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 32,
             "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
             "num_key_value_heads": 2, "vocab_size": 96, "max_position_embeddings": 64,
             "rope_theta": 10000.0, "rms_norm_eps": 1e-5, "hidden_act": "silu",
             "tie_word_embeddings": False, "attention_bias": False, "mlp_bias": False,
             "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float16"}
    w = llama_family_weights(torch.Generator().manual_seed(2003), llama, torch.float16)
    first = lambda n: n == "model.embed_tokens.weight" or n.startswith("model.layers.0.")  # noqa: E731
    w = write_folder("tiny-llama-sharded", llama, w, tokenizer_json(bos=True), tokenizer_config("<s>", "</s>"),
                     shards=[first, lambda n: True])
    cases.append(logits_case("tiny-llama-sharded", "LlamaForCausalLM", "F16", llama, w, llama_forward))

    doc = {
        "generator": GENERATOR,
        "notes": "Logits (T, vocab) of the random-weight HF folders beside this file for the fixed ids "
                 "(positions 0..T-1, no BOS added). Stored weights are rounded through fp16 (BF16/F32 -> fp16, "
                 "round to nearest even) before use; 1-D tensors (norm weights, biases) and GPT-2's wpe "
                 "are fp16-exact, so keeping them in f32 gives the same result. float64 math, logits "
                 "stored as float32. Forwards follow transformers: Qwen2 = Llama + q/k/v biases; GPT-2: "
                 "LayerNorm, learned positions, Conv1D [in,out] with c_attn split q|k|v, gelu_new, tied "
                 "lm_head. checks.maxAbsDiffWithoutFp16Rounding: how far a loader that skips the fp16 "
                 "rounding would land.",
        "models": cases,
    }
    path = os.path.join(OUT_DIR, "tiny_models_logits.json")
    n = fj.write(path, doc)
    print(f"wrote {rel(path)} ({n} bytes)")


def main():
    torch.manual_seed(0)  # every fixture also uses its own seeded generator
    os.makedirs(OUT_DIR, exist_ok=True)
    make_stories260k()
    make_tiny_models()


if __name__ == "__main__":
    main()
