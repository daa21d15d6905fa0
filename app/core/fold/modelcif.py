"""ModelCIF categories for a folded chain: entity and sequence, software, and the confidence
metrics (`_ma_qa_metric`, `_ma_qa_metric_global`, `_ma_qa_metric_local`), so Mol* and ChimeraX
colour the model by per-residue pLDDT and read its global pLDDT and pTM. pLDDT is on the 0-100
scale (ModelCIF type "pLDDT"); the local value of a residue is its CA's, as the PDB B-factors.
"""
from __future__ import annotations

from .driver import FoldResult
from .residues import RESTYPE_3


def _text_field(text: str, width: int = 80) -> list[str]:
    """A CIF semicolon text field (no line over the format's 2048-character limit)."""
    return [";" + text[:width], *(text[i:i + width] for i in range(width, len(text), width)), ";"]


def _loop(names: list[str], rows: list[list[str]]) -> list[str]:
    return ["loop_", *names, *(" ".join(r) for r in rows), "#"]


def modelcif_lines(result: FoldResult, chain: str = "A", version: str = "?") -> list[str]:
    """The lines to append to an mmCIF data block holding the chain's `_atom_site` loop."""
    comps = [RESTYPE_3[a] for a in result.aatype]
    plddt = result.residue_plddt
    lines = ["_entity.id 1", "_entity.type polymer", "_entity.pdbx_description 'ESMFold prediction'", "#",
             "_entity_poly.entity_id 1", "_entity_poly.type 'polypeptide(L)'",
             "_entity_poly.pdbx_seq_one_letter_code_can",
             *_text_field(result.sequence), "#"]
    lines += _loop(["_entity_poly_seq.entity_id", "_entity_poly_seq.num", "_entity_poly_seq.mon_id",
                    "_entity_poly_seq.hetero"], [["1", str(i + 1), c, "n"] for i, c in enumerate(comps)])
    lines += [f"_struct_asym.id {chain}", "_struct_asym.entity_id 1", "#"]
    lines += _loop(["_software.pdbx_ordinal", "_software.name", "_software.version", "_software.type",
                    "_software.classification"],
                   [["1", "ESMFold", ".", "package", "'model building'"],
                    ["2", "EdgeFold", version.replace(" ", "_") or "?", "program", "other"]])
    lines += _loop(["_ma_qa_metric.id", "_ma_qa_metric.name", "_ma_qa_metric.mode", "_ma_qa_metric.type",
                    "_ma_qa_metric.software_group_id"],
                   [["1", "pLDDT", "global", "pLDDT", "."], ["2", "pLDDT", "local", "pLDDT", "."],
                    ["3", "pTM", "global", "pTM", "."]])
    lines += _loop(["_ma_qa_metric_global.ordinal_id", "_ma_qa_metric_global.model_id",
                    "_ma_qa_metric_global.metric_id", "_ma_qa_metric_global.metric_value"],
                   [["1", "1", "1", f"{plddt.mean():.2f}"], ["2", "1", "3", f"{result.ptm:.4f}"]])
    lines += _loop(["_ma_qa_metric_local.ordinal_id", "_ma_qa_metric_local.model_id",
                    "_ma_qa_metric_local.label_asym_id", "_ma_qa_metric_local.label_seq_id",
                    "_ma_qa_metric_local.label_comp_id", "_ma_qa_metric_local.metric_id",
                    "_ma_qa_metric_local.metric_value"],
                   [[str(i + 1), "1", chain, str(i + 1), c, "2", f"{v:.2f}"] for i, (c, v) in enumerate(zip(comps, plddt))])
    return lines
