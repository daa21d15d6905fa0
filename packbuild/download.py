"""Resumable HTTP(S) download of one checkpoint file (the only network access of EdgeFold).

    <cache>/<file>.part        bytes received so far (kept on failure, cancel or kill)
    <cache>/<file>.part.json   {"url", "etag", "total"}: what the .part is a prefix of
    <cache>/<file>             the complete file, renamed from .part once size (and sha256) match

A later call with the same URL asks for the rest (`Range: bytes=<have>-`, with `If-Range` when the
server gave an ETag, so a changed file restarts instead of being spliced). A server that ignores
Range (200) restarts from zero; 416 with the .part's full size means it was already complete.
The size is checked against `Content-Range` / `Content-Length`, the sha256 when the caller knows it.
"""
from __future__ import annotations

import json
import os
import re
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Optional

from app.core.pack_files import sha256_file

from .errors import BuildError, Cancelled

CHUNK = 1 << 20
TIMEOUT_S = 60
USER_AGENT = "edgefold-packbuild"
Progress = Callable[[int, int, str], None]


def _read_meta(path: Path) -> dict:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def _write_meta(path: Path, meta: dict) -> None:
    tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
    tmp.write_text(json.dumps(meta), encoding="utf-8")
    os.replace(tmp, path)


def _total_from(response, have: int) -> Optional[int]:
    """The whole file's size from a 206's Content-Range or a 200's Content-Length."""
    content_range = response.headers.get("Content-Range", "")
    match = re.match(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", content_range)
    if response.status == 206 and match:
        if int(match.group(1)) != have:
            return None
        return None if match.group(3) == "*" else int(match.group(3))
    length = response.headers.get("Content-Length")
    return int(length) if length and length.isdigit() else None


def download(url: str, dest: Path, *, sha256: Optional[str] = None, progress: Optional[Progress] = None,
             cancel: Optional[threading.Event] = None, opener: Callable = urllib.request.urlopen) -> Path:
    """`url` into `dest` (module docstring); returns `dest`. BuildError naming the URL on a network
    or HTTP error, a short file or a hash mismatch; Cancelled when `cancel` is set (the .part stays)."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part, meta_path = dest.with_name(dest.name + ".part"), dest.with_name(dest.name + ".part.json")
    label = f"downloading {dest.name}"
    if dest.is_file() and (sha256 is None or sha256_file(dest) == sha256):
        if progress:
            progress(dest.stat().st_size, dest.stat().st_size, label)
        return dest
    meta = _read_meta(meta_path)
    if meta.get("url") != url:  # a .part of something else (or none): start over
        part.unlink(missing_ok=True)
        meta = {"url": url}
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
        if meta.get("etag"):
            headers["If-Range"] = meta["etag"]
    try:
        response = opener(urllib.request.Request(url, headers=headers), timeout=TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have and meta.get("total") == have:
            return _finish(part, meta_path, dest, have, sha256, url)
        raise BuildError(f"{url}: HTTP {exc.code} {exc.reason}"
                         f"{f' (partial download kept in {part})' if have else ''}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise BuildError(f"{url}: cannot connect ({reason}); check the network and ask again"
                         f"{' to resume' if have else ''}") from None
    with response:
        if response.status != 206:
            have = 0  # the server sent the whole file
        total = _total_from(response, have)
        meta.update(etag=response.headers.get("ETag"), total=total)
        _write_meta(meta_path, meta)
        _receive(response, part, have, total, url, label, progress, cancel)
    size = part.stat().st_size
    if total is not None and size != total:
        raise BuildError(f"{url}: the download stopped at {size} of {total} bytes (partial download kept in "
                         f"{part}); ask again to resume")
    return _finish(part, meta_path, dest, size, sha256, url)


def _receive(response, part: Path, have: int, total: Optional[int], url: str, label: str,
             progress: Optional[Progress], cancel: Optional[threading.Event]) -> None:
    done = have
    with open(part, "ab" if have else "wb") as out:
        while True:
            if cancel is not None and cancel.is_set():
                raise Cancelled(f"{label} cancelled at {done} bytes (kept in {part}; ask again to resume)")
            try:
                chunk = response.read(CHUNK)
            except OSError as exc:
                raise BuildError(f"{url}: the connection broke at {done} bytes ({exc}); partial download kept "
                                 f"in {part}, ask again to resume") from None
            if not chunk:
                break
            out.write(chunk)
            done += len(chunk)
            if progress:
                progress(done, total or 0, label)


def _finish(part: Path, meta_path: Path, dest: Path, size: int, sha256: Optional[str], url: str) -> Path:
    if sha256 is not None:
        got = sha256_file(part)
        if got != sha256:
            part.unlink(missing_ok=True)
            meta_path.unlink(missing_ok=True)
            raise BuildError(f"{url}: sha256 {got} is not the expected {sha256}; the download was deleted")
    os.replace(part, dest)
    meta_path.unlink(missing_ok=True)
    return dest

