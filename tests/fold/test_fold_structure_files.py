"""PDB and mmCIF output parse back with gemmi with the right atoms, coordinates and pLDDT B-factors."""
from __future__ import annotations

import numpy as np
import pytest

import gemmi
import modelcif.qa_metric
import modelcif.reader
from app.core.fold.driver import fold
from app.core.fold.mmcif import to_mmcif
from app.core.fold.pdb import to_pdb
from app.core.fold.residues import ATOM37_EXISTS, ATOM_TYPES, RESTYPE_3
from transformers.models.esm.openfold_utils.protein import Protein, to_pdb as openfold_to_pdb

SEQUENCE = "MKTAYIAKQRQWSFVKSHFGXPCX"  # atom counts from 4 (G) to 14 (W); X has none, also last


@pytest.fixture(scope="module")
def result(tiny_parts):
    return fold(tiny_parts, SEQUENCE, num_recycles=1)


def check_structure(st: gemmi.Structure, result) -> None:
    chain = st[0]["A"]
    residues = list(chain)
    present = [i for i, aa in enumerate(result.aatype) if ATOM37_EXISTS[aa].sum() > 0]  # X has no atoms
    assert [r.name for r in residues] == [RESTYPE_3[result.aatype[i]] for i in present]
    for res, i in zip(residues, present):
        expected = [ATOM_TYPES[j] for j in np.flatnonzero(ATOM37_EXISTS[result.aatype[i]])]
        assert [a.name for a in res] == expected, res.name
        assert res.seqid.num == i + 1
        for atom in res:
            j = ATOM_TYPES.index(atom.name)
            assert atom.b_iso == pytest.approx(100 * result.plddt[i, j], abs=0.006)
            assert np.allclose(atom.pos.tolist(), result.atom37[i, j], atol=6e-4)
            assert atom.element.name == atom.name[0]


def test_pdb_parses_back_with_expected_atoms(result, tmp_path) -> None:
    path = tmp_path / "fold.pdb"
    path.write_text(to_pdb(result))
    check_structure(gemmi.read_structure(str(path)), result)


def test_mmcif_parses_back_with_expected_atoms(result, tmp_path) -> None:
    path = tmp_path / "fold.cif"
    path.write_text(to_mmcif(result, name="tiny fold"))
    check_structure(gemmi.read_structure(str(path)), result)
    block = gemmi.cif.read(str(path)).sole_block()
    assert float(block.find_value("_edgefold.ptm")) == pytest.approx(result.ptm, abs=1e-4)


def test_pdb_atom_lines_equal_openfold_to_pdb(result) -> None:
    prot = Protein(atom_positions=result.atom37, aatype=result.aatype, atom_mask=result.atom37_mask,
                   residue_index=np.arange(1, len(SEQUENCE) + 1), b_factors=100 * result.plddt)
    ours = [line for line in to_pdb(result).splitlines() if line.startswith(("ATOM", "TER"))]
    theirs = [line for line in openfold_to_pdb(prot).splitlines() if line.startswith(("ATOM", "TER"))]
    assert ours == theirs


def test_mmcif_carries_modelcif_confidences_that_gemmi_reads(result, tmp_path) -> None:
    """ModelCIF: entity + sequence, software, global pLDDT / pTM and per-residue pLDDT
    (`_ma_qa_metric_local`, what Mol* and ChimeraX colour by)."""
    path = tmp_path / "fold.cif"
    path.write_text(to_mmcif(result, name="tiny fold"))
    block = gemmi.cif.read(str(path)).sole_block()
    seq = block.find("_entity_poly_seq.", ["num", "mon_id"])
    assert [row[1] for row in seq] == [RESTYPE_3[a] for a in result.aatype]
    assert block.find_value("_entity_poly.pdbx_seq_one_letter_code_can").strip(";\n") == SEQUENCE
    metrics = {row[0]: (row[1], row[2], row[3]) for row in block.find("_ma_qa_metric.", ["id", "name", "mode", "type"])}
    assert metrics == {"1": ("pLDDT", "global", "pLDDT"), "2": ("pLDDT", "local", "pLDDT"), "3": ("pTM", "global", "pTM")}
    glob = {row[0]: float(row[1]) for row in block.find("_ma_qa_metric_global.", ["metric_id", "metric_value"])}
    assert glob["1"] == pytest.approx(result.residue_plddt.mean(), abs=0.006)
    assert glob["3"] == pytest.approx(result.ptm, abs=1e-4)
    local = [(int(r[0]), r[1], float(r[2])) for r in
             block.find("_ma_qa_metric_local.", ["label_seq_id", "metric_id", "metric_value"])]
    assert [i for i, _, _ in local] == list(range(1, len(SEQUENCE) + 1)) and {m for _, m, _ in local} == {"2"}
    assert np.allclose([v for _, _, v in local], result.residue_plddt, atol=0.006)
    assert "ESMFold" in [row[0] for row in block.find("_software.", ["name"])]
    check_structure(gemmi.read_structure(str(path)), result)  # the atoms still read back


def test_mmcif_reads_back_with_python_modelcif(result, tmp_path) -> None:
    """The reference ModelCIF library (python-modelcif, from the PDB's IHM/ModelCIF group) reads
    the file into one model of the right sequence, with the global and per-residue scores."""
    path = tmp_path / "fold.cif"
    path.write_text(to_mmcif(result, name="tiny fold"))
    with open(path) as fh:
        systems = modelcif.reader.read(fh)
    assert len(systems) == 1
    system = systems[0]
    assert [e.sequence for e in system.entities] != []
    entity = system.entities[0]
    assert "".join(r.code_canonical for r in entity.sequence) == SEQUENCE
    models = [m for group in system.model_groups for m in group]
    assert len(models) == 1
    metrics = models[0].qa_metrics
    local = [q for q in metrics if isinstance(q, modelcif.qa_metric.Local)]
    glob = {type(q).__name__: q.value for q in metrics if isinstance(q, modelcif.qa_metric.Global)}
    assert glob["pLDDT"] == pytest.approx(result.residue_plddt.mean(), abs=0.006)
    assert glob["pTM"] == pytest.approx(result.ptm, abs=1e-4)
    assert [q.residue.seq_id for q in local] == list(range(1, len(SEQUENCE) + 1))
    assert all(isinstance(q, modelcif.qa_metric.PLDDT) for q in local)
    assert np.allclose([q.value for q in local], result.residue_plddt, atol=0.006)
