"""Batch work in the GUI with real tiny packs: a queue with per-record status, cancel one / all, a summary
CSV whose pLDDT / pTM are the fold results, a results browser, and resume after the app was closed."""
from __future__ import annotations

import csv
import hashlib
import json
import re
import shutil

import numpy as np
import pytest

from app.core.batch_queue import STATE_FILE, SUMMARY_FILE, Batch
from app.core.fasta import STANDARD_AA
from app.ui.batch_dialog import open_batch_dialog
from app.ui.main_window import MainWindow

SEQS = {"sp|P0A7V0|RS2_ECOLI": "MKTAYIAKQRQISFVKSHFSRQ", "bad": "MKT1AYI", "third": "GSHMLEDPVDAFQEMLQWAXCRKH"}


@pytest.fixture(scope="module")
def tiny_pack(tmp_path_factory):
    pytest.importorskip("torch")
    from exporter.testing import make_tiny_pack

    return make_tiny_pack(tmp_path_factory.mktemp("tiny") / "tiny_fp32", scheme="fp32", seed=0)


@pytest.fixture(scope="module")
def fold_pack(tmp_path_factory):
    from exporter.esmfold.model import tiny_esmfold
    from exporter.esmfold.pack import write_folding_pack

    return write_folding_pack(tiny_esmfold(seed=0), tmp_path_factory.mktemp("fold") / "tiny_fold", "tiny_fold")


@pytest.fixture
def window(qtbot, settings, packs_dir, tiny_pack, fold_pack):
    w = MainWindow(settings)
    qtbot.addWidget(w)
    assert w.picker.add_folder(tiny_pack).ok
    assert w.fold_panel.add_folder(fold_pack)
    yield w
    w.close()  # stops and saves a running batch (the dialog filters the window's close)
    w.pool.waitForDone(10_000)


@pytest.fixture
def fasta(tmp_path):
    path = tmp_path / "in.fasta"
    path.write_text("".join(f">{k}\n{v}\n" for k, v in SEQS.items()))
    return path


def dialog_for(window, fasta, out, score=True, fold=True):
    d = open_batch_dialog(window)
    d.fasta_edit.setText(str(fasta))
    d.out_edit.setText(str(out))
    d.score_check.setChecked(score)
    d.fold_check.setChecked(fold)
    return d


def wait_idle(qtbot, d, timeout=120_000):
    qtbot.waitUntil(lambda: d.controller is not None and not d.controller.is_running(), timeout=timeout)


def statuses(d):
    return [(i.task, i.record_id, i.status) for i in d.controller.batch.items]


def test_queue_runs_every_record_and_a_bad_one_fails_with_its_reason(window, qtbot, fasta, tmp_path, fold_pack,
                                                                       captured_errors):
    out = tmp_path / "out"
    d = dialog_for(window, fasta, out)
    seen, texts = [], []  # every status a row took, in order; the status line then
    assert d.start()
    d.controller.itemChanged.connect(lambda row: seen.append(statuses(d)[row]) or texts.append(d.status_text()))
    first = d.controller.batch.items[0]
    assert first.status == "running" and [i.status for i in d.controller.batch.items[2:]] == \
        ["waiting", "waiting", "failed", "waiting"]  # the bad record is failed from the start
    assert not d.start_button.isEnabled() and d.cancel_all_button.isEnabled()
    wait_idle(qtbot, d)
    assert statuses(d) == [("score", "sp|P0A7V0|RS2_ECOLI", "done"), ("score", "bad", "failed"),
                           ("score", "third", "done"), ("fold", "sp|P0A7V0|RS2_ECOLI", "done"),
                           ("fold", "bad", "failed"), ("fold", "third", "done")]
    for row in (2, 3, 5):  # each ran: running, then done
        task, rid, _ = statuses(d)[row]
        assert [s for t, r, s in seen if (t, r) == (task, rid)] == ["running", "done"]
    bad = d.controller.batch.items[1]
    assert "record 'bad'" in bad.error and "'1'" in bad.error and "position 4" in bad.error
    assert d.model.data(d.model.index(1, 7)) == bad.error  # the reason is in the table
    assert d.progress.value() == d.progress.maximum() == 6
    assert "4 done, 2 failed" in d.status_label.text()
    etas = [t for t in texts if "ETA" in t]
    assert etas and "ETA unknown" in etas[0] and any(re.search(r"ETA \d+ s", t) for t in etas)  # once a rate is known
    assert captured_errors == []

    # the CLI's files, safe names, provenance
    assert {"sp_P0A7V0_RS2_ECOLI.csv", "sp_P0A7V0_RS2_ECOLI.csv.json", "sp_P0A7V0_RS2_ECOLI.pdb",
            "sp_P0A7V0_RS2_ECOLI.cif", "sp_P0A7V0_RS2_ECOLI.json", "sp_P0A7V0_RS2_ECOLI.pae.json",
            STATE_FILE, SUMMARY_FILE} <= {p.name for p in out.iterdir()}
    with open(out / "third.csv", newline="") as f:
        scores = list(csv.DictReader(f))
    assert len(scores) == 19 * (len(SEQS["third"]) - 1) and scores[0]["record_id"] == "third"  # X is not scored
    with open(out / SUMMARY_FILE, newline="") as f:
        rows = list(csv.DictReader(f))
    sha = hashlib.sha256((fold_pack / "manifest.json").read_bytes()).hexdigest()
    for row in rows:
        assert row["length"] == str(len(SEQS[row["record"]])) if row["status"] == "done" else row["length"] == "0"
    folds = [r for r in rows if r["task"] == "fold" and r["status"] == "done"]
    assert [r["record"] for r in folds] == ["sp|P0A7V0|RS2_ECOLI", "third"]
    for row in folds:
        conf = json.loads((out / f"{row['outputs'].split(';')[2].removesuffix('.json')}.json").read_text())
        assert conf["id"] == row["record"]
        assert float(row["mean_plddt"]) == pytest.approx(np.mean(conf["plddt"]), abs=0.01)
        assert float(row["ptm"]) == pytest.approx(conf["ptm"], abs=1e-5)
        assert row["model"] == "tiny_fold" and row["pack_sha256"] == sha == conf["provenance"]["pack_sha256"]
    scored = [r for r in rows if r["task"] == "score" and r["status"] == "done"]
    assert all(r["method"] == "wt-marginal" and r["mean_plddt"] == "" and r["ptm"] == "" for r in scored)
    failed = [r for r in rows if r["status"] == "failed"]
    assert len(failed) == 2 and all("'1'" in r["error"] for r in failed)

    # results browser: the heatmap gets the record's scores, the structure panel its fold
    assert d.show_row(2)
    assert window.result.record.id == "third" and window.result.provenance.model == window.picker.current_pack().name
    csv_score = {r["mutant"]: float(r["score"]) for r in scores}
    assert window.result.scores[1, STANDARD_AA.index("A")] == pytest.approx(csv_score["S2A"])
    assert np.isnan(window.result.scores[SEQS["third"].index("X")]).all()
    assert "third" in window.results.title_label.text()
    assert d.show_row(3)
    assert "sp|P0A7V0|RS2_ECOLI" in window.fold_panel.summary.text()
    conf = json.loads((out / "sp_P0A7V0_RS2_ECOLI.json").read_text())
    np.testing.assert_allclose(window.fold_panel.pae._pae, conf["predicted_aligned_error"], atol=1e-3)
    assert f"{conf['ptm']:.3f}" in window.fold_panel.summary.text() and window.fold_panel.outcome is None
    d.table.selectRow(1)
    assert not d.show_button.isEnabled()
    assert not d.show_row(1)  # a failed record has nothing to show, and the dialog says so
    assert captured_errors[-1][0] == "Cannot show the result" and "failed, not done" in captured_errors[-1][1]


def test_cancel_one_and_cancel_all(window, qtbot, fasta, tmp_path):
    d = dialog_for(window, fasta, tmp_path / "out", score=True, fold=False)
    assert d.start()
    d.controller.cancel_item(2)  # a waiting record: skipped
    assert d.controller.batch.items[2].status == "cancelled"
    pacing, batch, saves = d.controller.pacing, d.controller.batch, []
    pacing.last_at, pacing.last_cost = pacing.clock(), 100.0  # as if saving were costly: the save
    real_save = batch.save                                     # after the record is deferred ...
    batch.save = lambda: saves.append([i.status for i in batch.items]) or real_save()
    wait_idle(qtbot, d)
    assert saves == [["done", "failed", "cancelled"]]  # ... to the one made when the queue is idle
    assert [i.status for i in d.controller.batch.items] == ["done", "failed", "cancelled"]
    state = json.loads((tmp_path / "out" / STATE_FILE).read_text())
    assert [i["status"] for i in state["items"]] == ["done", "failed", "cancelled"]
    first_csv = (tmp_path / "out" / "sp_P0A7V0_RS2_ECOLI.csv").stat().st_mtime_ns
    assert d.start()  # Start again into the same folder: the finished record is skipped
    assert d.controller.batch.items[0].status == "done" and "1 finished before, skipped" in d.status_text()
    wait_idle(qtbot, d)
    assert [i.status for i in d.controller.batch.items] == ["done", "failed", "done"]
    assert (tmp_path / "out" / "sp_P0A7V0_RS2_ECOLI.csv").stat().st_mtime_ns == first_csv

    d2 = dialog_for(window, fasta, tmp_path / "out2", score=True, fold=True)
    assert d2.start()
    d2.controller.cancel_item(0)  # the running record stops at its next check
    d2.cancel_all()
    wait_idle(qtbot, d2)
    assert [i.status for i in d2.controller.batch.items] == ["cancelled", "failed", "cancelled",
                                                              "cancelled", "failed", "cancelled"]
    assert not (tmp_path / "out2" / "sp_P0A7V0_RS2_ECOLI.pdb").exists()
    d2.table.selectRow(2)
    assert d2.retry_button.isEnabled()
    d2.run_again()  # queue a cancelled record again
    wait_idle(qtbot, d2)
    assert d2.controller.batch.items[2].status == "done" and (tmp_path / "out2" / "third.csv").is_file()


def test_reopening_a_closed_batch_skips_finished_records(qtbot, settings, packs_dir, tiny_pack, fold_pack, fasta,
                                                         tmp_path, monkeypatch):
    out = tmp_path / "out"
    w = MainWindow(settings)
    qtbot.addWidget(w)
    assert w.picker.add_folder(tiny_pack).ok and w.fold_panel.add_folder(fold_pack)
    d = dialog_for(w, fasta, out, score=True, fold=True)
    assert d.start()
    qtbot.waitUntil(lambda: d.controller.batch.items[0].status == "done", timeout=60_000)
    w.close()  # the app is closed while the batch runs
    state = json.loads((out / STATE_FILE).read_text())
    assert state["items"][0]["status"] == "done"
    assert "running" not in [i["status"] for i in state["items"]]  # the running one was saved as waiting
    assert Batch.load(out).counts()["done"] == sum(i["status"] == "done" for i in state["items"])

    import app.core.batch_run as batch_run
    ran = []
    real_score, real_fold = batch_run.score_item, batch_run.fold_item
    monkeypatch.setattr("app.ui.batch_controller.score_item",
                        lambda rt, item, *a, **k: ran.append(item.key()) or real_score(rt, item, *a, **k))
    monkeypatch.setattr("app.ui.batch_controller.fold_item",
                        lambda p, ref, item, *a, **k: ran.append(item.key()) or real_fold(p, ref, item, *a, **k))
    w2 = MainWindow(settings)
    qtbot.addWidget(w2)
    d2 = open_batch_dialog(w2)
    assert d2.open_folder(str(out))
    done_before = [i.key() for i in d2.controller.batch.items if i.status == "done"]
    assert done_before and d2.resume_button.isEnabled() and "Resume runs" in d2.status_label.text()
    assert d2.resume()
    wait_idle(qtbot, d2)
    assert [i.status for i in d2.controller.batch.items] == ["done", "failed", "done", "done", "failed", "done"]
    assert ran and not set(ran) & set(done_before)  # finished records were not run again
    assert len(ran) + len(done_before) == 4
    assert d2.show_row(5) and "third" in w2.fold_panel.summary.text()  # the browser works on a reopened batch
    w2.close()


def test_resume_is_refused_when_the_pack_changed(window, qtbot, fasta, tmp_path, fold_pack, captured_errors):
    pack = tmp_path / "fold_copy"
    shutil.copytree(fold_pack, pack)
    window.fold_panel.add_folder(pack)
    assert window.fold_panel.current_pack().path == pack
    d = dialog_for(window, fasta, tmp_path / "out", score=False, fold=True)
    assert d.start()
    d.cancel_all()
    wait_idle(qtbot, d)
    manifest = json.loads((pack / "manifest.json").read_text())
    manifest["name"] = "edited"
    (pack / "manifest.json").write_text(json.dumps(manifest))
    assert d.open_folder(str(tmp_path / "out")) and not d.resume()
    assert captured_errors[-1][0] == "Cannot resume the batch" and "the pack changed" in captured_errors[-1][1]
    assert not d.controller.is_running()
