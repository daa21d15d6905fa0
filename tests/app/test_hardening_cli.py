"""Hardening of `python -m app score|embed`: bad --fasta/--out/--mutants/--batch-size are
refused before any work, with messages that say what is wrong; long inputs are bounded."""
import errno
import io
import os
import stat
from pathlib import Path

import pytest

from app import cli
from app.__main__ import main

MAX_SCORE_RESIDUES = 100_000  # app.core.fasta.MAX_SCORE_RESIDUES, as --help states it


@pytest.fixture
def fasta(tmp_path):
    p = tmp_path / "in.fasta"
    p.write_text(">p1\nMKTAYIAKQR\n")
    return p


@pytest.fixture
def scored(monkeypatch):
    """Records the sequences the batch engine computed (the work that must not start)."""
    from app.core import batch_jobs

    calls = []
    real = batch_jobs.compute

    def spy(planner, batch):
        calls.extend(j.sequence for j in batch)
        return real(planner, batch)
    monkeypatch.setattr(batch_jobs, "compute", spy)
    return calls


def _score(pack, fasta, out, *extra):
    return main(["score", "--model", str(pack), "--fasta", str(fasta), "--out", str(out), *extra])


# --- --fasta ----------------------------------------------------------------------------------

@pytest.mark.parametrize("make,needle", [
    (lambda d: d, "a directory, not a FASTA file"),
    (lambda d: Path(os.devnull), "a device, not a FASTA file"),
    (lambda d: (d / "e.fa").touch() or d / "e.fa", "empty file, no records"),
    (lambda d: (d / "b.fa").write_bytes(b">x\nMK\xff\n") and d / "b.fa", "not a text FASTA file"),
])
def test_bad_fasta_says_what_it_is(standin_pack_dir, tmp_path, capsys, make, needle):
    path = make(tmp_path)
    assert _score(standin_pack_dir, path, tmp_path / "o.csv") == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: ") and needle in err and "no such" not in err


def test_record_over_the_length_limit_is_refused_before_work(standin_pack_dir, tmp_path, capsys,
                                                             scored):
    fa = tmp_path / "long.fa"
    fa.write_text(f">short\nMK\n>huge\n{'A' * (MAX_SCORE_RESIDUES + 1)}\n")
    assert _score(standin_pack_dir, fa, tmp_path / "o.csv") == 2
    err = capsys.readouterr().err
    assert "'huge'" in err and "100,001 residues" in err and "at most 100,000" in err
    assert scored == []


def test_help_states_the_length_limit(capsys):
    with pytest.raises(SystemExit):
        main(["score", "--help"])
    assert "100,000" in " ".join(capsys.readouterr().out.split())


# --- --batch-size, --mutants ------------------------------------------------------------------

@pytest.mark.parametrize("value", ["0", "-3", "\uff11\uff16"])
def test_batch_size_below_one_is_an_argparse_error(fasta, tmp_path, capsys, value):
    with pytest.raises(SystemExit) as e:
        main(["score", "--fasta", str(fasta), "--out", str(tmp_path / "o.csv"),
              "--batch-size", value])
    assert e.value.code == 2 and "--batch-size" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["", " ", ",;"])
def test_empty_mutant_list_is_an_error_not_everything(standin_pack_dir, fasta, tmp_path, capsys,
                                                      scored, value):
    out = tmp_path / "o.csv"
    assert _score(standin_pack_dir, fasta, out, "--mutants", value) == 2
    assert "no mutant codes found" in capsys.readouterr().err
    assert scored == [] and not out.exists()


def test_full_width_digit_in_mutant_is_refused(standin_pack_dir, fasta, tmp_path, capsys):
    assert _score(standin_pack_dir, fasta, tmp_path / "o.csv", "--mutants", "M\uff11A") == 2
    assert "U+FF11" in capsys.readouterr().err


def test_binary_mutant_file_names_the_file_and_offset(standin_pack_dir, fasta, tmp_path, capsys):
    mf = tmp_path / "m.csv"
    mf.write_bytes(b"mutant\nK2R\n\xc0\n")
    assert _score(standin_pack_dir, fasta, tmp_path / "o.csv", "--mutants", str(mf)) == 2
    err = capsys.readouterr().err
    assert f"{mf}: not a text mutant file" in err and "byte offset 11" in err


# --- --out ------------------------------------------------------------------------------------

def test_missing_output_directory_is_refused_not_created(standin_pack_dir, fasta, tmp_path,
                                                          capsys, scored):
    out = tmp_path / "nonexistent" / "x.csv"
    assert _score(standin_pack_dir, fasta, out) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not out.parent.exists() and scored == []


def test_symlink_out_is_refused_before_work(standin_pack_dir, fasta, tmp_path, capsys, scored):
    real = tmp_path / "real.csv"
    real.write_text("keep\n")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    assert _score(standin_pack_dir, fasta, link) == 2
    assert "symbolic link" in capsys.readouterr().err
    assert link.is_symlink() and real.read_text() == "keep\n" and scored == []


def test_fifo_out_is_refused(standin_pack_dir, fasta, tmp_path, capsys, scored):
    fifo = tmp_path / "o.csv"
    os.mkfifo(fifo)
    assert _score(standin_pack_dir, fasta, fifo) == 2
    assert "FIFO" in capsys.readouterr().err
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and scored == []


def test_directory_out_is_refused_before_work(standin_pack_dir, fasta, tmp_path, capsys, scored):
    """A name ending in .csv is the single-file form: a directory there is refused (any other
    name is the directory form of tests/app/test_batch_cli.py)."""
    (tmp_path / "adir.csv").mkdir()
    assert _score(standin_pack_dir, fasta, tmp_path / "adir.csv") == 2
    assert "a directory" in capsys.readouterr().err and scored == []


def test_read_only_directory_is_reported_before_scoring(standin_pack_dir, fasta, tmp_path, capsys,
                                                        scored, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    real_open = os.open

    def deny(path, flags, *a, **k):  # root ignores the mode bits: deny as a read-only mount would
        if Path(path).parent == ro and flags & os.O_CREAT:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *a, **k)
    monkeypatch.setattr(os, "open", deny)
    try:
        assert _score(standin_pack_dir, fasta, ro / "o.csv") == 2
    finally:
        ro.chmod(0o755)
    err = capsys.readouterr().err
    assert "cannot write in" in err and "Permission denied" in err and scored == []


def test_embed_out_must_be_a_directory_with_an_existing_parent(standin_pack_dir, fasta, tmp_path,
                                                               capsys):
    afile = tmp_path / "f"
    afile.write_text("x")
    rc = main(["embed", "--model", str(standin_pack_dir), "--fasta", str(fasta), "--out", str(afile)])
    assert rc == 2 and "not an output directory" in capsys.readouterr().err
    deep = tmp_path / "a" / "b"
    rc = main(["embed", "--model", str(standin_pack_dir), "--fasta", str(fasta), "--out", str(deep)])
    assert rc == 2 and "does not exist" in capsys.readouterr().err and not deep.parent.exists()


# --- progress ---------------------------------------------------------------------------------

def test_many_records_print_a_few_progress_lines(standin_pack_dir, tmp_path, capsys):
    fa = tmp_path / "many.fa"
    fa.write_text("".join(f">r{i}\nMK\n" for i in range(3000)))
    assert _score(standin_pack_dir, fa, tmp_path / "o.csv", "--mutants", "K2R") == 0
    lines = capsys.readouterr().err.splitlines()
    progress = [ln for ln in lines if ln.startswith("[")]
    assert 1 <= len(progress) <= 3, progress[:5]
    assert lines[-1].startswith("wrote 3000 scores for 3000 record(s)")


def test_progress_line_is_rate_limited_and_shows_records_per_second():
    now = [100.0]
    stream = io.StringIO()
    line = cli.ProgressLine(stream, interval=1.0, records=10_000, clock=lambda: now[0])
    for n in range(1, 10_001):
        line.record(n, f"r{n}", 5)
        line(1, 1, "wt-marginal: window 1/1")
        now[0] += 0.001  # 1000 records/s for 10 s
    out = stream.getvalue().splitlines()
    assert 9 <= len(out) <= 11
    assert "[2/10000" not in stream.getvalue() and "1000.0 records/s" in out[-1]


def test_progress_hides_terminal_escapes_in_record_ids():
    stream = io.StringIO()
    line = cli.ProgressLine(stream, records=1)
    line.record(1, "evil\x1b]0;pwned\x07", 3)
    line(1, 1, "done")
    assert "\x1b" not in stream.getvalue() and "evil?]0;pwned?" in stream.getvalue()


@pytest.mark.parametrize("value", ["0", "\u0664"])  # Arabic-Indic four: int() would take it
def test_threads_must_be_an_ascii_integer_of_at_least_one(fasta, tmp_path, capsys, value):
    with pytest.raises(SystemExit) as e:
        main(["score", "--fasta", str(fasta), "--out", str(tmp_path / "o.csv"), "--threads", value])
    assert e.value.code == 2 and "--threads" in capsys.readouterr().err


def test_throttle_forwards_the_first_holds_the_rest_and_flushes_the_last():
    from app.core.jobs import Throttle
    now, seen = [0.0], []
    t = Throttle(lambda d, n, m: seen.append(d), interval=1.0, clock=lambda: now[0])
    for k in range(1, 2001):
        t(k, 2000, "")
        now[0] += 0.001
    t.flush()
    assert seen == [1, 1001, 2000]
