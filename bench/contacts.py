"""Contact precision of predicted contact maps against experimental structures (PDB files)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

THREE_TO_ONE = {"ALA": "A", "ARG": "R", "ASN": "N", "ASP": "D", "CYS": "C", "GLN": "Q", "GLU": "E", "GLY": "G",
                "HIS": "H", "ILE": "I", "LEU": "L", "LYS": "K", "MET": "M", "PHE": "F", "PRO": "P", "SER": "S",
                "THR": "T", "TRP": "W", "TYR": "Y", "VAL": "V", "MSE": "M", "SEC": "U", "PYL": "O"}


@dataclass(frozen=True)
class Structure:
    name: str
    sequence: str          # observed residues of the first chain, in order
    coords: np.ndarray     # (L, 3) CB (CA for glycine, or when CB is missing)
    missing_cb: int        # non-glycine residues without CB (their CA was used)


def read_structure(path: Path) -> Structure:
    """The first chain's observed amino-acid residues of the first model (gemmi)."""
    import gemmi

    st = gemmi.read_structure(str(path))
    chain = st[0][0]
    seq, xyz, missing = [], [], 0
    for res in chain:
        aa = THREE_TO_ONE.get(res.name)
        if aa is None or res.het_flag == "H" and res.name not in THREE_TO_ONE:
            continue
        atom = res.find_atom("CB", "*") if res.name != "GLY" else None
        if atom is None:
            atom = res.find_atom("CA", "*")
            missing += res.name != "GLY" and atom is not None
        if atom is None:
            continue  # no CA either: not an observed residue for our purpose
        seq.append(aa)
        xyz.append([atom.pos.x, atom.pos.y, atom.pos.z])
    if not seq:
        raise ValueError(f"{path}: no amino-acid residues with CA/CB in the first chain")
    return Structure(Path(path).stem, "".join(seq), np.array(xyz, dtype=np.float64), missing)


def true_contacts(coords: np.ndarray, threshold: float = 8.0) -> np.ndarray:
    """(L, L) bool: CB-CB distance below `threshold` angstroms."""
    d = np.linalg.norm(coords[:, None, :] - coords[None, :, :], axis=-1)
    return d < threshold


def precision_at(pred: np.ndarray, truth: np.ndarray, min_sep: int = 24, fraction: float = 0.2) -> float:
    """Precision of the top `fraction * L` predicted pairs (i < j, j - i >= min_sep)."""
    L = truth.shape[0]
    i, j = np.triu_indices(L, k=min_sep)
    k = max(1, int(L * fraction))
    order = np.argsort(-pred[i, j], kind="stable")[:k]
    return float(truth[i[order], j[order]].mean()) if len(i) else float("nan")
