"""Provenance a pack records (manifest v2 `provenance`): files by base name and sha256, never a path.

    file_provenance("/home/u/ckpt/encoder.pt") -> {"name": "encoder.pt", "sha256": "<hex>", "bytes": 30415402}
    file_provenance("/home/u/hf/esm2_t6")      -> {"name": "esm2_t6", "sha256": "<tree hex>", "bytes": ...}
    file_provenance("facebook/esm2_t6_8M_UR50D") (no such path: a hub id) -> {"name": "esm2_t6_8M_UR50D",
                                                                             "sha256": None, "bytes": None}

A directory (a HuggingFace model folder) is hashed as a tree: the sha256 of the text that
`sha256sum` prints for its files, one line "<sha256>  <path relative to the folder, '/'-separated>\\n"
per regular file (symbolic links followed, as the HF cache links blobs), sorted by that path,
`.git` folders skipped. `cd DIR && find . -type f -not -path './.git/*' -printf '%P\\0' | sort -z |
xargs -0 sha256sum | sha256sum` prints the same hex (in the C locale).
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Optional, Union

from app.core.manifest import SourceRef, base_name
from app.core.pack_files import sha256_file

SKIP_DIRS = (".git",)


def exporter_version() -> str:
    """The exporter's version string, as `provenance.exporter_version` records it."""
    from .version import __version__

    return __version__


def provenance_name(source: str) -> str:
    """A source as a pack may record it: its base name ("/home/u/x.pt" -> "x.pt"; "fair-esm hub: esm2_t6" as is)."""
    return base_name(source) if source else source


def tree_files(root: Path) -> list[tuple[str, Path]]:
    """(relative '/'-separated path, path) of every regular file under `root`, sorted by the relative path."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        for name in filenames:
            path = Path(dirpath) / name
            if path.is_file():
                found.append((path.relative_to(root).as_posix(), path))
    return sorted(found)


def tree_sha256(root: Path) -> tuple[str, int]:
    """(sha256 of the sorted `sha256sum` lines of the files under `root`, their total bytes)."""
    lines, total = hashlib.sha256(), 0
    for rel, path in tree_files(root):
        lines.update(f"{sha256_file(path)}  {rel}\n".encode("utf-8"))
        total += path.stat().st_size
    return lines.hexdigest(), total


def file_provenance(path: Union[str, Path]) -> dict:
    """{"name": base name, "sha256": hex or None, "bytes": int or None} for `provenance.source` (or a
    calibration set): a file's own hash, a directory's tree hash (module docstring), None for a
    name that is no local path (a hub id)."""
    text = str(path)
    local = Path(text).expanduser()
    sha: Optional[str] = None
    size: Optional[int] = None
    if local.is_file():
        sha, size = sha256_file(local), local.stat().st_size
    elif local.is_dir():
        sha, size = tree_sha256(local)
    name = base_name(str(local.resolve()) if local.exists() else text)
    return {"name": name, "sha256": sha, "bytes": size}


def source_ref(path: Union[str, Path]) -> SourceRef:
    """file_provenance(path) as the Manifest's `provenance.source` (Provenance(source=source_ref(ckpt)))."""
    return SourceRef(**file_provenance(path))
