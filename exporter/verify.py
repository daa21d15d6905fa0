"""Verify an exported ONNX model against the float torch model on held-out sequences.

The metrics live in packbuild.verify (torch-free, shared with the app's pack builder); this module
adds the torch reference outputs.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

from packbuild.sequences import encode
from packbuild.verify import session, verify  # noqa: F401  (exporter.verify.session / verify, as before)

from .loaders import LoadedModel


def reference_outputs(loaded: LoadedModel, sequences: Iterable[str]) -> list[dict[str, np.ndarray]]:
    """The float torch model's logits/embeddings per sequence (computed once, shared by all schemes)."""
    return [loaded.reference(encode(s), False) for s in sequences]
