"""Open the four ONNX parts of a folding pack as onnxruntime sessions."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from ..pack import PackError, check_graph_files, read_pack_manifest
from ..session import open_session
from ..session import session_options as _session_options

log = logging.getLogger(__name__)
PART_NAMES = ("lm", "trunk", "structure", "heads")
# Parts whose activations are large (trunk: L^2 and L^3; lm: the 3B stem): each run hands its
# onnxruntime arena back when it ends, so the next part does not start on top of it. The memory
# estimate (memory.py) counts one part's activations at a time and relies on this.
SHRINK_AFTER = ("lm", "trunk")


def _shrink_options() -> ort.RunOptions:
    opts = ort.RunOptions()
    opts.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
    return opts


class FoldPackError(ValueError):
    """A folding pack that cannot be used; the message names the pack directory and the problem."""


@dataclass(frozen=True)
class FoldingParts:
    """Sessions of lm / trunk / structure / heads plus the manifest's architecture block."""
    sessions: dict[str, ort.InferenceSession]
    architecture: dict
    source: str = ""
    weight_bytes: int = 0  # bytes of the part files (weights dominate), for the memory estimate

    def run(self, part: str, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        sess = self.sessions[part]
        names = [o.name for o in sess.get_outputs()]
        options = _shrink_options() if part in SHRINK_AFTER else None
        return dict(zip(names, sess.run(names, feeds, options)))

    def dim(self, part: str, tensor: str) -> int:
        """The static last dimension of an input of a part (e.g. c_s of trunk's `s_s_0`)."""
        for info in self.sessions[part].get_inputs():
            if info.name == tensor:
                return int(info.shape[-1])
        raise FoldPackError(f"{self.source}: part {part!r} has no input {tensor!r}")


def session_options(threads: int | None = None) -> ort.SessionOptions:
    # Folding parts keep onnxruntime's default inter-op threading (as measured in bench/).
    opts = _session_options(threads)
    opts.inter_op_num_threads = 0
    return opts


def open_parts(pack_dir: str | Path, threads: int | None = None) -> FoldingParts:
    """Sessions for a pack whose manifest has `task: folding` and `onnx.parts` {part: file}.

    The manifest (v1 or v2) is read as app.core.pack reads any pack (its manifest.sha256, key
    types, parts listed in `files`, `residues.aatype_order` AlphaFold's, no path or graph
    reference out of the listed files); file hashes are the caller's (load_pack / verify_files),
    as hashing a 3B pack takes a while.
    """
    pack_dir = Path(pack_dir)
    try:
        meta = read_pack_manifest(pack_dir, task="folding")
    except PackError as exc:
        raise FoldPackError(str(exc)) from exc
    manifest = meta.to_dict()
    files = manifest["onnx"]["parts"]
    missing = [p for p in PART_NAMES if p not in files or not (pack_dir / files[p]).is_file()]
    if missing:
        raise FoldPackError(f"{pack_dir}: missing part file(s) for {', '.join(missing)}")
    try:
        check_graph_files(pack_dir, manifest)
    except PackError as exc:
        raise FoldPackError(str(exc)) from exc
    opts = session_options(threads)
    sessions = {p: open_session(pack_dir / files[p], opts) for p in PART_NAMES}
    size = sum(p.stat().st_size for f in files.values() for p in pack_dir.glob(f"{f}*") if p.is_file())
    return FoldingParts(sessions, dict(meta.architecture), str(pack_dir), size)
