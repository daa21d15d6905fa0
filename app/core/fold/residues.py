"""AlphaFold residue and atom conventions used by ESMFold (atom14 / atom37 layouts), in numpy.

Tables follow AlphaFold's `residue_constants` (restypes, atom_types, restype_name_to_atom14_names);
tests/fold checks them against the copy that ships with transformers.
"""
from __future__ import annotations

import numpy as np

from ..alphabet import AF2_RESTYPES

RESTYPES = AF2_RESTYPES  # aatype 0..19; 20 is X (unknown)
UNKNOWN = len(RESTYPES)
RESTYPE_3 = ("ALA", "ARG", "ASN", "ASP", "CYS", "GLN", "GLU", "GLY", "HIS", "ILE", "LEU", "LYS", "MET", "PHE",
             "PRO", "SER", "THR", "TRP", "TYR", "VAL", "UNK")
ATOM_TYPES = ("N", "CA", "C", "CB", "O", "CG", "CG1", "CG2", "OG", "OG1", "SG", "CD", "CD1", "CD2", "ND1", "ND2",
              "OD1", "OD2", "SD", "CE", "CE1", "CE2", "CE3", "NE", "NE1", "NE2", "OE1", "OE2", "CH2", "NH1",
              "NH2", "OH", "CZ", "CZ2", "CZ3", "NZ", "OXT")  # the atom37 slots
_ATOM14 = {  # atom14 slot order per residue; unused slots are empty
    "ALA": "N CA C O CB", "ARG": "N CA C O CB CG CD NE CZ NH1 NH2", "ASN": "N CA C O CB CG OD1 ND2",
    "ASP": "N CA C O CB CG OD1 OD2", "CYS": "N CA C O CB SG", "GLN": "N CA C O CB CG CD OE1 NE2",
    "GLU": "N CA C O CB CG CD OE1 OE2", "GLY": "N CA C O", "HIS": "N CA C O CB CG ND1 CD2 CE1 NE2",
    "ILE": "N CA C O CB CG1 CG2 CD1", "LEU": "N CA C O CB CG CD1 CD2", "LYS": "N CA C O CB CG CD CE NZ",
    "MET": "N CA C O CB CG SD CE", "PHE": "N CA C O CB CG CD1 CD2 CE1 CE2 CZ", "PRO": "N CA C O CB CG CD",
    "SER": "N CA C O CB OG", "THR": "N CA C O CB OG1 CG2",
    "TRP": "N CA C O CB CG CD1 CD2 NE1 CE2 CE3 CZ2 CZ3 CH2", "TYR": "N CA C O CB CG CD1 CD2 CE1 CE2 CZ OH",
    "VAL": "N CA C O CB CG1 CG2", "UNK": "",
}


class SequenceError(ValueError):
    """A sequence that cannot be folded; the message names the position and character."""


def atom14_names(restype: int) -> list[str]:
    names = _ATOM14[RESTYPE_3[restype]].split()
    return names + [""] * (14 - len(names))


def _tables() -> tuple[np.ndarray, np.ndarray]:
    """(21, 37) atom37 -> atom14 slot index (0 where absent) and (21, 37) atom37 existence mask."""
    to14 = np.zeros((len(RESTYPE_3), len(ATOM_TYPES)), dtype=np.int64)
    exists = np.zeros((len(RESTYPE_3), len(ATOM_TYPES)), dtype=np.float32)
    for r in range(len(RESTYPE_3)):
        names = atom14_names(r)
        for j, atom in enumerate(ATOM_TYPES):
            if atom in names:
                to14[r, j], exists[r, j] = names.index(atom), 1.0
    return to14, exists


ATOM37_TO_ATOM14, ATOM37_EXISTS = _tables()


def encode(sequence: str, record: str = "<sequence>") -> np.ndarray:
    """One-letter sequence -> (L,) int64 AF2 aatype; letters outside the 20 become X (20), as ESMFold does."""
    seq = sequence.strip().upper()
    if not seq:
        raise SequenceError(f"{record}: empty sequence")
    out = np.empty(len(seq), dtype=np.int64)
    for i, ch in enumerate(seq):
        if not ch.isalpha():
            raise SequenceError(f"{record}: position {i + 1}: {ch!r} is not an amino-acid letter")
        out[i] = RESTYPES.find(ch) if ch in RESTYPES else UNKNOWN
    return out
