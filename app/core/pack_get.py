"""Get ESM-2 as a pack on this machine, without torch: the one step of EdgeFold that uses the network,
and only when the user asks (no Qt).

The work is done by the optional `packbuild` package (download with resume, restricted unpickler into
numpy, graph, calibration, quantization, verification). It is imported here, inside the calls, never
when the app starts: the app runs without it, and says so when asked to get a model.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Optional, Union

from .jobs import Cancelled, Progress
from .pack import user_packs_dir
from .pack_admin import PackAdminError, import_pack, verify_pack
from .pack_summary import human_size

DEFAULT_SCHEME = "pwlq8"
NETWORK_NOTICE = ("This is the only step in EdgeFold that uses the network, and only because you asked: "
                  "it downloads the checkpoint chosen above (a local file or folder needs no network). "
                  "Scoring and folding never go online.")


class BuilderMissing(PackAdminError):
    """`packbuild` cannot be imported in this installation."""


def builder() -> ModuleType:
    """The `packbuild` module, imported now; BuilderMissing (a plain sentence) when it is not installed."""
    try:
        import packbuild  # noqa: PLC0415 - optional, and only loaded when a model is requested
    except ImportError as e:
        raise BuilderMissing("Getting ESM-2 needs EdgeFold's pack builder (the 'packbuild' package), which this "
                             f"installation does not include ({e}). Build a pack elsewhere with "
                             "'python -m exporter' and import its folder instead.", "packbuild") from None
    return packbuild


def checkpoints() -> dict[str, Any]:
    """packbuild.KNOWN_CHECKPOINTS: name -> CheckpointSource (.name .url .approx_bytes .layers .dim)."""
    return dict(builder().KNOWN_CHECKPOINTS)


@dataclass(frozen=True)
class SourcePlan:
    """What getting `source` means: where from, how many bytes to download (None: unknown)."""

    source: str
    kind: str  # "known", "url", "file" or "folder"
    download_bytes: Optional[int]
    network: bool

    def describe(self) -> str:
        if not self.network:
            return f"local {self.kind} {self.source}: nothing is downloaded"
        size = human_size(self.download_bytes) if self.download_bytes else "size unknown until it starts"
        return f"download of about {size} from {self.source if self.kind == 'url' else 'the fair-esm servers'}"


def plan(source: str, known: Optional[dict] = None) -> SourcePlan:
    """Classify `source`: a known checkpoint name, an http(s) URL, a local checkpoint file or a
    HuggingFace ESM folder; PackAdminError naming it otherwise."""
    known = checkpoints() if known is None else known
    if source in known:
        return SourcePlan(source, "known", int(getattr(known[source], "approx_bytes", 0)) or None, True)
    if source.startswith(("https://", "http://")):
        return SourcePlan(source, "url", None, True)
    path = Path(source).expanduser()
    if path.is_file():
        return SourcePlan(str(path), "file", path.stat().st_size, False)
    if path.is_dir():
        return SourcePlan(str(path), "folder", sum(p.stat().st_size for p in path.rglob("*") if p.is_file()), False)
    names = ", ".join(known) or "none"
    raise PackAdminError(f"{source!r} is not a known checkpoint ({names}), an http(s) URL, a checkpoint file "
                         f"or a HuggingFace ESM folder", source)


def get_pack(source: str, scheme: str = DEFAULT_SCHEME, progress: Optional[Progress] = None,
             cancel: Optional[threading.Event] = None, packs_dir: Union[str, Path, None] = None,
             cache_dir: Union[str, Path, None] = None) -> Path:
    """Build a pack of `source` with packbuild into the packs folder and check it as the app loads it.

    Raises BuilderMissing, PackAdminError (the build failed: its message), Cancelled (`cancel` was set).
    """
    pb = builder()
    root = Path(packs_dir) if packs_dir is not None else user_packs_dir()
    root.mkdir(parents=True, exist_ok=True)
    try:
        out = Path(pb.build_pack(source, root, scheme=scheme, progress=progress, cancel=cancel,
                                 cache_dir=cache_dir))
    except pb.Cancelled as e:
        raise Cancelled(str(e) or "cancelled") from None
    except pb.BuildError as e:
        raise PackAdminError(f"{source}: {e}", source) from None
    if out.resolve().parent != root.resolve():  # built elsewhere: install it the manager's way
        out = import_pack(out, root)
    verify_pack(out)
    return out
