"""Values of a graph's embedded initializers, read from the ONNX wire format (no `onnx` package).

A delta pack adds its deltas to the base pack's weights; those the base graph stores itself are
read here. TensorProto fields (onnx/onnx.proto): dims 1, data_type 2, float_data 4 (packed
fixed32), int32_data 5 (packed varints, int8 values), name 8, raw_data 9 (little-endian),
data_location 14. Only FLOAT (1) and INT8 (3) are read: what the app reconstructs.
"""
from __future__ import annotations

import mmap
from pathlib import Path

import numpy as np

from .onnx_refs import Buffer, OnnxWireError, fields, graph_initializers, packed_varints

DTYPES = {1: np.dtype("<f4"), 3: np.dtype(np.int8)}


def _tensor(buf: Buffer, start: int, end: int) -> tuple[str, np.ndarray | None]:
    name, dtype, dims, raw, floats, ints, external = "", 0, [], None, [], [], False
    for number, wire, a, b in fields(buf, start, end):
        if number == 8 and wire == 2:
            name = bytes(buf[a:b]).decode("utf-8", "replace")
        elif number == 2 and wire == 0:
            dtype = a
        elif number == 1:
            dims += [a] if wire == 0 else packed_varints(buf, a, b)
        elif number == 9 and wire == 2:
            raw = bytes(buf[a:b])
        elif number == 4:
            floats.append(np.frombuffer(bytes(buf[a:b]), dtype="<f4"))  # packed (2) or one fixed32 (5)
        elif number == 5:
            ints += [a] if wire == 0 else packed_varints(buf, a, b)
        elif number == 14 and wire == 0:
            external = a == 1
    if external or dtype not in DTYPES:
        return name, None
    want = DTYPES[dtype]
    if raw is not None:
        values = np.frombuffer(raw, dtype=want)
    elif dtype == 1:
        values = np.concatenate(floats) if floats else np.zeros(0, dtype=want)
    else:  # int8 in int32_data: two's complement varints of 64 bits
        values = np.array([(v - (1 << 64)) if v >= 1 << 63 else v for v in ints], dtype=np.int64).astype(np.int8)
    n = int(np.prod(dims, dtype=np.int64))
    if values.size != n:
        raise OnnxWireError(f"initializer {name!r}: {values.size} values for dims {dims}")
    return name, values.astype(want.newbyteorder("="), copy=True).reshape(dims)


def embedded_values(path: Path, names: set[str]) -> dict[str, np.ndarray]:
    """{name: array} of the main graph's embedded FLOAT / INT8 initializers among `names`."""
    found: dict[str, np.ndarray] = {}
    with open(path, "rb") as fh:
        if fh.seek(0, 2) == 0:
            return found
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            for x, y in graph_initializers(buf):
                name, value = _tensor(buf, x, y)
                if value is not None and name in names:
                    found[name] = value
    return found
