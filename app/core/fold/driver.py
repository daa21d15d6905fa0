"""Fold one sequence: chain the ONNX parts with ESMFold's recycling loop, then derive atoms and confidences.

Mirrors `EsmForProteinFolding.forward` / `EsmFoldingTrunk.forward` (transformers):

    s_s_0 = lm(aatype)
    recycle_s, recycle_z, backbone = 0, 0, 0          # zero coordinates give distogram bin 0
    repeat passes times:
        s_s, s_z = trunk(s_s_0, recycle_s, recycle_z, backbone, residx, mask)
        positions, states = structure(s_s, s_z, aatype, mask)
        recycle_s, recycle_z, backbone = s_s, s_z, positions[:, :, :3]   # N, CA, C
    plddt, ptm_logits, distogram = heads(s_z, states)

`num_recycles=None` runs `max_recycles` passes and `num_recycles=n` runs n + 1, as transformers does.
Before anything runs, the memory estimate (memory.py) is checked against `memory_limit` (default:
the memory available now) and a FoldMemoryError stating the limit is raised if it does not fit.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..jobs import Progress
from .atoms import atom14_to_atom37
from .confidence import predicted_aligned_error, ptm
from .memory import check_memory
from .parts import FoldingParts
from .residues import encode

DEFAULT_MAX_RECYCLES = 4


@dataclass(frozen=True)
class FoldResult:
    sequence: str
    aatype: np.ndarray        # (L,) int64, AF2 order
    positions14: np.ndarray   # (L, 14, 3) Angstrom
    atom37: np.ndarray        # (L, 37, 3) Angstrom, 0 where the atom does not exist
    atom37_mask: np.ndarray   # (L, 37) 1 where the atom exists
    plddt: np.ndarray         # (L, 37) in [0, 1], per atom37 slot
    ptm: float
    pae: np.ndarray           # (L, L) expected aligned error, Angstrom
    max_pae: float
    distogram_logits: np.ndarray  # (L, L, 64)
    passes: int

    @property
    def residue_plddt(self) -> np.ndarray:
        """(L,) pLDDT of each residue's CA on the 0-100 scale of AlphaFold/ESMFold PDB files."""
        return 100.0 * self.plddt[:, 1]


def passes_for(num_recycles: int | None, max_recycles: int) -> int:
    if num_recycles is None:
        return max_recycles
    if num_recycles < 0:
        raise ValueError(f"num_recycles must be >= 0, got {num_recycles}")
    return num_recycles + 1


def fold(parts: FoldingParts, sequence: str, num_recycles: int | None = None,
         progress: Progress | None = None, cancel=None, record: str = "<sequence>",
         memory_limit: int | None = None) -> FoldResult:
    """Fold `sequence` (one chain, no padding); `memory_limit` in bytes, None = available memory."""
    aa = encode(sequence, record)
    if "c_z" in parts.architecture:
        check_memory(parts.architecture, len(aa), parts.weight_bytes, memory_limit)
    passes = passes_for(num_recycles, int(parts.architecture.get("max_recycles", DEFAULT_MAX_RECYCLES)))
    s_z, sm = _recycle(parts, aa, passes, progress, cancel)
    heads = parts.run("heads", {"s_z": s_z, "states": sm["states"]})
    if progress:
        progress(passes + 1, passes + 1, "confidence")
    return _result(sequence, aa, sm["positions"][0], heads, passes)


def _recycle(parts: FoldingParts, aa: np.ndarray, passes: int, progress, cancel) -> tuple[np.ndarray, dict]:
    """lm once, then `passes` x (trunk, structure); returns the last s_z and structure outputs."""
    n = len(aa)
    if progress:
        progress(0, passes + 1, "language model")
    aatype, mask, residx = aa[None], np.ones((1, n), np.float32), np.arange(n, dtype=np.int64)[None]
    s_s_0 = parts.run("lm", {"aatype": aatype})["s_s_0"]  # (1, L, c_s)
    recycle_s = np.zeros_like(s_s_0)
    recycle_z = np.zeros((1, n, n, parts.dim("trunk", "recycle_z")), np.float32)
    backbone = np.zeros((1, n, 3, 3), np.float32)  # N, CA, C of the previous pass
    for i in range(passes):
        if cancel is not None:
            cancel.check()
        trunk = parts.run("trunk", {"s_s_0": s_s_0, "recycle_s": recycle_s, "recycle_z": recycle_z,
                                    "recycle_backbone": backbone, "residx": residx, "mask": mask})
        sm = parts.run("structure", {"s_s": trunk["s_s"], "s_z": trunk["s_z"], "aatype": aatype, "mask": mask})
        recycle_s, recycle_z, backbone = trunk["s_s"], trunk["s_z"], sm["positions"][:, :, :3]
        if progress:
            progress(i + 1, passes + 1, f"recycle {i + 1}/{passes}")
    return recycle_z, sm


def _result(sequence: str, aa: np.ndarray, positions14: np.ndarray, heads: dict, passes: int) -> FoldResult:
    atom37, mask37 = atom14_to_atom37(positions14, aa)
    logits = heads["ptm_logits"][0]
    pae, max_pae = predicted_aligned_error(logits)
    return FoldResult(sequence=sequence, aatype=aa, positions14=positions14, atom37=atom37, atom37_mask=mask37,
                      plddt=heads["plddt"][0], ptm=ptm(logits), pae=pae, max_pae=max_pae,
                      distogram_logits=heads["distogram_logits"][0], passes=passes)
