"""onnxruntime session around a pack's ESM-2 graph (DESIGN.md section 1), CPU only."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import onnxruntime as ort

from app.offline import TelemetryError

from .pack import Pack, PackError
from .session import open_session, session_options
from .side_weights import load_side_weights
from .tokenizer import Tokenizer

log = logging.getLogger(__name__)


class InferenceError(RuntimeError):
    """Bad input to an ONNX inference call; the message names the tensor at fault."""


def _session(pack: Pack, path: Path, threads: int,
             initializers: Optional[dict[str, np.ndarray]] = None,
             replaced: Optional[dict[str, np.ndarray]] = None) -> ort.InferenceSession:
    """A CPU session with all graph optimizations, `initializers` from the pack's side file filled in
    and `replaced` (a delta pack's base + delta of initializers the graph stores itself) swapped in;
    PackError naming the file if it fails."""
    try:
        # Arrays handed over here stay owned by us, so onnxruntime keeps its pre-packed copy beside
        # them (ternary 150M: peak RSS 490 MB vs int8's 414). Pre-packing stays on all the same: without
        # it the ternary MatMuls ran 1.15-1.5x slower (bench/results/ternary_prepack_ab.md).
        options, kept = session_options(threads), []
        for name, array in (replaced or {}).items():  # add_external_initializers refuses embedded ones
            array = np.ascontiguousarray(array)
            kept.append((array, ort.OrtValue.ortvalue_from_numpy(array)))
            options.add_initializer(name, kept[-1][1])
        session = open_session(path, options, initializers=initializers)
        session._edgefold_replaced = kept  # onnxruntime may use the arrays' memory: keep them alive
    except TelemetryError:
        raise
    except Exception as e:  # onnxruntime raises its own Fail/InvalidGraph types
        raise PackError(f"{path}: onnxruntime cannot load the model ({e})", pack.path) from e
    first = session.get_inputs()[0]
    if first.name != "tokens":
        raise PackError(f"{path}: first input is {first.name!r}, expected 'tokens'", pack.path)
    if first.type != "tensor(int64)" or (first.shape and len(first.shape) != 2):
        raise PackError(f"{path}: input 'tokens' is {first.type} of shape {first.shape}, expected int64 "
                        f"(batch, length) for pack {pack.name!r}", pack.path)
    for out in session.get_outputs():
        if out.shape:  # [] or None: the graph declares no shape; run() checks the arrays
            _check_width(pack, path, out.name, out.shape)
    return session


def expected_widths(pack: Pack) -> dict[str, int]:
    """Last dimension of each output: logits the alphabet (= vocab_size), embeddings embed_dim."""
    widths = {"logits": len(pack.alphabet["tokens"])}
    if "embed_dim" in pack.architecture:
        widths["embeddings"] = int(pack.architecture["embed_dim"])
    return widths


def _check_width(pack: Pack, path: Path, name: str, shape: Sequence) -> None:
    """PackError unless output `name` of shape `shape` is 3-D with the width the manifest declares."""
    want = expected_widths(pack).get(name)
    if want is None:
        return
    if len(shape) != 3:
        raise PackError(f"{path}: output {name!r} has shape {list(shape)}, expected 3-D (batch, length, "
                        f"{want}) for pack {pack.name!r}", pack.path)
    last = shape[-1]
    if isinstance(last, int) and last != want:
        declared = (f"a {want}-token alphabet" if name == "logits" else f"architecture.embed_dim {want}")
        raise PackError(f"{path}: output {name!r} is {last} wide, but the manifest of pack {pack.name!r} "
                        f"declares {declared}", pack.path)


def check_results(pack: Pack, results: dict[str, np.ndarray]) -> None:
    """PackError naming the pack and output when an output has the wrong width or non-finite values."""
    for name, array in results.items():
        _check_width(pack, pack.path, name, array.shape)
        if np.issubdtype(array.dtype, np.floating):
            bad = array.size - int(np.count_nonzero(np.isfinite(array)))
            if bad:
                raise PackError(f"pack {pack.name!r} at {pack.path}: output {name!r} has {bad} non-finite "
                                f"value(s) (NaN or infinity) of {array.size}; the model is broken", pack.path)


class Esm2Runtime:
    """Sessions (CPUExecutionProvider) for a pack; `run` validates inputs.

    `model.onnx` serves logits and embeddings; asking for `contacts` opens the pack's
    `contacts.onnx` on first use (DESIGN.md section 1: the contact head costs every attention
    map, so it lives in a separate graph). A single-file pack whose model has a `contacts`
    output is served from that model.
    """

    def __init__(self, pack: Pack, threads: Optional[int] = None) -> None:
        self.pack = pack
        self.tokenizer = Tokenizer(pack.alphabet)
        self.max_tokens = pack.max_tokens
        self.threads = int(threads or os.cpu_count() or 1)
        # {graph file: {initializer: array}} from the side file (DESIGN.md section 3), shared by both graphs;
        # a delta pack: its base's, with base + delta (app.core.delta_pack), plus replaced embedded ones
        self._side, self._replaced = self._initializers(pack)
        model = pack.manifest["onnx"]["model"]
        self.session = _session(pack, pack.model_path, self.threads, self._side.get(model),
                                self._replaced.get(model))
        self.input_name = "tokens"
        self._contacts_session: Optional[ort.InferenceSession] = None
        main_outputs = tuple(o.name for o in self.session.get_outputs())
        has_extra = pack.contacts_model_path is not None and "contacts" not in main_outputs
        self.output_names = main_outputs + (("contacts",) if has_extra else ())
        log.info("runtime for %s: %d threads, outputs %s", pack.name, self.threads,
                 self.output_names)

    @staticmethod
    def _initializers(pack: Pack) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, dict[str, np.ndarray]]]:
        if not pack.is_delta:
            return load_side_weights(pack.path, pack.manifest), {}
        from .delta_pack import reconstruct

        graphs = reconstruct(pack.path, pack.manifest, pack.base.path, pack.base.manifest)
        return {g: v.external for g, v in graphs.items()}, {g: v.embedded for g, v in graphs.items()}

    def _session_for(self, outputs: Sequence[str]) -> ort.InferenceSession:
        main = {o.name for o in self.session.get_outputs()}
        if set(outputs) <= main:
            return self.session
        if self._contacts_session is None:
            path = self.pack.contacts_model_path
            assert path is not None  # guaranteed by the output-name check in run()
            log.info("opening contacts model %s", path)
            name = self.pack.manifest["onnx"]["contacts_model"]
            self._contacts_session = _session(self.pack, path, self.threads, self._side.get(name),
                                              self._replaced.get(name))
        return self._contacts_session

    @property
    def max_residues(self) -> int:
        """Residues per forward pass: max_tokens minus BOS and EOS (ESM-2: 1022)."""
        return self.max_tokens - self.tokenizer.n_special

    def _check_tokens(self, tokens: np.ndarray) -> np.ndarray:
        tokens = np.asarray(tokens)
        if tokens.ndim != 2:
            raise InferenceError(f"input 'tokens' must be 2-D (batch, length), got shape "
                                 f"{tokens.shape}")
        if not np.issubdtype(tokens.dtype, np.integer):
            raise InferenceError(f"input 'tokens' must be int64, got {tokens.dtype}")
        if tokens.shape[0] < 1 or tokens.shape[1] < 1:
            raise InferenceError(f"input 'tokens' is empty, shape {tokens.shape}")
        if tokens.shape[1] > self.max_tokens:
            raise InferenceError(f"input 'tokens' has length {tokens.shape[1]} > max_tokens "
                                 f"{self.max_tokens} of pack {self.pack.name!r}")
        vocab = len(self.tokenizer)
        if tokens.min() < 0 or tokens.max() >= vocab:
            raise InferenceError(f"input 'tokens' has ids outside [0, {vocab})")
        return np.ascontiguousarray(tokens, dtype=np.int64)

    def run(self, tokens: np.ndarray,
            outputs: Sequence[str] = ("logits",)) -> dict[str, np.ndarray]:
        """Run the graph on (B, L) int64 token ids; returns {output name: array}."""
        unknown = [o for o in outputs if o not in self.output_names]
        if unknown:
            hint = (" (export the pack with --contacts to get contact maps)"
                    if "contacts" in unknown else "")
            raise InferenceError(f"pack {self.pack.name!r} at {self.pack.path} has no output(s) "
                                 f"{unknown}; available: {list(self.output_names)}{hint}")
        session = self._session_for(outputs)
        feed = {self.input_name: self._check_tokens(tokens)}
        results = dict(zip(outputs, session.run(list(outputs), feed)))
        check_results(self.pack, results)
        return results
