"""Minimal safetensors reader/writer (the `safetensors` package is not in Debian).

Format: 8-byte little-endian header length N, then N bytes of JSON
{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}, then the raw
little-endian data; offsets are relative to the end of the header. Like the Rust library, the
writer lays tensors out in name order, pads the header with spaces to a multiple of 8 bytes, and
the reader insists the tensors tile the data section exactly.
"""

import json
import struct

import numpy as np
import torch

# safetensors dtype -> (torch dtype, bytes per element)
DTYPES = {
    "F32": (torch.float32, 4),
    "F16": (torch.float16, 2),
    "BF16": (torch.bfloat16, 2),
    "I32": (torch.int32, 4),
}
_BY_TORCH = {v[0]: k for k, v in DTYPES.items()}


def tensor_bytes(t):
    """Raw little-endian bytes of a contiguous tensor of a supported dtype."""
    t = t.detach().contiguous().cpu()
    if t.dtype not in _BY_TORCH:
        raise ValueError(f"dtype {t.dtype} is not supported; use one of {list(DTYPES)}")
    if t.dtype == torch.bfloat16:  # numpy has no bfloat16: reinterpret the bits
        t = t.view(torch.int16)
    return t.numpy().astype(t.numpy().dtype.newbyteorder("<"), copy=False).tobytes()


def encode(tensors, metadata=None):
    """bytes of a safetensors file holding `tensors` (name -> tensor), in name order."""
    header = {}
    if metadata is not None:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs, at = [], 0
    for name in sorted(tensors):
        t = tensors[name]
        data = tensor_bytes(t)
        header[name] = {"dtype": _BY_TORCH[t.dtype], "shape": list(t.shape), "data_offsets": [at, at + len(data)]}
        blobs.append(data)
        at += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def write(path, tensors, metadata=None):
    data = encode(tensors, metadata)
    with open(path, "wb") as f:
        f.write(data)
    return len(data)


def decode(data):
    """(tensors, metadata) from the bytes of a safetensors file; tensors keep their stored dtype."""
    if len(data) < 8:
        raise ValueError("not a safetensors file: shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        raise ValueError(f"header length {n} runs past the end of the file ({len(data)} bytes)")
    header = json.loads(data[8:8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", None)
    body = data[8 + n:]
    spans, tensors = [], {}
    for name, info in header.items():
        tdt, size = DTYPES[info["dtype"]]
        b, e = info["data_offsets"]
        numel = int(np.prod(info["shape"], dtype=np.int64))
        if e - b != numel * size:
            raise ValueError(f"tensor {name}: shape {info['shape']} needs {numel * size} bytes, offsets hold {e - b}")
        raw = bytearray(body[b:e])  # a writable copy, so torch.frombuffer does not warn
        if info["dtype"] == "BF16":
            t = torch.frombuffer(raw, dtype=torch.int16).view(torch.bfloat16) if numel else torch.empty(0, dtype=tdt)
        else:
            t = torch.frombuffer(raw, dtype=tdt) if numel else torch.empty(0, dtype=tdt)
        tensors[name] = t.reshape(info["shape"]).clone()
        spans.append((b, e, name))
    at = 0
    for b, e, name in sorted(spans):
        if b != at:
            raise ValueError(f"tensor {name} starts at {b}, expected {at} (gap or overlap)")
        at = e
    if at != len(body):
        raise ValueError(f"tensors end at {at} but the data section has {len(body)} bytes")
    return tensors, metadata


def read(path):
    with open(path, "rb") as f:
        return decode(f.read())
