"""The batch results browser's one job: show a finished record's files in the main window's panels.

Everything is read back from the batch folder (the scores CSV and its sidecar, the PDB and the
confidence JSON), so a batch reopened after the app was closed shows the same as one just run.
"""
from __future__ import annotations

import json
import numpy as np

from app.core.batch_queue import DONE, Batch, BatchError, BatchItem
from app.core.batch_run import load_scores
from app.core.outputs import sidecar_path
from app.core.provenance import Provenance
from app.ui.scoring_job import ScoreResult


def score_result(batch: Batch, item: BatchItem) -> ScoreResult:
    """The ScoreResult a scoring of `item` in the window would give, from its CSV and sidecar."""
    path = batch.out_dir / f"{item.stem}.csv"
    scores = load_scores(path, item)
    try:
        provenance = Provenance(**json.loads(sidecar_path(path).read_text(encoding="utf-8"))["provenance"])
    except (KeyError, TypeError, ValueError) as e:
        raise BatchError(f"{sidecar_path(path)}: no provenance record ({e})") from None
    return ScoreResult(item.record(), provenance.method, provenance.model, scores, item.seconds or 0.0, provenance)


def show_item(window, batch: Batch, item: BatchItem) -> str:
    """Show a done item in `window` (the MainWindow; not imported here, it imports us): scores in the heatmap and table, a structure in the 3D view and PAE map.
    Returns the status text; OSError / BatchError / ValueError name the file that cannot be read."""
    if item.status != DONE:
        raise BatchError(f"record {item.record_id!r} ({item.task}) is {item.status}, not done")
    if item.task == "score":
        window._on_result(score_result(batch, item))  # the window's own path for a finished scoring
        return f"Showing the scores of {item.record_id} from {batch.out_dir}"
    conf_path = batch.out_dir / f"{item.stem}.json"
    pdb = (batch.out_dir / f"{item.stem}.pdb").read_text(encoding="utf-8")
    conf = json.loads(conf_path.read_text(encoding="utf-8"))
    pae = np.asarray(conf.get("predicted_aligned_error") or [], dtype=np.float32)
    if pae.shape != (item.length, item.length):
        raise BatchError(f"{conf_path}: no {item.length} x {item.length} PAE for record {item.record_id!r}")
    panel = window.fold_panel
    panel.show_structure(pdb, f"{item.record_id}: {item.length} residues, mean pLDDT {conf['mean_plddt']:.1f}, "
                              f"pTM {conf['ptm']:.3f} (batch result, {batch.out_dir / item.stem}.pdb)", pae)
    panel.outcome = None  # the panel's own fold (and its Save buttons) no longer is what is shown
    panel._update_actions()
    panel.outcomeChanged.emit(None)  # the heatmap is no longer linked to a structure
    window.fold_dock.show()
    return f"Showing the structure of {item.record_id} from {batch.out_dir}"
