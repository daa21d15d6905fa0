"""Installed packs as the model manager and `python -m app models` see them: list, verify, remove, import
(no Qt).

Every change to the packs folder is atomic, so a kill never leaves a half pack that the app lists:
an import copies into a hidden `.importing-*` sibling, checks the copy, then renames it into place;
a removal renames the pack to a hidden `.removing-*` first, then deletes it. `find_packs` skips
hidden names, and `sweep_leftovers` clears what a killed run left.
"""
from __future__ import annotations

import hashlib
import logging
import os
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from .jobs import CancelToken, Progress, check, report
from .outputs import _pid_alive, safe_stem
from . import pack as core_pack  # its functions looked up at call time (tests move the packs folders)
from .pack import MANIFEST, MANIFEST_HASH, PackError, PackInfo, load_pack, read_pack_manifest, verify_files
from .pack_summary import accuracy_summary, benchmark_summary, human_size

log = logging.getLogger(__name__)

IMPORTING, REMOVING = ".importing-", ".removing-"


class PackAdminError(PackError):
    """A refused manager action (a duplicate, the embedded pack, a pack outside the packs folder)."""


@dataclass(frozen=True)
class PackRow:
    """One installed pack with what the manifest says it was made from (`provenance.source`)."""

    info: PackInfo
    source_name: str = ""  # checkpoint base name, "" when not recorded
    source_sha256: str = ""

    @property
    def removable(self) -> bool:
        return self.info.source == "user"

    def as_dict(self) -> dict:
        """The row as `models list --json` prints it."""
        i = self.info
        return {"name": i.name, "task": i.task, "scheme": i.scheme, "size_bytes": i.size_bytes,
                "license": i.license, "source_checkpoint": self.source_name, "source_sha256": self.source_sha256,
                "fidelity": accuracy_summary(i.accuracy) if i.ok else "", "accuracy": i.accuracy,
                "benchmark": benchmark_summary(i.benchmark) if i.ok else "", "location": i.source,
                "path": str(i.path), "manifest_sha256": i.manifest_sha256,
                "delta_base": (i.delta.get("base") or {}).get("name", "") if i.is_delta else "",
                "ok": i.ok, "error": i.error}

    def cells(self) -> list[str]:
        """Name, task, scheme, size, licence, source, source sha256 (short), fidelity, benchmark, status."""
        i = self.info
        sha = f"{self.source_sha256[:12]}\u2026" if self.source_sha256 else ""
        name = f"\u21b3 {i.name}" if i.is_delta else i.name
        status = i.source if i.ok else f"unusable: {i.error}"
        if not i.ok:
            return [name, i.task, "", human_size(i.size_bytes), "", "", "", "", "", status]
        return [name, i.task, i.scheme, human_size(i.size_bytes), i.license or "not stated",
                self.source_name or "not recorded", sha, accuracy_summary(i.accuracy),
                benchmark_summary(i.benchmark), status]


def ordered(infos: list[PackInfo]) -> list[tuple[PackInfo, PackInfo | None]]:
    """(pack, its base if a delta) with each delta pack right after its base; deltas whose base is not
    listed come last."""
    by_sha = {i.manifest_sha256: i for i in infos if i.ok and not i.is_delta and i.manifest_sha256}
    deltas: dict[str, list[PackInfo]] = {}
    orphans = []
    for i in infos:
        if i.ok and i.is_delta:
            sha = (i.delta.get("base") or {}).get("manifest_sha256", "")
            (deltas.setdefault(sha, []) if sha in by_sha else orphans).append(i)
    out: list[tuple[PackInfo, PackInfo | None]] = []
    for i in infos:
        if i.ok and i.is_delta:
            continue
        out.append((i, None))
        for d in deltas.get(i.manifest_sha256, []) if i.ok and not i.is_delta else []:
            out.append((d, i))
    return out + [(d, None) for d in orphans]


COLUMNS = ("Name", "Task", "Scheme", "Size", "Licence", "Source checkpoint", "Source sha256", "Fidelity",
           "Benchmark", "Status")


def pack_row(info: PackInfo) -> PackRow:
    """`info` plus its manifest's source checkpoint (a broken pack: none)."""
    if not info.ok:
        return PackRow(info)
    try:
        src = read_pack_manifest(info.path).provenance.source
    except (PackError, OSError, ValueError):
        return PackRow(info)
    return PackRow(info, src.name if src else "", (src.sha256 or "") if src else "")


def list_packs() -> list[PackRow]:
    """Installed packs (the embedded default, then the packs folder), each delta pack after its base."""
    return [pack_row(info) for info, _ in ordered(core_pack.find_packs())]


def find_installed(name: str) -> PackInfo:
    """The installed pack called `name` (manifest name or folder name) or at path `name`; PackAdminError
    listing the installed names otherwise, or when the name is ambiguous."""
    infos = core_pack.find_packs()
    target = Path(name).expanduser()
    hits = [i for i in infos if i.path.resolve() == target.resolve()] if target.is_dir() else []
    hits = hits or [i for i in infos if i.name == name] or [i for i in infos if i.path.name == name]
    if len(hits) == 1:
        return hits[0]
    if hits:
        raise PackAdminError(f"{name!r} names {len(hits)} installed packs ({', '.join(str(i.path) for i in hits)}); "
                             f"give the pack's folder instead", name)
    known = ", ".join(sorted({i.name for i in infos})) or "none"
    raise PackAdminError(f"no installed pack is called {name!r} (installed: {known}; packs folder "
                         f"{core_pack.user_packs_dir()})", name)


@dataclass(frozen=True)
class VerifyReport:
    path: Path
    name: str
    files: int
    bytes: int
    seconds: float

    def summary(self) -> str:
        return (f"{self.name}: OK, {self.files} files ({human_size(self.bytes)}) match their sha256 "
                f"(checked in {self.seconds:.1f} s)")


def verify_pack(path: Union[str, Path]) -> VerifyReport:
    """Check a pack as the app loads it (app.core.pack.load_pack: manifest, every file's size and
    sha256, graph files, a delta's base); raises PackError naming what is wrong."""
    t0 = time.perf_counter()
    pack = load_pack(path, verify=True)
    files = pack.meta.files
    return VerifyReport(pack.path, pack.name, len(files), sum(e.bytes for e in files.values()),
                        time.perf_counter() - t0)


def dependents(info: PackInfo, infos: Optional[list[PackInfo]] = None) -> list[PackInfo]:
    """Installed delta packs whose base is `info` (they stop working once it is removed)."""
    if not info.manifest_sha256:
        return []
    return [i for i in (core_pack.find_packs() if infos is None else infos)
            if i.is_delta and (i.delta.get("base") or {}).get("manifest_sha256") == info.manifest_sha256]


def _hidden_sibling(root: Path, prefix: str, name: str) -> Path:
    return root / f"{prefix}{name}-{os.getpid()}-{secrets.token_hex(4)}"


def remove_pack(path: Union[str, Path]) -> Path:
    """Delete an installed pack of the packs folder: renamed away first (the app stops listing it at
    once, even if the deletion is killed), then deleted. The embedded default and packs outside the
    packs folder are refused."""
    path = Path(path).expanduser()
    root = core_pack.user_packs_dir()
    if path.resolve() == core_pack.default_pack_dir().resolve():
        raise PackAdminError(f"{path}: the embedded default pack ships with the app and cannot be removed", path)
    if path.is_symlink() or not path.is_dir() or path.resolve().parent != root.resolve() or \
            path.name.startswith("."):
        raise PackAdminError(f"{path}: not a pack folder in the packs folder {root}; only installed packs are "
                             f"removed (delete other folders yourself)", path)
    away = _hidden_sibling(root, REMOVING, path.name)
    os.rename(path, away)
    shutil.rmtree(away, ignore_errors=True)
    log.info("removed pack %s", path)
    return path


def _manifest_sha(path: Path) -> str:
    return hashlib.sha256((path / MANIFEST).read_bytes()).hexdigest()


def check_not_installed(name: str, scheme: str, manifest_sha256: str, infos: list[PackInfo]) -> None:
    """PackAdminError when a pack of this manifest hash, or of this name and scheme, is installed already
    (one model in two schemes is two packs)."""
    for i in infos:
        if i.ok and i.manifest_sha256 == manifest_sha256:
            raise PackAdminError(f"this pack is already installed as {i.name!r} at {i.path} (same manifest "
                                 f"sha256 {manifest_sha256[:12]}...)", i.path)
    for i in infos:
        if i.name == name and i.scheme == scheme:
            raise PackAdminError(f"a pack named {name!r} ({scheme}) is already installed at {i.path}; remove it "
                                 f"first (python -m app models remove {i.path.name!r}) or rename the new one", i.path)


def install_dir(root: Path, name: str, scheme: str) -> Path:
    """`<root>/<name>`, or `<root>/<name>-<scheme>` when another scheme of the model has that folder."""
    for candidate in (safe_stem(name), safe_stem(f"{name}-{scheme}")):
        if not (root / candidate).exists():
            return root / candidate
    raise PackAdminError(f"{root / safe_stem(name)} and {root / safe_stem(f'{name}-{scheme}')} exist already; "
                         f"move one away first", root)


def import_pack(src: Union[str, Path], packs_dir: Optional[Path] = None, progress: Optional[Progress] = None,
                cancel: Optional[CancelToken] = None) -> Path:
    """Validate the pack folder `src` (hashes included), refuse a duplicate, copy its manifest and listed
    files into the packs folder as `<name>/` (`install_dir`), check the copy, only then rename it into place."""
    src = Path(src).expanduser()
    verify_pack(src)  # PackError naming what is wrong, before anything is copied
    meta = read_pack_manifest(src)
    name = meta.name or src.name
    check_not_installed(name, meta.scheme or "unknown", _manifest_sha(src), core_pack.find_packs())
    root = Path(packs_dir) if packs_dir is not None else core_pack.user_packs_dir()
    root.mkdir(parents=True, exist_ok=True)
    target = install_dir(root, name, meta.scheme or "unknown")
    sweep_leftovers(root)
    tmp = _hidden_sibling(root, IMPORTING, target.name)
    try:
        _copy_pack(src, tmp, [MANIFEST, MANIFEST_HASH, *meta.files], meta.file_dicts(), progress, cancel)
        verify_files(tmp, meta.file_dicts(), hashes=True)  # the copy, not only the source
        read_pack_manifest(tmp)
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("imported pack %s from %s to %s", name, src, target)
    return target


def _copy_pack(src: Path, dst: Path, names: list[str], files: dict, progress: Optional[Progress],
               cancel: Optional[CancelToken]) -> None:
    dst.mkdir()
    total = sum(int(m["bytes"]) for m in files.values())
    done = 0
    for n in names:
        if not (src / n).is_file():  # manifest.sha256 is optional
            continue
        check(cancel)
        (dst / n).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / n, dst / n)
        done += int(files.get(n, {}).get("bytes", 0))
        report(progress, done, total, f"copied {n} ({human_size(done)} of {human_size(total)})")


def sweep_leftovers(root: Optional[Path] = None) -> list[Path]:
    """Delete what killed imports and removals left in the packs folder (hidden, never listed):
    `.removing-*` always, `.importing-*` once its process is gone. Returns what was removed."""
    root = Path(root) if root is not None else core_pack.user_packs_dir()
    removed = []
    for p in sorted(root.glob(".*")) if root.is_dir() else []:
        if p.name.startswith(IMPORTING):
            pid = p.name.rsplit("-", 2)[-2]
            if not pid.isdigit() or int(pid) == os.getpid() or _pid_alive(int(pid)) is not False:
                continue
        elif not p.name.startswith(REMOVING):
            continue
        shutil.rmtree(p, ignore_errors=True)
        removed.append(p)
    return removed
