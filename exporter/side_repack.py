"""Rewrite an existing pack with some initializers in a weights.npz side file (tests, bench/side_weights.py)."""
from __future__ import annotations

import json
from pathlib import Path

import onnx

from packbuild.pack import write_pack
from packbuild.side_weights import Select, linear_weights, split_models


def repack_with_side_file(pack_dir: Path, out_dir: Path, select: Select = linear_weights) -> Path:
    """Write the pack at `pack_dir` again into `out_dir` with the initializers `select` picks moved to
    weights.npz (the export pipeline writes ordinary packs)."""
    pack_dir = Path(pack_dir)
    manifest = json.loads((pack_dir / "manifest.json").read_text(encoding="utf-8"))
    graphs = [manifest["onnx"]["model"]] + ([manifest["onnx"]["contacts_model"]]
                                            if manifest["onnx"].get("contacts_model") else [])
    models = {name: onnx.load(str(pack_dir / name)) for name in graphs}
    split, arrays = split_models(models, select)
    kept = {k: v for k, v in manifest.items() if k not in ("format", "format_version", "files",
                                                           "exporter_version", "created")}
    return write_pack(Path(out_dir), split, kept, side_weights=arrays)
