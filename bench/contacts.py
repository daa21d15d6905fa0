"""Contact precision of predicted contact maps against experimental structures (PDB files)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

# The contact definition and the precision metric are the exporter's (fit_contacts uses them too).
from exporter.structures import THREE_TO_ONE
from exporter.structures import contact_map as true_contacts  # noqa: F401  (re-exported)
from exporter.structures import precision_at_l as precision_at  # noqa: F401  (re-exported)


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
