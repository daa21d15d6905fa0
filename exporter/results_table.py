"""The exporters' printed summary: one row per pack, scheme, size and chosen accuracy columns."""
from __future__ import annotations

from typing import Sequence

Column = tuple[str, str, int, int]  # header, accuracy key, width, decimals


def results_table(results, columns: Sequence[Column]) -> str:
    """One row per exported pack: scheme, size, the accuracy columns (nan when missing), path."""
    head = f"{'scheme':<13} {'size MB':>8} " + " ".join(f"{h:>{w}}" for h, _, w, _ in columns) + "  path"
    rows = [head, "-" * len(head)]
    for r in results:
        cells = " ".join(f"{r.accuracy.get(key, float('nan')):>{w}.{d}f}" for _, key, w, d in columns)
        rows.append(f"{r.scheme:<13} {r.size_bytes / 1e6:>8.2f} {cells}  {r.path}")
    return "\n".join(rows)
