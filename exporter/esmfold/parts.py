"""Export ESMFold as four ONNX parts that a numpy driver chains (app/core/fold/driver.py).

    lm.onnx         aatype (B, L) int64                                  -> s_s_0 (B, L, c_s)
    trunk.onnx      s_s_0, recycle_s (B, L, c_s), recycle_z (B, L, L, c_z),
                    recycle_backbone (B, L, 3, 3), residx (B, L) int64, mask (B, L) -> s_s, s_z
    structure.onnx  s_s, s_z, aatype, mask -> positions (B, L, 14, 3), frames (B, L, 7),
                    angles (B, L, 7, 2), unnormalized_angles (B, L, 7, 2), states (B, L, c_sm)
    heads.onnx      s_z, states -> plddt (B, L, 37), ptm_logits (B, L, L, 64), distogram_logits (B, L, L, 64)

`lm.onnx` is written op by op (lm_graph.py); the others are traced with the TorchScript exporter
(`dynamo=False`) from export-friendly wrappers of the transformers modules, length axes dynamic.
The structure part is one ONNX Loop over its shared-weight blocks (structure_loop.py).
The trunk's triangle-attention cores trace to placeholder nodes that
`chunking.expand_chunked_attention` turns into onnxruntime's fused attention (under a Loop over
row chunks for long sequences when a chunk size is set) before a model is run or written.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import onnx

from packbuild.onnx_io import EXTERNAL_DATA_LIMIT
from .chunking import DOMAIN
from .heads import HeadsPass
from .lm_graph import build_lm
from .structure import StructurePass
from .structure_loop import export_structure_loop
from .tracing import trace
from .trunk import TrunkPass

log = logging.getLogger(__name__)
TRACE_LENGTH = 7  # length of the example inputs; any length works at run time


@dataclass(frozen=True)
class PartSpec:
    file: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


PARTS = {
    "lm": PartSpec("lm.onnx", ("aatype",), ("s_s_0",)),
    "trunk": PartSpec("trunk.onnx", ("s_s_0", "recycle_s", "recycle_z", "recycle_backbone", "residx", "mask"),
                      ("s_s", "s_z")),
    "structure": PartSpec("structure.onnx", ("s_s", "s_z", "aatype", "mask"),
                          ("positions", "frames", "angles", "unnormalized_angles", "states")),
    "heads": PartSpec("heads.onnx", ("s_z", "states"), ("plddt", "ptm_logits", "distogram_logits")),
}
PAIR_TENSORS = {"recycle_z", "s_z", "ptm_logits", "distogram_logits"}  # (B, L, L, ...)


def example_inputs(model, part: str, length: int = TRACE_LENGTH, seed: int = 0) -> dict:
    """Random torch inputs of the right shapes and dtypes for a traced part (batch 1)."""
    import torch

    tc = model.config.esmfold_config.trunk
    c_s, c_z, c_sm = tc.sequence_state_dim, tc.pairwise_state_dim, tc.structure_module.sequence_dim
    gen = torch.Generator().manual_seed(seed)
    shapes = {"s_s_0": (c_s,), "recycle_s": (c_s,), "s_s": (c_s,), "recycle_z": (length, c_z),
              "s_z": (length, c_z), "recycle_backbone": (3, 3), "states": (c_sm,)}
    out = {}
    for name in PARTS[part].inputs:
        if name in ("aatype",):
            out[name] = torch.randint(0, 21, (1, length), generator=gen)
        elif name == "residx":
            out[name] = torch.arange(length)[None]
        elif name == "mask":
            out[name] = torch.ones(1, length)
        else:
            scale = 8.0 if name == "recycle_backbone" else 1.0
            out[name] = scale * torch.randn((1, length) + shapes[name], generator=gen)
    return out


def wrapper(model, part: str, chunk: int | None = None, unchunked: int | None = None):
    """The torch module whose forward is the part (inputs and outputs in PARTS order)."""
    if part == "trunk":
        return TrunkPass(model.trunk, chunk, unchunked).eval()
    if part == "structure":
        return StructurePass(model.trunk).eval()
    if part == "heads":
        return HeadsPass(model).eval()
    raise KeyError(f"part {part!r} is not traced (known: trunk, structure, heads)")


def length_axes(names) -> dict:
    """Dynamic batch and length axes of the named tensors (two length axes for pair tensors)."""
    return {n: {0: "batch", 1: "length", 2: "length"} if n in PAIR_TENSORS else {0: "batch", 1: "length"}
            for n in names}


def export_part(model, part: str, chunk: int | None = None, via_file_above: int = EXTERNAL_DATA_LIMIT,
                structure_loop: bool = True, unchunked: int | None = None) -> onnx.ModelProto:
    """One part as an ONNX model with dynamic batch and length axes (`chunk`, `unchunked`: trunk only,
    see TrunkPass).

    The structure part is an ONNX Loop over its shared-weight blocks (structure_loop.py); with
    `structure_loop=False` the blocks are unrolled as the plain trace writes them (the old form,
    kept for comparison: bench/fold_load.py, tests).
    """
    if part == "lm":
        return build_lm(model)
    if part == "structure" and structure_loop:
        proto = export_structure_loop(model, example_inputs(model, part), PARTS[part].outputs)
    else:
        spec = PARTS[part]
        proto = trace(wrapper(model, part, chunk, unchunked), example_inputs(model, part), spec.outputs,
                      length_axes(spec.inputs + spec.outputs), {DOMAIN: 1} if part == "trunk" else None,
                      via_file_above)
    proto.graph.name = f"esmfold_{part}"
    log.info("exported %s: %d nodes", PARTS[part].file, len(proto.graph.node))
    return proto


def export_parts(model, chunk: int | None = None) -> dict[str, onnx.ModelProto]:
    """{file name: model} for all four parts; the trunk holds triangle-attention placeholders."""
    return {PARTS[p].file: export_part(model, p, chunk if p == "trunk" else None) for p in PARTS}
