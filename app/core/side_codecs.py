"""Decoders of coded arrays in a pack's side file (`onnx.side_codecs`), numpy only.

    "onnx": {"external_weights": {"file": "weights.npz", "initializers": [...]},
             "side_codecs": {"layers.0.fc1.weight_t_quantized": {"codec": "ternary2", "dims": [320, 1280]}}}

ternary2   uint8, ceil(n / 4) bytes; weight k of the row-major int8 array of `dims` is bits
           2(k % 4) .. 2(k % 4) + 1 of byte k // 4, code 0 -> 0, 1 -> +1, 2 -> -1 (3 is invalid).
           Written by quant.ternary.pack_2bit (2Bits of Protein ternary weights).

The side file holds the coded form; the graph declares the decoded one (int8, `dims`), which is
what onnxruntime receives.
"""
from __future__ import annotations

import numpy as np

CODECS = ("ternary2",)
_TERNARY = np.array([0, 1, -1, 0], dtype=np.int8)


class CodecError(ValueError):
    """A coded array that does not decode; the message names the array and why."""


def check_codec_spec(name: str, spec: object) -> tuple[str, tuple[int, ...]]:
    """(codec, dims) of one `onnx.side_codecs` entry; CodecError naming the array otherwise."""
    if not isinstance(spec, dict) or spec.get("codec") not in CODECS:
        raise CodecError(f"array {name!r}: codec must be one of {CODECS}, got {spec!r}")
    dims = spec.get("dims")
    if not (isinstance(dims, list) and dims and all(isinstance(d, int) and not isinstance(d, bool) and d > 0
                                                     for d in dims)):
        raise CodecError(f"array {name!r}: 'dims' must be a list of positive integers, got {dims!r}")
    return spec["codec"], tuple(dims)


def decode_ternary2(name: str, packed: np.ndarray, dims: tuple[int, ...]) -> np.ndarray:
    """int8 {-1, 0, 1} array of `dims` from its 2-bit packed bytes."""
    n = int(np.prod(dims, dtype=np.int64))
    if packed.dtype != np.uint8 or packed.ndim != 1 or packed.size != (n + 3) // 4:
        raise CodecError(f"array {name!r}: ternary2 needs {(n + 3) // 4} uint8 bytes for dims {list(dims)}, "
                         f"got {packed.dtype} {list(packed.shape)}")
    codes = np.empty((packed.size, 4), dtype=np.uint8)
    for i, shift in enumerate((0, 2, 4, 6)):
        codes[:, i] = (packed >> shift) & 3
    codes = codes.reshape(-1)[:n]
    if (codes == 3).any():
        raise CodecError(f"array {name!r}: invalid ternary2 code 3 at weight {int(np.argmax(codes == 3))}")
    return _TERNARY[codes].reshape(dims)


def decode(name: str, array: np.ndarray, spec: object) -> np.ndarray:
    codec, dims = check_codec_spec(name, spec)
    if codec == "ternary2":
        return decode_ternary2(name, array, dims)
    raise CodecError(f"array {name!r}: codec {codec!r} has no decoder")  # unreachable: CODECS is checked
