"""Scheme handlers: what each registered scheme does to a graph, as a sequence of stages.

A stage names the tensors it needs calibration statistics for (`sites`) and rewrites the graph
with them (`apply`, appending one JSON-ready dict per rewritten site to `report`). quant.quantize
runs the stages in order, calibrating each on the graph the previous stages produced, so a later
stage sees the activations the earlier quantizers really produce (the Softmax inputs of
PTQ4Protein's placement are calibrated downstream of the quantized Linears and LayerNorms).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from onnx import ModelProto

from ..observers import TensorStats

Sites = Callable[[ModelProto, object], list[str]]
Apply = Callable[[ModelProto, object, dict[str, TensorStats], list[dict]], ModelProto]


@dataclass(frozen=True)
class Stage:
    sites: Sites
    apply: Apply


@dataclass(frozen=True)
class Handler:
    stages: tuple[Stage, ...]
