"""Plain-numpy bit tools shared by the delta codecs: a counter-based hash, bit packing, group ranks.

Everything here is integer arithmetic on numpy arrays with no random-number generator, so an
app-side decoder can copy these functions verbatim and reproduce the encoder bit for bit on any
numpy version (numpy's Generator streams are not guaranteed stable across releases, NEP 19).
"""
from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_SEED_MIX = np.uint64(0xD1B54A32D192ED03)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def hash_u64(seed: int, n: int) -> np.ndarray:
    """splitmix64 finaliser of ((i + 1) * GOLDEN + seed * SEED_MIX) mod 2^64, i = 0..n-1, as uint64 (n,).

    z = (i+1)*0x9E3779B97F4A7C15 + seed*0xD1B54A32D192ED03;  z ^= z>>30; z *= 0xBF58476D1CE4E5B9;
    z ^= z>>27; z *= 0x94D049BB133111EB; z ^= z>>31   (all uint64, wrapping).
    """
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed={seed} not in [0, 2^32)")
    z = (np.arange(n, dtype=np.uint64) + np.uint64(1)) * _GOLDEN + np.full(1, seed, dtype=np.uint64) * _SEED_MIX
    z ^= z >> np.uint64(30)
    z *= _M1
    z ^= z >> np.uint64(27)
    z *= _M2
    z ^= z >> np.uint64(31)
    return z


def group_ranks(shape: tuple[int, int], group_size: int, seed: int) -> np.ndarray:
    """Rank (0 = smallest hash) of each entry inside its group of `group_size` consecutive columns.

    Entry (r, c) has hash hash_u64(seed, rows*cols)[r*cols + c]; groups are columns
    [j*g, (j+1)*g) of one row; ties (never seen in practice) go to the lower column (stable sort).
    Returns int32 (rows, cols). Keeping `rank < k` keeps exactly k entries of every group.
    """
    rows, cols = shape
    h = hash_u64(seed, rows * cols).reshape(rows, cols // group_size, group_size)
    order = np.argsort(h, axis=-1, kind="stable")          # (rows, groups, g): columns by hash
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(group_size)[None, None, :], axis=-1)
    return ranks.reshape(rows, cols).astype(np.int32)


def pack_bits(values: np.ndarray, width: int) -> np.ndarray:
    """Pack unsigned ints < 2^width, most significant bit first, into a uint8 stream (np.packbits)."""
    v = np.asarray(values, dtype=np.uint64).ravel()
    if v.size and int(v.max()) >> width:
        raise ValueError(f"value {int(v.max())} does not fit in {width} bits")
    shifts = np.arange(width - 1, -1, -1, dtype=np.uint64)
    bits = ((v[:, None] >> shifts[None, :]) & np.uint64(1)).astype(np.uint8)  # (n, width)
    return np.packbits(bits.ravel())


def unpack_bits(packed: np.ndarray, width: int, count: int) -> np.ndarray:
    """Inverse of pack_bits: the first `count` `width`-bit values of the stream, as int64 (count,)."""
    bits = np.unpackbits(np.asarray(packed, dtype=np.uint8), count=count * width)
    weights = (np.int64(1) << np.arange(width - 1, -1, -1, dtype=np.int64))
    return bits.reshape(count, width).astype(np.int64) @ weights


def packed_bits(count: int, width: int) -> int:
    """Bits the uint8 stream of pack_bits(count values, width) occupies (rounded up to a byte)."""
    return 8 * ((count * width + 7) // 8)
