"""Baseline delta codecs at a bit budget: magnitude pruning + int8, BitDelta, plain b-bit, low rank.

Each code is an ArrayCode whose arrays ARE the stored representation (bit-packed where a width is
not a whole byte), so code_bits = 8 x their bytes counts indices, counts, scales and the header.
Small scales are stored as one fp32 tensor scale x fp16 ratios (deltas are ~1e-4, below fp16's
normal range). ratio means compression vs the delta in fp16: 16 * out * in / bits.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .delta_bits import pack_bits, packed_bits, unpack_bits
from .delta_errors import DeltaBudgetError, DeltaInputError, check_delta, check_ratio

HEADER_BITS = 4 * 32  # meta: uint32 [rows, cols, two method parameters]


@dataclass(frozen=True, eq=False)
class ArrayCode:
    """A baseline-coded delta: its method name, shape and the exact arrays that would be stored."""

    method: str
    shape: tuple[int, int]
    arrays: dict[str, np.ndarray]


def array_code_bits(code: ArrayCode) -> int:
    """8 x the bytes of every stored array (the meta header included)."""
    return 8 * sum(a.nbytes for a in code.arrays.values())


def _meta(shape: tuple[int, int], p1: int, p2: int = 0) -> np.ndarray:
    return np.array([shape[0], shape[1], p1, p2], dtype=np.uint32)


def _split_scale(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positive scales (n,) -> (fp32 max (1,), fp16 s / max (n,))."""
    top = float(np.max(s)) if s.size and float(np.max(s)) > 0 else 1.0
    return np.array([top], dtype=np.float32), (s / top).astype(np.float16)


def _join_scale(top: np.ndarray, rel: np.ndarray) -> np.ndarray:
    return np.asarray(top, dtype=np.float32).reshape(1) * rel.astype(np.float32)


# --- magnitude pruning + int8 (explicit indices) -------------------------------------------------

def _index_layouts(shape: tuple[int, int], k: int) -> dict[str, int]:
    """Bits of each way to store k positions: flat indices, row counts + columns, or a bitmap."""
    rows, cols = shape
    return {"flat": packed_bits(k, max(1, math.ceil(math.log2(rows * cols)))),
            "rows": 16 * rows + packed_bits(k, max(1, math.ceil(math.log2(cols)))),
            "bitmap": packed_bits(rows * cols, 1)}


def _magnitude_bits(shape: tuple[int, int], k: int, value_bits: int, row_scales: bool) -> tuple[int, str]:
    """Size of k kept entries with the cheapest index layout, and that layout's name."""
    layouts = _index_layouts(shape, k)
    layout = min(layouts, key=layouts.get)
    return (HEADER_BITS + 32 + (16 * shape[0] if row_scales else 0) + packed_bits(k, value_bits)
            + layouts[layout]), layout


def _magnitude_code(d: np.ndarray, k: int, value_bits: int, row_scales: bool) -> ArrayCode:
    layout = _magnitude_bits(d.shape, k, value_bits, row_scales)[1]
    flat = np.sort(np.argpartition(np.abs(d).ravel(), d.size - k)[d.size - k:])   # row-major order
    rows_idx, cols_idx = np.divmod(flat, d.shape[1])
    v = d.ravel()[flat]
    qmax = 2 ** (value_bits - 1) - 1
    if row_scales:
        amax = np.zeros(d.shape[0], dtype=np.float64)
        np.maximum.at(amax, rows_idx, np.abs(v))
        top, rel = _split_scale(amax / qmax)
        s = _join_scale(top, rel)[rows_idx]
    else:
        top, rel = np.array([np.abs(v).max() / qmax], dtype=np.float32), None
        s = np.full(k, top[0], dtype=np.float32)
    q = np.clip(np.rint(v / np.where(s > 0, s, 1.0)), -qmax, qmax).astype(np.int64)
    arrays = {"meta": _meta(d.shape, value_bits, k), "scale": top, "values": pack_bits(q + qmax, value_bits)}
    if rel is not None:
        arrays["rel"] = rel
    if layout == "flat":
        arrays["flat"] = pack_bits(flat, max(1, math.ceil(math.log2(d.size))))
    elif layout == "rows":
        arrays["counts"] = np.bincount(rows_idx, minlength=d.shape[0]).astype(np.uint16)
        arrays["cols"] = pack_bits(cols_idx, max(1, math.ceil(math.log2(d.shape[1]))))
    else:
        mask = np.zeros(d.size, dtype=bool)
        mask[flat] = True
        arrays["bitmap"] = np.packbits(mask)
    return ArrayCode("magnitude", d.shape, arrays)


def encode_magnitude(delta: np.ndarray, ratio: float, value_bits: int = 8) -> ArrayCode:
    """Keep the k largest |delta| (k as large as the budget allows), symmetric int8 codes.

    Scale per row (fp32 x fp16 rel) or one per matrix, and the cheapest index layout: whichever of
    the two scale modes has the lower Frobenius error at its largest fitting k.
    """
    d = check_delta(delta)
    r = check_ratio(ratio)
    budget = 16.0 * d.size / r
    best, best_err = None, np.inf
    for row_scales in (True, False):
        k = min(d.size, int(budget // value_bits))
        while k > 0 and _magnitude_bits(d.shape, k, value_bits, row_scales)[0] > budget:
            k = min(k - 1, int(k * 0.995))
        if k >= 1:
            code = _magnitude_code(d, k, value_bits, row_scales)
            err = float(np.linalg.norm(d - _decode_magnitude(code.arrays)))
            if err < best_err:
                best, best_err = code, err
    if best is None:
        raise DeltaBudgetError("ratio", ratio, f"magnitude pruning cannot fit one entry of {d.shape} in budget")
    return best


def _decode_magnitude(a: dict[str, np.ndarray]) -> np.ndarray:
    rows, cols, vb, k = (int(v) for v in a["meta"])
    qmax = 2 ** (vb - 1) - 1
    if "bitmap" in a:
        flat = np.flatnonzero(np.unpackbits(a["bitmap"], count=rows * cols))
    elif "counts" in a:
        r_idx = np.repeat(np.arange(rows), a["counts"].astype(np.int64))
        flat = r_idx * cols + unpack_bits(a["cols"], max(1, math.ceil(math.log2(cols))), r_idx.size)
    else:
        flat = unpack_bits(a["flat"], max(1, math.ceil(math.log2(rows * cols))), k)
    q = unpack_bits(a["values"], vb, flat.size) - qmax
    s = _join_scale(a["scale"], a["rel"])[flat // cols] if "rel" in a else np.float32(a["scale"][0])
    out = np.zeros(rows * cols, dtype=np.float32)
    out[flat] = q.astype(np.float32) * s
    return out.reshape(rows, cols)


# --- BitDelta: sign + one scale per matrix -------------------------------------------------------

def encode_bitdelta(delta: np.ndarray) -> ArrayCode:
    """sign(delta) bitmap and one fp32 scale mean|delta| (BitDelta before its scale distillation)."""
    d = check_delta(delta)
    arrays = {"meta": _meta(d.shape, 1), "scale": np.array([np.mean(np.abs(d))], dtype=np.float32),
              "signs": np.packbits((d >= 0).ravel())}
    return ArrayCode("bitdelta", d.shape, arrays)


def _decode_bitdelta(a: dict[str, np.ndarray]) -> np.ndarray:
    rows, cols, _, _ = (int(v) for v in a["meta"])
    signs = np.unpackbits(a["signs"], count=rows * cols).reshape(rows, cols).astype(np.float32)
    return (2 * signs - 1) * np.float32(a["scale"][0])


# --- plain b-bit, per-group scale ----------------------------------------------------------------

def encode_uniform(delta: np.ndarray, bits: int = 4, group_size: int = 64) -> ArrayCode:
    """Symmetric b-bit codes q in [-(2^(b-1)-1), 2^(b-1)-1], one scale per `group_size` input columns."""
    d = check_delta(delta)
    if not 2 <= bits <= 8:
        raise DeltaInputError("bits", bits, "expected 2..8")
    if group_size < 1 or d.shape[1] % group_size:
        raise DeltaInputError("group_size", group_size, f"must divide in_features={d.shape[1]}")
    qmax = 2 ** (bits - 1) - 1
    grouped = d.reshape(d.shape[0], -1, group_size)                   # (out, groups, g)
    top, rel = _split_scale(np.abs(grouped).max(axis=-1).ravel() / qmax)
    s = _join_scale(top, rel).reshape(d.shape[0], -1, 1)
    q = np.clip(np.rint(grouped / np.where(s > 0, s, 1.0)), -qmax, qmax).astype(np.int64)
    arrays = {"meta": _meta(d.shape, bits, group_size), "scale": top, "rel": rel,
              "codes": pack_bits(q.ravel() + qmax, bits)}
    return ArrayCode("uniform", d.shape, arrays)


def _decode_uniform(a: dict[str, np.ndarray]) -> np.ndarray:
    rows, cols, bits, g = (int(v) for v in a["meta"])
    qmax = 2 ** (bits - 1) - 1
    q = (unpack_bits(a["codes"], bits, rows * cols) - qmax).astype(np.float32).reshape(rows, -1, g)
    return (q * _join_scale(a["scale"], a["rel"]).reshape(rows, -1, 1)).reshape(rows, cols)


# --- low rank (truncated SVD, fp16 factors) ------------------------------------------------------

def encode_lowrank(delta: np.ndarray, ratio: float) -> ArrayCode:
    """delta ~ A @ B with the largest rank whose fp16 factors fit the budget."""
    d = check_delta(delta)
    r = check_ratio(ratio)
    rows, cols = d.shape
    rank = int((16.0 * d.size / r - HEADER_BITS - 64) // (16 * (rows + cols)))
    if rank < 1:
        raise DeltaBudgetError("ratio", ratio, f"not even rank 1 of a {d.shape} delta fits the budget")
    u, s, vt = np.linalg.svd(d.astype(np.float64), full_matrices=False)
    rank = min(rank, s.size)
    a = u[:, :rank] * np.sqrt(s[:rank])
    b = np.sqrt(s[:rank])[:, None] * vt[:rank]
    sa, sb = max(float(np.abs(a).max()), 1e-30), max(float(np.abs(b).max()), 1e-30)
    arrays = {"meta": _meta(d.shape, rank), "scale": np.array([sa, sb], dtype=np.float32),
              "a": (a / sa).astype(np.float16), "b": (b / sb).astype(np.float16)}
    return ArrayCode("lowrank", d.shape, arrays)


def _decode_lowrank(a: dict[str, np.ndarray]) -> np.ndarray:
    sa, sb = (np.float32(v) for v in a["scale"])
    return (a["a"].astype(np.float32) * sa) @ (a["b"].astype(np.float32) * sb)


DECODERS = {"magnitude": _decode_magnitude, "bitdelta": _decode_bitdelta, "uniform": _decode_uniform,
            "lowrank": _decode_lowrank}


def decode_array_code(code: ArrayCode) -> np.ndarray:
    """The float32 (out, in) delta a baseline code represents."""
    return DECODERS[code.method](code.arrays)
