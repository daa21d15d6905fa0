"""Write a folding pack: the four ESMFold ONNX parts and a manifest with `task: folding`."""
from __future__ import annotations

from pathlib import Path

from app.core.alphabet import AF2_RESTYPES_WITH_X, AF2_UNKNOWN

from packbuild.pack import write_pack
from .chunking import expand_chunked_attention
from .parts import PARTS, export_parts
from .trunk import default_unchunked_rows


def architecture_manifest(model, chunk_size: int | None = None) -> dict:
    """The sizes the app needs to size buffers and estimate memory (app/core/fold/memory.py)."""
    cfg = model.config
    trunk = cfg.esmfold_config.trunk
    sm = trunk.structure_module
    return {"family": "esmfold", "parameters": int(sum(p.numel() for p in model.parameters())),
            "esm_layers": cfg.num_hidden_layers, "esm_embed_dim": cfg.hidden_size,
            "esm_attention_heads": cfg.num_attention_heads, "max_residues": cfg.max_position_embeddings - 4,
            "trunk_blocks": trunk.num_blocks, "c_s": trunk.sequence_state_dim, "c_z": trunk.pairwise_state_dim,
            "sequence_head_width": trunk.sequence_head_width, "pairwise_head_width": trunk.pairwise_head_width,
            "max_recycles": trunk.max_recycles, "structure_blocks": sm.num_blocks, "c_sm": sm.sequence_dim,
            "c_zm": sm.pairwise_dim, "ipa_heads": sm.num_heads_ipa, "ipa_qk_points": sm.num_qk_points,
            "ipa_v_points": sm.num_v_points, "chunk_size": chunk_size,
            "unchunked_rows": default_unchunked_rows(model.trunk) if chunk_size else None}


def write_folding_pack(model, out_dir: Path, name: str, license: str = "", credits: str = "",
                       chunk_size: int | None = None) -> Path:
    """Export `model` (an fp32 `EsmForProteinFolding`) into a pack directory, all or nothing."""
    models = {f: expand_chunked_attention(m) for f, m in export_parts(model, chunk_size).items()}
    manifest = {
        "name": name, "task": "folding", "architecture": architecture_manifest(model, chunk_size),
        "residues": {"aatype_order": AF2_RESTYPES_WITH_X, "unknown": AF2_UNKNOWN},
        "scheme": "fp32",
        "onnx": {"parts": {p: spec.file for p, spec in PARTS.items()},
                 "inputs": {p: list(spec.inputs) for p, spec in PARTS.items()},
                 "outputs": {p: list(spec.outputs) for p, spec in PARTS.items()}},
        "license": license, "credits": credits,
    }
    return write_pack(Path(out_dir), models, manifest)
