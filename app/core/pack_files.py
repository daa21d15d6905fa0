"""The files of a pack on disk: paths kept inside the pack, sizes and hashes, the manifest's own hash,
and the external-data files its ONNX graphs reference (DESIGN.md section 3)."""
from __future__ import annotations

import hashlib
from pathlib import Path, PurePosixPath

from .onnx_refs import OnnxWireError, external_refs
from .pack_checks import ManifestError, check_files, check_type
from .pack_error import PackError

MANIFEST = "manifest.json"
MANIFEST_HASH = "manifest.sha256"  # a `sha256sum` line for manifest.json; optional (older v1 packs lack it)
_CHUNK = 1 << 20  # bytes read per hash update


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, streamed in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def check_manifest_hash(path: Path, raw: bytes) -> None:
    """Refuse a manifest whose bytes do not hash to `manifest.sha256` (when the pack has one).

    This catches accidental or naive edits and truncation; anyone who edits on purpose can
    recompute the hash (only a signature would stop that).
    """
    hpath = path / MANIFEST_HASH
    if not hpath.exists() and not hpath.is_symlink():
        return
    try:
        words = inside_pack(path, hpath).read_text(encoding="ascii").split()
    except (OSError, UnicodeDecodeError) as e:
        raise PackError(f"{hpath}: cannot read ({e})", path) from None
    expected = words[0].lower() if words else ""
    if len(expected) != 64 or any(c not in "0123456789abcdef" for c in expected):
        raise PackError(f"{hpath}: not a sha256 line (64 hex digits, then the file name)", path)
    if hashlib.sha256(raw).hexdigest() != expected:
        raise PackError(f"{path / MANIFEST}: sha256 does not match {MANIFEST_HASH} (the manifest was "
                        f"edited, truncated or corrupted)", path)


def inside_pack(pack_dir: Path, fpath: Path) -> Path:
    """`fpath`, refused if it resolves (through symbolic links) to a place outside `pack_dir`."""
    root, target = Path(pack_dir).resolve(), Path(fpath).resolve()
    if not target.is_relative_to(root):
        raise PackError(f"{fpath}: resolves to {target}, outside the pack {root} "
                        f"(a symbolic link out of the pack?)", pack_dir)
    return fpath


def file_path(pack_dir: Path, name: str) -> Path:
    """Resolve a manifest file name, refusing absolute paths, '..' and links out of the pack."""
    rel = PurePosixPath(name)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise PackError(f"{pack_dir}: manifest lists an unsafe file name {name!r}", pack_dir)
    return inside_pack(pack_dir, pack_dir.joinpath(*rel.parts))


def verify_files(pack_dir: Path, files: dict, hashes: bool = True) -> int:
    """Check every listed file exists, has its size and (if `hashes`) its sha256; return bytes."""
    pack_dir = Path(pack_dir)
    try:
        check_type(files, (dict,), "files")
        check_files(files)
    except ManifestError as e:
        raise PackError(f"{pack_dir / MANIFEST}: {e}", pack_dir) from None
    total = 0
    for name, meta in files.items():
        fpath = file_path(pack_dir, name)
        if not fpath.is_file():
            raise PackError(f"{fpath}: file missing from pack", pack_dir)
        expected = meta["bytes"]
        got = fpath.stat().st_size
        if got != expected:
            what = "truncated" if got < expected else "wrong size"
            raise PackError(f"{fpath}: {what}: expected {expected} bytes, got {got}", pack_dir)
        if hashes and sha256_file(fpath) != meta["sha256"].lower():
            raise PackError(f"{fpath}: sha256 mismatch (file corrupted or tampered)", pack_dir)
        total += got
    return total


def graph_files(manifest: dict) -> list[str]:
    """The ONNX files onnxruntime opens: model and contacts model, or a folding pack's parts."""
    onnx = manifest["onnx"]
    if manifest.get("task") == "folding":
        return list(onnx["parts"].values())
    return [onnx["model"]] + ([onnx["contacts_model"]] if onnx.get("contacts_model") else [])


def check_graph_files(pack_dir: Path, manifest: dict) -> None:
    """Refuse a graph that makes onnxruntime read a file `files` does not list (ONNX external data).

    Listed files carry a size and a sha256 (verify_files); an unlisted one could change the
    weights, and so the results, without any check noticing.
    """
    pack_dir = Path(pack_dir)
    listed = {file_path(pack_dir, name).resolve() for name in manifest["files"]}
    for name in graph_files(manifest):
        fpath = file_path(pack_dir, name)
        try:
            refs = external_refs(fpath)
        except FileNotFoundError:
            raise PackError(f"{fpath}: file missing from pack", pack_dir) from None
        except (OnnxWireError, OSError) as e:
            raise PackError(f"{fpath}: cannot load the model: not a valid ONNX file ({e})", pack_dir) from None
        for ref in refs:
            if not ref.location:
                raise PackError(f"{fpath}: tensor {ref.tensor!r} is stored externally but names no file",
                                pack_dir)
            target = inside_pack(pack_dir, fpath.parent / ref.location)
            if target.resolve() not in listed:
                raise PackError(f"{fpath}: tensor {ref.tensor!r} reads its data from {ref.location!r}, "
                                f"which the manifest's 'files' does not list (so no hash checks it)",
                                pack_dir)
