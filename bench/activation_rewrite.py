"""b-bit fake-quant of LayerNorm inputs only (uniform or PWLQ), for the activation study at 8/6/4 bits.

quant's ONNX rewrites emit 8-bit grids only (QuantizeLinear int8, qmax 127), so the study builds
its own fake-quant from float ops, with the grids of quant.uniform / quant.pwlq (narrow symmetric,
zero point 0, round half to even, qmax = 2^(b-1) - 1) and breakpoints from quant.pwlq.pwlq_params:

    uniform:  s = M / qmax;  fq(x; s) = s * Clip(Round(x / s), -qmax, qmax)          (Div, Round, Clip, Mul)
    PWLQ:     Where(|x| < bp, fq(x; bp / qmax), fq(x; M / qmax))
              x ---+--> Abs --> Less(bp) ------------------+
                   +--> fq(bp/qmax) -----------------------+--> Where --> LayerNormalization
                   +--> fq(M/qmax) ------------------------+

Weights stay float; nothing else in the graph changes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper, numpy_helper

METHODS = ("uniform", "pwlq")


@dataclass(frozen=True)
class LnTarget:
    node: str      # LayerNormalization node name
    tensor: str    # its data input
    bound: float   # M: symmetric range [-M, M]
    bp: float      # PWLQ breakpoint (ignored by "uniform")


def _fq_nodes(x: str, scale: float, qmax: int, base: str, consts: list) -> tuple[list, str]:
    """Nodes computing s * Clip(Round(x / s), -qmax, qmax); returns (nodes, output name)."""
    names = {k: f"{base}/{k}" for k in ("s", "lo", "hi", "div", "round", "clip", "out")}
    consts += [numpy_helper.from_array(np.array(scale, np.float32), names["s"]),
               numpy_helper.from_array(np.array(-qmax, np.float32), names["lo"]),
               numpy_helper.from_array(np.array(qmax, np.float32), names["hi"])]
    nodes = [helper.make_node("Div", [x, names["s"]], [names["div"]], f"{base}/Div"),
             helper.make_node("Round", [names["div"]], [names["round"]], f"{base}/Round"),
             helper.make_node("Clip", [names["round"], names["lo"], names["hi"]], [names["clip"]], f"{base}/Clip"),
             helper.make_node("Mul", [names["clip"], names["s"]], [names["out"]], f"{base}/Mul")]
    return nodes, names["out"]


def _chain(t: LnTarget, method: str, bits: int, consts: list) -> tuple[list, str]:
    qmax, base = 2 ** (bits - 1) - 1, f"{t.node}/actstudy_{method}{bits}"
    tail_nodes, tail = _fq_nodes(t.tensor, t.bound / qmax, qmax, f"{base}/tail", consts)
    if method == "uniform":
        return tail_nodes, tail
    mid_nodes, mid = _fq_nodes(t.tensor, t.bp / qmax, qmax, f"{base}/mid", consts)
    bp, ax, mask, out = f"{base}/bp", f"{base}/abs", f"{base}/mask", f"{base}/out"
    consts.append(numpy_helper.from_array(np.array(t.bp, np.float32), bp))
    return [*tail_nodes, *mid_nodes, helper.make_node("Abs", [t.tensor], [ax], f"{base}/Abs"),
            helper.make_node("Less", [ax, bp], [mask], f"{base}/Less"),
            helper.make_node("Where", [mask, mid, tail], [out], f"{base}/Where")], out


def fake_quant_layernorm_inputs(model: onnx.ModelProto, targets: list[LnTarget], method: str,
                                bits: int) -> onnx.ModelProto:
    """Copy of `model` whose targeted LayerNorms read the b-bit fake-quantized input."""
    if method not in METHODS:
        raise ValueError(f"method {method!r} not in {METHODS}")
    if not 2 <= bits <= 8:
        raise ValueError(f"bits={bits} not in [2, 8]")
    out = onnx.ModelProto()
    out.CopyFrom(model)
    by_node = {t.node: t for t in targets}
    nodes, consts = [], []
    for node in out.graph.node:
        t = by_node.pop(node.name, None)
        if t is not None:
            if node.op_type != "LayerNormalization" or node.input[0] != t.tensor:
                raise ValueError(f"node {node.name!r} is not a LayerNormalization reading {t.tensor!r}")
            chain, y = _chain(t, method, bits, consts)
            nodes += chain
            node.input[0] = y
        nodes.append(node)
    if by_node:
        raise ValueError(f"LayerNormalization node(s) not found: {sorted(by_node)}")
    del out.graph.node[:]
    out.graph.node.extend(nodes)
    out.graph.initializer.extend(consts)
    return out


def layernorm_targets(model: onnx.ModelProto, stats: dict, bits: int, encoder_only: bool = True) -> list[LnTarget]:
    """One target per LayerNorm input: M = stats clip, bp = closed-form PWLQ breakpoint (quant.pwlq).

    encoder_only keeps the encoder's LayerNorms (per-layer and the final one) and leaves the LM
    head's LayerNorm in float, as the reference study does.
    """
    from quant.pwlq import pwlq_params
    from quant.sites import layernorm_sites

    targets = []
    for site in layernorm_sites(model):
        if encoder_only and site.node.startswith("lm_head"):
            continue
        p = pwlq_params(stats[site.activation], bits, "closed_form")
        targets.append(LnTarget(site.node, site.activation, p.bound, p.bp))
    return targets
