"""Model packs: read and verify manifest.json + files (DESIGN.md section 3), list installed packs."""
from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

from .manifest import FORMAT as PACK_FORMAT
from .manifest import READABLE_VERSIONS as SUPPORTED_VERSIONS
from .manifest import TASKS, Manifest
from .delta_pack import check_delta_section, is_delta, resolve_base
from .pack_checks import ManifestError, check_manifest, check_residues
from .pack_error import PackError
from .pack_files import (MANIFEST, MANIFEST_HASH, check_graph_files, check_manifest_hash,  # noqa: F401
                         graph_files, inside_pack, sha256_file, verify_files)  # (re-exported)

log = logging.getLogger(__name__)

FOLDING_PARTS = ("lm", "trunk", "structure", "heads")


@dataclass(frozen=True)
class Pack:
    """A loaded (and by default verified) model pack.

    `meta` is the parsed manifest; `manifest` is `meta.to_dict()`, the v2 dict, whichever version the
    file is (its top-level keys are v1's, plus `provenance`), for the readers of plain keys.
    """

    path: Path
    manifest: dict = field(repr=False)
    meta: Manifest = field(default=None, repr=False)  # type: ignore[assignment]  # None: parsed from manifest
    base: Optional["Pack"] = field(default=None, repr=False)  # a delta pack's base (app.core.delta_pack)

    def __post_init__(self) -> None:
        if self.meta is None:
            parse = Manifest.from_dict if "format_version" in self.manifest else Manifest.from_fields
            object.__setattr__(self, "meta", parse(self.manifest))

    @property
    def name(self) -> str:
        return self.meta.name or self.path.name

    @property
    def scheme(self) -> str:
        return self.meta.scheme or "unknown"

    @property
    def is_delta(self) -> bool:
        """A delta pack: coded weight deltas on `base`, whose graphs it runs (DESIGN.md "Delta packs")."""
        return self.base is not None

    @property
    def graph_dir(self) -> Path:
        """Where the pack's ONNX files are: the pack itself, or a delta pack's base."""
        return self.base.path if self.base is not None else self.path

    @property
    def task(self) -> str:
        """"masked-lm" (ESM-2) or "folding" (ESMFold: `onnx.parts`, opened by app.core.fold.parts)."""
        return self.meta.task

    @property
    def parts(self) -> dict[str, Path]:
        """{part: file} of a folding pack (lm, trunk, structure, heads); empty for other tasks."""
        return {p: self.path / f for p, f in self.manifest["onnx"].get("parts", {}).items()}

    @property
    def model_path(self) -> Path:
        return self.graph_dir / self.manifest["onnx"]["model"]

    @property
    def contacts_model_path(self) -> Optional[Path]:
        """`contacts.onnx` (same encoder + contact head) when the pack has one, else None."""
        name = self.manifest["onnx"].get("contacts_model")
        return self.graph_dir / name if name else None

    @property
    def alphabet(self) -> dict:
        return self.manifest["alphabet"]

    @property
    def architecture(self) -> dict:
        return self.manifest.get("architecture", {})

    @property
    def max_tokens(self) -> int:
        """Longest token row the model accepts, BOS and EOS included (ESM-2: 1024)."""
        return int(self.architecture.get("max_tokens", 1024))

    @property
    def outputs(self) -> tuple[str, ...]:
        return tuple(self.manifest["onnx"].get("outputs", ("logits",)))

    @property
    def accuracy(self) -> dict:
        return dict(self.meta.accuracy)


@dataclass(frozen=True)
class PackInfo:
    """One entry of a pack picker; `error` is set (and `ok` False) for a broken pack."""

    path: Path
    name: str
    scheme: str
    size_bytes: int
    accuracy: dict
    source: str  # "embedded" or "user"
    error: Optional[str] = None
    task: str = "masked-lm"  # or "folding"
    benchmark: dict = field(default_factory=dict)  # manifest `benchmark`: what the model is good for
    license: str = ""
    manifest_sha256: str = ""  # of manifest.json's bytes: what a delta pack names its base by
    delta: dict = field(default_factory=dict)  # a delta pack's manifest `delta` (base, method, ratio, ...)

    @property
    def is_delta(self) -> bool:
        return bool(self.delta)

    @property
    def ok(self) -> bool:
        return self.error is None


def read_manifest(path: Union[str, Path], task: Optional[str] = None) -> dict:
    """Parse and check `<path>/manifest.json` (its hash, types, ESM-2 contract); raises PackError.

    Returns the file's JSON object as it is (a v1 pack's keys stay v1's); `read_pack_manifest`
    gives the parsed Manifest. `task`, if given, is the task the caller needs ("folding"): another
    is refused first.
    """
    return _read(Path(path), task)[0]


def read_pack_manifest(path: Union[str, Path], task: Optional[str] = None) -> Manifest:
    """read_manifest's checks, then the manifest as a Manifest (v1 and v2 alike); raises PackError."""
    return _read(Path(path), task)[1]


def _read(path: Path, task: Optional[str]) -> tuple[dict, Manifest]:
    mpath = path / MANIFEST
    if not path.is_dir():
        raise PackError(f"{path}: pack directory not found", path)
    if not mpath.is_file():
        raise PackError(f"{mpath}: manifest missing", path)
    raw = inside_pack(path, mpath).read_bytes()
    check_manifest_hash(path, raw)
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise PackError(f"{mpath}: not valid JSON ({e})", path) from None
    if not isinstance(manifest, dict) or manifest.get("format") != PACK_FORMAT:
        raise PackError(f"{mpath}: format is not {PACK_FORMAT!r}", path)
    version = manifest.get("format_version")
    if isinstance(version, bool) or version not in SUPPORTED_VERSIONS:
        raise PackError(f"{mpath}: unsupported format_version {version!r} "
                        f"(this app reads {SUPPORTED_VERSIONS})", path)
    got = manifest.get("task", "masked-lm")
    if got not in TASKS:
        raise PackError(f"{mpath}: unknown task {got!r} (this app reads {', '.join(TASKS)})", path)
    if task is not None and got != task:
        raise PackError(f"{path}: task is {got!r}, not {task!r}", path)
    try:
        check_manifest(manifest, got)
        if is_delta(manifest):
            check_delta_section(manifest)
        meta = Manifest.from_dict(manifest)
        if got == "folding":
            check_residues(manifest.get("residues"), required=version >= 2)
    except ManifestError as e:
        raise PackError(f"{mpath}: {e}", path) from None
    _check_listed(manifest, got, mpath, path)
    return manifest, meta


def _check_listed(manifest: dict, task: str, mpath: Path, path: Path) -> None:
    """Every graph and side file the manifest names is listed in `files` (so a hash checks it)."""
    if is_delta(manifest):  # no graphs of its own: the base's (check_delta_section checked its file)
        return
    if task == "folding":
        if "external_weights" in manifest["onnx"]:
            raise PackError(f"{mpath}: 'onnx.external_weights' is not supported in folding packs yet", path)
        _check_parts(manifest, mpath, path)
        return
    if manifest["onnx"]["model"] not in manifest["files"]:
        raise PackError(f"{mpath}: model file {manifest['onnx']['model']!r} "
                        f"is not listed in 'files'", path)
    extra = manifest["onnx"].get("contacts_model")
    if extra is not None and extra not in manifest["files"]:
        raise PackError(f"{mpath}: contacts model {extra!r} is not listed in 'files'", path)
    side = manifest["onnx"].get("external_weights")
    if side is not None and side["file"] not in manifest["files"]:
        raise PackError(f"{mpath}: side file {side['file']!r} (onnx.external_weights.file) is not listed "
                        f"in 'files', so no hash checks it", path)


def _check_parts(manifest: dict, mpath: Path, path: Path) -> None:
    """A folding pack lists every part of FOLDING_PARTS under `onnx.parts`, each file in `files`."""
    parts = manifest["onnx"].get("parts")
    if not isinstance(parts, dict):
        raise PackError(f"{mpath}: folding pack without an 'onnx.parts' section", path)
    missing = [p for p in FOLDING_PARTS if p not in parts]
    if missing:
        raise PackError(f"{mpath}: 'onnx.parts' lacks {', '.join(missing)}", path)
    unlisted = [f for f in parts.values() if f not in manifest["files"]]
    if unlisted:
        raise PackError(f"{mpath}: part file(s) {unlisted} not listed in 'files'", path)


def load_pack(path: Union[str, Path], verify: bool = True) -> Pack:
    """Read and check a pack's manifest and graphs; with `verify`, each file's size and sha256 too."""
    path = Path(path).expanduser()
    meta = read_pack_manifest(path)
    manifest = meta.to_dict()
    if verify:
        verify_files(path, manifest["files"], hashes=True)
    if is_delta(manifest):
        base = load_pack(resolve_base(path, manifest, installed_pack_dirs()), verify)
        if base.is_delta or base.task != "masked-lm":
            raise PackError(f"{path}: base pack {base.path} is {'a delta pack' if base.is_delta else base.task}; "
                            f"a delta applies to a masked-LM pack with graphs", path)
        for key in ("model", "contacts_model"):
            if manifest["onnx"].get(key) != base.manifest["onnx"].get(key):
                raise PackError(f"{path / MANIFEST}: 'onnx.{key}' is {manifest['onnx'].get(key)!r}, but base pack "
                                f"{base.path} has {base.manifest['onnx'].get(key)!r}", path)
        log.info("loaded delta pack %s on base %s (%s) from %s", meta.name, base.name, base.scheme, path)
        return Pack(path=path, manifest=manifest, meta=meta, base=base)
    check_graph_files(path, manifest)
    log.info("loaded pack %s (%s, format_version %d) from %s", meta.name, meta.scheme, meta.read_version, path)
    return Pack(path=path, manifest=manifest, meta=meta)


def default_pack_dir() -> Path:
    """The embedded default pack: `<repo>/assets/packs/default`."""
    import app  # resolved at call time so an installed app finds its own assets

    return Path(app.__file__).resolve().parents[1] / "assets" / "packs" / "default"


def user_packs_dir() -> Path:
    """`$EDGEFOLD_PACKS`, else `~/.local/share/edgefold/packs`."""
    env = os.environ.get("EDGEFOLD_PACKS")
    return Path(env).expanduser() if env else Path.home() / ".local/share/edgefold/packs"


def pack_info(path: Union[str, Path], source: str = "user", verify_hashes: bool = False) -> PackInfo:
    """Describe a pack for a picker; never raises for a broken pack (see `PackInfo.error`)."""
    path = Path(path)
    try:
        meta = read_pack_manifest(path)
        size = verify_files(path, meta.file_dicts(), hashes=verify_hashes)
        raw = (path / MANIFEST).read_bytes()
        size += len(raw)
        return PackInfo(path, meta.name or path.name, meta.scheme or "unknown", size, dict(meta.accuracy),
                        source, task=meta.task, benchmark=dict(meta.benchmark or {}), license=meta.license or "",
                        manifest_sha256=hashlib.sha256(raw).hexdigest(), delta=dict(meta.extra.get("delta") or {}))
    except (PackError, OSError, ValueError, TypeError, AttributeError) as e:
        return PackInfo(path, path.name, "unknown", _du(path), {}, source, error=str(e))


def _du(path: Path) -> int:
    try:
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    except OSError:
        return 0


def installed_pack_dirs() -> list[Path]:
    """The embedded default pack's directory (if present), then the sub-directories of `user_packs_dir()`."""
    dirs = [default_pack_dir()] if default_pack_dir().is_dir() else []
    root = user_packs_dir()
    if root.is_dir():
        dirs += sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    return dirs


def find_packs(verify_hashes: bool = False) -> list[PackInfo]:
    """The embedded default pack (if present) then every sub-directory of `user_packs_dir()`.

    Listing checks presence and sizes only unless `verify_hashes` (hashing a large pack takes
    seconds); `load_pack` always checks hashes.
    """
    infos = []
    default = default_pack_dir()
    if default.is_dir():
        infos.append(pack_info(default, "embedded", verify_hashes))
    root = user_packs_dir()
    if root.is_dir():
        for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            infos.append(pack_info(sub, "user", verify_hashes))
    return infos
