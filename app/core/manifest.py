"""Pack manifest v2 (DESIGN.md section 3): one frozen dataclass the exporter writes and the app reads.

    v1 dict --from_dict--> Manifest --to_dict--> v2 dict (JSON-ready)
    caller's dict (v1 or v2 keys, no format keys) --from_fields--> Manifest   (the exporter's writer)

v1 kept provenance in top-level `source` (a string), `exporter_version`, `created` and
`calibration`; v2 nests them under `provenance`, names the source by base name and sha256, and
keeps `calibration` at the top level as well (a copy of `provenance.calibration` for the readers
of v1 keys). Unknown top-level keys are kept in `extra`, so nothing a reader adds is lost.
Type and value errors raise ManifestError naming the dotted key; app.core.pack adds the pack path.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Optional

from .pack_checks import NONE, ManifestError, check_type

FORMAT = "edgefold-pack"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
TASKS = ("masked-lm", "folding")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_PROVENANCE_V1 = ("source", "exporter_version", "created")  # v1 top-level keys that v2 nests
# Top-level keys with a field of their own; everything else goes to `extra`.
KNOWN_KEYS = ("format", "format_version", "name", "task", "architecture", "alphabet", "residues", "scheme",
              "scheme_config", "onnx", "files", "provenance", "calibration", "accuracy", "benchmark",
              "license", "credits", "notes")


def base_name(source: str) -> str:
    """The last component of a path or URL ("/home/u/ckpt/encoder.pt" -> "encoder.pt", "C:\\x\\y.pt" ->
    "y.pt"); a name without separators ("fair-esm hub: esm2_t6_8M_UR50D") is returned as it is."""
    parts = [p for p in re.split(r"[/\\]", source) if p]
    return parts[-1] if parts else ""


def _path_free(name: str, key: str) -> str:
    if "/" in name or "\\" in name:
        raise ManifestError(key, f"must be a base name, not a path: {name!r:.80}")
    return name


@dataclass(frozen=True)
class FileEntry:
    """One listed file: its sha256 (64 lower-case hex digits) and size in bytes."""
    sha256: str
    bytes: int

    @classmethod
    def from_dict(cls, d: Any, key: str) -> "FileEntry":
        check_type(d, (dict,), key)
        for sub, types in (("sha256", (str,)), ("bytes", (int,))):
            if sub not in d:
                raise ManifestError(f"{key}.{sub}", "is missing")
            check_type(d[sub], types, f"{key}.{sub}")
        if not _HEX64.fullmatch(d["sha256"].lower()):
            raise ManifestError(f"{key}.sha256", f"is not 64 hex digits: {d['sha256']!r:.80}")
        if d["bytes"] < 0:
            raise ManifestError(f"{key}.bytes", f"is negative: {d['bytes']}")
        return cls(d["sha256"].lower(), d["bytes"])

    def to_dict(self) -> dict:
        return {"sha256": self.sha256, "bytes": self.bytes}


@dataclass(frozen=True)
class SourceRef:
    """What a pack was made from: a base name (never a path) and, for a file or folder, its sha256."""
    name: str
    sha256: Optional[str] = None  # None: a hub id or a name the exporter could not hash
    bytes: Optional[int] = None

    def __post_init__(self) -> None:
        _path_free(self.name, "provenance.source.name")
        if self.sha256 is not None and not _HEX64.fullmatch(self.sha256):
            raise ManifestError("provenance.source.sha256", f"is not 64 lower-case hex digits: {self.sha256!r:.80}")

    @classmethod
    def from_dict(cls, d: Any, strict: bool = True, key: str = "provenance.source") -> "SourceRef":
        """{"name", "sha256", "bytes"}; not `strict` (a writer's dict), also a string, and a path is shortened."""
        if isinstance(d, SourceRef):
            return d
        if not strict and isinstance(d, str):
            d = {"name": d}
        check_type(d, (dict,), key)
        if "name" not in d:
            raise ManifestError(f"{key}.name", "is missing")
        check_type(d["name"], (str,), f"{key}.name")
        check_type(d.get("sha256"), (str, NONE), f"{key}.sha256")
        check_type(d.get("bytes"), (int, NONE), f"{key}.bytes")
        name = d["name"] if strict else base_name(d["name"])
        sha = d.get("sha256")
        return cls(name, sha if strict or sha is None else sha.lower(), d.get("bytes"))

    def to_dict(self) -> dict:
        return {"name": self.name, "sha256": self.sha256, **({} if self.bytes is None else {"bytes": self.bytes})}


@dataclass(frozen=True)
class Provenance:
    """Who wrote the pack, when, from what checkpoint, calibrated on what (a summary dict or None)."""
    exporter_version: str = ""
    created: str = ""  # UTC, "2026-11-23T12:00:00Z"
    source: Optional[SourceRef] = None
    calibration: Optional[dict] = None  # {"source": base name, "sha256", "n_sequences", ...}

    @classmethod
    def from_dict(cls, d: Any, strict: bool = True) -> "Provenance":
        """The v2 `provenance` object; not `strict` (a writer's dict), paths in it become base names."""
        if isinstance(d, Provenance):
            return d
        check_type(d, (dict,), "provenance")
        for key in ("exporter_version", "created"):
            check_type(d.get(key, ""), (str,), f"provenance.{key}")
        source = d.get("source")
        return cls(d.get("exporter_version", ""), d.get("created", ""),
                   None if source is None else SourceRef.from_dict(source, strict),
                   _calibration(d.get("calibration"), "provenance.calibration", strict))

    def to_dict(self) -> dict:
        return {"exporter_version": self.exporter_version, "created": self.created,
                "source": None if self.source is None else self.source.to_dict(), "calibration": self.calibration}


def _calibration(cal: Any, key: str, strict: bool) -> Optional[dict]:
    """A calibration summary; its `source` by base name (strict: a path is refused, else shortened)."""
    check_type(cal, (dict, NONE), key)
    if cal is None or not isinstance(cal.get("source"), str):
        return None if cal is None else dict(cal)
    src = _path_free(cal["source"], f"{key}.source") if strict else base_name(cal["source"])
    return {**cal, "source": src}


def _source_v1(source: Any) -> Optional[SourceRef]:
    """A v1 `source` string (maybe an absolute path: packs written before v2 recorded them) by base name;
    a writer may pass a SourceRef or its dict here too."""
    check_type(source, (str, dict, SourceRef, NONE), "source")
    return SourceRef.from_dict(source, strict=False, key="source") if source else None


@dataclass(frozen=True)
class Manifest:
    """A pack's manifest.json, for masked-LM (`alphabet`) and folding (`residues`) packs alike."""
    name: str = ""
    task: str = "masked-lm"
    architecture: dict = field(default_factory=dict)
    alphabet: Optional[dict] = None  # masked-lm: the ESM-2 alphabet (pack_checks checks it)
    residues: Optional[dict] = None  # folding: {"aatype_order": AlphaFold order + "X", "unknown": "X"}
    scheme: str = ""
    scheme_config: dict = field(default_factory=dict)  # what the quantizer did; opaque here
    onnx: dict = field(default_factory=dict)  # model / contacts_model / parts / external_weights ...
    files: dict[str, FileEntry] = field(default_factory=dict)
    provenance: Provenance = field(default_factory=Provenance)
    accuracy: dict = field(default_factory=dict)
    benchmark: Optional[dict] = None
    license: Optional[str] = None
    credits: Optional[str] = None
    notes: tuple[str, ...] = ()
    extra: dict = field(default_factory=dict)  # unknown top-level keys, written back as they were
    read_version: int = field(default=FORMAT_VERSION, compare=False)  # format_version read (1: a v1 pack)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ManifestError("task", f"is {self.task!r}; this app reads {', '.join(TASKS)}")

    @classmethod
    def from_dict(cls, d: Mapping) -> "Manifest":
        """A manifest.json as read (format_version 1 or 2); ManifestError naming the key otherwise."""
        check_type(d, (dict,), "manifest")
        if d.get("format") != FORMAT:
            raise ManifestError("format", f"is {d.get('format')!r}, not {FORMAT!r}")
        version = d.get("format_version")
        if isinstance(version, bool) or version not in READABLE_VERSIONS:
            raise ManifestError("format_version", f"is {version!r}; this app reads {READABLE_VERSIONS}")
        if version == 1:
            return replace(cls.from_fields({k: v for k, v in d.items() if k != "provenance"}), read_version=1)
        if "provenance" not in d:
            raise ManifestError("provenance", "is missing (format_version 2 records it)")
        meta = cls._parse(d, Provenance.from_dict(d["provenance"]))
        top = _calibration(d.get("calibration"), "calibration", strict=True)
        if "calibration" in d and top != meta.provenance.calibration:
            raise ManifestError("calibration", "differs from 'provenance.calibration' (it is a copy of it)")
        return meta

    @classmethod
    def from_fields(cls, d: Mapping) -> "Manifest":
        """A writer's dict, v1 keys (`source` a string, `calibration`, ...) or v2 (`provenance`) or both;
        `format`, `format_version` are ignored, flat v1 keys win over `provenance`'s, paths become base names."""
        check_type(d, (dict,), "manifest")
        prov = Provenance.from_dict(d["provenance"], strict=False) if d.get("provenance") is not None else Provenance()
        flat: dict[str, Any] = {k: d[k] for k in ("exporter_version", "created") if k in d}
        for key, value in flat.items():
            check_type(value, (str,), key)
        if "source" in d:
            flat["source"] = _source_v1(d["source"])
        if "calibration" in d:
            flat["calibration"] = _calibration(d["calibration"], "calibration", strict=False)
        return cls._parse(d, replace(prov, **flat))

    @classmethod
    def _parse(cls, d: Mapping, provenance: Provenance) -> "Manifest":
        def get(key: str, types: tuple, default: Any = None) -> Any:
            value = d.get(key, default)
            check_type(value, types, key)
            return value

        files = get("files", (dict,), {})
        notes = get("notes", (list, NONE)) or []
        for i, note in enumerate(notes):
            check_type(note, (str,), f"notes[{i}]")
        extra = {k: v for k, v in d.items() if k not in KNOWN_KEYS and k not in _PROVENANCE_V1}
        return cls(name=get("name", (str,), ""), task=get("task", (str,), "masked-lm"),
                   architecture=dict(get("architecture", (dict,), {})), alphabet=get("alphabet", (dict, NONE)),
                   residues=get("residues", (dict, NONE)), scheme=get("scheme", (str,), ""),
                   scheme_config=dict(get("scheme_config", (dict, NONE)) or {}), onnx=dict(get("onnx", (dict,), {})),
                   files={n: FileEntry.from_dict(m, f"files.{n}") for n, m in files.items()},
                   provenance=provenance, accuracy=dict(get("accuracy", (dict, NONE)) or {}),
                   benchmark=get("benchmark", (dict, NONE)), license=get("license", (str, NONE)),
                   credits=get("credits", (str, NONE)), notes=tuple(notes), extra=extra)

    def to_dict(self) -> dict:
        """The v2 manifest.json object: the top-level keys v1 readers use, plus `provenance`."""
        out: dict[str, Any] = {"format": FORMAT, "format_version": FORMAT_VERSION, "name": self.name,
                               "task": self.task, "architecture": self.architecture}
        if self.scheme:
            out["scheme"] = self.scheme
        if self.alphabet is not None:
            out["alphabet"] = self.alphabet
        if self.residues is not None:
            out["residues"] = self.residues
        out.update(scheme_config=self.scheme_config, onnx=self.onnx,
                   files={n: e.to_dict() for n, e in self.files.items()}, provenance=self.provenance.to_dict(),
                   calibration=self.provenance.calibration, accuracy=self.accuracy)
        for key in ("benchmark", "license", "credits"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        out["notes"] = list(self.notes)
        return {**out, **{k: v for k, v in self.extra.items() if k not in out}}

    def updated(self, keys: Mapping) -> "Manifest":
        """This manifest with top-level `keys` set (an `inspect` result, a later accuracy), through from_fields."""
        return replace(Manifest.from_fields({**self.to_dict(), **keys}), read_version=self.read_version)

    def file_dicts(self) -> dict[str, dict]:
        """`files` as the plain {name: {"sha256", "bytes"}} dicts app.core.pack_files reads."""
        return {n: e.to_dict() for n, e in self.files.items()}
