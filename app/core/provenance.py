"""What produced an output file: model, scheme, pack sha256, method, EdgeFold version (no Qt).

Every output records one `Provenance`: a scores CSV in a sidecar `<out>.json` (the CSV itself
stays plain `record_id,mutant,score`, which every CSV reader reads), an embedding in
`<stem>.json` beside its .npy files, a structure in PDB `REMARK 2` lines, mmCIF
`_edgefold.*` items and its confidence JSON. `pack_sha256` is the sha256 of the pack's
manifest.json bytes (the manifest lists every file's sha256, so it names the whole pack).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Optional, Union

MANIFEST = "manifest.json"


def edgefold_version() -> str:
    """The installed package version, else pyproject's version with '+source'."""
    try:
        return metadata.version("edgefold")
    except metadata.PackageNotFoundError:
        return "0.1.0+source"


@dataclass(frozen=True)
class Provenance:
    model: str  # the pack's manifest `name`
    scheme: str  # quantization scheme (fp32, int8, ...)
    pack_sha256: str  # sha256 of the pack's manifest.json bytes
    method: str  # wt-marginal, masked-marginal, embedding, esmfold (N recycles), ...
    edgefold_version: str

    @classmethod
    def of_pack(cls, pack_dir: Union[str, Path], method: str, name: Optional[str] = None,
                scheme: Optional[str] = None) -> "Provenance":
        """Read manifest.json of `pack_dir` once: its sha256, and name / scheme unless given."""
        raw = (Path(pack_dir) / MANIFEST).read_bytes()
        try:
            manifest = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            manifest = {}
        manifest = manifest if isinstance(manifest, dict) else {}
        return cls(str(name or manifest.get("name") or Path(pack_dir).name),
                   str(scheme or manifest.get("scheme") or "unknown"),
                   hashlib.sha256(raw).hexdigest(), method, edgefold_version())

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    def pdb_remarks(self) -> list[str]:
        """PDB `REMARK   2` lines (free text, each within 80 columns)."""
        lines = [f"REMARK   2 EDGEFOLD VERSION {self.edgefold_version}",
                 f"REMARK   2 MODEL {self.model}", f"REMARK   2 SCHEME {self.scheme}",
                 f"REMARK   2 METHOD {self.method}", "REMARK   2 PACK SHA256 (OF MANIFEST.JSON)",
                 f"REMARK   2 {self.pack_sha256}"]  # 11 + 64 columns
        return [ln[:80] for ln in lines]

    def mmcif_items(self) -> list[str]:
        """`_edgefold.<field> value` items, values quoted as CIF strings."""
        return [f"_edgefold.{k} {_cif_value(v)}" for k, v in self.as_dict().items()]


def _cif_value(text: str) -> str:
    if text and not any(c.isspace() for c in text) and "'" not in text and text[0] not in "_#$;[]":
        return text
    return "'" + text.replace("'", "") + "'"  # a CIF single-quoted string cannot hold "' "
