"""Temporary, math-preserving patches to transformers' ESMFold code while tracing it for ONNX."""
from __future__ import annotations

import contextlib
from typing import Iterator


def _permute_final_dims(tensor, inds: list[int]):
    """Same permutation as modeling_esmfold.permute_final_dims, with non-negative axes.

    The original passes negative axes to `permute`; the TorchScript exporter copies them into a
    Transpose `perm`, which ONNX requires to be non-negative (onnxruntime rejects the model).
    """
    rank, k = tensor.dim(), len(inds)
    return tensor.permute(list(range(rank - k)) + [rank - k + i for i in inds])


@contextlib.contextmanager
def export_patches() -> Iterator[None]:
    """Swap in the export-friendly helpers for the duration of a trace; restore them afterwards."""
    from transformers.models.esm import modeling_esmfold as mef
    from transformers.models.esm.openfold_utils import tensor_utils

    saved = (mef.permute_final_dims, tensor_utils.permute_final_dims)
    mef.permute_final_dims = tensor_utils.permute_final_dims = _permute_final_dims
    try:
        yield
    finally:
        mef.permute_final_dims, tensor_utils.permute_final_dims = saved
