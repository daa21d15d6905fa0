"""Atomic writers for score CSVs (`record_id,mutant,score`) and .npy arrays.

A file NAME is written as a temporary sibling `.NAME.<pid>.<random>.tmp`, created with mode
0666 so the umask applies (as for any file the user creates), fsynced, then renamed over NAME
with os.replace: readers see the old file or the new one, never half of one. A temporary file
is removed on any error; one left by a killed run (its pid is gone, or it is over an hour old)
is removed the next time NAME is written. An existing NAME that is not a regular file (a
symlink, a device, a FIFO, a directory) is refused, never replaced.
"""
from __future__ import annotations

import csv
import errno
import io
import logging
import os
import re
import secrets
import stat
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Iterable, Iterator, Optional, Union

import numpy as np

from .file_kind import describe_kind

if TYPE_CHECKING:  # the provenance record's type; outputs only calls its as_dict()
    from .provenance import Provenance

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
STALE_AFTER_S = 3600.0  # a temporary file this old is stale even if its pid is alive (reused)
_RESCAN_S = 60.0  # a directory is listed for stale temporaries at most once a minute
_TEMP_TAIL = re.compile(r"(?:(?P<pid>[0-9]+)\.)?[A-Za-z0-9_]+\.tmp")  # after ".NAME."


class OutputError(OSError):
    """An output path that cannot or must not be written; names the path and the reason."""

    def __init__(self, message: str, path: Union[str, Path]) -> None:
        super().__init__(message)
        self.path = Path(path)

    def __str__(self) -> str:
        return str(self.args[0])


def check_target(path: Union[str, Path]) -> Path:
    """OutputError unless `path` can become a regular file: its directory exists (it is not
    created) and `path` is absent or a regular file (not a symlink, device, FIFO, directory)."""
    path = Path(path)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and not stat.S_ISREG(mode):
        raise OutputError(f"{path}: {describe_kind(mode)}; refusing to replace it with an "
                          f"output file (give a regular file path)", path)
    parent = path.parent
    if not parent.is_dir():
        what = "is not a directory" if parent.exists() else "does not exist"
        raise OutputError(f"{path}: the output directory {parent} {what} (it is not created)", path)
    return path


def check_writable(path: Union[str, Path]) -> Path:
    """`check_target`, then create and remove a temporary file next to `path`: a directory we
    may not write in (permissions, a read-only mount) is reported now, before any work."""
    path = check_target(path)
    _probe(path)
    return path


def _probe(path: Path) -> None:
    try:
        fd, tmp = _create_temp(path)
    except OSError as e:
        raise OutputError(f"{path}: cannot write in {path.parent} ({e.strerror or e})", path) from None
    os.close(fd)
    os.unlink(tmp)


def prepare_dir(path: Union[str, Path]) -> Path:
    """An output directory: an existing directory (or a symlink to one), or created when its
    parent exists; OutputError otherwise. Checked writable with a temporary file."""
    path = Path(path)
    if not path.is_dir():
        if os.path.lexists(path):
            raise OutputError(f"{path}: {describe_kind(os.lstat(path).st_mode)}, not an output "
                              f"directory", path)
        if not path.parent.is_dir():
            raise OutputError(f"{path}: its parent {path.parent} does not exist (only the last "
                              f"directory is created)", path)
        try:
            path.mkdir()
        except OSError as e:
            raise OutputError(f"{path}: cannot create the output directory ({e.strerror or e})",
                              path) from None
    _probe(path / "write-check")
    return path


def _create_temp(path: Path) -> tuple[int, Path]:
    """A new `.NAME.<pid>.<random>.tmp` next to `path`, opened for writing with mode 0666 &
    ~umask (tempfile.mkstemp would force 0600)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no unused temporary file name", str(path))


def _pid_alive(pid: int) -> Optional[bool]:
    """True/False on POSIX; None where it cannot be told safely (os.kill(pid, 0) on Windows
    would send CTRL_C_EVENT)."""
    if os.name != "posix":
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, under another user
        return True
    return True


_scan_lock = threading.Lock()
# directory -> (when listed, its mtime then, the `.*.tmp` names in it)
_scans: dict[str, tuple[float, Optional[int], set[str]]] = {}


def _dir_mtime(directory: Path) -> Optional[int]:
    try:
        return os.stat(directory).st_mtime_ns
    except OSError:
        return None


def _temporaries(directory: Path, name: str) -> list[tuple[str, Optional[int]]]:
    """(file name, pid or None) of the `.NAME.*.tmp` files in `directory`. The listing is kept
    while the directory's mtime only changes by our own writes (see `_mark_own_change`), so
    writing N files in one directory lists it once, not N times; at most a minute old."""
    key, now, mtime = str(directory), time.monotonic(), _dir_mtime(directory)
    with _scan_lock:
        scanned = _scans.get(key)
        if scanned is None or scanned[1] != mtime or now - scanned[0] > _RESCAN_S:
            try:
                with os.scandir(directory) as it:
                    found = {e.name for e in it if e.name.startswith(".") and e.name.endswith(".tmp")}
            except OSError:
                found = set()
            scanned = _scans[key] = (now, mtime, found)
        prefix, out = f".{name}.", []
        for entry in [e for e in scanned[2] if e.startswith(prefix)]:
            m = _TEMP_TAIL.fullmatch(entry, len(prefix))
            if m:
                scanned[2].discard(entry)
                out.append((entry, int(m.group("pid")) if m.group("pid") else None))
        return out


def _mark_own_change(directory: Path, before: Optional[int]) -> None:
    """We changed `directory` since its mtime was `before`: keep its listing if nobody else did."""
    key = str(directory)
    with _scan_lock:
        scanned = _scans.get(key)
        if scanned is not None and scanned[1] == before:
            _scans[key] = (scanned[0], _dir_mtime(directory), scanned[2])


def remove_stale_temps(path: Union[str, Path], max_age: float = STALE_AFTER_S) -> list[Path]:
    """Remove `.NAME.*.tmp` temporaries of `path` left by killed runs: their pid is not alive
    (POSIX), or they are older than `max_age` seconds. Returns the removed paths."""
    path = Path(path)
    removed = []
    before = _dir_mtime(path.parent)
    for entry, pid in _temporaries(path.parent, path.name):
        tmp = path.parent / entry
        try:
            st = os.lstat(tmp)
        except OSError:
            continue
        dead = pid is not None and pid != os.getpid() and _pid_alive(pid) is False
        if stat.S_ISREG(st.st_mode) and (dead or time.time() - st.st_mtime > max_age):
            try:
                os.unlink(tmp)
            except OSError:
                continue
            log.info("removed stale temporary file %s", tmp)
            removed.append(tmp)
    if removed:
        _mark_own_change(path.parent, before)
    return removed


@contextmanager
def atomic_open(path: Union[str, Path], mode: str = "w") -> Iterator[IO]:
    """Write to a temporary sibling, then rename over `path`; on error nothing is left behind.

    Text mode is UTF-8 with newline=''. A missing parent directory is refused (OutputError
    naming it), never created; the final file has mode 0666 & ~umask.
    """
    path = Path(path)
    check_target(path)
    remove_stale_temps(path)
    before = _dir_mtime(path.parent)
    fd, tmp = _create_temp(path)
    try:
        kwargs = {"newline": "", "encoding": "utf-8"} if "b" not in mode else {}
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        check_target(path)  # a symlink or FIFO may have been put there meanwhile
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    finally:
        _mark_own_change(path.parent, before)


SCORES_HEADER = ("record_id", "mutant", "score")


def write_scores_csv(path: Union[str, Path], rows: Iterable[tuple[str, str, float]],
                     provenance: Optional["Provenance"] = None) -> int:
    """Write (record_id, mutant, score) rows under SCORES_HEADER atomically; returns row count.

    The one scores CSV writer (CLI `score` and the GUI's Export CSV). A score is written as
    repr(float(score)), the shortest text that reads back to the same float64. A NaN score (a
    substitution at a non-standard residue X, B, Z, U, O: not scored) is left out. With
    `provenance`, a sidecar `<path>.json` records it, the record ids, the row count and the
    number of rows left out as not scored.
    """
    n, skipped, records = 0, 0, {}
    with atomic_open(path, "w") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(SCORES_HEADER)
        for record_id, mutant, score in rows:
            records.setdefault(record_id, None)
            if not np.isfinite(score):
                skipped += 1
                continue
            w.writerow([record_id, mutant, repr(float(score))])
            n += 1
    if provenance is not None:
        write_sidecar(sidecar_path(path), provenance, csv=Path(path).name, columns=list(SCORES_HEADER),
                      records=list(records), rows=n, not_scored=skipped,
                      not_scored_reason="substitutions at non-standard residues (X, B, Z, U, O) "
                                        "are not scored and not written")
    return n


def sidecar_path(path: Union[str, Path]) -> Path:
    """`<out>.json` beside an output (scores.csv -> scores.csv.json)."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def write_sidecar(path: Union[str, Path], provenance: "Provenance", **extra) -> Path:
    """Write `{"provenance": ..., **extra}` atomically to `path` (a .json file)."""
    import json

    with atomic_open(path, "w") as f:
        f.write(json.dumps({"provenance": provenance.as_dict(), **extra}, indent=1) + "\n")
    return Path(path)


def save_npy(path: Union[str, Path], array: np.ndarray) -> None:
    """np.save atomically (the name is kept exactly, no '.npy' appended)."""
    buf = io.BytesIO()
    np.save(buf, np.asarray(array), allow_pickle=False)
    with atomic_open(path, "wb") as f:
        f.write(buf.getbuffer())


def safe_stem(record_id: str) -> str:
    """A file-name-safe form of a record id ('sp|P1|X' -> 'sp_P1_X')."""
    stem = _UNSAFE.sub("_", record_id).strip("._")
    return stem or "record"
