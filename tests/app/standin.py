"""A stand-in ESM-like ONNX model built with onnx.helper, its numpy reference, and a pack writer.

    tokens (B, L) int64
      |-- Gather(T)  -> (B, L, V) ------------------------------+
      |-- Gather(C)  -> ReduceMean(axis 1) -> ctx (B, 1, V) ----+-- Add -> logits (B, L, V)
      |-- Shape -> L -> Range(0, L) -> Gather(P) -> (L, V) -----+
      |-- Gather(Emb) (B, L, E) + MatMul(ctx, W) -> embeddings (B, L, E)
      '-- Slice(embeddings, 1:-1) -> e; Sigmoid(e @ e^T / sqrt(E)) -> contacts (B, L-2, L-2)

The context term makes logits depend on every token, so masking a position changes the
prediction elsewhere (masked-marginal differs from wt-marginal); the position term makes
windowed scoring depend on where a residue sits in its window.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ESM_TOKENS = ["<cls>", "<pad>", "<eos>", "<unk>", "L", "A", "G", "V", "S", "E", "R", "T", "I",
              "D", "P", "K", "Q", "N", "F", "Y", "M", "H", "W", "C", "X", "B", "U", "Z", "O",
              ".", "-", "<null_1>", "<mask>"]
ALPHABET = {"tokens": ESM_TOKENS, "cls_idx": 0, "padding_idx": 1, "eos_idx": 2, "unk_idx": 3,
            "mask_idx": 32, "prepend_bos": True, "append_eos": True}
V, E, MAX_POS = len(ESM_TOKENS), 8, 1024


def standin_weights(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"T": rng.normal(0, 2.0, (V, V)), "C": rng.normal(0, 3.0, (V, V)),
            "P": rng.normal(0, 1.0, (MAX_POS, V)), "Emb": rng.normal(0, 1.0, (V, E)),
            "W": rng.normal(0, 0.5, (V, E))}


def reference(weights: dict, tokens: np.ndarray) -> dict[str, np.ndarray]:
    """The graph's outputs computed in numpy (float64)."""
    w = {k: v.astype(np.float32).astype(np.float64) for k, v in weights.items()}
    L = tokens.shape[1]
    ctx = w["C"][tokens].mean(axis=1, keepdims=True)  # (B, 1, V)
    logits = w["T"][tokens] + ctx + w["P"][:L][None]  # (B, L, V)
    emb = w["Emb"][tokens] + ctx @ w["W"]  # (B, L, E)
    e = emb[:, 1:-1]
    contacts = 1 / (1 + np.exp(-(e @ e.transpose(0, 2, 1)) / np.sqrt(E)))
    return {"logits": logits, "embeddings": emb, "contacts": contacts}


def build_model(weights: dict) -> onnx.ModelProto:
    inits = [numpy_helper.from_array(v.astype(np.float32), k) for k, v in weights.items()]
    inits += [numpy_helper.from_array(np.array(x, dtype=np.int64), n) for n, x in
              [("zero", 0), ("one", 1), ("idx1", 1), ("s1", [1]), ("e_1", [-1]), ("ax1", [1])]]
    inits.append(numpy_helper.from_array(np.array(np.sqrt(E), dtype=np.float32), "sqrtE"))
    n = helper.make_node
    nodes = [
        n("Gather", ["T", "tokens"], ["t"]),
        n("Gather", ["C", "tokens"], ["c"]),
        n("ReduceMean", ["c", "ax1"], ["ctx"], keepdims=1),
        n("Shape", ["tokens"], ["shape"]),
        n("Gather", ["shape", "idx1"], ["L"]),
        n("Range", ["zero", "L", "one"], ["pos"]),
        n("Gather", ["P", "pos"], ["p"]),
        n("Add", ["t", "ctx"], ["tc"]),
        n("Add", ["tc", "p"], ["logits"]),
        n("Gather", ["Emb", "tokens"], ["em"]),
        n("MatMul", ["ctx", "W"], ["cw"]),
        n("Add", ["em", "cw"], ["embeddings"]),
        n("Slice", ["embeddings", "s1", "e_1", "ax1"], ["e"]),
        n("Transpose", ["e"], ["eT"], perm=[0, 2, 1]),
        n("MatMul", ["e", "eT"], ["ee"]),
        n("Div", ["ee", "sqrtE"], ["ees"]),
        n("Sigmoid", ["ees"], ["contacts"]),
    ]
    f = TensorProto.FLOAT
    graph = helper.make_graph(
        nodes, "standin",
        [helper.make_tensor_value_info("tokens", TensorProto.INT64, ["batch", "length"])],
        [helper.make_tensor_value_info("logits", f, ["batch", "length", V]),
         helper.make_tensor_value_info("embeddings", f, ["batch", "length", E]),
         helper.make_tensor_value_info("contacts", f, ["batch", "length_2", "length_2"])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    model.ir_version = 10
    onnx.checker.check_model(model)
    return model


def write_standin_pack(out_dir: Path, seed: int = 0, max_tokens: int = 1024,
                       name: str = "standin", scheme: str = "fp32") -> Path:
    """Write a pack (DESIGN.md section 3) around the stand-in model; returns its directory."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model_path = out_dir / "model.onnx"
    onnx.save_model(build_model(standin_weights(seed)), str(model_path))
    data = model_path.read_bytes()
    manifest = {
        "format": "edgefold-pack", "format_version": 1, "name": name, "task": "masked-lm",
        "architecture": {"family": "esm2", "num_layers": 0, "embed_dim": E, "attention_heads": 1,
                         "vocab_size": V, "max_tokens": max_tokens, "token_dropout": False},
        "alphabet": ALPHABET, "scheme": scheme, "scheme_config": {},
        "onnx": {"model": "model.onnx", "inputs": ["tokens"],
                 "outputs": ["logits", "embeddings", "contacts"]},
        "files": {"model.onnx": {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}},
        "accuracy": {"reference": "itself", "top1_agreement": 1.0},
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return out_dir
