"""ESM-2 as an ONNX graph, written op by op from canonical weights (docs/DESIGN.md section 1).

Mirrors fair-esm's `ESM2.forward` (esm/model/esm2.py): token dropout rescaling, pre-LN
transformer layers with rotary self-attention, final LayerNorm, tied LM head, and the contact
head (symmetrize + APC + logistic regression over all attention maps). Written by hand rather
than traced so that dynamic batch and length need no tracing tricks, and so that every Linear
is a plain `MatMul(x, W) + Add` that the quantization rewrites in `quant/` recognise.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto

from .onnx_builder import FLOAT, INT64, GraphBuilder, tensor
from .weights import SPECIAL, Esm2Weights

MASK_RATIO_TRAIN = 0.15 * 0.8  # fair-esm token dropout: 15% masked, 80% of those as <mask>
INT32 = TensorProto.INT32
CONTRIB = "com.microsoft"  # onnxruntime's contrib op domain (MultiHeadAttention)
NEG = -1e9  # additive attention bias for padding keys (exp underflows to exactly 0 in float32)


def build_esm2(weights: Esm2Weights, contacts: bool = False, fused_attention: bool = False) -> onnx.ModelProto:
    """ONNX model: tokens (B, T) int64 -> logits (B, T, V), embeddings (B, T, E)[, contacts].

    fused_attention: softmax(Q K^T) V of every layer as one onnxruntime contrib op
    (com.microsoft MultiHeadAttention, after the rotary embedding, padding keys masked by
    key_padding_mask) instead of MatMul/Add/Softmax/MatMul; not with `contacts`, whose head reads
    the attention maps. Only onnxruntime runs such a graph."""
    if fused_attention and contacts:
        raise ValueError("fused_attention: the contact head needs the attention maps; build contacts unfused")
    cfg, g = weights.config, GraphBuilder()
    is_pad = g.op("Equal", ["tokens", g.const(SPECIAL["padding_idx"], np.int64)], "padding/Equal")
    x = _embed(g, weights, is_pad)
    if fused_attention:  # (B, T) int32, 1 = attend to this key
        bias = g.op("Cast", [g.op("Not", [is_pad], "attn_mask/Not")], "attn_mask/Cast", to=INT32)
    else:
        bias = _attention_bias(g, is_pad)  # (B, 1, 1, T)
    cos, sin = _rotary_tables(g, cfg.head_dim)  # (1, 1, T, hd)
    maps = []
    for i in range(cfg.num_layers):
        x, probs = _layer(g, weights, i, x, bias, cos, sin, fused_attention)
        maps.append(probs)
    emb = g.layer_norm(x, weights["emb_layer_norm_after.weight"], weights["emb_layer_norm_after.bias"],
                       "emb_layer_norm_after", cfg.layer_norm_eps)
    g.op("Identity", [emb], "embeddings")
    g.nodes[-1].output[0] = "embeddings"
    logits = _lm_head(g, weights, emb)
    g.op("Identity", [logits], "logits")
    g.nodes[-1].output[0] = "logits"
    outputs = [tensor("logits", FLOAT, ["batch", "length", cfg.vocab_size]),
               tensor("embeddings", FLOAT, ["batch", "length", cfg.embed_dim])]
    if contacts:
        _contact_head(g, weights, maps)
        outputs.append(tensor("contacts", FLOAT, ["batch", "residues", "residues"]))
    model = g.model([tensor("tokens", INT64, ["batch", "length"])], outputs, weights.name,
                    doc=f"ESM-2 {weights.name} exported by edgefold")
    if fused_attention:
        model.opset_import.append(onnx.helper.make_opsetid(CONTRIB, 1))
    return model


def _embed(g: GraphBuilder, w: Esm2Weights, is_pad: str) -> str:
    cfg = w.config
    table = g.initializer("embed_tokens.weight", w["embed_tokens.weight"])
    x = g.op("Gather", [table, "tokens"], "embed_tokens/Gather")  # (B, T, E)
    if cfg.token_dropout:
        is_mask = g.op("Equal", ["tokens", g.const(SPECIAL["mask_idx"], np.int64)], "token_dropout/Equal")
        x = g.op("Where", [g.op("Unsqueeze", [is_mask, g.const([-1], np.int64)], "token_dropout/Unsq"),
                           g.const(0.0), x], "token_dropout/Where")
        axis = g.const([-1], np.int64)
        n_mask = g.op("ReduceSum", [g.op("Cast", [is_mask], "token_dropout/CastMask", to=FLOAT), axis],
                      "token_dropout/NMask", keepdims=1)  # (B, 1)
        not_pad = g.op("Cast", [g.op("Not", [is_pad], "token_dropout/Not")], "token_dropout/CastLen", to=FLOAT)
        length = g.op("ReduceSum", [not_pad, axis], "token_dropout/Len", keepdims=1)  # (B, 1)
        observed = g.op("Div", [n_mask, length], "token_dropout/Ratio")
        scale = g.op("Div", [g.const(1.0 - MASK_RATIO_TRAIN),
                             g.op("Sub", [g.const(1.0), observed], "token_dropout/OneMinus")], "token_dropout/Scale")
        x = g.op("Mul", [x, g.op("Unsqueeze", [scale, axis], "token_dropout/ScaleUnsq")], "token_dropout/Mul")
    keep = g.op("Cast", [g.op("Not", [is_pad], "padding/Not")], "padding/Cast", to=FLOAT)
    keep = g.op("Unsqueeze", [keep, g.const([-1], np.int64)], "padding/Unsq")  # (B, T, 1)
    return g.op("Mul", [x, keep], "padding/Mul")


def _attention_bias(g: GraphBuilder, is_pad: str) -> str:
    bias = g.op("Where", [is_pad, g.const(NEG), g.const(0.0)], "attn_bias/Where")  # (B, T)
    return g.op("Unsqueeze", [bias, g.const([1, 2], np.int64)], "attn_bias/Unsq")


def _rotary_tables(g: GraphBuilder, head_dim: int) -> tuple[str, str]:
    """fair-esm RotaryEmbedding: freqs = t * inv_freq, emb = cat(freqs, freqs); cos/sin (1, 1, T, hd)."""
    inv_freq = 1.0 / (10000 ** (np.arange(0, head_dim, 2, dtype=np.float32) / head_dim))
    shape = g.op("Shape", ["tokens"], "rotary/Shape")
    length = g.op("Gather", [shape, g.const(1, np.int64)], "rotary/Len", axis=0)
    t = g.op("Cast", [g.op("Range", [g.const(0, np.int64), length, g.const(1, np.int64)], "rotary/Range")],
             "rotary/Cast", to=FLOAT)
    t = g.op("Unsqueeze", [t, g.const([1], np.int64)], "rotary/Unsq")  # (T, 1)
    freqs = g.op("Mul", [t, g.const(inv_freq[None, :])], "rotary/Freqs")  # (T, hd/2)
    emb = g.op("Concat", [freqs, freqs], "rotary/Concat", axis=-1)
    emb = g.op("Unsqueeze", [emb, g.const([0, 1], np.int64)], "rotary/Unsq2")
    return g.op("Cos", [emb], "rotary/Cos"), g.op("Sin", [emb], "rotary/Sin")


def _rotate(g: GraphBuilder, x: str, cos: str, sin: str, name: str) -> str:
    """x * cos + rotate_half(x) * sin, rotate_half(x) = cat(-x2, x1)."""
    x1, x2 = g.op("Split", [x], f"{name}/Split", n_out=2, axis=-1, num_outputs=2)
    half = g.op("Concat", [g.op("Neg", [x2], f"{name}/Neg"), x1], f"{name}/Concat", axis=-1)
    return g.op("Add", [g.op("Mul", [x, cos], f"{name}/MulCos"), g.op("Mul", [half, sin], f"{name}/MulSin")],
                f"{name}/Add")


def _heads(g: GraphBuilder, x: str, heads: int, head_dim: int, name: str) -> str:
    x = g.op("Reshape", [x, g.const([0, 0, heads, head_dim], np.int64)], f"{name}/Reshape")
    return g.op("Transpose", [x], f"{name}/Transpose", perm=[0, 2, 1, 3])  # (B, H, T, hd)


def _attention(g: GraphBuilder, q: str, k: str, v: str, bias: str, heads: int, embed: int, p: str,
               fused: bool) -> tuple[str, str | None]:
    """Context (B, T, E) from rotated q, k and v (B, H, T, hd; q already scaled), and the
    attention probabilities (B, H, T, T) when unfused."""
    if fused:
        q = g.op("Transpose", [q], f"{p}.self_attn/QT", perm=[0, 2, 1, 3])
        q = g.op("Reshape", [q, g.const([0, 0, embed], np.int64)], f"{p}.self_attn/QMerge")
        ctx = g.op("MultiHeadAttention", [q, k, v, "", bias], f"{p}.self_attn/Merge", domain=CONTRIB,
                   num_heads=heads, scale=1.0)
        return ctx, None
    kt = g.op("Transpose", [k], f"{p}.self_attn/KT", perm=[0, 1, 3, 2])
    scores = g.op("Add", [g.op("MatMul", [q, kt], f"{p}.self_attn/QK"), bias], f"{p}.self_attn/Bias")
    probs = g.op("Softmax", [scores], f"{p}.self_attn/Softmax", axis=-1)  # (B, H, T, T)
    ctx = g.op("MatMul", [probs, v], f"{p}.self_attn/PV")
    ctx = g.op("Transpose", [ctx], f"{p}.self_attn/CtxT", perm=[0, 2, 1, 3])
    return g.op("Reshape", [ctx, g.const([0, 0, embed], np.int64)], f"{p}.self_attn/Merge"), probs


def _layer(g: GraphBuilder, w: Esm2Weights, i: int, x: str, bias: str, cos: str, sin: str,
           fused: bool = False) -> tuple[str, str | None]:
    cfg, p = w.config, f"layers.{i}"
    scaling = cfg.head_dim ** -0.5  # fair-esm scales q after projection; folded into q_proj
    h = g.layer_norm(x, w[f"{p}.self_attn_layer_norm.weight"], w[f"{p}.self_attn_layer_norm.bias"],
                     f"{p}.self_attn_layer_norm", cfg.layer_norm_eps)
    q = g.linear(h, w[f"{p}.self_attn.q_proj.weight"] * scaling, w[f"{p}.self_attn.q_proj.bias"] * scaling,
                 f"{p}.self_attn.q_proj")
    k = g.linear(h, w[f"{p}.self_attn.k_proj.weight"], w[f"{p}.self_attn.k_proj.bias"], f"{p}.self_attn.k_proj")
    v = g.linear(h, w[f"{p}.self_attn.v_proj.weight"], w[f"{p}.self_attn.v_proj.bias"], f"{p}.self_attn.v_proj")
    q = _rotate(g, _heads(g, q, cfg.attention_heads, cfg.head_dim, f"{p}.q"), cos, sin, f"{p}.q_rot")
    k = _rotate(g, _heads(g, k, cfg.attention_heads, cfg.head_dim, f"{p}.k"), cos, sin, f"{p}.k_rot")
    v = _heads(g, v, cfg.attention_heads, cfg.head_dim, f"{p}.v")
    ctx, probs = _attention(g, q, k, v, bias, cfg.attention_heads, cfg.embed_dim, p, fused)
    o = g.linear(ctx, w[f"{p}.self_attn.out_proj.weight"], w[f"{p}.self_attn.out_proj.bias"],
                 f"{p}.self_attn.out_proj")
    x = g.op("Add", [x, o], f"{p}/Residual1")
    h = g.layer_norm(x, w[f"{p}.final_layer_norm.weight"], w[f"{p}.final_layer_norm.bias"],
                     f"{p}.final_layer_norm", cfg.layer_norm_eps)
    h = g.op("Gelu", [g.linear(h, w[f"{p}.fc1.weight"], w[f"{p}.fc1.bias"], f"{p}.fc1")], f"{p}/Gelu")
    h = g.linear(h, w[f"{p}.fc2.weight"], w[f"{p}.fc2.bias"], f"{p}.fc2")
    return g.op("Add", [x, h], f"{p}/Residual2"), probs


def _lm_head(g: GraphBuilder, w: Esm2Weights, x: str) -> str:
    h = g.op("Gelu", [g.linear(x, w["lm_head.dense.weight"], w["lm_head.dense.bias"], "lm_head.dense")],
             "lm_head/Gelu")
    h = g.layer_norm(h, w["lm_head.layer_norm.weight"], w["lm_head.layer_norm.bias"], "lm_head.layer_norm",
                     w.config.layer_norm_eps)
    return g.linear(h, w["lm_head.weight"], w["lm_head.bias"], "lm_head.decoder")


def _contact_head(g: GraphBuilder, w: Esm2Weights, maps: list[str]) -> str:
    """fair-esm ContactPredictionHead: mask EOS, strip BOS/EOS, symmetrize, APC, regression, sigmoid."""
    a = g.op("Concat", maps, "contacts/Stack", axis=1)  # (B, layers*H, T, T), layer-major as fair-esm
    keep = g.op("Cast", [g.op("Not", [g.op("Equal", ["tokens", g.const(SPECIAL["eos_idx"], np.int64)],
                                           "contacts/IsEos")], "contacts/Not")], "contacts/Cast", to=FLOAT)
    a = g.op("Mul", [a, g.op("Unsqueeze", [keep, g.const([1, 2], np.int64)], "contacts/KeepK")], "contacts/MaskK")
    a = g.op("Mul", [a, g.op("Unsqueeze", [keep, g.const([1, 3], np.int64)], "contacts/KeepQ")], "contacts/MaskQ")
    a = g.op("Slice", [a, g.const([1, 1], np.int64), g.const([-1, -1], np.int64), g.const([2, 3], np.int64)],
             "contacts/Strip")
    a = g.op("Add", [a, g.op("Transpose", [a], "contacts/T", perm=[0, 1, 3, 2])], "contacts/Sym")
    a1 = g.op("ReduceSum", [a, g.const([-1], np.int64)], "contacts/A1", keepdims=1)
    a2 = g.op("ReduceSum", [a, g.const([-2], np.int64)], "contacts/A2", keepdims=1)
    a12 = g.op("ReduceSum", [a, g.const([-2, -1], np.int64)], "contacts/A12", keepdims=1)
    avg = g.op("Div", [g.op("Mul", [a1, a2], "contacts/A1A2"), a12], "contacts/Avg")
    a = g.op("Sub", [a, avg], "contacts/APC")
    a = g.op("Transpose", [a], "contacts/Last", perm=[0, 2, 3, 1])  # (B, T', T', layers*H)
    # Regression as Mul + ReduceSum, not MatMul, so quantization leaves it in float.
    reg_w = g.initializer("contact_head.regression.weight", w["contact_head.regression.weight"].reshape(-1))
    reg_b = g.initializer("contact_head.regression.bias", w["contact_head.regression.bias"].reshape(()))
    s = g.op("ReduceSum", [g.op("Mul", [a, reg_w], "contacts/W"), g.const([-1], np.int64)], "contacts/Sum",
             keepdims=0)
    out = g.op("Sigmoid", [g.op("Add", [s, reg_b], "contacts/B")], "contacts/Sigmoid")
    g.nodes[-1].output[0] = "contacts"
    return out
