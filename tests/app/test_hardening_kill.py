"""Hardening: SIGKILL while `python -m app score` writes its CSV leaves the previous complete
file (never half a file), and the next run removes the dead run's temporary file."""
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.__main__ import main
from app.core.outputs import write_scores_csv

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGKILL and pid checks are POSIX")


def _temps(directory: Path, name: str) -> list[Path]:
    return [p for p in directory.iterdir() if p.name.startswith(f".{name}.") and p.name.endswith(".tmp")]


def test_sigkill_during_output_write_leaves_previous_file_then_cleans_up(tiny_pack_dir, tmp_path):
    rng = random.Random(0)
    fa = tmp_path / "big.fa"
    fa.write_text("".join(f">r{i}\n" + "".join(rng.choices("ACDEFGHIKLMNPQRSTVWY", k=5000)) + "\n"
                          for i in range(5)))  # 475,000 output rows, ~15 MB of CSV
    out = tmp_path / "scores.csv"
    write_scores_csv(out, [("old", "K2R", 1.5)])
    previous = out.read_bytes()
    proc = subprocess.Popen([sys.executable, "-m", "app", "score", "--model", str(tiny_pack_dir),
                             "--fasta", str(fa), "--out", str(out), "--threads", "1"],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            if any(p.stat().st_size >= 1 << 16 for p in _temps(tmp_path, out.name) if p.exists()):
                break  # the CSV is half written
            time.sleep(0.005)
        assert proc.poll() is None, f"run ended before it could be killed: {proc.stderr.read()!r}"
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    assert out.read_bytes() == previous  # the previous complete file, untouched
    (stale,) = _temps(tmp_path, out.name)  # the killed run's half-written temporary
    assert stale.stat().st_size > 0
    small = tmp_path / "small.fa"
    small.write_text(">p\nMKT\n")
    assert main(["score", "--model", str(tiny_pack_dir), "--fasta", str(small), "--out", str(out),
                 "--mutants", "K2R"]) == 0
    assert _temps(tmp_path, out.name) == []  # its owner pid is dead: removed
    assert out.read_text().splitlines()[1].startswith("p,K2R,")
