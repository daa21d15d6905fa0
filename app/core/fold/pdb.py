"""PDB text for a folded chain, pLDDT (0-100) in the B-factor column (AlphaFold's `to_pdb` layout)."""
from __future__ import annotations

from .atoms import atom_sites
from .driver import FoldResult
from .residues import RESTYPE_3

CHAIN = "A"


def to_pdb(result: FoldResult, chain: str = CHAIN) -> str:
    """ATOM records in residue / atom37 order, one TER, END; a REMARK carries pTM and the mean pLDDT."""
    lines = [f"REMARK   1 EDGEFOLD ESMFOLD PTM {result.ptm:.4f} MEAN PLDDT {result.residue_plddt.mean():.2f}"]
    serial = 0
    for a in atom_sites(result.aatype, result.atom37, result.atom37_mask, result.plddt):
        name = a.name if len(a.name) == 4 else f" {a.name}"
        # columns: record 1-6, serial 7-11, name 13-16, resName 18-20, chain 22, resSeq 23-26,
        # x/y/z 31-54, occupancy 55-60, B-factor 61-66, element 77-78
        lines.append(f"{'ATOM':<6}{a.serial:>5} {name:<4} {a.residue:>3} {chain:>1}{a.seq_id:>4}    "
                     f"{a.x:>8.3f}{a.y:>8.3f}{a.z:>8.3f}{1.0:>6.2f}{a.b_factor:>6.2f}          {a.element:>2}  ")
        serial = a.serial
    end = RESTYPE_3[result.aatype[-1]]  # TER names the chain's last residue, as AlphaFold writes it
    lines.append(f"{'TER':<6}{serial + 1:>5}      {end:>3} {chain:>1}{len(result.aatype):>4}")
    lines += ["END", ""]
    return "\n".join(lines)
