"""Resumable downloads against a loopback HTTP server that honours Range (no internet)."""
from __future__ import annotations

import hashlib
import json
import os
import threading

import pytest

import packbuild
from packbuild.download import download
from packbuild.errors import BuildError, Cancelled

from exporter.testing import save_fair_esm


def _blob(n: int = 3_000_000) -> bytes:
    return os.urandom(n)


def test_download_resumes_from_the_part_file(http_server, tmp_path):
    data = _blob()
    (http_server.root / "model.pt").write_bytes(data)
    url = http_server.url("model.pt")
    dest = tmp_path / "cache" / "model.pt"
    dest.parent.mkdir()
    have = 1_234_567
    (dest.parent / "model.pt.part").write_bytes(data[:have])
    (dest.parent / "model.pt.part.json").write_text(json.dumps({"url": url, "etag": '"v1"', "total": len(data)}))
    seen = []
    got = download(url, dest, sha256=hashlib.sha256(data).hexdigest(), progress=lambda d, t, m: seen.append((d, t)))
    assert got == dest and dest.read_bytes() == data
    assert http_server.requests[-1]["Range"] == f"bytes={have}-"
    assert http_server.requests[-1]["If-Range"] == '"v1"'
    assert seen[0][0] > have and seen[-1] == (len(data), len(data))
    assert sorted(p.name for p in dest.parent.iterdir()) == ["model.pt"]


def test_a_server_that_ignores_range_restarts_from_zero(http_server, tmp_path):
    data = _blob(500_000)
    (http_server.root / "m.pt").write_bytes(data)
    http_server.ignore_range = True
    url, dest = http_server.url("m.pt"), tmp_path / "m.pt"
    (tmp_path / "m.pt.part").write_bytes(b"x" * 1000)  # garbage prefix: must not be kept
    (tmp_path / "m.pt.part.json").write_text(json.dumps({"url": url}))
    download(url, dest)
    assert dest.read_bytes() == data


def test_a_cut_connection_keeps_the_part_and_the_next_call_completes(http_server, tmp_path):
    data = _blob(2_000_000)
    (http_server.root / "m.pt").write_bytes(data)
    url, dest = http_server.url("m.pt"), tmp_path / "m.pt"
    http_server.cut_after = 700_000
    with pytest.raises(BuildError, match=r"m\.pt.*(stopped at|broke at).*resume"):
        download(url, dest)
    part = tmp_path / "m.pt.part"
    assert part.stat().st_size == 700_000 and not dest.exists()
    http_server.cut_after = None
    download(url, dest, sha256=hashlib.sha256(data).hexdigest())
    assert dest.read_bytes() == data and http_server.requests[-1]["Range"] == "bytes=700000-"


def test_cancel_keeps_the_part_for_a_later_resume(http_server, tmp_path):
    data = _blob(4_000_000)
    (http_server.root / "m.pt").write_bytes(data)
    url, dest, cancel = http_server.url("m.pt"), tmp_path / "m.pt", threading.Event()

    def progress(done, total, message):
        if done >= 1 << 20:
            cancel.set()

    with pytest.raises(Cancelled):
        download(url, dest, progress=progress, cancel=cancel)
    kept = (tmp_path / "m.pt.part").stat().st_size
    assert 0 < kept < len(data)
    download(url, dest)
    assert dest.read_bytes() == data and http_server.requests[-1]["Range"] == f"bytes={kept}-"


def test_a_wrong_hash_is_refused_and_the_file_deleted(http_server, tmp_path):
    (http_server.root / "m.pt").write_bytes(_blob(10_000))
    with pytest.raises(BuildError, match=r"m\.pt: sha256 .* is not the expected 0{64}"):
        download(http_server.url("m.pt"), tmp_path / "m.pt", sha256="0" * 64)
    assert list(tmp_path.iterdir()) == []


def test_http_errors_name_the_url(http_server, tmp_path):
    with pytest.raises(BuildError, match=r"http://127\.0\.0\.1:\d+/missing\.pt: HTTP 404"):
        download(http_server.url("missing.pt"), tmp_path / "missing.pt")


def test_build_pack_from_a_url_downloads_both_fair_esm_files(tiny_model, http_server, tmp_path, fast_build,
                                                              monkeypatch):
    """A KNOWN_CHECKPOINTS name downloads the model and its contact regression (here from loopback)."""
    from packbuild.sources import CheckpointSource

    path = save_fair_esm(tiny_model, http_server.root, name="esm2_t2_tiny_UR50D")
    name = "esm2_t2_tiny_UR50D"
    known = CheckpointSource(name, http_server.url(path.name), http_server.url(f"{name}-contact-regression.pt"),
                             path.stat().st_size, 2, 32, heads=4)
    monkeypatch.setitem(packbuild.KNOWN_CHECKPOINTS, name, known)
    seen = []
    pack = packbuild.build_pack(name, tmp_path / "packs", scheme="fp32", cache_dir=tmp_path / "cache",
                                progress=lambda d, t, m: seen.append((d, t, m)))
    manifest = json.loads((pack / "manifest.json").read_text())
    files = manifest["build"]["files"]
    assert [f["url"] for f in files] == [known.url, known.contact_url]
    assert files[0]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert manifest["provenance"]["source"]["name"] == path.name
    assert manifest["onnx"]["contacts_model"] == "contacts.onnx"
    assert manifest["license"].startswith("MIT")
    downloads = [s for s in seen if s[2] == f"downloading {path.name}"]
    assert downloads[-1][:2] == (path.stat().st_size, path.stat().st_size)
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted([path.name, f"{name}-contact-regression.pt"])


def test_a_download_that_cannot_fit_is_refused_before_it_starts(http_server, tmp_path, monkeypatch):
    import shutil

    from packbuild.sources import CheckpointSource

    known = CheckpointSource("esm2_t9_huge_UR50D", http_server.url("huge.pt"), None, 10**12, 9, 64)
    monkeypatch.setitem(packbuild.KNOWN_CHECKPOINTS, known.name, known)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**13, 10**13 - 10**9, 10**9))
    with pytest.raises(BuildError, match=r"esm2_t9_huge_UR50D: needs about 1000\.0 GB in .*cache.*1\.0 GB free"):
        packbuild.build_pack(known.name, tmp_path / "packs", cache_dir=tmp_path / "cache")
    assert http_server.requests == [] and not (tmp_path / "packs").exists()
