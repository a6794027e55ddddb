"""Reading a model.safetensors in the tests' Python helpers, without numpy or torch:
raw(path) -> {name: bytes of its data}, floats(path) -> {name: (shape, tuple of floats)}
for F32 tensors (others are refused)."""
import json
import struct


def _parse(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    head = json.loads(data[8:8 + n])
    head.pop("__metadata__", None)
    return data, 8 + n, head


def raw(path):
    data, base, head = _parse(path)
    return {k: data[base + v["data_offsets"][0]:base + v["data_offsets"][1]] for k, v in head.items()}


def floats(path):
    data, base, head = _parse(path)
    out = {}
    for k, v in head.items():
        if v["dtype"] != "F32":
            raise SystemExit(f"{path}: {k} is {v['dtype']}, not F32")
        a, b = v["data_offsets"]
        out[k] = (v["shape"], struct.unpack(f"<{(b - a) // 4}f", data[base + a:base + b]))
    return out
