"""Installed folding packs (manifest `task: folding`) and how to install one when there is none."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

from app.core import pack as core_pack
from app.ui.model_picker import human_size

log = logging.getLogger(__name__)

FOLDING_TASK = "folding"

# The one text telling a user how to get a folding pack ({packs_dir} is filled in).
INSTALL_HINT = (
    "No folding model pack (manifest task \"folding\") is installed.\n\n"
    "Export ESMFold to folding packs with the EdgeFold exporter, then copy one into the packs folder:\n\n"
    "    python -m exporter <ESMFold dir or checkpoint> --schemes int8 --out esmfold-packs\n"
    "    cp -r esmfold-packs/int8 \"{packs_dir}/esmfold-int8\"\n\n"
    "<ESMFold dir or checkpoint> is a HuggingFace EsmForProteinFolding directory, fair-esm's "
    "esmfold_3B_v1.pt or the name esmfold_v1; other schemes: fp32, pwlq8, dynamic-int8.\n"
    "Then press Fold again (packs copied into that folder are found without a restart). "
    "File \u25b8 Models\u2026 \u25b8 Import folder\u2026 checks a pack and copies it there for you; "
    "File \u25b8 Add pack folder\u2026 uses a pack where it is."
)


def install_hint(packs_dir: Optional[Path] = None) -> str:
    """INSTALL_HINT with the user packs folder ($EDGEFOLD_PACKS or ~/.local/share/edgefold/packs)."""
    return INSTALL_HINT.format(packs_dir=packs_dir or core_pack.user_packs_dir())


@dataclass(frozen=True)
class FoldPackInfo:
    """One folding pack for the fold panel's picker; `error` set (and `ok` False) when unusable."""

    path: Path
    name: str
    scheme: str
    size_bytes: int
    accuracy: dict = field(default_factory=dict)
    error: Optional[str] = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def describe(self) -> str:
        text = f"{self.name} \u2014 {self.scheme}, {human_size(self.size_bytes)}"
        return text if self.ok else f"{self.name} (unusable)"


def read_task(path: Path) -> Optional[str]:
    """The manifest's `task` of the pack at path, None when there is no readable manifest."""
    try:
        manifest = json.loads((Path(path) / core_pack.MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest.get("task") if isinstance(manifest, dict) else None


def folding_pack_info(path: str | Path) -> FoldPackInfo:
    """Describe a folding pack: manifest format, every listed file present with its size (no hashing)."""
    path = Path(path)
    try:
        manifest = json.loads((path / core_pack.MANIFEST).read_text(encoding="utf-8"))
        if manifest.get("format") != core_pack.PACK_FORMAT:
            raise core_pack.PackError(f"{path / core_pack.MANIFEST}: format is not {core_pack.PACK_FORMAT!r}")
        if manifest.get("task") != FOLDING_TASK:
            raise core_pack.PackError(f"{path}: task is {manifest.get('task')!r}, not {FOLDING_TASK!r}")
        files = manifest.get("files")
        if not isinstance(files, dict) or not isinstance(manifest.get("onnx", {}).get("parts"), dict):
            raise core_pack.PackError(f"{path / core_pack.MANIFEST}: missing 'files' or 'onnx.parts'")
        size = core_pack.verify_files(path, files, hashes=False)
        return FoldPackInfo(path, str(manifest.get("name", path.name)), str(manifest.get("scheme", "unknown")),
                            size, dict(manifest.get("accuracy") or {}))
    except (core_pack.PackError, OSError, ValueError, TypeError, AttributeError) as e:
        return FoldPackInfo(path, path.name, "unknown", 0, {}, error=str(e))


def find_folding_packs(extra_folders: Iterable[str | Path] = ()) -> list[FoldPackInfo]:
    """Folding packs among the embedded pack, sub-directories of the user packs folder and extra folders."""
    candidates = [core_pack.default_pack_dir()]
    root = core_pack.user_packs_dir()
    if root.is_dir():
        candidates += sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    candidates += [Path(f) for f in extra_folders]
    infos, seen = [], set()
    for path in candidates:
        key = path.resolve()
        if key in seen or read_task(path) != FOLDING_TASK:
            continue
        seen.add(key)
        infos.append(folding_pack_info(path))
    return infos
