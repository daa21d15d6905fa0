"""Runs a batch (app.core.batch_queue) one record at a time in a worker; the GUI thread owns the state.

Each record is one `workers.Worker` job (app.core.batch_run: the CLI's files for it); its result,
failure or cancellation is recorded in the GUI thread and the state file saved (after every record,
unless saving costs over a tenth of the time: app.core.batch_queue.SavePacing), so closing the app
loses nothing and killing it at most the record that was running (in a large batch of fast
records, also the last few seconds' worth).
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Optional

from PySide6.QtCore import QObject, QThreadPool, QTimer, Signal, Slot

from app.core.batch_queue import DONE, RUNNING, WAITING, Batch, BatchError, BatchItem, SavePacing
from app.core.batch_run import ItemOutcome, check_pack, failure_reason, fold_item, score_item
from app.core.fold.parts import FoldPackError
from app.core.jobs import CancelToken, Progress
from app.core.pack import PackError
from app.ui import workers
from app.ui.fold_job import PartsCache
from app.ui.scoring_job import RuntimeCache

log = logging.getLogger(__name__)


class BatchController(QObject):
    """Start, cancel one, cancel all; signals say which row changed and when the queue is idle."""

    itemChanged = Signal(int)  # row of batch.items whose status or results changed
    stepProgress = Signal(int, int, str)  # the running record's own progress (done, total, message)
    idle = Signal()  # nothing running and nothing waiting (or the queue was stopped)

    def __init__(self, batch: Batch, runtime_cache: Optional[RuntimeCache] = None,
                 parts_cache: Optional[PartsCache] = None, parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self.batch = batch
        self.runtime_cache = runtime_cache or RuntimeCache()
        self.parts_cache = parts_cache or PartsCache()
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)
        self.worker: Optional[workers.Worker] = None
        self.current: Optional[BatchItem] = None
        self._started_at = 0.0
        self._closed = False
        self._stopped = False  # the queue halts after the running record (its pack cannot be used)
        self.pacing = SavePacing()
        self._run_start: Optional[float] = None  # when this run's first record was done
        self._overhead = (0.0, 0.0)  # (wall s, record s) of this run's records done after the first
        self._save_timer = QTimer(self)  # a state save deferred by the pacing
        self._save_timer.setSingleShot(True)
        self._save_timer.timeout.connect(self.save)

    # ---- queue ---------------------------------------------------------------------------
    def is_running(self) -> bool:
        return self.worker is not None

    def start(self) -> bool:
        """Run the waiting records in order; False when one is running already or none waits."""
        if self.worker is not None or self._closed:
            return False
        self._run_start, self._overhead = None, (0.0, 0.0)
        return self._next()

    def _next(self) -> bool:
        item = self.batch.next_waiting()
        if item is None or self._closed:
            self.save()  # a deferred save is not left pending
            self.idle.emit()
            return False
        self.batch.start(item)
        self.current, self._started_at = item, time.monotonic()
        w = workers.Worker(self._job(item), name=f"batch {item.task} {item.record_id}")
        w.signals.progress.connect(self.stepProgress)
        workers.connect(w, self)
        self.worker = w
        self.itemChanged.emit(self.row(item))
        workers.start(w, self.pool)
        return True

    def _job(self, item: BatchItem):
        batch, ref = self.batch, self.batch.packs[item.task]
        out, settings = batch.out_dir, dict(batch.settings)

        def job(progress: Progress, cancel: CancelToken) -> ItemOutcome:
            check_pack(ref)  # the batch's records all come from the pack it started with
            if item.task == "score":
                runtime = self.runtime_cache.get(Path(ref.path))
                return score_item(runtime, item, out, settings.get("method", "wt-marginal"), progress, cancel)
            parts, _ = self.parts_cache.get(Path(ref.path))
            return fold_item(parts, ref, item, out, settings.get("recycles"), progress, cancel)

        return job

    def row(self, item: BatchItem) -> int:
        return next(k for k, i in enumerate(self.batch.items) if i is item)

    def cancel_item(self, row: int) -> None:
        """Cancel one record: a waiting one is skipped, the running one stops at its next check."""
        item = self.batch.items[row]
        if item is self.current and self.worker is not None:
            self.worker.cancel()
        elif item.status == WAITING:
            self.batch.cancel(item)
            self.save()
            self.itemChanged.emit(row)

    def cancel_all(self) -> None:
        """Skip every waiting record and stop the running one."""
        for row, item in enumerate(self.batch.items):
            if item.status == WAITING:
                self.batch.cancel(item)
                self.itemChanged.emit(row)
        self.save()
        if self.worker is not None:
            self.worker.cancel()

    def requeue(self, rows: list[int]) -> int:
        """Let failed or cancelled records (with a sequence) wait again; returns how many."""
        n = 0
        for row in rows:
            item = self.batch.items[row]
            if item.status not in (WAITING, RUNNING, DONE) and item.runnable:
                item.status, item.error = WAITING, ""
                self.itemChanged.emit(row)
                n += 1
        if n:
            self.save()
        return n

    def eta_seconds(self) -> Optional[float]:
        """The batch's estimate (from the records' own times), scaled by this run's wall time per
        second of record time (saving and the GUI between records; counted from the first record
        done, so loading the pack is left out), less the time the running record has taken."""
        eta = self.batch.eta_seconds()
        if eta is None:
            return eta
        wall, work = self._overhead
        eta *= max(1.0, wall / work) if work > 0 else 1.0
        if self.current is None:
            return eta
        return max(0.0, eta - (time.monotonic() - self._started_at))

    # ---- results (GUI thread) ------------------------------------------------------------
    @Slot(object)
    def _on_result(self, outcome: ItemOutcome) -> None:
        if self._closed or self.current is None:
            return
        self.batch.finish(self.current, outcome.outputs, outcome.seconds, outcome.method,
                          outcome.mean_plddt, outcome.ptm)
        if self._run_start is None:  # from the first record done on: the pack is loaded by then
            self._run_start = time.monotonic()
        else:
            self._overhead = (time.monotonic() - self._run_start, self._overhead[1] + outcome.seconds)
        self._record()

    @Slot(object)
    def _on_failed(self, exc: BaseException) -> None:
        if self._closed or self.current is None:
            return
        if isinstance(exc, (PackError, FoldPackError)):
            self.runtime_cache.clear()  # a broken pack is opened afresh for the next record
            self.parts_cache.clear()
        self.batch.fail(self.current, failure_reason(exc), time.monotonic() - self._started_at)
        self._record()
        if isinstance(exc, BatchError):  # the pack changed under the batch: every record would fail
            self._stopped = True

    @Slot()
    def _on_cancelled(self) -> None:
        if self._closed or self.current is None:
            return
        self.batch.cancel(self.current)
        self._record()

    def _record(self) -> None:
        """After every record: save now (a resumed batch skips it), or soon when saves are costly."""
        wait = self.pacing.wait()
        if wait <= 0:
            self.save()
        elif not self._save_timer.isActive():
            self._save_timer.start(int(wait * 1000) + 1)
        self.itemChanged.emit(self.row(self.current))

    @Slot()
    def save(self) -> None:
        self._save_timer.stop()
        self.pacing.save(self.batch)

    @Slot()
    def _on_finished(self) -> None:
        if self._closed:
            return
        self.worker, self.current = None, None
        if self._stopped:
            self._stopped = False
            self.save()
            self.idle.emit()
            return
        self._next()

    def shutdown(self, wait_ms: int = 10_000) -> None:
        """The app closes: stop the running record and save it as waiting, so reopening runs it."""
        self._closed = True
        if self.worker is not None:
            self.worker.cancel()
        self.pool.waitForDone(wait_ms)
        if self.current is not None and self.current.status == RUNNING:
            self.current.status = WAITING
        self.save()
        self.worker, self.current = None, None
