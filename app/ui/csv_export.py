"""Export single-substitution scores as CSV (`record_id,mutant,score`), through the CLI's writer."""
from __future__ import annotations

import os
from pathlib import Path

from app.core.outputs import atomic_open, write_scores_csv
from app.core.provenance import Provenance
from app.ui.mutations import Substitutions


def write_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write text atomically through app.core.outputs (umask respected, symlink/device targets
    refused, stale temporaries of killed runs removed), the same writer the CLI uses."""
    path = Path(path)
    with atomic_open(path, "w") as f:
        f.write(text)
    return path


def export_csv(path: str | os.PathLike, subs: Substitutions, record_id: str,
               provenance: Provenance | None = None) -> Path:
    """Export all substitutions of record_id to path, rows in position then amino-acid order,
    with app.core.outputs.write_scores_csv (the file `python -m app score` writes: not-scored
    NaN rows left out, the provenance sidecar `<path>.json` when `provenance` is given)."""
    write_scores_csv(path, ((record_id, subs.mutant(k), subs.score[k]) for k in range(len(subs))),
                     provenance)
    return Path(path)
