"""Pieces every CLI command shares (app.cli, app.cli_fold): the user-facing error, the progress
line on stderr and the FASTA reader; here so that the command modules need not import each other."""
from __future__ import annotations

import sys
import time
from typing import Callable, Optional, TextIO

from .core.exit_codes import USAGE
from .core.fasta import Record, read_fasta
from .core.jobs import Throttle


class CliError(Exception):
    """A user-facing error printed as `error: ...`; the CLI exits with `exit_code` (see
    app.core.exit_codes: USAGE for what the user gave, FAILED when the run itself failed)."""

    def __init__(self, message: str, exit_code: int = USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class ProgressLine:
    """Progress on stderr for one run: at most one line per `interval` s (rewritten in place,
    up to 5 times a second, on a terminal), prefixed with the record and the records/s rate."""

    TTY_INTERVAL = 0.2

    def __init__(self, stream: Optional[TextIO] = None, interval: float = 5.0,
                 records: int = 0, clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.prefix, self.records = "", records
        self._record: Optional[tuple[int, str, int]] = None  # (n, id, length) of the current one
        self._clock, self._t0 = clock, clock()
        self._in_place = False
        self._throttle = Throttle(self._write, min(interval, self.TTY_INTERVAL) if self.tty else interval,
                                  clock)

    def record(self, n: int, record_id: str, length: int) -> None:
        """Record n (1-based) of `records` starts; cheap, called once per record."""
        self._record = (n, record_id, length)

    def __call__(self, done: int, total: int, message: str) -> None:
        self._throttle(done, total, message)

    def _write(self, done: int, total: int, message: str) -> None:
        line = printable(f"{self._prefix()}{message}")
        if self.tty:
            self.stream.write("\r" + line[:120].ljust(120))
            self._in_place = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def _prefix(self) -> str:
        if self._record is None:
            return self.prefix
        n, rid, length = self._record
        elapsed = self._clock() - self._t0
        rate = f", {(n - 1) / elapsed:.1f} records/s" if n > 1 and elapsed > 0 else ""
        return f"{self.prefix}[{n}/{self.records} {rid}, {length} aa{rate}] "

    def close(self) -> None:
        """Show the last held-back update on a terminal and end its line."""
        if self.tty:
            self._throttle.flush()
            if self._in_place:
                self.stream.write("\n")
                self.stream.flush()


def printable(text: str) -> str:
    """`text` with control characters as '?': a FASTA header cannot send terminal escapes."""
    return "".join(c if c.isprintable() else "?" for c in text)


def read_records(path: str) -> list[Record]:
    return read_fasta(path)  # FastaError: missing, a directory, not a regular file, empty, binary
