"""ProteinGym assay reading (wild-type rebuild) and PDB contact precision on small written files."""
from __future__ import annotations

import gzip

import numpy as np
import pytest

from bench.contacts import precision_at, read_structure, true_contacts
from exporter.proteingym import AssayError, read_assay


def write_assay(path, rows):
    with gzip.open(path, "wt") as fh:
        fh.write("mutant,mutated_sequence,DMS_score\n")
        fh.writelines(f"{m},{s},{v}\n" for m, s, v in rows)


def test_wild_type_is_rebuilt_from_a_mutant(tmp_path):
    p = tmp_path / "X_Y.csv.gz"
    write_assay(p, [("K2A", "MATE", 0.5), ("T3W", "MKWE", -1.0), ("M1V:E4D", "VKTD", 2.0)])
    a = read_assay(p)
    assert (a.name, a.wild_type, a.mutants) == ("X_Y", "MKTE", ("K2A", "T3W", "M1V:E4D"))
    assert a.scores.tolist() == [0.5, -1.0, 2.0]


def test_inconsistent_row_is_named(tmp_path):
    p = tmp_path / "bad.csv.gz"
    write_assay(p, [("K2A", "MATE", 0.5), ("T3W", "MKWQ", 1.0)])
    with pytest.raises(AssayError, match="row 3 .*T3W"):
        read_assay(p)


def atom(serial, name, res, seq, x, el="C"):
    return (f"ATOM  {serial:5d}  {name:<3} {res} A{seq:4d}    {x:8.3f}{0.0:8.3f}{0.0:8.3f}  1.00  0.00"
            f"          {el:>2}\n")


def test_pdb_uses_cb_and_ca_for_glycine(tmp_path):
    p = tmp_path / "t.pdb"
    p.write_text(atom(1, "CA", "ALA", 1, 0.0) + atom(2, "CB", "ALA", 1, 1.0) + atom(3, "CA", "GLY", 2, 5.0)
                 + atom(4, "CA", "TRP", 4, 9.0) + atom(5, "CB", "TRP", 4, 9.5) + "END\n")
    st = read_structure(p)
    assert st.sequence == "AGW"  # observed residues only (residue 3 is absent)
    np.testing.assert_allclose(st.coords[:, 0], [1.0, 5.0, 9.5])


def test_precision_counts_only_long_range_top_pairs():
    L = 60
    coords = np.zeros((L, 3))
    coords[:, 0] = np.arange(L) * 3.8  # a straight chain: only near neighbours are in contact
    coords[50] = coords[10] + [0.0, 5.0, 0.0]  # one long-range contact (10, 50)
    truth = true_contacts(coords)
    pred = np.zeros((L, L))
    pred[10, 50] = pred[50, 10] = 1.0
    pred[0, 1] = 5.0  # short range: must be ignored
    assert precision_at(pred, truth) == pytest.approx(1 / (L // 5))
    assert precision_at(truth.astype(float), truth, fraction=1 / L) == 1.0
