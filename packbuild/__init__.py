"""Torch-free pack building: ESM-2 checkpoints -> ONNX graph -> quantized, verified model pack.

Two users share it:
- the app (lazily, only when the user asks for a model): `build_pack` downloads a fair-esm or
  HuggingFace ESM-2 checkpoint (resumable), reads it with a restricted unpickler or a numpy
  safetensors reader, builds the graph, calibrates, quantizes, verifies against the fp32 graph
  and installs the pack into the user's packs folder;
- the exporter (torch): its graph builder, calibration, pack writer and metrics are these modules.

Nothing here imports torch, esm or transformers (tests/test_imports.py). This module itself
imports only the standard library, so listing KNOWN_CHECKPOINTS loads neither onnx nor quant.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable, Optional

from .errors import BuildError, Cancelled
from .sources import KNOWN_CHECKPOINTS, CheckpointSource

from .version import __version__  # noqa: F401
__all__ = ["KNOWN_CHECKPOINTS", "CheckpointSource", "BuildError", "Cancelled", "build_pack"]


def build_pack(source: str, packs_dir: Path, *, scheme: str = "pwlq8",
               progress: Optional[Callable[[int, int, str], None]] = None,
               cancel: Optional[threading.Event] = None, cache_dir: Optional[Path] = None) -> Path:
    """Build a pack from `source` and install it into `packs_dir`; returns the installed pack directory.

    `source`: a KNOWN_CHECKPOINTS name, an http(s) URL, a local fair-esm `.pt` / HuggingFace
    `.bin` / `.safetensors` file, or a local HuggingFace ESM directory. Downloads go to `cache_dir`
    (default `~/.cache/edgefold/downloads`, `$XDG_CACHE_HOME` honoured) and resume from a `.part`
    file. `progress(done, total, message)` is called from this (worker) thread; `cancel.set()` from
    another thread stops the build at the next step with `Cancelled`. Any other failure is a
    `BuildError` naming the input; either way `packs_dir` is left as it was (a pack of the same
    name is replaced only by a complete, verified one).
    """
    from .build import build

    return build(source, Path(packs_dir), scheme=scheme, progress=progress, cancel=cancel,
                 cache_dir=None if cache_dir is None else Path(cache_dir))
