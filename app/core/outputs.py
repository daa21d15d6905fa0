"""Atomic writers for score CSVs (ProteinGym `mutant,score`) and .npy arrays."""
from __future__ import annotations

import csv
import io
import os
import re
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterable, Iterator, Union

import numpy as np

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@contextmanager
def atomic_open(path: Union[str, Path], mode: str = "w") -> Iterator[IO]:
    """Write to a temporary sibling, then rename over `path`; on error nothing is left behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        kwargs = {"newline": ""} if "b" not in mode else {}
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_scores_csv(path: Union[str, Path], rows: Iterable[tuple],
                     header: tuple[str, ...] = ("mutant", "score")) -> int:
    """Write rows (one tuple per mutant, matching `header`) atomically; returns row count."""
    n = 0
    with atomic_open(path, "w") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        for row in rows:
            w.writerow([f"{v:.6f}" if isinstance(v, float) else v for v in row])
            n += 1
    return n


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
