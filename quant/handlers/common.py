"""Pieces the handlers share: stats lookup, QParams from stats, report fragments, site filters."""
from __future__ import annotations

import re

from onnx import ModelProto

from ..errors import GraphRewriteError
from ..observers import TensorStats
from ..sites import LinearSite, linear_sites
from ..uniform import QParams, qparams_affine, qparams_symmetric


def stats_of(stats: dict[str, TensorStats], tensor: str) -> TensorStats:
    if tensor not in stats:
        raise GraphRewriteError(tensor, "no calibration stats (see quant.calibration_sites)")
    return stats[tensor]


def uniform_qparams(s: TensorStats, dtype: str) -> QParams:
    """uint8: affine over the clipped range; int8: symmetric over [-clip, clip]."""
    return qparams_affine(*s.clipped_range(), "uint8") if dtype == "uint8" else qparams_symmetric(s.clip, "int8")


def qp_report(p: QParams) -> dict:
    return {"dtype": p.dtype, "scale": float(p.scale), "zero_point": int(p.zero_point)}


def stats_report(s: TensorStats) -> dict:
    return {"clip": s.clip, "absmax": s.absmax, "std": s.std, "m": s.m_clip}


def selected_linears(model: ModelProto, cfg) -> list[LinearSite]:
    """Linear sites of `model`, restricted to weights matching `cfg.linears` when the config has it."""
    sites = linear_sites(model)
    pattern = getattr(cfg, "linears", None)
    if pattern is None:
        return sites
    rx = re.compile(pattern)
    return [s for s in sites if rx.match(s.weight)]
