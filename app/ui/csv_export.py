"""Write single-substitution scores as ProteinGym-style CSV (`mutant,score`), atomically."""
from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from app.core.outputs import atomic_open
from app.ui.mutations import Substitutions


def to_csv_text(subs: Substitutions) -> str:
    """CSV text with header `mutant,score`, rows in position then amino-acid order."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["mutant", "score"])
    for k in range(len(subs)):
        w.writerow([subs.mutant(k), repr(float(subs.score[k]))])
    return buf.getvalue()


def write_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write text atomically through app.core.outputs (umask respected, symlink/device targets
    refused, stale temporaries of killed runs removed), the same writer the CLI uses."""
    path = Path(path)
    with atomic_open(path, "w") as f:
        f.write(text)
    return path


def export_csv(path: str | os.PathLike, subs: Substitutions) -> Path:
    """Export all substitutions to path (ProteinGym `mutant,score`)."""
    return write_atomic(path, to_csv_text(subs))
