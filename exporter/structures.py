"""Minimal PDB reading for contact maps: sequence and CB coordinates (CA for glycine) of one chain."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

THREE_TO_ONE = {"ALA": "A", "ARG": "R", "ASN": "N", "ASP": "D", "CYS": "C", "GLN": "Q", "GLU": "E", "GLY": "G",
                "HIS": "H", "ILE": "I", "LEU": "L", "LYS": "K", "MET": "M", "PHE": "F", "PRO": "P", "SER": "S",
                "THR": "T", "TRP": "W", "TYR": "Y", "VAL": "V", "MSE": "M", "SEC": "U", "PYL": "O"}


@dataclass
class Chain:
    name: str
    sequence: str          # observed residues, in order
    cb: np.ndarray         # (L, 3) CB coordinates, CA for glycine or a missing CB
    resseq: list[str]      # author residue numbers (with insertion codes)

    def contacts(self, cutoff: float = 8.0) -> np.ndarray:
        """(L, L) bool: CB-CB distance below `cutoff` angstrom."""
        return contact_map(self.cb, cutoff)


def contact_map(coords: np.ndarray, cutoff: float = 8.0) -> np.ndarray:
    """(L, L) bool: pairs of (L, 3) coordinates closer than `cutoff` angstrom."""
    d = np.linalg.norm(coords[:, None, :] - coords[None, :, :], axis=-1)
    return d < cutoff


def read_chain(path: Path, chain_id: str | None = None) -> Chain:
    """The first (or named) protein chain of the first model of a PDB file."""
    residues: dict[tuple[str, str], dict] = {}
    order: list[tuple[str, str]] = []
    chosen = chain_id
    for line in Path(path).read_text().splitlines():
        if line.startswith("ENDMDL"):
            break
        if not line.startswith(("ATOM", "HETATM")) or line[17:20] not in THREE_TO_ONE:
            continue
        chain = line[21]
        chosen = chosen or chain
        if chain != chosen or line[16] not in " A":
            continue
        key = (line[22:27].strip(), line[17:20])
        if key not in residues:
            residues[key] = {}
            order.append(key)
        residues[key][line[12:16].strip()] = [float(line[30:38]), float(line[38:46]), float(line[46:54])]
    keep = [k for k in order if "CA" in residues[k]]
    if not keep:
        raise ValueError(f"{path}: no protein residues with CA atoms in chain {chosen!r}")
    seq = "".join(THREE_TO_ONE[k[1]] for k in keep)
    cb = np.array([residues[k].get("CB", residues[k]["CA"]) for k in keep], dtype=np.float64)
    return Chain(name=f"{Path(path).stem}:{chosen}", sequence=seq, cb=cb, resseq=[k[0] for k in keep])


def precision_at_l(pred: np.ndarray, truth: np.ndarray, min_sep: int = 24, fraction: float = 0.2) -> float:
    """Precision of the top L*fraction predicted pairs with |i - j| >= min_sep (long range at L/5)."""
    n = truth.shape[0]
    i, j = np.triu_indices(n, k=min_sep)
    if len(i) == 0:
        return float("nan")
    k = max(1, int(n * fraction))
    top = np.argsort(-pred[i, j], kind="stable")[:k]
    return float(truth[i[top], j[top]].mean())
