"""Fixture JSON in the style of reference/ops_fixtures.py (see reference/README.md):
one field per line, every array on one line, float tensors stored as float32 values written with
the fewest digits (at most 9) that round-trip, fp16 tensors written exactly, int tensors as ints.
Output is deterministic, so rerunning an unchanged script leaves `git diff` empty."""

import json
import os

import numpy as np
import torch


def fmt_float(x):
    """Shortest decimal (<= 9 significant digits) that parses back to the same float32."""
    v = np.float32(x)
    if not np.isfinite(v):
        raise ValueError(f"non-finite value {x} in a fixture; fix the generator")
    if v == 0:
        return "-0" if np.signbit(v) else "0"
    for p in range(6, 10):
        s = f"{float(v):.{p}g}"
        if np.float32(float(s)) == v:
            return s
    raise AssertionError("9 significant digits always round-trip a float32")


class F32:
    """A Python float to be written as a float32 (a stored result such as a loss)."""

    def __init__(self, value):
        self.value = float(value)


def render(obj, indent=0):
    pad = "  " * indent
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = [f"{pad}  {json.dumps(k)}: {render(v, indent + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, (list, tuple)) and obj and isinstance(obj[0], (dict, list, tuple, torch.Tensor)):
        items = [f"{pad}  {render(v, indent + 1)}" for v in obj]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    if isinstance(obj, (list, tuple)) and obj and isinstance(obj[0], F32):
        return "[" + ",".join(fmt_float(v.value) for v in obj) + "]"
    if isinstance(obj, torch.Tensor):
        flat = obj.detach().reshape(-1)
        if obj.dtype == torch.float16:  # exact: fp16 values are fp16 even when read as f64
            return "[" + ",".join(repr(float(x)) for x in flat.tolist()) + "]"
        if obj.dtype.is_floating_point:
            return "[" + ",".join(fmt_float(x) for x in flat.tolist()) + "]"
        return "[" + ",".join(str(int(x)) for x in flat.tolist()) + "]"
    if isinstance(obj, F32):
        return fmt_float(obj.value)
    return json.dumps(obj)  # config values keep their exact float64 repr


def write(path, doc):
    """Write `doc` as fixture JSON; returns the byte count. Validates that the text parses."""
    text = render(doc) + "\n"
    json.loads(text)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    return len(text)


def write_plain(path, obj):
    """An ordinary pretty JSON file (config.json, tokenizer.json, ...), as transformers writes them."""
    text = json.dumps(obj, indent=2, ensure_ascii=False) + "\n"
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return len(text.encode("utf-8"))
