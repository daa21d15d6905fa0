"""Write a model pack (ONNX files + manifest.json with hashes) atomically (docs/DESIGN.md section 3).

    OUT/.NAME.tmp-PID/   the new pack, written in full (manifest.json, manifest.sha256 last)
          |  renameat2(RENAME_EXCHANGE): one atomic swap with OUT/NAME (Linux)
          |  else: OUT/NAME -> OUT/.NAME.old-PID, then .NAME.tmp-PID -> OUT/NAME
    OUT/NAME/            the new pack; the previous one is deleted afterwards

A run killed between the two fallback renames leaves `.NAME.old-PID` and no NAME; the next
write_pack renames it back before anything else, and removes `.NAME.tmp-PID` / `.NAME.old-PID`
siblings whose process is gone.
"""
from __future__ import annotations

import ctypes
import datetime as _dt
import errno
import functools
import hashlib
import json
import logging
import os
import re
import shutil
import sys
from pathlib import Path
from dataclasses import replace
from typing import Callable, Iterable, Mapping, Optional, Union

import numpy as np
import onnx

from app.core.alphabet import ESM2_SPECIAL, ESM2_TOKENS
from app.core.manifest import FORMAT, FORMAT_VERSION, FileEntry, Manifest  # noqa: F401  (FORMAT_VERSION re-exported)
from app.core.pack_files import sha256_file  # one hashing routine for writer and reader

from .onnx_io import save_onnx
from .provenance import exporter_version
from .side_weights import SIDE_FILE, locate, npz_offsets, save_side_file
from .weights import Esm2Weights

log = logging.getLogger(__name__)
MANIFEST, MANIFEST_HASH = "manifest.json", "manifest.sha256"
RENAME_EXCHANGE, AT_FDCWD = 2, -100  # <linux/fs.h>, <fcntl.h>


class NotAPackError(ValueError):
    """An output path holding something other than a pack: the exporter will not replace it."""

    def __init__(self, path: Path, what: str) -> None:
        super().__init__(f"{path}: {what}, not an EdgeFold pack (no manifest.json with format "
                         f"{FORMAT!r}); refusing to replace it: choose another --out or move it away")
        self.path = path


def alphabet_manifest() -> dict:
    return {"tokens": list(ESM2_TOKENS), **ESM2_SPECIAL, "prepend_bos": True, "append_eos": True}


def architecture_manifest(weights: Esm2Weights) -> dict:
    c = weights.config
    return {"family": "esm2", "num_layers": c.num_layers, "embed_dim": c.embed_dim,
            "attention_heads": c.attention_heads, "vocab_size": c.vocab_size, "max_tokens": c.max_tokens,
            "token_dropout": c.token_dropout, "parameters": weights.parameter_count()}


def as_manifest(manifest: Union[Mapping, Manifest]) -> Manifest:
    """A Manifest as given, or one from a caller's dict (v1 keys such as a `source` string, or v2
    `provenance`; paths become base names: app.core.manifest.Manifest.from_fields)."""
    return manifest if isinstance(manifest, Manifest) else Manifest.from_fields(dict(manifest))


def write_manifest(pack_dir: Path, manifest: Union[dict, Manifest]) -> None:
    """manifest.json, then manifest.sha256 (a `sha256sum -c` line for it), each replaced atomically.

    A Manifest is written as v2 (`to_dict`); a dict as it is (a later update of a pack keeps its
    format_version; tests write broken manifests through it).
    """
    if isinstance(manifest, Manifest):
        manifest = manifest.to_dict()
    data = (json.dumps(manifest, indent=2) + "\n").encode("utf-8")
    line = f"{hashlib.sha256(data).hexdigest()}  {MANIFEST}\n".encode("ascii")
    for name, content in ((MANIFEST, data), (MANIFEST_HASH, line)):
        tmp = Path(pack_dir) / f".{name}.tmp-{os.getpid()}"
        tmp.write_bytes(content)
        os.replace(tmp, Path(pack_dir) / name)


def check_replaceable(out_dir: Path) -> None:
    """NotAPackError unless `out_dir` is absent, an empty directory, or a pack (what write_pack replaces)."""
    out_dir = Path(out_dir)
    if out_dir.is_symlink():
        raise NotAPackError(out_dir, "is a symbolic link")
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise NotAPackError(out_dir, "is a file")
    if not any(out_dir.iterdir()):
        return
    try:
        manifest = json.loads((out_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise NotAPackError(out_dir, "is a directory with other files")


def check_out_dirs(out: Path, schemes: str | Iterable[str]) -> None:
    """check_replaceable(OUT/<scheme>) for each scheme (a comma-separated string or a list), before exporting."""
    names = schemes.split(",") if isinstance(schemes, str) else schemes
    for scheme in (s.strip() for s in names):
        if scheme:
            check_replaceable(Path(out) / scheme)


def pid_alive(pid: int) -> bool:
    """Whether another process with this id runs (this process counts as not: its leftovers are stale)."""
    if pid == os.getpid():
        return False
    if os.name == "nt":
        return True  # os.kill(pid, 0) would terminate it on Windows: never clean there
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # gone, or no process could have this id
        return False
    except OSError:  # PermissionError: alive, another user's
        return True
    return True


def _sibling(out_dir: Path, kind: str) -> Path:
    return out_dir.with_name(f".{out_dir.name}.{kind}-{os.getpid()}")


def stale_siblings(out_dir: Path) -> list[tuple[str, Path]]:
    """(kind "tmp" | "old", path) of `.NAME.tmp-PID` / `.NAME.old-PID` whose process is gone."""
    pattern = re.compile(rf"\.{re.escape(out_dir.name)}\.(tmp|old)-(\d+)")
    found = []
    for path in out_dir.parent.iterdir() if out_dir.parent.is_dir() else ():
        match = pattern.fullmatch(path.name)
        if match and path.is_dir() and not path.is_symlink() and not pid_alive(int(match.group(2))):
            found.append((match.group(1), path))
    return found


def recover(out_dir: Path) -> None:
    """Undo what killed runs left: restore a lone `.NAME.old-PID` to NAME, delete stale siblings."""
    out_dir = Path(out_dir)
    stale = stale_siblings(out_dir)
    olds = sorted((p for kind, p in stale if kind == "old"), key=lambda p: p.stat().st_mtime, reverse=True)
    if olds and not out_dir.exists() and not out_dir.is_symlink():
        log.warning("restoring %s from %s: an earlier export was killed while replacing it", out_dir, olds[0])
        os.rename(olds[0], out_dir)
    for kind, path in stale:
        if path.exists():
            log.info("removing %s left by a killed export", path)
            shutil.rmtree(path, ignore_errors=True)


@functools.cache
def _renameat2() -> Optional[Callable[..., int]]:
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


def exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths in one atomic step (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    fn = _renameat2()
    if fn is None:
        return False
    if fn(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(a), None, str(b))


def swap_into_place(tmp: Path, out_dir: Path) -> None:
    """Make the complete pack `tmp` the directory `out_dir`; the previous one, if any, is deleted."""
    if not out_dir.exists():
        os.rename(tmp, out_dir)
        return
    if exchange(tmp, out_dir):
        shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the previous pack
        return
    old = _sibling(out_dir, "old")
    os.rename(out_dir, old)
    try:
        os.rename(tmp, out_dir)
    except BaseException:
        os.rename(old, out_dir)
        raise
    shutil.rmtree(old, ignore_errors=True)


def write_pack(out_dir: Path, models: dict[str, onnx.ModelProto], manifest: Union[dict, Manifest],
               inspect: Callable[[Path], dict] | None = None,
               side_weights: dict[str, np.ndarray] | None = None) -> Path:
    """Write `models` ({filename: model}) and a v2 manifest into `out_dir`, all or nothing.

    `manifest` is a Manifest or a dict (see `as_manifest`: a v1-style `source` string is recorded
    as `provenance.source` by its base name); `files`, `provenance.exporter_version` and
    `provenance.created` are set here.

    Files go to a temporary sibling directory swapped into place at the end (see the module
    docstring), so an interrupted export leaves the previous pack or the new one, never half of
    one. `out_dir` must be absent, empty or a pack (NotAPackError otherwise). `inspect(tmp_dir)`,
    if given, runs on the complete pack before the swap (e.g. a benchmark through the app's
    loader) and returns manifest keys to add; manifest.sha256 is written after them.
    `side_weights` ({initializer: array}, from packbuild.side_weights.split_models) go to
    weights.npz, listed in `files` and named by `onnx.external_weights`.
    """
    out_dir = Path(out_dir)
    meta = as_manifest(manifest)  # before anything is written: a bad key fails fast
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    recover(out_dir)
    check_replaceable(out_dir)
    tmp = _sibling(out_dir, "tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        written: list[Path] = []
        if side_weights:
            written.append(save_side_file(tmp / SIDE_FILE, side_weights))
            offsets = npz_offsets(written[-1])
            models = {name: locate(model, SIDE_FILE, offsets) for name, model in models.items()}
            meta = replace(meta, onnx={**meta.onnx, "external_weights": {
                "file": SIDE_FILE, "initializers": sorted(side_weights)}})
        for name, model in models.items():
            written += save_onnx(model, tmp / name)
        files = {p.name: FileEntry(sha256_file(p), p.stat().st_size) for p in written}
        created = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        meta = replace(meta, files=files, provenance=replace(meta.provenance, exporter_version=exporter_version(),
                                                             created=created))
        write_manifest(tmp, meta)
        if inspect is not None:
            meta = meta.updated(inspect(tmp))
            write_manifest(tmp, meta)
        check_replaceable(out_dir)  # again: the export took a while
        swap_into_place(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir
