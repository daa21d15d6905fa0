"""Worker: progress and result signals, failures reported, cancellation between batches."""
import threading
import time

import pytest
from PySide6.QtCore import QThreadPool

from app.core.jobs import check, report
from app.ui.workers import Worker, start


@pytest.fixture
def pool():
    p = QThreadPool()
    yield p
    p.waitForDone(5000)


def test_emits_progress_then_result_from_a_pool_thread(qtbot, pool):
    threads = []

    def job(progress, cancel):
        threads.append(threading.get_ident())
        total = 0
        for k in range(5):
            check(cancel)
            total += k * k
            report(progress, k + 1, 5, f"batch {k + 1}")
        return total

    w = Worker(job)
    seen, results = [], []
    w.signals.progress.connect(lambda d, t, m: seen.append((d, t, m)))
    w.signals.result.connect(results.append)
    with qtbot.waitSignals([w.signals.result, w.signals.finished], timeout=5000, order="strict"):
        start(w, pool)
    assert results == [0 + 1 + 4 + 9 + 16]
    assert seen == [(k, 5, f"batch {k}") for k in range(1, 6)]
    assert threads and threads[0] != threading.get_ident()


def test_failure_is_reported_not_raised(qtbot, pool):
    def job(progress, cancel):
        raise ValueError("record 'x': bad residue 'J' at position 3")

    w = Worker(job)
    with qtbot.waitSignal(w.signals.failed, timeout=5000) as sig:
        start(w, pool)
    assert isinstance(sig.args[0], ValueError) and "position 3" in str(sig.args[0])
    assert "ValueError" in w.traceback


def test_cancel_stops_a_long_job_between_batches(qtbot, pool):
    batches = []

    def job(progress, cancel):
        for k in range(10_000):  # ~100 s if never cancelled
            check(cancel)
            time.sleep(0.01)
            batches.append(k)
            report(progress, k + 1, 10_000, "")
        return "finished"

    w = Worker(job)
    results = []
    w.signals.result.connect(results.append)
    with qtbot.waitSignal(w.signals.progress, timeout=5000):
        start(w, pool)
    t0 = time.perf_counter()
    with qtbot.waitSignals([w.signals.cancelled, w.signals.finished], timeout=5000):
        w.cancel()
    assert time.perf_counter() - t0 < 2.0
    n = len(batches)
    time.sleep(0.1)
    assert len(batches) == n < 10_000  # the loop really stopped
    assert results == []


def test_cancel_after_the_last_check_still_reports_cancelled(qtbot, pool):
    gate = threading.Event()

    def job(progress, cancel):
        gate.wait(5)
        return 42  # no check() after cancel()

    w = Worker(job)
    start(w, pool)
    with qtbot.waitSignal(w.signals.cancelled, timeout=5000):
        w.cancel()
        gate.set()


def test_connect_wires_the_owners_on_slots_it_has(qtbot) -> None:
    """workers.connect: each `_on_<signal>` the owner defines gets that signal; the others stay free."""
    from PySide6.QtCore import QObject

    from app.ui import workers

    class Owner(QObject):
        def __init__(self) -> None:
            super().__init__()
            self.seen: list = []

        def _on_result(self, value) -> None:
            self.seen.append(("result", value))

        def _on_finished(self) -> None:
            self.seen.append(("finished",))

    owner = Owner()
    w = workers.connect(workers.Worker(lambda progress, token: 42, name="answer"), owner)
    with qtbot.waitSignal(w.signals.finished, timeout=5000):
        workers.start(w)
    qtbot.waitUntil(lambda: len(owner.seen) == 2, timeout=5000)
    assert owner.seen == [("result", 42), ("finished",)]
