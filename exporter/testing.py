"""Tiny random ESM-2 models and packs for tests (no download, a second or two on a CPU)."""
from __future__ import annotations

from pathlib import Path

TINY = {"num_layers": 2, "embed_dim": 32, "attention_heads": 4}
TINY_CALIBRATION = [
    "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ", "GSHMLEDPVDAFQEMLQ", "MADEEKLPPGWEKRMSRSSGRVYYFNHITNASQWERPSG",
    "MSEKIRVLLVDDHPVVRQGLRALLEGEPDFEVVGEAENGEEAL", "PEPTIDEWRKKHLLAGGCYVAAN", "MNIFEMLRIDEGLRLKIYKDTEGYYTIGIGHLLTKSP",
    "MVLSEGEWQLVLHVWAKVEADVAGHGQDILIRLFKSHPETLEKFDRFKHLKTEAEMKASEDLKKHGVTVLTALGAILKK",
    "MQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEGIPPDQQRLIFAGKQLEDGRTLSDYNIQKESTLHLVLRLRGG",
]


def tiny_torch_model(seed: int = 0, std: float = 0.3):
    """A fair-esm `ESM2(num_layers=2, embed_dim=32, attention_heads=4)` with N(0, std) weights.

    fair-esm's default init makes near-uniform attention; a wider init gives logits that vary
    with the input, so tests that compare scores across positions can fail when they should.
    """
    import esm
    import torch
    from esm.model.esm2 import ESM2

    torch.manual_seed(seed)
    alphabet = esm.data.Alphabet.from_architecture("ESM-1b")
    model = ESM2(alphabet=alphabet, token_dropout=True, **TINY).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, std)
    return model, alphabet


def save_fair_esm(model, folder: Path, name: str = "esm2_t2_tiny_UR50D", **save_kwargs) -> Path:
    """Save a fair-esm `ESM2` as fair-esm publishes checkpoints (esm/pretrained.py): `<name>.pt` =
    `{"cfg": {"model": Namespace}, "model": state}` with "encoder.sentence_encoder." prefixes and no
    contact head, and `<name>-contact-regression.pt` = `{"model": {"contact_head.regression.*"}}`."""
    import argparse

    import torch

    state = model.state_dict()
    cfg = argparse.Namespace(arch="esm2", encoder_layers=model.num_layers, encoder_embed_dim=model.embed_dim,
                             encoder_attention_heads=model.attention_heads, token_dropout=True)
    body = {f"encoder.sentence_encoder.{k}": v for k, v in state.items() if not k.startswith("contact_head")}
    regression = {k: v for k, v in state.items() if k.startswith("contact_head")}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.pt"
    torch.save({"cfg": {"model": cfg, "_name": "esm2"}, "model": body}, path, **save_kwargs)
    torch.save({"model": regression}, folder / f"{name}-contact-regression.pt", **save_kwargs)
    return path


def tiny_hf_model(seed: int = 0, std: float = 0.3):
    """A HuggingFace `EsmForMaskedLM` of the TINY shape (rotary, token dropout) with N(0, std) weights."""
    import torch
    from transformers import EsmConfig, EsmForMaskedLM

    torch.manual_seed(seed)
    cfg = EsmConfig(vocab_size=33, hidden_size=TINY["embed_dim"], num_hidden_layers=TINY["num_layers"],
                    num_attention_heads=TINY["attention_heads"], intermediate_size=64,
                    position_embedding_type="rotary", token_dropout=True, mask_token_id=32, pad_token_id=1,
                    max_position_embeddings=1026, emb_layer_norm_before=False)
    model = EsmForMaskedLM(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, std)
    return model


def tiny_loaded_model(seed: int = 0):
    """The tiny model as a `LoadedModel` (canonical weights + torch reference)."""
    from .loaders import from_fair_esm_model

    model, _ = tiny_torch_model(seed)
    return from_fair_esm_model(model, name=f"tiny_esm2_seed{seed}", source="exporter.testing")


def make_tiny_pack(out_dir: Path, scheme: str = "fp32", seed: int = 0, contacts: bool = True) -> Path:
    """Export the tiny model as a real pack of `scheme` into `out_dir` (calibrated on TINY_CALIBRATION)."""
    from .pipeline import ExportOptions, export_pack

    loaded = tiny_loaded_model(seed)
    options = ExportOptions(contacts=contacts, verify_sequences=TINY_CALIBRATION[:3])
    return export_pack(loaded, scheme, Path(out_dir), TINY_CALIBRATION, options).path
