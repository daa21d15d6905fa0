"""Per-channel range migration (SmoothQuant, Xiao et al. 2023) for Linear inputs.

    x --Mul(1 / s)--> x_s --> MatMul(diag(s) W)  ==  x @ W   (in exact arithmetic)

One Mul per input tensor (shared by the Linears reading it); every consumer's (in, out) weight
initializer is replaced by its rows scaled by s. The elementwise Mul costs a pass over x, a small
fraction of the MatMul; its output is what the activation grid then quantizes.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from onnx import ModelProto

from ..errors import GraphRewriteError
from ..sites import LinearSite
from ._graph import GraphEdit, rewire


def smooth_linears(model: ModelProto, sites: Sequence[LinearSite],
                   scales: Mapping[str, np.ndarray]) -> tuple[ModelProto, dict[str, str]]:
    """Scale every site's input by 1 / scales[input] and its weight rows by scales[input].
    Returns the model and {original input tensor: smoothed tensor name}."""
    edit = GraphEdit(model)
    renamed: dict[str, str] = {}
    for site in sites:
        s = np.asarray(scales.get(site.activation), dtype=np.float32)
        w = edit.initializer(site.weight)
        if s.ndim != 1 or s.shape[0] != w.shape[0] or not (np.isfinite(s).all() and (s > 0).all()):
            raise GraphRewriteError(site.activation, f"smoothing scales must be {w.shape[0]} positive finite values")
        if site.activation not in renamed:
            out = edit.fresh(f"{site.activation}_smoothed")
            inv = edit.const(f"{site.activation}_smooth_inv", (np.float32(1.0) / s).astype(np.float32))
            edit.after(site.activation, [edit.node("Mul", [site.activation, inv], [out],
                                                   f"{site.activation}/Smooth")])
            renamed[site.activation] = out
        w_name = edit.const(f"{site.weight}_smoothed", (w * s[:, None]).astype(np.float32))
        node = edit.node_at(site.node)
        rewire(node, site.activation, renamed[site.activation])
        rewire(node, site.weight, w_name)
        edit.drop_if_unused(site.weight)
    return edit.finish(), renamed
