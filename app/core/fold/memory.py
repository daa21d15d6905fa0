"""Peak-memory estimate for folding one sequence, and a check that refuses before memory runs out.

Float32, batch 1, parts run one at a time (app/core/fold/driver.py). Per part, the largest live
activations (counted in floats, L residues):

    trunk      triangle attention logits, bias sum and softmax: 3 * H_z * L^2 * R, H_z = c_z / pairwise_head_width,
               R = L unchunked or min(chunk_size, L) rows per chunk (the pack's `chunk_size`; packs
               with `unchunked_rows` run unchunked up to max(chunk_size, unchunked_rows) residues)
               pair tensors (z, LayerNorm, projections, gates, 4*c_z MLP): 24 * c_z * L^2, plus
               8 * c_z * L^2 when chunked (padded q/k/v and the stacked chunk outputs)
    structure  IPA point terms H * (6 P_qk + 3 P_v + 4) * L^2, pair inputs c_z + 3 c_zm per pair
    heads      ptm and distogram logits, symmetrised: 5 * 64 * L^2, plus 2 * c_z * L^2
    lm         ESM-2 attention 3 * heads * T^2 and 16 * E * T, T = L + 2

plus what the driver holds between parts (recycled s_z, the new s_z, heads input: 3 * c_z * L^2),
the weights of all parts (file bytes) and a fixed runtime overhead. The coefficients were set
from onnxruntime's measured peak RSS on a tiny pack and err on the high side (tests/fold checks
that the estimate bounds a measured run).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

FLOAT = 4
RUNTIME_OVERHEAD = 256 << 20  # Python, numpy, onnxruntime itself
GIB = float(1 << 30)


class FoldMemoryError(MemoryError):
    """Folding this length would need more memory than the limit; the message gives both and the longest fit."""

    def __init__(self, length: int, needed: int, limit: int, longest: int) -> None:
        self.length, self.needed, self.limit, self.longest = length, needed, limit, longest
        super().__init__(
            f"folding {length} residues needs about {needed / GIB:.1f} GiB, over the limit of {limit / GIB:.1f} GiB "
            f"(the pair representation grows with L^2 and triangular attention with L^3); "
            f"the longest sequence that fits is about {longest} residues")


@dataclass(frozen=True)
class MemoryEstimate:
    length: int
    weights: int      # bytes of all parts' weights
    held: int         # bytes the driver keeps between parts
    activations: int  # bytes of the largest part's activations
    peak_part: str

    @property
    def total(self) -> int:
        return self.weights + self.held + self.activations + RUNTIME_OVERHEAD


def part_activations(arch: dict, length: int) -> dict[str, int]:
    """Bytes of live activations per part for one sequence of `length` residues (see module docstring)."""
    n, c_z = length, arch["c_z"]
    h_z = c_z // arch["pairwise_head_width"]
    ipa = arch["ipa_heads"] * (6 * arch["ipa_qk_points"] + 3 * arch["ipa_v_points"] + 4)
    t = n + 2
    chunk = arch.get("chunk_size")
    whole = "unchunked_rows" in arch and n <= max(chunk or 0, arch["unchunked_rows"] or 0)
    rows, pair = (n, 24) if not chunk or whole else (min(chunk, n), 32)
    floats = {
        "trunk": 3 * h_z * rows * n ** 2 + pair * c_z * n ** 2 + 8 * arch["c_s"] * n,
        "structure": (ipa + c_z + 3 * arch["c_zm"]) * n ** 2 + 16 * arch["c_sm"] * n,
        "heads": (5 * 64 + 2 * c_z) * n ** 2,
        "lm": 3 * arch["esm_attention_heads"] * t ** 2 + 16 * arch["esm_embed_dim"] * t,
    }
    return {k: FLOAT * v for k, v in floats.items()}


def estimate(arch: dict, length: int, weight_bytes: int) -> MemoryEstimate:
    parts = part_activations(arch, length)
    peak = max(parts, key=parts.get)
    held = FLOAT * 3 * arch["c_z"] * length ** 2
    return MemoryEstimate(length, weight_bytes, held, parts[peak], peak)


def longest_fitting(arch: dict, weight_bytes: int, limit: int, upper: int = 1 << 16) -> int:
    """The largest length whose estimate is within `limit` (0 if none), by bisection."""
    lo, hi = 0, upper
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if estimate(arch, mid, weight_bytes).total <= limit:
            lo = mid
        else:
            hi = mid - 1
    return lo


def available_memory() -> int | None:
    """MemAvailable from /proc/meminfo, else physical memory from sysconf, else None (unknown)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def check_memory(arch: dict, length: int, weight_bytes: int, limit: int | None = None) -> MemoryEstimate:
    """The estimate for `length`; raises FoldMemoryError if it exceeds `limit` (default: available memory)."""
    est = estimate(arch, length, weight_bytes)
    limit = available_memory() if limit is None else limit
    if limit is not None and est.total > limit:
        raise FoldMemoryError(length, est.total, limit, longest_fitting(arch, weight_bytes, limit))
    return est
