"""Write single-substitution scores as ProteinGym-style CSV (`mutant,score`), atomically."""
from __future__ import annotations

import csv
import io
import os
import tempfile
from pathlib import Path

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
    """Write text to a temporary sibling file, fsync it, then rename over path."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def export_csv(path: str | os.PathLike, subs: Substitutions) -> Path:
    """Export all substitutions to path (ProteinGym `mutant,score`)."""
    return write_atomic(path, to_csv_text(subs))
