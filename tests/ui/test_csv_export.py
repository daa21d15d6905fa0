"""ProteinGym CSV export, written atomically."""
import csv
import os

import numpy as np
import pytest

from app.ui.csv_export import export_csv
from app.ui.mutations import AMINO_ACIDS, substitutions


def test_csv_has_mutant_score_rows_matching_the_matrix(tmp_path):
    seq = "ACW"
    scores = np.arange(60, dtype=np.float64).reshape(3, 20) / 7 - 4
    path = export_csv(tmp_path / "out.csv", substitutions(seq, scores), "sp|P1|X")
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["record_id", "mutant", "score"]
    assert len(rows) == 1 + 3 * 19
    for record_id, mutant, score in rows[1:]:
        wt, pos, mt = mutant[0], int(mutant[1:-1]), mutant[-1]
        assert record_id == "sp|P1|X"
        assert seq[pos - 1] == wt != mt
        assert float(score) == scores[pos - 1, AMINO_ACIDS.index(mt)]
    assert rows[1] == ["sp|P1|X", "A1C", repr(float(scores[0, 1]))]


def test_gui_and_cli_write_the_same_bytes(tmp_path):
    from app.core.outputs import write_scores_csv

    subs = substitutions("MK", np.arange(40, dtype=np.float64).reshape(2, 20) / 3)
    gui = export_csv(tmp_path / "gui.csv", subs, "p1")
    rows = [("p1", subs.mutant(k), float(subs.score[k])) for k in range(len(subs))]
    write_scores_csv(tmp_path / "cli.csv", rows)
    assert gui.read_bytes() == (tmp_path / "cli.csv").read_bytes()


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "scores.csv"
    target.write_text("old")

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        export_csv(target, substitutions("MK", np.zeros((2, 20))), "p")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores.csv"]


def test_overwrites_existing_file(tmp_path):
    target = tmp_path / "scores.csv"
    target.write_text("old")
    export_csv(target, substitutions("M", np.ones((1, 20))), "p")
    assert target.read_text().splitlines()[:2] == ["record_id,mutant,score", "p,M1A,1.0"]


def test_gui_export_follows_the_umask_and_refuses_a_symlink(tmp_path):
    import os

    from app.ui.csv_export import write_atomic

    old = os.umask(0o022)
    try:
        out = write_atomic(tmp_path / "scores.csv", "mutant,score\n")
    finally:
        os.umask(old)
    assert (out.stat().st_mode & 0o777) == 0o644  # was 0600 with mkstemp
    target = tmp_path / "elsewhere.txt"
    target.write_text("keep")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    import pytest

    with pytest.raises(Exception):
        write_atomic(link, "mutant,score\n")
    assert link.is_symlink() and target.read_text() == "keep"
