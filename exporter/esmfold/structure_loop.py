"""The structure part as one ONNX graph with a Loop over its shared-weight IPA blocks.

onnxruntime spends ~1 ms per node creating a session for the traced structure module (bench/
fold_load.py: 4.4k nodes per 2 tiny blocks, 17k at ESMFold's 8), so the unrolled trace takes
30+ s to load. Here the three pieces of structure.py are traced separately and stitched:

    main graph   StructureStart nodes           s_s, s_z -> sm/s0, sm/z, sm/s_initial, sm/rigid0
                 Loop(num_blocks)                carries (s, rigid7); body = StructureBlock, which
                                                 reads sm/z and mask from the outer scope
                 StructureEnd nodes             sm/s_last, sm/rigid_last, sm/s_initial, aatype -> outputs

Every piece has its Constant nodes turned into initializers (onnxruntime loads those faster).
The body keeps its own initializers, so onnxruntime sees its weights as constants (pre-packing).

Quantization (quantize_structure): quant rewrites one graph and does not descend into a Loop, so
the body is taken out as a standalone model (`body_model`), quantized with its own calibration
feeds (each recorded structure feed run through `probe`, which emits every iteration's carried
state), put back (`with_body`), and the main graph is quantized after it. One scale per body site
serves all iterations (the unrolled form had one per block).
"""
from __future__ import annotations

import onnx
from onnx import TensorProto, helper

PREFIX_START, PREFIX_BLOCK, PREFIX_END = "sm_start/", "sm_block/", "sm_end/"
LOOP = "sm/blocks"
ITER, COND_IN, COND_OUT = "sm_block/iter", "sm_block/cond_in", "sm_block/cond_out"
S_IN, R_IN, S_OUT, R_OUT = "sm_block/s_in", "sm_block/rigid_in", "sm_block/s_out", "sm_block/rigid_out"
OUTER_Z, OUTER_MASK = "sm/z", "mask"
PROBE_S, PROBE_R = "sm/s_per_block", "sm/rigid_per_block"  # (num_blocks, B, L, ...) in `probe`

SEQ = {0: "batch", 1: "length"}
PAIR = {0: "batch", 1: "length", 2: "length"}


def constants_to_initializers(graph: onnx.GraphProto) -> int:
    """Move every `Constant(value=tensor)` node of `graph` into its initializers; returns how many."""
    keep, moved = [], 0
    for node in graph.node:
        attr = node.attribute[0] if node.op_type == "Constant" and len(node.attribute) == 1 else None
        if attr is not None and attr.name == "value" and not node.domain:
            tensor = TensorProto()
            tensor.CopyFrom(attr.t)
            tensor.name = node.output[0]
            graph.initializer.append(tensor)
            moved += 1
        else:
            keep.append(node)
    del graph.node[:]
    graph.node.extend(keep)
    return moved


def _renamed(graph: onnx.GraphProto, prefix: str, mapping: dict[str, str]) -> onnx.GraphProto:
    """A copy of `graph` whose tensor and node names get `prefix`, except `mapping`'s, renamed to its values."""
    out = onnx.GraphProto()
    out.CopyFrom(graph)

    def name(n: str) -> str:
        return n if not n else mapping.get(n, prefix + n)

    for node in out.node:
        node.input[:] = [name(n) for n in node.input]
        node.output[:] = [name(n) for n in node.output]
        node.name = prefix + node.name if node.name else ""
    for group in (out.initializer, out.input, out.output, out.value_info):
        for item in group:
            item.name = name(item.name)
    return out


def _value_info(graph: onnx.GraphProto, name: str, new_name: str | None = None) -> onnx.ValueInfoProto:
    info = next(v for v in (*graph.input, *graph.output) if v.name == name)
    out = onnx.ValueInfoProto()
    out.CopyFrom(info)
    out.name = new_name or name
    return out


def export_pieces(model, feeds: dict, outputs: tuple[str, ...]
                  ) -> tuple[onnx.ModelProto, onnx.ModelProto, onnx.ModelProto]:
    """StructureStart, StructureBlock and StructureEnd traced (names as in structure.py's forwards);
    `feeds`: example structure-part inputs (parts.example_inputs), `outputs`: the part's output names."""
    import torch

    from .structure import StructureBlock, StructureEnd, StructureStart
    from .tracing import trace

    t = model.trunk
    with torch.no_grad():
        s, z, s_initial, rigid7 = StructureStart(t)(feeds["s_s"], feeds["s_z"])
    start = trace(StructureStart(t), {"s_s": feeds["s_s"], "s_z": feeds["s_z"]}, ("s", "z", "s_initial", "rigid7"),
                  {"s_s": SEQ, "s_z": PAIR, "s": SEQ, "z": PAIR, "s_initial": SEQ, "rigid7": SEQ})
    block = trace(StructureBlock(t), {"s": s, "rigid7": rigid7, "z": z, "mask": feeds["mask"]},
                  ("s_next", "rigid7_next"),
                  {"s": SEQ, "rigid7": SEQ, "z": PAIR, "mask": SEQ, "s_next": SEQ, "rigid7_next": SEQ})
    end = trace(StructureEnd(t), {"s": s, "rigid7": rigid7, "s_initial": s_initial, "aatype": feeds["aatype"]},
                outputs, {**{n: SEQ for n in ("s", "rigid7", "s_initial", "aatype")}, **{n: SEQ for n in outputs}})
    for piece in (start, block, end):
        constants_to_initializers(piece.graph)
    return start, block, end


def assemble(start: onnx.ModelProto, block: onnx.ModelProto, end: onnx.ModelProto,
             num_blocks: int) -> onnx.ModelProto:
    """One model: start's nodes, a Loop running `block` num_blocks times, end's nodes (see the module doc)."""
    a = _renamed(start.graph, PREFIX_START, {"s_s": "s_s", "s_z": "s_z", "s": "sm/s0", "z": OUTER_Z,
                                            "s_initial": "sm/s_initial", "rigid7": "sm/rigid0"})
    b = _renamed(block.graph, PREFIX_BLOCK, {"s": S_IN, "rigid7": R_IN, "z": OUTER_Z, "mask": OUTER_MASK,
                                            "s_next": S_OUT, "rigid7_next": R_OUT})
    outputs = [o.name for o in end.graph.output]
    c = _renamed(end.graph, PREFIX_END, {"s": "sm/s_last", "rigid7": "sm/rigid_last", "s_initial": "sm/s_initial",
                                        "aatype": "aatype", **{o: o for o in outputs}})
    body = helper.make_graph(
        [helper.make_node("Identity", [COND_IN], [COND_OUT], name="sm_block/cond"), *b.node], "structure_block",
        [helper.make_tensor_value_info(ITER, TensorProto.INT64, []),
         helper.make_tensor_value_info(COND_IN, TensorProto.BOOL, []),
         _value_info(b, S_IN), _value_info(b, R_IN)],
        [helper.make_tensor_value_info(COND_OUT, TensorProto.BOOL, []), _value_info(b, S_OUT), _value_info(b, R_OUT)],
        list(b.initializer))
    count = helper.make_tensor("sm/num_blocks", TensorProto.INT64, [], [num_blocks])
    loop = helper.make_node("Loop", ["sm/num_blocks", "", "sm/s0", "sm/rigid0"], ["sm/s_last", "sm/rigid_last"],
                            name=LOOP, body=body)
    boundary = [_value_info(a, n) for n in ("sm/s0", OUTER_Z, "sm/s_initial", "sm/rigid0")]
    boundary += [_value_info(b, S_OUT, "sm/s_last"), _value_info(b, R_OUT, "sm/rigid_last")]
    graph = helper.make_graph(
        [*a.node, loop, *c.node], "esmfold_structure",
        [_value_info(a, "s_s"), _value_info(a, "s_z"), _value_info(c, "aatype"), _value_info(b, OUTER_MASK)],
        list(c.output), [*a.initializer, count, *c.initializer], value_info=boundary)
    model = helper.make_model(graph, opset_imports=list(start.opset_import), producer_name="edgefold")
    model.ir_version = start.ir_version
    return model


def export_structure_loop(model, feeds: dict, outputs: tuple[str, ...]) -> onnx.ModelProto:
    """The structure part of `model` (an EsmForProteinFolding) in Loop form (export_pieces' arguments)."""
    return assemble(*export_pieces(model, feeds, outputs), model.trunk.structure_module.config.num_blocks)


def loop_node(model: onnx.ModelProto) -> onnx.NodeProto | None:
    """The blocks' Loop of a Loop-form structure model, None for any other model."""
    return next((n for n in model.graph.node if n.op_type == "Loop" and n.name == LOOP), None)


def _body(node: onnx.NodeProto) -> onnx.GraphProto:
    return next(a.g for a in node.attribute if a.name == "body")


def body_model(model: onnx.ModelProto) -> onnx.ModelProto:
    """The Loop body as a standalone model: (sm_block/s_in, sm_block/rigid_in, sm/z, mask) -> (s_out, rigid_out)."""
    body = _body(loop_node(model))
    outer = {v.name: v for v in (*model.graph.input, *model.graph.value_info)}
    graph = helper.make_graph([n for n in body.node if n.output[0] != COND_OUT], "structure_block",
                              [*body.input[2:], outer[OUTER_Z], outer[OUTER_MASK]], list(body.output[1:]),
                              list(body.initializer), value_info=list(body.value_info))
    out = helper.make_model(graph, opset_imports=list(model.opset_import), producer_name="edgefold")
    out.ir_version = model.ir_version
    return out


def with_body(model: onnx.ModelProto, block: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of `model` whose Loop body computes `block` (a body_model, e.g. quantized); opsets merged."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    body = _body(loop_node(out))
    cond = next(n for n in body.node if n.output[0] == COND_OUT)
    kept = list(body.input[:2])
    body.CopyFrom(helper.make_graph([cond, *block.graph.node], body.name, [*kept, *block.graph.input[:2]],
                                    [body.output[0], *block.graph.output], list(block.graph.initializer),
                                    value_info=list(block.graph.value_info)))
    have = {o.domain: o for o in out.opset_import}
    for o in block.opset_import:
        if o.domain not in have:
            out.opset_import.append(o)
        elif have[o.domain].version < o.version:
            have[o.domain].version = o.version
    return out


def probe(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of `model` that also outputs sm/z and every iteration's carried (s, rigid7), stacked
    along a leading block axis (PROBE_S, PROBE_R): the body's calibration inputs."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    node = loop_node(out)
    body = _body(node)
    for src, dst in ((S_IN, "sm_block/s_scan"), (R_IN, "sm_block/rigid_scan")):
        body.node.append(helper.make_node("Identity", [src], [dst]))
        body.output.append(onnx.ValueInfoProto(name=dst))
    node.output.extend([PROBE_S, PROBE_R])
    out.graph.output.extend([onnx.ValueInfoProto(name=n) for n in (PROBE_S, PROBE_R, OUTER_Z)])
    return out


def block_feeds(model: onnx.ModelProto, feeds, runner) -> list[dict]:
    """Body feeds of every iteration for each structure feed; `runner(model, names)(feed)` as quant's."""
    run = runner(probe(model), [PROBE_S, PROBE_R, OUTER_Z])
    out = []
    for feed in feeds:
        s, r, z = run(feed)
        out += [{S_IN: s[i], R_IN: r[i], OUTER_Z: z, OUTER_MASK: feed[OUTER_MASK]} for i in range(len(s))]
    return out


def graphs(model: onnx.ModelProto) -> list[onnx.ModelProto]:
    """The graphs quant sees in a part: the model, and its Loop body (body_model) when it is the Loop form."""
    return [model, body_model(model)] if loop_node(model) is not None else [model]
