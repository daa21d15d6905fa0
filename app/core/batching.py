"""Length-sorted packing of many records into padded batches under a token budget.

ESM-2 graphs (exporter.esm2_graph) take right-padded batches: `padding_idx` tokens get a zero
embedding, a -1e9 attention bias as keys and no say in token-dropout's length, and rotary
positions count from the left, so a real position's logits and embeddings do not depend on
what else shares its batch. That holds for graphs whose activation grids are fixed (fp32,
int8, pwlq8 with static breakpoints) or per token (pwlq8's tokens form); a graph that quantizes activations with statistics of
the whole tensor at run time (dynamic-int8, ternary, pwlq8 bp_mode=dynamic) couples the rows
of a batch, and the contact head's APC sums over padded rows too. `batching_is_exact` runs a
probe to tell, so callers fall back to one record per pass (or equal lengths only) where
packing would change results.

A batch costs about rows x padded length tokens, so records are sorted by length and each batch
takes the next records while rows x longest <= `token_budget`: neighbours in the sorted order
have nearly equal lengths, and padding stays a few percent.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .runtime import Esm2Runtime

log = logging.getLogger(__name__)

DEFAULT_TOKEN_BUDGET = 1024  # padded tokens per pass: 4096 ran slower than batch 1 here (bench/results/throughput.md)
DEFAULT_MAX_ROWS = 64
PROBE = ("MKTAYIAKQRQISFVKSHFSRQ", "GWWCHHPPDE")  # two lengths, unlike residues
PROBE_RTOL = 1e-4  # of the largest |output|: float reassociation is ~1e-6, one int8 step ~4e-3


@dataclass(frozen=True)
class Batch:
    """Indices (into the caller's list) of the records of one pass, longest last."""

    indices: tuple[int, ...]
    width: int  # padded token length of the pass

    @property
    def tokens(self) -> int:
        return len(self.indices) * self.width


def plan_batches(lengths: Sequence[int], token_budget: int = DEFAULT_TOKEN_BUDGET,
                 max_rows: int = DEFAULT_MAX_ROWS, n_special: int = 2,
                 equal_lengths: bool = False) -> list[Batch]:
    """Batches over `lengths` (residues per record), ascending by length, each within
    `token_budget` padded tokens (a record longer than the budget gets a batch of its own).
    `equal_lengths` packs only records of one length together (no padding at all)."""
    if token_budget < 1 or max_rows < 1:
        raise ValueError(f"token_budget and max_rows must be >= 1, got {token_budget}, {max_rows}")
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    batches: list[Batch] = []
    rows: list[int] = []
    for i in order:
        width = lengths[i] + n_special
        fits = rows and len(rows) < max_rows and (len(rows) + 1) * width <= token_budget
        if fits and equal_lengths:
            fits = lengths[rows[0]] == lengths[i]
        if rows and not fits:
            batches.append(Batch(tuple(rows), lengths[rows[-1]] + n_special))
            rows = []
        rows.append(i)
    if rows:
        batches.append(Batch(tuple(rows), lengths[rows[-1]] + n_special))
    return batches


def padding_fraction(batches: Sequence[Batch], lengths: Sequence[int], n_special: int = 2) -> float:
    """Share of the planned tokens that are padding."""
    total = sum(b.tokens for b in batches)
    real = sum(lengths[i] + n_special for b in batches for i in b.indices)
    return 1.0 - real / total if total else 0.0


def run_packed(runtime: Esm2Runtime, sequences: Sequence[str],
               outputs: Sequence[str] = ("logits",)) -> list[dict[str, np.ndarray]]:
    """One pass over `sequences` right-padded into one batch; per sequence {output: array}
    cropped to its own tokens (L + BOS/EOS) or, for contacts, its (L, L) residues."""
    tokens = runtime.tokenizer.batch_encode(sequences)
    results = runtime.run(tokens, outputs)
    n_special = runtime.tokenizer.n_special
    out = []
    for row, seq in enumerate(sequences):
        width = len(seq) + n_special
        item = {}
        for name, array in results.items():
            item[name] = array[row, :len(seq), :len(seq)] if name == "contacts" else array[row, :width]
        out.append(item)
    return out


def batching_is_exact(runtime: Esm2Runtime, outputs: Sequence[str] = ("logits",),
                      rtol: float = PROBE_RTOL) -> bool:
    """Whether packing two unlike records changes `outputs` by more than `rtol` x max |output|:
    one padded pass against one pass per record (three small passes)."""
    packed = run_packed(runtime, PROBE, outputs)
    for seq, got in zip(PROBE, packed):
        alone = run_packed(runtime, [seq], outputs)[0]
        for name in outputs:
            ref = alone[name].astype(np.float64)
            scale = max(float(np.max(np.abs(ref))), 1e-30)
            err = float(np.max(np.abs(got[name].astype(np.float64) - ref)))
            if not err <= rtol * scale:
                log.info("packing changes %r of pack %s by %.3g (of %.3g): one record per pass",
                         name, runtime.pack.name, err, scale)
                return False
    return True
