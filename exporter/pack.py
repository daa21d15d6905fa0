"""Write a model pack (ONNX files + manifest.json with hashes) atomically (docs/DESIGN.md section 3)."""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Callable

import onnx

from . import __version__
from .onnx_io import save_onnx
from .weights import ALPHABET_TOKENS, SPECIAL, Esm2Weights

FORMAT, FORMAT_VERSION = "edgefold-pack", 1


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def alphabet_manifest() -> dict:
    return {"tokens": list(ALPHABET_TOKENS), **SPECIAL, "prepend_bos": True, "append_eos": True}


def architecture_manifest(weights: Esm2Weights) -> dict:
    c = weights.config
    return {"family": "esm2", "num_layers": c.num_layers, "embed_dim": c.embed_dim,
            "attention_heads": c.attention_heads, "vocab_size": c.vocab_size, "max_tokens": c.max_tokens,
            "token_dropout": c.token_dropout, "parameters": weights.parameter_count()}


def write_pack(out_dir: Path, models: dict[str, onnx.ModelProto], manifest: dict,
               inspect: Callable[[Path], dict] | None = None) -> Path:
    """Write `models` ({filename: model}) and a manifest into `out_dir`, all or nothing.

    Files go to a temporary sibling directory that is renamed into place at the end, so an
    interrupted export leaves either the previous pack or the new one, never half of one.
    `inspect(tmp_dir)`, if given, runs on the complete pack before the rename (e.g. a benchmark
    through the app's loader) and returns manifest keys to add.
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.with_name(f".{out_dir.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        written: list[Path] = []
        for name, model in models.items():
            written += save_onnx(model, tmp / name)
        files = {p.name: {"sha256": sha256_file(p), "bytes": p.stat().st_size} for p in written}
        full = {"format": FORMAT, "format_version": FORMAT_VERSION, **manifest, "files": files,
                "exporter_version": __version__,
                "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
        (tmp / "manifest.json").write_text(json.dumps(full, indent=2) + "\n")
        if inspect is not None:
            full.update(inspect(tmp))
            (tmp / "manifest.json").write_text(json.dumps(full, indent=2) + "\n")
        old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
        if out_dir.exists():
            out_dir.rename(old)
        tmp.rename(out_dir)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir
