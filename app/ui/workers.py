"""Run a cancellable core job in a QThreadPool and report progress/result through Qt signals."""
from __future__ import annotations

import logging
import traceback
from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from app.core.jobs import Cancelled, CancelToken, Progress

log = logging.getLogger(__name__)

# A job takes a progress callback and a cancel token (checked between batches) and returns a result.
Job = Callable[[Progress, CancelToken], Any]


class WorkerSignals(QObject):
    """Emitted from the pool thread; queued to receivers living in the GUI thread."""

    progress = Signal(int, int, str)  # done, total, message
    result = Signal(object)  # the job's return value
    failed = Signal(object)  # the exception (traceback text in its __notes__ is not added)
    cancelled = Signal()
    finished = Signal()  # always last, after exactly one of result / failed / cancelled


class Worker(QRunnable):
    """One job run; `cancel()` asks it to stop at the job's next `CancelToken.check()`."""

    def __init__(self, job: Job, name: str = "job") -> None:
        super().__init__()
        self.setAutoDelete(False)  # the owner keeps the Python object until `finished`
        self.job = job
        self.name = name
        self.token = CancelToken()
        self.signals = WorkerSignals()
        self.traceback = ""

    def cancel(self) -> None:
        self.token.cancel()

    def _progress(self, done: int, total: int, message: str) -> None:
        self.signals.progress.emit(int(done), int(total), str(message))

    def run(self) -> None:
        try:
            result = self.job(self._progress, self.token)
        except Cancelled:
            log.info("%s cancelled", self.name)
            self.signals.cancelled.emit()
        except BaseException as e:  # noqa: BLE001 - every failure is reported, never raised in a pool thread
            self.traceback = traceback.format_exc()
            log.error("%s failed:\n%s", self.name, self.traceback)
            self.signals.failed.emit(e)
        else:
            if self.token.cancelled:  # the job ended without reaching a check after cancel()
                self.signals.cancelled.emit()
            else:
                self.signals.result.emit(result)
        finally:
            self.signals.finished.emit()


def connect(worker: Worker, owner: QObject, prefix: str = "_on_") -> Worker:
    """Connect each of the worker's signals to `owner.<prefix><signal>` where owner has one
    (`_on_progress`, `_on_result`, `_on_failed`, `_on_cancelled`, `_on_finished`)."""
    for name in ("progress", "result", "failed", "cancelled", "finished"):
        slot = getattr(owner, prefix + name, None)
        if slot is not None:
            getattr(worker.signals, name).connect(slot)
    return worker


def start(worker: Worker, pool: QThreadPool | None = None) -> Worker:
    """Queue the worker on pool (the global pool by default) and return it."""
    (pool or QThreadPool.globalInstance()).start(worker)
    return worker
