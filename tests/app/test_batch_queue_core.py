"""app.core.batch_queue without models: lenient FASTA entries, states, resume rules, ETA, damaged state files."""
from __future__ import annotations

import json

import pytest

from app.core.batch_queue import (STATE_FILE, Batch, BatchError, PackRef, SavePacing, format_eta, read_entries,
                                  unique_stems)
from app.core.fasta import FastaError

REF = PackRef("/packs/m", "m", "int8", "a" * 64)


def test_a_bad_record_is_an_entry_with_its_reason_and_the_others_are_kept():
    entries = read_entries(">a\nMKT\n>bad x\nMK*T\n>a\nGGH\n; comment\n>c\nMKV\n", "in.fa")
    assert [(e.record_id, e.record.sequence if e.record else None) for e in entries] == \
        [("a", "MKT"), ("bad", None), ("a_2", "GGH"), ("c", "MKV")]  # duplicates renamed as parse_fasta does
    assert "in.fa: record 'bad'" in entries[1].error and "'*'" in entries[1].error and "position 3" in entries[1].error
    assert [e.record_id for e in read_entries("MKTAY\n")] == ["sequence_1"]
    with pytest.raises(FastaError, match="no FASTA records"):
        read_entries("; only a comment\n", "x.fa")


def test_stems_are_safe_and_unique():
    assert unique_stems(["sp|P0A7V0|RS2_ECOLI", "sp/P0A7V0/RS2_ECOLI", "_x"]) == \
        ["sp_P0A7V0_RS2_ECOLI", "sp_P0A7V0_RS2_ECOLI_2", "x"]


def test_state_round_trip_and_reopen_rules(tmp_path):
    entries = read_entries(">a\nMKT\n>b\nMK1\n>c\nMKVLL\n>d\nMM\n")
    b = Batch.create(tmp_path, entries, {"fold": REF}, {"recycles": None}, "in.fa")
    assert [i.status for i in b.items] == ["waiting", "failed", "waiting", "waiting"]
    (tmp_path / "a.pdb").write_text("x")
    b.finish(b.items[0], [tmp_path / "a.pdb"], 2.0, "esmfold (1 recycling pass)", 50.0, 0.4)
    b.start(b.items[2])  # the app is killed while c runs
    b.cancel(b.items[3])
    b.save()
    again = Batch.load(tmp_path)
    assert [i.status for i in again.items] == ["done", "failed", "waiting", "waiting"]
    assert again.items[0].mean_plddt == 50.0 and again.items[0].outputs == ["a.pdb"]
    assert again.next_waiting().record_id == "c"
    (tmp_path / "a.pdb").unlink()  # a finished record whose file is gone runs again
    assert [i.status for i in Batch.load(tmp_path).items][0] == "waiting"


def test_eta_is_per_task_at_the_rate_of_finished_records(tmp_path):
    entries = read_entries(">a\nMKTA\n>b\nMKTAMKTA\n")
    b = Batch.create(tmp_path, entries, {"score": REF, "fold": REF})
    assert b.eta_seconds() is None
    b.finish(b.items[0], [], 2.0, "wt-marginal")  # 4 residues in 2 s: b's 8 take 4 s
    b.finish(b.items[2], [], 10.0, "esmfold")  # folding: 4 residues in 10 s, b's take 20 s
    assert b.eta_seconds() == pytest.approx(24.0)
    assert format_eta(24.0) == "ETA 24 s" and format_eta(200) == "ETA 3 min 20 s" and \
        format_eta(3900) == "ETA 1 h 05 min" and format_eta(None) == "ETA unknown"


def test_damaged_or_foreign_state_files_are_refused_by_name(tmp_path):
    with pytest.raises(BatchError, match="not a batch folder"):
        Batch.load(tmp_path)
    (tmp_path / STATE_FILE).write_text("{not json")
    with pytest.raises(BatchError, match="cannot read the batch state"):
        Batch.load(tmp_path)
    (tmp_path / STATE_FILE).write_text(json.dumps({"format": "edgefold-batch", "version": 1, "packs": {},
                                                   "items": [{"record_id": "a"}]}))
    with pytest.raises(BatchError, match="damaged"):
        Batch.load(tmp_path)
    (tmp_path / STATE_FILE).write_text(json.dumps({"format": "other"}))
    with pytest.raises(BatchError, match="not an EdgeFold batch"):
        Batch.load(tmp_path)


def test_carry_over_refuses_another_pack(tmp_path):
    entries = read_entries(">a\nMKT\n")
    old = Batch.create(tmp_path, entries, {"fold": REF}, {"recycles": None})
    new = Batch.create(tmp_path, entries, {"fold": PackRef("/p", "other", "fp32", "b" * 64)}, {"recycles": None})
    with pytest.raises(BatchError, match="resume with that pack"):
        new.carry_over(old)


def test_the_state_holds_no_residues_and_a_new_batch_replaces_the_old_sequences(tmp_path):
    long = "MKTAYIAKQR" * 40
    b = Batch.create(tmp_path, read_entries(f">a\n{long}\n>b\n{long}G\n"), {"score": REF, "fold": REF})
    b.save()
    state = (tmp_path / STATE_FILE).read_text()
    assert long not in state and len(state) < 2000  # the sequences are written once, beside it
    first = sorted(p.name for p in tmp_path.glob("_batch_sequences.*.json"))
    assert len(first) == 1 and long in (tmp_path / first[0]).read_text()
    assert [i.sequence for i in Batch.load(tmp_path).items] == [long, long + "G"] * 2
    b2 = Batch.create(tmp_path, read_entries(">c\nMKV\n"), {"score": REF})
    b2.save()
    now = sorted(p.name for p in tmp_path.glob("_batch_sequences.*.json"))
    assert len(now) == 1 and now != first and [i.sequence for i in Batch.load(tmp_path).items] == ["MKV"]
    (tmp_path / now[0]).unlink()
    with pytest.raises(BatchError, match="cannot read the batch's sequences"):
        Batch.load(tmp_path)


def test_save_pacing_saves_after_every_record_unless_saving_is_costly(tmp_path):
    now = [100.0]
    pacing = SavePacing(share=0.1, clock=lambda: now[0])
    assert pacing.wait() == 0

    class Slow(Batch):
        cost = 0.0

        def save(self):
            now[0] += self.cost

    b = Slow(tmp_path, [], {"score": REF})
    b.cost = 0.002  # a small batch: 2 ms a save, due again 20 ms later (a record takes longer)
    pacing.save(b)
    assert pacing.wait() == pytest.approx(0.02)
    b.cost = 0.3  # 5000 records: at most one save every 3 s
    now[0] += 1.0
    pacing.save(b)
    now[0] += 1.0
    assert pacing.wait() == pytest.approx(2.0)
    now[0] += 2.0
    assert pacing.wait() == 0
