"""ESMFold's language-model stem as a hand-written ONNX graph: aatype -> s_s_0.

`EsmForProteinFolding.forward` up to the trunk: AF2 residue indices are mapped to ESM tokens with
BOS/EOS added, ESM-2 runs with every hidden state kept (embedding output, each layer, and the last
after `emb_layer_norm_after`), the states are mixed with softmax(`esm_s_combine`), BOS/EOS are
dropped, `esm_s_mlp` projects to c_s and the amino-acid embedding is added. The ESM-2 layers
come from `packbuild.esm2_graph`, so their Linears follow the quantization conventions of
docs/DESIGN.md section 1. Inputs have no padding: one sequence per row, all of the same length.
"""
from __future__ import annotations

import numpy as np
import onnx

from app.core.alphabet import AF2_RESTYPES_WITH_X  # AlphaFold order, X = 20 (export.py imports it from here)

from packbuild.onnx_builder import FLOAT, INT64, GraphBuilder, tensor
from packbuild.weights import ALPHABET_TOKENS, SPECIAL, Esm2Config, Esm2Weights, hf_to_fair_esm_names

from .. import esm2_graph as e2


def af2_to_esm_table() -> np.ndarray:
    """(22,) ESM token id of AF2 index + 1; slot 0 is padding (EsmForProteinFolding.af2_to_esm)."""
    ids = [SPECIAL["padding_idx"]] + [ALPHABET_TOKENS.index(a) for a in AF2_RESTYPES_WITH_X]
    return np.asarray(ids, dtype=np.int64)


def lm_weights(model) -> tuple[Esm2Weights, dict[str, np.ndarray]]:
    """ESM-2 weights under fair-esm names, plus the folding-specific stem weights."""
    cfg = model.config
    state = {f"esm.{k}": v.detach().float().numpy() for k, v in model.esm.state_dict().items()}
    esm_cfg = Esm2Config(num_layers=cfg.num_hidden_layers, embed_dim=cfg.hidden_size,
                         attention_heads=cfg.num_attention_heads, token_dropout=bool(cfg.token_dropout),
                         layer_norm_eps=float(cfg.layer_norm_eps))
    weights = Esm2Weights(name="esmfold_lm", config=esm_cfg, arrays=hf_to_fair_esm_names(state),
                          source="EsmForProteinFolding.esm")
    stem = {k: v.detach().float().numpy() for k, v in model.state_dict().items()
            if k.startswith(("esm_s_combine", "esm_s_mlp.", "embedding."))}
    return weights, stem


def build_lm(model) -> onnx.ModelProto:
    """ONNX model: aatype (B, L) int64 -> s_s_0 (B, L, c_s) float32."""
    import torch

    weights, stem = lm_weights(model)
    cfg, g = weights.config, GraphBuilder()
    tokens = _esm_tokens(g)
    is_pad = g.op("Equal", [tokens, g.const(SPECIAL["padding_idx"], np.int64)], "padding/Equal")
    x = e2._embed(g, weights, is_pad)
    bias = e2._attention_bias(g, is_pad)
    cos, sin = e2._rotary_tables(g, cfg.head_dim)
    mix = torch.softmax(torch.from_numpy(stem["esm_s_combine"]), 0).numpy()  # (layers + 1,), as torch computes it
    acc = g.op("Mul", [x, g.const(mix[0])], "esm_s_combine/Mul0")
    for i in range(cfg.num_layers):
        x, _ = e2._layer(g, weights, i, x, bias, cos, sin)
        if i == cfg.num_layers - 1:  # the last hidden state is taken after the final LayerNorm
            x = g.layer_norm(x, weights["emb_layer_norm_after.weight"], weights["emb_layer_norm_after.bias"],
                             "emb_layer_norm_after", cfg.layer_norm_eps)
        acc = g.op("Add", [acc, g.op("Mul", [x, g.const(mix[i + 1])], f"esm_s_combine/Mul{i + 1}")],
                   f"esm_s_combine/Add{i + 1}")
    esm_s = g.op("Slice", [acc, g.const([1], np.int64), g.const([-1], np.int64), g.const([1], np.int64)],
                 "esm_s/StripBosEos")  # (B, L, E)
    s = g.layer_norm(esm_s, stem["esm_s_mlp.0.weight"], stem["esm_s_mlp.0.bias"], "esm_s_mlp.0", 1e-5)
    s = g.op("Relu", [g.linear(s, stem["esm_s_mlp.1.weight"], stem["esm_s_mlp.1.bias"], "esm_s_mlp.1")],
             "esm_s_mlp.2")
    s = g.linear(s, stem["esm_s_mlp.3.weight"], stem["esm_s_mlp.3.bias"], "esm_s_mlp.3")
    if "embedding.weight" in stem:  # embed_aa: AF2 index straight into the table (row 0 is 'A')
        aa = g.op("Gather", [g.initializer("embedding.weight", stem["embedding.weight"]), "aatype"],
                  "embedding/Gather")
        s = g.op("Add", [s, aa], "embed_aa/Add")
    g.op("Identity", [s], "s_s_0")
    g.nodes[-1].output[0] = "s_s_0"
    c_s = stem["esm_s_mlp.3.weight"].shape[0]
    return g.model([tensor("aatype", INT64, ["batch", "length"])],
                   [tensor("s_s_0", FLOAT, ["batch", "length", c_s])], "esmfold_lm",
                   doc="ESMFold language-model stem exported by edgefold")


def _esm_tokens(g: GraphBuilder) -> str:
    """aatype (B, L) -> ESM tokens (B, L + 2): <cls>, af2_to_esm[aatype + 1], <eos>; named `tokens`."""
    table = g.initializer("af2_to_esm", af2_to_esm_table())
    ids = g.op("Gather", [table, g.op("Add", ["aatype", g.const(1, np.int64)], "af2_to_esm/Shift")],
               "af2_to_esm/Gather")
    ones = g.op("Cast", [g.op("Greater", ["aatype", g.const(-1, np.int64)], "tokens/All")], "tokens/Ones", to=INT64)
    first = g.op("Slice", [ones, g.const([0], np.int64), g.const([1], np.int64), g.const([1], np.int64)],
                 "tokens/Column")  # (B, 1) of ones, whatever B is
    bos = g.op("Mul", [first, g.const(SPECIAL["cls_idx"], np.int64)], "tokens/Bos")
    eos = g.op("Mul", [first, g.const(SPECIAL["eos_idx"], np.int64)], "tokens/Eos")
    g.op("Concat", [bos, ids, eos], "tokens/Concat", axis=1)
    g.nodes[-1].output[0] = "tokens"
    return "tokens"
