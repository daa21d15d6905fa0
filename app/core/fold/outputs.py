"""Per-record folding outputs: PDB, mmCIF and a JSON of confidences, each written atomically."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np

from ..outputs import atomic_open
from .driver import FoldResult
from .mmcif import to_mmcif
from .pdb import to_pdb
from ..provenance import Provenance


def fold_method(result: FoldResult) -> str:
    """The `method` a structure's provenance records: ESMFold and its recycling passes."""
    n = result.passes
    return f"esmfold ({n} recycling pass{'' if n == 1 else 'es'})"


def with_provenance(pdb: str, cif: str, provenance: Optional[Provenance]) -> tuple[str, str]:
    """PDB text with REMARK 2 lines after REMARK 1, mmCIF text with `_edgefold.*` items after
    `_entry.id`: what model, scheme, pack (sha256 of its manifest) and EdgeFold made them."""
    if provenance is None:
        return pdb, cif
    head, _, rest = pdb.partition("\n")
    pdb = "\n".join([head, *provenance.pdb_remarks(), rest])
    lines = cif.split("\n")
    at = next((i + 1 for i, ln in enumerate(lines) if ln.startswith("_entry.id")), 1)
    cif = "\n".join(lines[:at] + provenance.mmcif_items() + lines[at:])
    return pdb, cif


def confidence_json(result: FoldResult, record_id: str = "") -> dict:
    """pLDDT per residue (CA, 0-100) and its mean, pTM, PAE (L x L, Angstrom) and its maximum."""
    return {"id": record_id, "sequence": result.sequence, "length": len(result.sequence),
            "recycling_passes": result.passes,
            "plddt": [round(float(v), 2) for v in result.residue_plddt],
            "mean_plddt": round(float(result.residue_plddt.mean()), 3), "ptm": round(float(result.ptm), 5),
            "predicted_aligned_error": np.round(result.pae.astype(np.float64), 3).tolist(),
            "max_predicted_aligned_error": round(float(result.max_pae), 3)}


def pae_json(result: FoldResult) -> list[dict]:
    """The PAE in the AlphaFold DB layout (`*-predicted_aligned_error_v4.json`): a one-element list."""
    return [{"predicted_aligned_error": np.round(result.pae.astype(np.float64), 2).tolist(),
             "max_predicted_aligned_error": round(float(result.max_pae), 2)}]


def write_fold_outputs(result: FoldResult, out_dir: str | Path, stem: str, record_id: str = "",
                       provenance: Optional[Provenance] = None) -> list[Path]:
    """OUT/<stem>.pdb, .cif (with ModelCIF confidences), .json (confidences) and .pae.json (the PAE
    in the AlphaFold DB layout); each file appears whole or not at all; each but the PAE file
    records `provenance` when given (see `with_provenance`; the JSON under "provenance")."""
    out_dir = Path(out_dir)
    pdb, cif = with_provenance(to_pdb(result), to_mmcif(result, name=stem), provenance)
    info = confidence_json(result, record_id or stem)
    if provenance is not None:
        info["provenance"] = provenance.as_dict()
    texts = {".pdb": pdb, ".cif": cif, ".json": json.dumps(info) + "\n",
             ".pae.json": json.dumps(pae_json(result)) + "\n"}
    paths = []
    for suffix, text in texts.items():
        path = out_dir / f"{stem}{suffix}"
        with atomic_open(path, "w") as fh:
            fh.write(text)
        paths.append(path)
    return paths
