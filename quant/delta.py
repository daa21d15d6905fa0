"""DeltaDQ delta codec: seeded group-wise dropout + separately stored low-bit parts of the survivors.

Jiang et al. 2024, "DeltaDQ: Ultra-High Delta Compression for Fine-Tuned LLMs via Group-wise
Dropout and Separate Quantization", arXiv 2410.08666. delta = W_finetuned - W_base, (out, in).
No public code or full text of the method was found (searched code, docs, pages, issues); what
follows the paper follows its abstract, the rest is our reading and says so.

Follows the paper
- Only the delta is coded; the base weights are stored once elsewhere.
- Group-wise dropout: each row is cut into groups of g consecutive input columns and entries are
  dropped at random inside every group (DARE-style random dropout, not magnitude pruning).
- The group size is chosen per matrix by a search over candidates, scored by how well the
  intermediate results x @ delta_hat^T match x @ delta^T ("balanced intermediate results").
- Separate quantization: the survivors are quantized uniformly to b bits and the b-bit code is
  decomposed into lower-bit parts (high bits / low bits) stored separately.
Our reading
- Dropout keeps exactly k of every g entries (stratified) and the mask is not stored: it is
  regenerated from a 32-bit seed by a counter hash (quant/delta_bits.py), so indices cost 0 bits.
- Instead of the fixed DARE rescale 1/p, the survivors' scale is fitted by least squares: against
  x @ delta^T on calib_inputs when given, else against delta itself (Frobenius = the expected
  output error for white isotropic inputs; that fit does not rescale). The fit returns exactly
  1/p when the intermediate results x_j * delta_ij are coherent (test_delta.py); on real ESM-2
  inputs it lands between 1 and 1/p (median 1.1x at 16x, 2-6x at 64-128x where 1/p = 5-14).
- Group-size search objective: relative error of x @ delta_hat^T on calib_inputs, or Frobenius
  without inputs. With a stratified mask g mostly sets the granularity of k: on the RASH
  fine-tune errors fall from g = 8 to g = 64 and are flat (< 1%) beyond; g = in often wins.
- Grid: mid-rise, 2^b levels and no zero (a survivor is never decoded to 0), value =
  s_row * (q - (2^b - 1) / 2), q in [0, 2^b). Per-row scales: fp16 ratios to one fp32 scale.
- Parts: q = (hi << w_lo) | lo, widths (ceil(b/2), floor(b/2)) for parts=2. Indices being free
  here, splitting saves no bits (the paper's saving needs stored indices); it is a layout whose
  low part can be dropped: decode(parts=1) uses the midpoint of the low part.
- b, g, row/tensor scale and k are searched under the budget of `ratio`, lowest error wins.

Size: ratio = 16 * out * in / code_bits(code): compression vs the delta stored in fp16, and
code_bits is 8 x every byte code_to_arrays writes (the uint32 meta header included). encode_delta
guarantees code_bits <= 16 * out * in / ratio: k is the largest integer with
header + scales + sum_parts 8*ceil(n*w/8) <= budget, n = out * (in/g) * k survivors.

Ratio -> configuration, as the search chose it on ESM-2 8M fine-tunes (bench/results/delta_codec.md):
b = 1 at every ratio (sign of a survivor x fitted scale; b = 2..8 never won: at a fixed budget
twice as many signs beat half as many 2-bit values), keep rate = what the budget leaves:
  16x: k/g = 303/320 (per-row scales) or 319/320 (tensor scale), g = in mostly
  32x: ~0.45-0.5      64x: ~0.2-0.25      128x: ~0.07-0.12 (mostly tensor scale: row scales cost 16/in b/param)
quant/delta_alloc.py spends one model-wide budget unevenly across matrices instead.

Decoding from the arrays (what an app-side numpy decoder must do; decode_arrays does exactly this):
  meta = uint32 [rows, cols, seed, g, k, b, row_scales(0/1), n_parts, w_0, ..., w_{m-1}]
  ranks = group_ranks((rows, cols), g, seed)   # quant/delta_bits.py: hash_u64, group_ranks,
  mask = ranks < k;  n = rows * (cols // g) * k  #   unpack_bits are plain numpy, copy verbatim
  q = 0 (int64); for i in range(m): q = (q << w_i) | unpack_bits(part_i, w_i, n)
  u = float32(q) - float32((2^b - 1) / 2)
  s = scale (float32 (1,)) * (rel.astype(float32) if row_scales else 1)       # (rows,) or (1,)
  out = zeros((rows, cols), float32); out[mask] = (u.reshape(rows, -1) * s[:, None]).ravel()
  (boolean-mask assignment fills row-major, i.e. survivors in (row, column) order)
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np

from .delta_bits import group_ranks, pack_bits, packed_bits, unpack_bits
from .delta_errors import DeltaBudgetError, DeltaInputError, check_calib, check_delta, check_ratio

GROUP_CANDIDATES = (8, 16, 32, 64, 128, 256, 512)  # plus in_features itself (one group per row)
BITS_CANDIDATES = (1, 2, 3, 4, 6, 8)
CLIP_FRACTIONS = (1.0, 0.8, 0.6, 0.45)  # step = c * max|survivor| / 2^(b-1), best by survivor MSE


@dataclass(frozen=True, eq=False)
class DeltaCode:
    """One coded delta matrix: everything decode needs, nothing more (indices are the seed)."""

    shape: tuple[int, int]           # (out, in)
    group_size: int                  # g: columns per group; divides in
    keep: int                        # k: survivors per group, 1 <= k <= g (keep rate k/g)
    bits: int                        # b: width of the survivor code
    seed: int                        # 32-bit seed of the dropout mask
    part_widths: tuple[int, ...]     # widths of the parts, high first; sum == bits
    parts: tuple[np.ndarray, ...]    # uint8 packed streams, one per part
    scale: np.ndarray                # float32 (1,): tensor scale
    rel: np.ndarray | None           # float16 (out,): per-row scale / tensor scale, or None

    @property
    def n_kept(self) -> int:
        return self.shape[0] * (self.shape[1] // self.group_size) * self.keep


@dataclass(frozen=True)
class GroupSizeSearch:
    """Result of search_group_size: the chosen g and the best error reached with each candidate."""

    best: int
    errors: dict[int, float]
    objective: str                   # "outputs" (x @ delta on calib_inputs) or "frobenius"


def part_widths(bits: int, parts: int = 2) -> tuple[int, ...]:
    """Split b bits into `parts` widths, high part first and widest: 8 -> (4, 4), 3 -> (2, 1)."""
    if not 1 <= bits <= 16:
        raise DeltaInputError("bits", bits, "expected 1..16")
    if not 1 <= parts:
        raise DeltaInputError("parts", parts, "expected >= 1")
    m = min(parts, bits)
    return tuple(bits // m + (1 if i < bits % m else 0) for i in range(m))


def header_bits(n_parts: int) -> int:
    """Bits of the uint32 meta array: 8 fixed fields + one width per part."""
    return 32 * (8 + n_parts)


def predicted_bits(shape: tuple[int, int], group_size: int, keep: int, bits: int, row_scales: bool,
                   parts: int = 2) -> int:
    """code_bits of a code with this configuration, without building it."""
    widths = part_widths(bits, parts)
    n = shape[0] * (shape[1] // group_size) * keep
    return (header_bits(len(widths)) + 32 + (16 * shape[0] if row_scales else 0)
            + sum(packed_bits(n, w) for w in widths))


def max_keep(shape: tuple[int, int], budget_bits: float, group_size: int, bits: int, row_scales: bool,
             parts: int = 2) -> int:
    """Largest k <= g whose code fits in budget_bits; 0 if even k = 1 does not fit."""
    k = min(group_size, max(0, int(budget_bits // (shape[0] * (shape[1] // group_size) * bits))))
    while k > 0 and predicted_bits(shape, group_size, k, bits, row_scales, parts) > budget_bits:
        k -= 1
    return k


def _codes(v: np.ndarray, bits: int, row_scales: bool) -> np.ndarray:
    """Mid-rise b-bit codes q of survivors v (out, m), step chosen by survivor MSE after a LS scale."""
    if bits == 1:
        return (v >= 0).astype(np.int64)
    half, top = 2 ** (bits - 1), 2**bits - 1
    axis = 1 if row_scales else None
    amax = np.abs(v).max(axis=axis, keepdims=True)
    amax = np.where(amax > 0, amax, 1.0)
    best, best_err = None, np.inf
    for c in CLIP_FRACTIONS:
        q = np.clip(np.floor(v / (c * amax / half)) + half, 0, top)
        u = q - top / 2
        a = np.sum(v * u, axis=axis, keepdims=True) / np.maximum(np.sum(u * u, axis=axis, keepdims=True), 1e-30)
        err = float(np.sum((v - a * u) ** 2))
        if err < best_err:
            best, best_err = q, err
    return best.astype(np.int64)


def _fit_scales(v: np.ndarray, total_sq: float, mask: np.ndarray, u: np.ndarray, row_scales: bool,
                calib: np.ndarray | None, y: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None, float]:
    """Least-squares scale(s) of the unit code u (out, m) of survivors v, stored as fp32 tensor x fp16
    rel, and the relative error they leave: of x @ delta_hat^T on calib, else of delta_hat (Frobenius,
    total_sq = ||delta||^2)."""
    if calib is None:
        ref = v                                                         # dropped entries: error d^2
        z, extra = u, total_sq - float(np.sum(v * v))
    else:
        dense = np.zeros(mask.shape, dtype=np.float32)
        dense[mask] = u.ravel()
        ref, z, extra = y.T, (calib @ dense.T).T, 0.0                   # (out, n): x @ U^T per row
    num, den = np.sum(ref * z, axis=1), np.sum(z * z, axis=1)
    if row_scales:
        a = num / np.maximum(den, 1e-30)
        top = float(np.max(np.abs(a))) or 1.0
        scale, rel = np.array([top], dtype=np.float32), (a / top).astype(np.float16)
    else:
        scale, rel = np.array([np.sum(num) / max(float(np.sum(den)), 1e-30)], dtype=np.float32), None
    s = _row_scale(scale, rel).reshape(-1, 1)
    err = float(np.sum((ref - z * s) ** 2)) + extra
    norm = float(np.sum(ref * ref)) + extra
    return scale, rel, (err / norm) ** 0.5 if norm > 0 else 0.0


def _row_scale(scale: np.ndarray, rel: np.ndarray | None) -> np.ndarray:
    """Per-row float32 scale (rows,) or (1,): scale * rel, one float32 multiply."""
    s = np.asarray(scale, dtype=np.float32).reshape(1)
    return s if rel is None else s * np.asarray(rel).astype(np.float32)


@dataclass(frozen=True, eq=False)
class _Candidate:
    error: float
    group_size: int
    keep: int
    bits: int
    codes: np.ndarray        # int64 (n_kept,) row-major
    scale: np.ndarray
    rel: np.ndarray | None


def _try(delta: np.ndarray, total_sq: float, ranks: np.ndarray, g: int, k: int, bits: int, row_scales: bool,
         calib: np.ndarray | None, y: np.ndarray | None) -> _Candidate:
    """Quantize the survivors of one configuration and score it (no packing)."""
    mask = ranks < k
    v = delta[mask].reshape(delta.shape[0], -1)                        # (out, m) row-major survivors
    q = _codes(v, bits, row_scales)
    u = (q - (2**bits - 1) / 2).astype(np.float32)
    scale, rel, err = _fit_scales(v, total_sq, mask, u, row_scales, calib, y)
    return _Candidate(err, g, k, bits, q.ravel(), scale, rel)


def _pack(c: _Candidate, shape: tuple[int, int], seed: int, parts: int) -> DeltaCode:
    widths = part_widths(c.bits, parts)
    streams, shift = [], c.bits
    for w in widths:
        shift -= w
        streams.append(pack_bits((c.codes >> shift) & (2**w - 1), w))
    return DeltaCode(shape, c.group_size, c.keep, c.bits, seed, widths, tuple(streams), c.scale, c.rel)


def _group_candidates(in_features: int) -> tuple[int, ...]:
    """The default candidates that divide in_features, and in_features."""
    return tuple(sorted({g for g in GROUP_CANDIDATES if in_features % g == 0 and g < in_features} | {in_features}))


@lru_cache(maxsize=32)
def _ranks(shape: tuple[int, int], group_size: int, seed: int) -> np.ndarray:
    """group_ranks, cached: the mask depends on (shape, g, seed) only, never on the data."""
    r = group_ranks(shape, group_size, seed)
    r.flags.writeable = False
    return r


def _search(delta, ratio, groups, bits_list, scale_modes, seed, parts, calib) -> list[_Candidate]:
    """Every configuration that fits the budget of `ratio`, scored, for the candidate grids."""
    budget = 16.0 * delta.size / ratio
    y = None if calib is None else calib @ delta.T                     # (n, out)
    total_sq = float(np.sum(delta.astype(np.float64) ** 2))
    found = []
    for g in groups:
        ranks = _ranks(tuple(delta.shape), g, seed)
        for b in bits_list:
            for row_scales in scale_modes:
                k = max_keep(delta.shape, budget, g, b, row_scales, parts)
                if k >= 1:
                    found.append(_try(delta, total_sq, ranks, g, k, b, row_scales, calib, y))
    return found


def _check_group_size(group_size: int, in_features: int) -> None:
    if not (isinstance(group_size, (int, np.integer)) and 0 < group_size <= in_features
            and in_features % group_size == 0):
        raise DeltaInputError("group_size", group_size, f"must be a positive divisor of in_features={in_features}")


def _grid(value, default: tuple[int, ...]) -> tuple[int, ...]:
    """An int fixes a searched parameter, a sequence is its grid, None is the default grid."""
    if value is None:
        return default
    return (value,) if isinstance(value, (int, np.integer)) else tuple(value)


def encode_delta(delta: np.ndarray, ratio: float, bits: int | Sequence[int] | None = None,
                 group_size: int | Sequence[int] | None = None, seed: int = 0,
                 calib_inputs: np.ndarray | None = None, row_scales: bool | None = None,
                 parts: int = 2) -> DeltaCode:
    """Code delta (out, in) at `ratio`x vs fp16; None arguments are searched (lowest error wins).

    bits / group_size: an int fixes it, a sequence is the grid searched, None the default grid
    (BITS_CANDIDATES; GROUP_CANDIDATES dividing in, plus in). calib_inputs (n, in): real inputs of
    this layer; the search then minimises the relative error of x @ delta_hat^T, otherwise that of
    delta_hat (Frobenius). Raises DeltaBudgetError when nothing fits.
    """
    d = check_delta(delta)
    r = check_ratio(ratio)
    x = check_calib(calib_inputs, d.shape[1])
    bits_list = _grid(bits, BITS_CANDIDATES)
    for b in bits_list:
        if not (isinstance(b, (int, np.integer)) and 1 <= b <= 16):
            raise DeltaInputError("bits", bits, "expected ints in 1..16, or None (searched)")
    if not 0 <= int(seed) < 2**32:
        raise DeltaInputError("seed", seed, "expected 0 <= seed < 2^32")
    groups = _grid(group_size, _group_candidates(d.shape[1]))
    for g in groups:
        _check_group_size(g, d.shape[1])
    modes = (row_scales,) if row_scales is not None else (False, True)
    found = _search(d, r, groups, bits_list, modes, int(seed), parts, x)
    if not found:
        raise DeltaBudgetError("ratio", ratio, f"no DeltaDQ code of a {d.shape} delta fits "
                               f"{16 * d.size / r:.0f} bits (bits={bits}, group_size={group_size})")
    return _pack(min(found, key=lambda c: c.error), d.shape, int(seed), parts)


def search_group_size(delta: np.ndarray, candidates, ratio: float, calib_inputs: np.ndarray | None = None,
                      bits: int | None = None, seed: int = 0, parts: int = 2) -> GroupSizeSearch:
    """Best group size among `candidates` (divisors of in) at `ratio`, with the error of each."""
    d = check_delta(delta)
    r = check_ratio(ratio)
    x = check_calib(calib_inputs, d.shape[1])
    for g in candidates:
        _check_group_size(g, d.shape[1])
    bits_list = (bits,) if bits is not None else BITS_CANDIDATES
    errors: dict[int, float] = {}
    for g in candidates:
        found = _search(d, r, (int(g),), bits_list, (False, True), int(seed), parts, x)
        errors[int(g)] = min((c.error for c in found), default=float("inf"))
    best = min(errors, key=errors.get)
    if not np.isfinite(errors[best]):
        raise DeltaBudgetError("ratio", ratio, f"no group size in {tuple(candidates)} fits the budget")
    return GroupSizeSearch(best, errors, "frobenius" if x is None else "outputs")


def decode_delta(code: DeltaCode, parts: int | None = None) -> np.ndarray:
    """The float32 (out, in) delta the code represents; `parts` < all drops the low parts."""
    return decode_arrays(code_to_arrays(code), parts=parts)


def code_bits(code: DeltaCode) -> int:
    """Honest size: 8 x the bytes of every array code_to_arrays writes (meta header included)."""
    return 8 * sum(a.nbytes for a in code_to_arrays(code).values())


def _key(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def code_to_arrays(code: DeltaCode, prefix: str = "") -> dict[str, np.ndarray]:
    """{prefix.meta, prefix.scale, [prefix.rel], prefix.part0..}: numpy arrays for an .npz file."""
    meta = [*code.shape, code.seed, code.group_size, code.keep, code.bits, int(code.rel is not None),
            len(code.part_widths), *code.part_widths]
    out = {_key(prefix, "meta"): np.array(meta, dtype=np.uint32), _key(prefix, "scale"): code.scale}
    if code.rel is not None:
        out[_key(prefix, "rel")] = code.rel
    for i, p in enumerate(code.parts):
        out[_key(prefix, f"part{i}")] = p
    return out


def code_from_arrays(arrays, prefix: str = "") -> DeltaCode:
    """Inverse of code_to_arrays."""
    meta = [int(v) for v in arrays[_key(prefix, "meta")]]
    rows, cols, seed, g, k, b, has_rel, m = meta[:8]
    widths = tuple(meta[8:8 + m])
    rel = arrays[_key(prefix, "rel")].astype(np.float16) if has_rel else None
    parts = tuple(np.asarray(arrays[_key(prefix, f"part{i}")], dtype=np.uint8) for i in range(m))
    return DeltaCode((rows, cols), g, k, b, seed, widths, parts,
                     np.asarray(arrays[_key(prefix, "scale")], dtype=np.float32), rel)


def decode_arrays(arrays, prefix: str = "", parts: int | None = None) -> np.ndarray:
    """Plain-numpy decode from the stored arrays (the algorithm of the module docstring)."""
    meta = [int(v) for v in arrays[_key(prefix, "meta")]]
    rows, cols, seed, g, k, b, has_rel, m = meta[:8]
    widths = meta[8:8 + m]
    use = m if parts is None else max(1, min(int(parts), m))
    mask = _ranks((rows, cols), g, seed) < k                          # = group_ranks(...) < k, cached
    n = rows * (cols // g) * k
    q = np.zeros(n, dtype=np.int64)
    for i in range(use):
        q = (q << widths[i]) | unpack_bits(arrays[_key(prefix, f"part{i}")], widths[i], n)
    rest = sum(widths[use:])
    u = (q.astype(np.float32) * np.float32(2**rest) + np.float32((2**rest - 1) / 2)
         - np.float32((2**b - 1) / 2))
    s = _row_scale(arrays[_key(prefix, "scale")], arrays[_key(prefix, "rel")] if has_rel else None)
    out = np.zeros((rows, cols), dtype=np.float32)
    out[mask] = (u.reshape(rows, -1) * s.reshape(-1, 1)).ravel()
    return out
