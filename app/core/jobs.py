"""Progress reporting and cooperative cancellation for long jobs (no Qt)."""
from __future__ import annotations

import threading
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
