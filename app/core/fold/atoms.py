"""atom14 -> atom37 coordinates (AlphaFold's `atom14_to_atom37`) and the atom records structure files list."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from .residues import ATOM37_EXISTS, ATOM37_TO_ATOM14, ATOM_TYPES, RESTYPE_3


def atom14_to_atom37(positions14: np.ndarray, aatype: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(L, 14, 3) positions and (L,) aatype -> (L, 37, 3) positions (0 where absent), (L, 37) mask."""
    index = ATOM37_TO_ATOM14[aatype]  # (L, 37)
    mask = ATOM37_EXISTS[aatype]
    atom37 = np.take_along_axis(positions14, index[..., None], axis=1) * mask[..., None]
    return atom37.astype(np.float32), mask


@dataclass(frozen=True)
class AtomSite:
    """One atom of a structure file; b_factor is pLDDT on the 0-100 scale."""
    serial: int
    name: str
    residue: str  # three-letter code
    seq_id: int   # 1-based residue number
    x: float
    y: float
    z: float
    b_factor: float

    @property
    def element(self) -> str:
        return self.name[0]  # protein atoms are C, N, O or S


def atom_sites(aatype: np.ndarray, atom37: np.ndarray, mask37: np.ndarray, plddt: np.ndarray,
               residue_index: np.ndarray | None = None) -> Iterator[AtomSite]:
    """Existing atoms in residue then atom37 order; plddt (L, 37) in [0, 1] becomes 0-100 B-factors."""
    numbers = np.arange(1, len(aatype) + 1) if residue_index is None else residue_index
    serial = 1
    for i, restype in enumerate(aatype):
        for j, name in enumerate(ATOM_TYPES):
            if mask37[i, j] < 0.5:
                continue
            x, y, z = (float(v) for v in atom37[i, j])
            yield AtomSite(serial, name, RESTYPE_3[restype], int(numbers[i]), x, y, z, 100.0 * float(plddt[i, j]))
            serial += 1
