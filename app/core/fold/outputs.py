"""Per-record folding outputs: PDB, mmCIF and a JSON of confidences, each written atomically."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..outputs import atomic_open
from .driver import FoldResult
from .mmcif import to_mmcif
from .pdb import to_pdb


def confidence_json(result: FoldResult, record_id: str = "") -> dict:
    """pLDDT per residue (CA, 0-100) and its mean, pTM, PAE (L x L, Angstrom) and its maximum."""
    return {"id": record_id, "sequence": result.sequence, "length": len(result.sequence),
            "recycling_passes": result.passes,
            "plddt": [round(float(v), 2) for v in result.residue_plddt],
            "mean_plddt": round(float(result.residue_plddt.mean()), 3), "ptm": round(float(result.ptm), 5),
            "predicted_aligned_error": np.round(result.pae.astype(np.float64), 3).tolist(),
            "max_predicted_aligned_error": round(float(result.max_pae), 3)}


def write_fold_outputs(result: FoldResult, out_dir: str | Path, stem: str, record_id: str = "") -> list[Path]:
    """OUT/<stem>.pdb, .cif and .json; each file appears whole or not at all."""
    out_dir = Path(out_dir)
    texts = {".pdb": to_pdb(result), ".cif": to_mmcif(result, name=stem),
             ".json": json.dumps(confidence_json(result, record_id or stem)) + "\n"}
    paths = []
    for suffix, text in texts.items():
        path = out_dir / f"{stem}{suffix}"
        with atomic_open(path, "w") as fh:
            fh.write(text)
        paths.append(path)
    return paths
