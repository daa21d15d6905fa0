"""A stand-in for the `packbuild` package (its API as app.core.pack_get calls it), injected into
sys.modules by tests: build_pack writes a real stand-in pack (a real ONNX graph the app loads), reports
progress, honours `cancel`, and records its calls. No network, no torch."""
from __future__ import annotations

import sys
import threading
import time
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).parent))
from standin import write_standin_pack  # noqa: E402


@dataclass(frozen=True)
class CheckpointSource:
    name: str
    url: str
    contact_url: str
    approx_bytes: int
    layers: int
    dim: int


class BuildError(Exception):
    pass


class Cancelled(Exception):
    pass


def make_module(steps: int = 3, step_s: float = 0.0, fail: Optional[str] = None,
                gate: Optional[threading.Event] = None) -> types.ModuleType:
    """A fresh fake `packbuild`. `gate`: build_pack waits (reporting progress) until it is set or
    cancel is; `fail`: build_pack raises BuildError(fail)."""
    mod = types.ModuleType("packbuild")
    mod.CheckpointSource, mod.BuildError, mod.Cancelled = CheckpointSource, BuildError, Cancelled
    mod.KNOWN_CHECKPOINTS = {
        "esm2_t6_8M_UR50D": CheckpointSource("esm2_t6_8M_UR50D", "https://example.invalid/esm2_t6_8M_UR50D.pt",
                                             "https://example.invalid/esm2_t6_8M_UR50D-contact-regression.pt",
                                             31_000_000, 6, 320),
        "esm2_t33_650M_UR50D": CheckpointSource("esm2_t33_650M_UR50D",
                                                "https://example.invalid/esm2_t33_650M_UR50D.pt", "",
                                                2_600_000_000, 33, 1280),
    }
    mod.calls = []

    def build_pack(source: str, packs_dir: Path, *, scheme: str = "pwlq8", progress=None,
                   cancel: Optional[threading.Event] = None, cache_dir=None) -> Path:
        mod.calls.append({"source": source, "packs_dir": Path(packs_dir), "scheme": scheme,
                          "thread": threading.get_ident()})
        if fail:
            raise BuildError(fail)
        k = 0
        while k < steps or (gate is not None and not gate.is_set()):
            if cancel is not None and cancel.is_set():
                raise Cancelled("cancelled by the user")
            if progress is not None:
                progress(min(k, steps), steps, f"downloading {source}: step {k}")
            time.sleep(step_s if gate is None else 0.02)
            k += 1
        name = f"{Path(source).name}-{scheme}"
        return write_standin_pack(Path(packs_dir) / name, seed=3, name=name, scheme=scheme)

    mod.build_pack = build_pack
    return mod
