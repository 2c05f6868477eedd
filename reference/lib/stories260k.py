"""stories260K (llama2.c "tinyllamas", MIT): locate, verify, parse, convert to the HF Llama layout.

Facts from /work/shared/models/stories260K/SOURCE.md: llama2.c legacy (version 0) checkpoint:
7 int32 header (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len), then fp32
token_embedding, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3, rms_final, freq_cis_real/imag.
Weights are [out, in] like nn.Linear. llama2.c's RoPE rotates interleaved pairs (2i, 2i+1); HF
Llama rotates halves (i, i + d/2), so wq/wk rows are permuted within each head on conversion.
"""

import hashlib
import os
import struct
import urllib.request

import numpy as np
import torch

REPO_ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SHARED_DIR = os.path.join(REPO_ROOT, "..", "shared", "models", "stories260K")
CACHE_DIR = os.path.join(os.path.expanduser("~"), ".cache", "whetstone", "stories260K")
URL = "https://huggingface.co/karpathy/tinyllamas/resolve/main/stories260K/{}"
SHA256 = {
    "stories260K.bin": "b0a507e7ad0f626624f17112325e66691f9076d622e1d3274d103d00299f2696",
    "tok512.bin": "037cb335abb25d1fa9e8ecae30ed2a3a8ace9302862ebcdc05d51a6bbb10c312",
}


def fetch(name):
    """Bytes of `name`, read from ../shared when present, else downloaded once into CACHE_DIR;
    the sha256 is checked either way."""
    for d in (SHARED_DIR, CACHE_DIR):
        path = os.path.join(d, name)
        if os.path.exists(path):
            with open(path, "rb") as f:
                data = f.read()
            break
    else:
        url = URL.format(name)
        print(f"downloading {url}")
        with urllib.request.urlopen(url) as r:
            data = r.read()
        os.makedirs(CACHE_DIR, exist_ok=True)
        path = os.path.join(CACHE_DIR, name)
        with open(path, "wb") as f:
            f.write(data)
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256[name]:
        raise RuntimeError(f"{path}: sha256 {digest} is not the canonical {SHA256[name]}; delete it and rerun")
    return data


def parse_checkpoint(data):
    """(config, llama2c weights as float32 tensors) from the bytes of stories260K.bin."""
    dim, hidden, n_layers, n_heads, n_kv, vocab, seq_len = struct.unpack("<7i", data[:28])
    shared_classifier = vocab > 0
    vocab = abs(vocab)
    hd = dim // n_heads
    kv_dim = n_kv * hd
    floats = np.frombuffer(data, dtype="<f4", offset=28)
    at = 0

    def take(*shape):
        nonlocal at
        n = int(np.prod(shape))
        t = torch.from_numpy(floats[at:at + n].copy()).reshape(shape)
        at += n
        return t

    w = {
        "token_embedding": take(vocab, dim),
        "rms_att": take(n_layers, dim),
        "wq": take(n_layers, dim, dim),
        "wk": take(n_layers, kv_dim, dim),
        "wv": take(n_layers, kv_dim, dim),
        "wo": take(n_layers, dim, dim),
        "rms_ffn": take(n_layers, dim),
        "w1": take(n_layers, hidden, dim),
        "w2": take(n_layers, dim, hidden),
        "w3": take(n_layers, hidden, dim),
        "rms_final": take(dim),
    }
    # then freq_cis_real and freq_cis_imag [seq_len, hd/2] each: recomputed, not read
    rest = len(floats) - at
    if rest != seq_len * hd:
        raise ValueError(f"stories260K.bin: {rest} floats after the weights, expected {seq_len * hd} freq_cis values")
    if not shared_classifier:
        raise ValueError("stories260K.bin: expected a shared classifier (positive vocab_size)")
    cfg = {"dim": dim, "hidden": hidden, "n_layers": n_layers, "n_heads": n_heads, "n_kv_heads": n_kv,
           "vocab": vocab, "seq_len": seq_len, "head_dim": hd}
    return cfg, w


def interleaved_to_halves(w, n_heads):
    """Rows of a q/k weight (n_heads*hd, in): llama2.c interleaved pairs -> HF rotate_half order.
    Within a head, new row i (< hd/2) = old row 2i and new row hd/2 + i = old row 2i + 1
    (the permute of transformers' convert_llama_weights_to_hf.py)."""
    rows, cols = w.shape
    hd = rows // n_heads
    return w.reshape(n_heads, hd // 2, 2, cols).transpose(1, 2).reshape(rows, cols)


def hf_config(cfg):
    """The equivalent Hugging Face config.json (SOURCE.md)."""
    return {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "hidden_size": cfg["dim"], "intermediate_size": cfg["hidden"],
        "num_hidden_layers": cfg["n_layers"], "num_attention_heads": cfg["n_heads"],
        "num_key_value_heads": cfg["n_kv_heads"], "vocab_size": cfg["vocab"],
        "max_position_embeddings": cfg["seq_len"], "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
        "tie_word_embeddings": True, "hidden_act": "silu", "bos_token_id": 1, "eos_token_id": 2,
    }


def to_hf(cfg, w):
    """HF Llama tensors (name -> float32 tensor) from the llama2.c weights; no lm_head (tied)."""
    t = {"model.embed_tokens.weight": w["token_embedding"], "model.norm.weight": w["rms_final"]}
    for i in range(cfg["n_layers"]):
        p = f"model.layers.{i}."
        t[p + "input_layernorm.weight"] = w["rms_att"][i]
        t[p + "self_attn.q_proj.weight"] = interleaved_to_halves(w["wq"][i], cfg["n_heads"])
        t[p + "self_attn.k_proj.weight"] = interleaved_to_halves(w["wk"][i], cfg["n_kv_heads"])
        t[p + "self_attn.v_proj.weight"] = w["wv"][i]
        t[p + "self_attn.o_proj.weight"] = w["wo"][i]
        t[p + "post_attention_layernorm.weight"] = w["rms_ffn"][i]
        t[p + "mlp.gate_proj.weight"] = w["w1"][i]
        t[p + "mlp.down_proj.weight"] = w["w2"][i]
        t[p + "mlp.up_proj.weight"] = w["w3"][i]
    return {k: v.contiguous() for k, v in t.items()}


def load():
    """(hf_config, HF tensors as float32, llama2c config, llama2c weights)."""
    cfg, w = parse_checkpoint(fetch("stories260K.bin"))
    return hf_config(cfg), to_hf(cfg, w), cfg, w


# ----------------------------------------------------------------------------- tok512


class Tok512:
    """llama2.c's tokenizer (tok512.bin) and its encoder (run.c `encode`), byte for byte."""

    def __init__(self, data, vocab_size=512):
        (self.max_len,) = struct.unpack("<i", data[:4])
        at = 4
        self.pieces, self.scores = [], []
        for _ in range(vocab_size):
            score, n = struct.unpack("<fi", data[at:at + 8])
            at += 8
            self.pieces.append(data[at:at + n])
            self.scores.append(score)
            at += n
        self.lookup = {p: i for i, p in enumerate(self.pieces)}

    def encode(self, text, bos=True):
        ids = [1] if bos else []
        if not text:
            return ids
        toks = [self.lookup[b" "]]  # add_dummy_prefix
        for ch in text:
            b = ch.encode("utf-8")
            if b in self.lookup:
                toks.append(self.lookup[b])
            else:  # byte fallback: ids 3..258 are <0x00>..<0xFF>
                toks.extend(x + 3 for x in b)
        while True:
            best, best_id, best_i = -1e10, -1, -1
            for i in range(len(toks) - 1):
                j = self.lookup.get(self.pieces[toks[i]] + self.pieces[toks[i + 1]], -1)
                if j != -1 and self.scores[j] > best:
                    best, best_id, best_i = self.scores[j], j, i
            if best_i == -1:
                break
            toks[best_i:best_i + 2] = [best_id]
        return ids + toks

    def decode(self, ids):
        out = b""
        for i, t in enumerate(ids):
            p = self.pieces[t]
            if i == 0 and p.startswith(b" "):
                p = p[1:]
            if 3 <= t <= 258:
                p = bytes([t - 3])
            out += p
        return out.decode("utf-8", errors="replace")


def tokenizer():
    return Tok512(fetch("tok512.bin"))
