"""Read a `.safetensors` file with numpy only (no safetensors, no torch package).

The format: an 8-byte little-endian header length N, N bytes of JSON
`{"<tensor>": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}}`,
then the tensors' raw little-endian bytes, offsets relative to the end of the header. The file is
memory-mapped; arrays are read-only views (bfloat16 is widened to float32, a copy).
"""
from __future__ import annotations

import json
import mmap
import struct
from pathlib import Path

import numpy as np

DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
          "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}
MAX_HEADER = 100_000_000  # the reference implementation's limit


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """{name: array} of every tensor in `path`; ValueError naming the file and the tensor otherwise."""
    path = Path(path)
    with open(path, "rb") as fh:
        size = path.stat().st_size
        if size < 8:
            raise ValueError(f"{path}: too short for a safetensors file")
        mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    (n,) = struct.unpack("<Q", mm[:8])
    if n > MAX_HEADER or 8 + n > size:
        raise ValueError(f"{path}: header length {n} does not fit the file ({size} bytes)")
    try:
        header = json.loads(bytes(mm[8:8 + n]).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"{path}: the safetensors header is not JSON ({exc})") from None
    if not isinstance(header, dict):
        raise ValueError(f"{path}: the safetensors header is not an object")
    data = memoryview(mm)[8 + n:]
    out: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (begin, end) = info["dtype"], [int(d) for d in info["shape"]], info["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{path}: tensor {name!r} has a malformed header entry") from None
        count = int(np.prod(shape)) if shape else 1
        if dtype == "BF16":
            width, np_dtype = 2, None
        elif dtype in DTYPES:
            np_dtype = np.dtype(DTYPES[dtype]).newbyteorder("<")
            width = np_dtype.itemsize
        else:
            raise ValueError(f"{path}: tensor {name!r} has unsupported dtype {dtype}")
        if not 0 <= begin <= end <= len(data) or end - begin != count * width:
            raise ValueError(f"{path}: tensor {name!r} offsets [{begin}, {end}] do not match shape {shape} "
                             f"of {dtype} or the file size")
        raw = data[begin:end]
        if np_dtype is None:
            arr = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            arr = np.frombuffer(raw, dtype=np_dtype)
        out[name] = arr.reshape(shape)
    return out
