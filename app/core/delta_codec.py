"""Numpy decoders of coded weight deltas in a delta pack (DESIGN.md section 3, "Delta packs").

Written from the specification in quant/delta.py's docstring (the app never imports quant):

deltadq   meta uint32 [rows, cols, seed, g, k, b, row_scales, m, w_0 .. w_{m-1}], scale fp32 (1,),
          rel fp16 (rows,) when row_scales, part0 .. part{m-1} uint8 bit streams (MSB first).
          The dropout mask keeps, in every group of g consecutive columns of a row, the k entries
          of smallest splitmix64 hash (counter (r * cols + c) + 1, seed mixed in; ties to the lower
          column); q = (.. (part0 << w_1) | part1 ..), value = (q - (2^b - 1) / 2) * scale * rel[row].
magnitude meta [rows, cols, value_bits, k]; positions as a bitmap, row counts + packed columns, or
          packed flat indices; values packed offset by 2^(vb-1) - 1; scale (x rel per row).
bitdelta  meta [rows, cols, 1, 0]; sign bitmap (1 = +), value (2 sign - 1) * scale.
uniform   meta [rows, cols, bits, g]; codes offset by 2^(bits-1) - 1, scale * rel per group of g.
lowrank   meta [rows, cols, rank, 0]; (a fp16 * scale[0]) @ (b fp16 * scale[1]).

Every decoder returns the float32 (rows, cols) = (out, in) delta of one Linear weight.
"""
from __future__ import annotations

import math
from typing import Callable, Mapping

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_SEED_MIX = np.uint64(0xD1B54A32D192ED03)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


class DeltaCodecError(ValueError):
    """A coded delta that does not decode; the message names the matrix and why."""


def splitmix64(seed: int, n: int) -> np.ndarray:
    """uint64 (n,): the splitmix64 finaliser of (i + 1) * GOLDEN + seed * SEED_MIX, i = 0 .. n-1."""
    with np.errstate(over="ignore"):
        z = (np.arange(1, n + 1, dtype=np.uint64) * _GOLDEN) + np.uint64(seed) * _SEED_MIX
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
        return z ^ (z >> np.uint64(31))


def keep_mask(rows: int, cols: int, group: int, keep: int, seed: int) -> np.ndarray:
    """bool (rows, cols): the k smallest-hash entries of every group of `group` columns.

    The hashes of one matrix are distinct (the counter times an odd constant and the splitmix64
    finaliser are both bijections of 2^64), so "hash <= the k-th smallest of its group" keeps
    exactly k, the same entries as a stable sort would: a selection, O(n), not a sort.
    """
    h = splitmix64(seed, rows * cols).reshape(rows, cols // group, group)
    kth = np.partition(h, keep - 1, axis=-1)[..., keep - 1:keep]
    return (h <= kth).reshape(rows, cols)


def read_bits(stream: np.ndarray, width: int, count: int) -> np.ndarray:
    """int64 (count,): `count` unsigned `width`-bit values, most significant bit first."""
    stream = np.asarray(stream, dtype=np.uint8)
    if stream.size * 8 < width * count:
        raise DeltaCodecError(f"a {width}-bit stream of {count} values needs {math.ceil(width * count / 8)} "
                              f"bytes, got {stream.size}")
    bits = np.unpackbits(stream, count=width * count)
    if width == 1:  # the common DeltaDQ code: one bit a survivor
        return bits.astype(np.int64)
    return bits.reshape(count, width).astype(np.int64) @ (np.int64(1) << np.arange(width - 1, -1, -1, dtype=np.int64))


def _get(arrays: Mapping[str, np.ndarray], prefix: str, key: str) -> np.ndarray:
    name = f"{prefix}.{key}" if prefix else key
    if name not in arrays:
        raise DeltaCodecError(f"matrix {prefix!r}: array {name!r} is missing")
    return np.asarray(arrays[name])


def _has(arrays: Mapping[str, np.ndarray], prefix: str, key: str) -> bool:
    return (f"{prefix}.{key}" if prefix else key) in arrays


def _rel_scale(top: np.ndarray, rel: np.ndarray) -> np.ndarray:
    return np.asarray(top, dtype=np.float32).reshape(1) * np.asarray(rel).astype(np.float32)


def decode_deltadq(arrays: Mapping[str, np.ndarray], prefix: str = "") -> np.ndarray:
    meta = [int(v) for v in _get(arrays, prefix, "meta")]
    if len(meta) < 8 or len(meta) != 8 + meta[7]:
        raise DeltaCodecError(f"matrix {prefix!r}: deltadq meta has {len(meta)} fields")
    rows, cols, seed, g, k, b, has_rel, m = meta[:8]
    widths = meta[8:]
    if g < 1 or cols % g or not 1 <= k <= g or sum(widths) != b:
        raise DeltaCodecError(f"matrix {prefix!r}: inconsistent deltadq meta {meta}")
    n = rows * (cols // g) * k
    q = np.zeros(n, dtype=np.int64)
    for i, w in enumerate(widths):
        q = (q << w) | read_bits(_get(arrays, prefix, f"part{i}"), w, n)
    u = q.astype(np.float32) - np.float32((2**b - 1) / 2)
    s = np.asarray(_get(arrays, prefix, "scale"), dtype=np.float32).reshape(1)
    if has_rel:
        s = _rel_scale(s, _get(arrays, prefix, "rel"))
    values = u.reshape(rows, -1) * s.reshape(-1, 1)
    if k == g:  # nothing dropped: every entry survives in row-major order, no mask to draw
        return values.reshape(rows, cols)
    out = np.zeros((rows, cols), dtype=np.float32)
    out[keep_mask(rows, cols, g, k, seed)] = values.ravel()
    return out


def decode_magnitude(arrays: Mapping[str, np.ndarray], prefix: str = "") -> np.ndarray:
    rows, cols, vb, k = (int(v) for v in _get(arrays, prefix, "meta"))
    qmax = 2 ** (vb - 1) - 1
    if _has(arrays, prefix, "bitmap"):
        flat = np.flatnonzero(np.unpackbits(_get(arrays, prefix, "bitmap"), count=rows * cols))
    elif _has(arrays, prefix, "counts"):
        row = np.repeat(np.arange(rows), _get(arrays, prefix, "counts").astype(np.int64))
        flat = row * cols + read_bits(_get(arrays, prefix, "cols"), max(1, math.ceil(math.log2(cols))), row.size)
    else:
        flat = read_bits(_get(arrays, prefix, "flat"), max(1, math.ceil(math.log2(rows * cols))), k)
    q = (read_bits(_get(arrays, prefix, "values"), vb, flat.size) - qmax).astype(np.float32)
    top = _get(arrays, prefix, "scale")
    s = (_rel_scale(top, _get(arrays, prefix, "rel"))[flat // cols] if _has(arrays, prefix, "rel")
         else np.float32(np.asarray(top, dtype=np.float32).reshape(-1)[0]))
    out = np.zeros(rows * cols, dtype=np.float32)
    out[flat] = q * s
    return out.reshape(rows, cols)


def decode_bitdelta(arrays: Mapping[str, np.ndarray], prefix: str = "") -> np.ndarray:
    rows, cols = (int(v) for v in _get(arrays, prefix, "meta")[:2])
    signs = np.unpackbits(_get(arrays, prefix, "signs"), count=rows * cols).astype(np.float32)
    scale = np.float32(np.asarray(_get(arrays, prefix, "scale"), dtype=np.float32).reshape(-1)[0])
    return ((2 * signs - 1) * scale).reshape(rows, cols)


def decode_uniform(arrays: Mapping[str, np.ndarray], prefix: str = "") -> np.ndarray:
    rows, cols, bits, g = (int(v) for v in _get(arrays, prefix, "meta"))
    qmax = 2 ** (bits - 1) - 1
    q = (read_bits(_get(arrays, prefix, "codes"), bits, rows * cols) - qmax).astype(np.float32)
    s = _rel_scale(_get(arrays, prefix, "scale"), _get(arrays, prefix, "rel")).reshape(rows, -1, 1)
    return (q.reshape(rows, -1, g) * s).reshape(rows, cols)


def decode_lowrank(arrays: Mapping[str, np.ndarray], prefix: str = "") -> np.ndarray:
    sa, sb = (np.float32(v) for v in np.asarray(_get(arrays, prefix, "scale"), dtype=np.float32))
    a = _get(arrays, prefix, "a").astype(np.float32) * sa
    return a @ (_get(arrays, prefix, "b").astype(np.float32) * sb)


DECODERS: dict[str, Callable[[Mapping[str, np.ndarray], str], np.ndarray]] = {
    "deltadq": decode_deltadq, "magnitude": decode_magnitude, "bitdelta": decode_bitdelta,
    "uniform": decode_uniform, "lowrank": decode_lowrank,
}


def decode(codec: str, arrays: Mapping[str, np.ndarray], prefix: str = "") -> np.ndarray:
    """The float32 (out, in) delta of the matrix stored under `prefix` with `codec`."""
    if codec not in DECODERS:
        raise DeltaCodecError(f"matrix {prefix!r}: unknown codec {codec!r} (this app decodes "
                              f"{', '.join(DECODERS)})")
    try:
        return DECODERS[codec](arrays, prefix)
    except DeltaCodecError as e:
        if str(e).startswith(f"matrix {prefix!r}"):
            raise
        raise DeltaCodecError(f"matrix {prefix!r}: {e}") from None
    except (ValueError, IndexError, TypeError) as e:  # a stream or scale of the wrong size
        raise DeltaCodecError(f"matrix {prefix!r}: {codec} code does not decode ({e})") from None
