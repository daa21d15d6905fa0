"""mmCIF text for a folded chain: one `_atom_site` loop, pLDDT (0-100) in B_iso_or_equiv, and the
ModelCIF entity, software and confidence-metric categories (modelcif.py)."""
from __future__ import annotations

import re

from .atoms import atom_sites
from ..provenance import edgefold_version
from .driver import FoldResult
from .modelcif import modelcif_lines

COLUMNS = ("group_PDB", "id", "type_symbol", "label_atom_id", "label_alt_id", "label_comp_id", "label_asym_id",
           "label_entity_id", "label_seq_id", "pdbx_PDB_ins_code", "Cartn_x", "Cartn_y", "Cartn_z", "occupancy",
           "B_iso_or_equiv", "auth_seq_id", "auth_comp_id", "auth_asym_id", "auth_atom_id", "pdbx_PDB_model_num")


def to_mmcif(result: FoldResult, name: str = "edgefold", chain: str = "A") -> str:
    """A PDBx/mmCIF file that gemmi, PyMOL and Mol* read, with ModelCIF's pLDDT / pTM metrics."""
    block = re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "edgefold"
    lines = [f"data_{block}", f"_entry.id {block}", "#", f"_edgefold.ptm {result.ptm:.4f}",
             f"_edgefold.mean_plddt {result.residue_plddt.mean():.2f}", "#", "loop_"]
    lines += [f"_atom_site.{c}" for c in COLUMNS]
    for a in atom_sites(result.aatype, result.atom37, result.atom37_mask, result.plddt):
        lines.append(f"ATOM {a.serial} {a.element} {a.name} . {a.residue} {chain} 1 {a.seq_id} ? "
                     f"{a.x:.3f} {a.y:.3f} {a.z:.3f} 1.00 {a.b_factor:.2f} {a.seq_id} {a.residue} {chain} {a.name} 1")
    lines += ["#", *modelcif_lines(result, chain, edgefold_version()), ""]
    return "\n".join(lines)
