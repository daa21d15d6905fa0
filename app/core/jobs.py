"""Progress reporting and cooperative cancellation for long jobs (no Qt)."""
from __future__ import annotations

import threading
import time
from typing import Callable, Optional

# progress(done, total, message): called between units of work (batches, windows, records).
Progress = Callable[[int, int, str], None]


class Cancelled(Exception):
    """Raised by `CancelToken.check()` once `cancel()` was called."""


class CancelToken:
    """A thread-safe flag one thread sets and a worker polls between batches."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        """Raise `Cancelled` when cancellation was requested."""
        if self._event.is_set():
            raise Cancelled("cancelled")


def check(cancel: Optional[CancelToken]) -> None:
    """`cancel.check()` that accepts None (no cancellation)."""
    if cancel is not None:
        cancel.check()


def report(progress: Optional[Progress], done: int, total: int, message: str) -> None:
    """`progress(done, total, message)` that accepts None (no reporting)."""
    if progress is not None:
        progress(done, total, message)


class Throttle:
    """A Progress that forwards at most one update per `interval` seconds (the first at once);
    `flush()` forwards the last update it held back. A 730k-record run reports a few lines,
    not 730k."""

    def __init__(self, progress: Progress, interval: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.progress, self.interval, self.clock = progress, interval, clock
        self._last: Optional[float] = None
        self._held: Optional[tuple[int, int, str]] = None

    def __call__(self, done: int, total: int, message: str) -> None:
        now = self.clock()
        if self._last is not None and now - self._last < self.interval:
            self._held = (done, total, message)
            return
        self._last, self._held = now, None
        self.progress(done, total, message)

    def flush(self) -> None:
        if self._held is not None:
            held, self._held = self._held, None
            self._last = self.clock()
            self.progress(*held)
