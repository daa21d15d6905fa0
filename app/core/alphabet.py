"""Residue alphabets of app and exporter, in one place: ESM-2's token order and AlphaFold's aatype order.

ESM-2 (fair-esm's `Alphabet.from_architecture("ESM-1b")`): 4 specials, 25 residue letters, '.',
'-', one null token and '<mask>'; ids are positions in ESM2_TOKENS. A pack whose alphabet differs
(two tokens swapped, a different mask id) would score the wrong residues without any error, so
the app refuses it (app.core.pack_checks). The exporter writes the same tuple (exporter/weights.py
re-exports it).

AlphaFold (`residue_constants.restypes`): aatype 0..19 in AF2_RESTYPES, 20 is X (unknown). ESMFold's
parts take aatype in this order; a folding pack records it as `residues.aatype_order`
(AF2_RESTYPES_WITH_X) and the app refuses another (app.core.pack_checks.check_residues).
"""
from __future__ import annotations

ESM2_TOKENS: tuple[str, ...] = (
    "<cls>", "<pad>", "<eos>", "<unk>", "L", "A", "G", "V", "S", "E", "R", "T", "I", "D", "P", "K", "Q",
    "N", "F", "Y", "M", "H", "W", "C", "X", "B", "U", "Z", "O", ".", "-", "<null_1>", "<mask>")
# manifest key -> token at that index
ESM2_SPECIAL_TOKENS: dict[str, str] = {"cls_idx": "<cls>", "padding_idx": "<pad>", "eos_idx": "<eos>",
                                       "unk_idx": "<unk>", "mask_idx": "<mask>"}
ESM2_SPECIAL: dict[str, int] = {k: ESM2_TOKENS.index(t) for k, t in ESM2_SPECIAL_TOKENS.items()}
MAX_TOKENS_RANGE = (8, 1026)  # ESM-2 was trained on 1024 tokens (BOS + 1022 residues + EOS)

AF2_RESTYPES = "ARNDCQEGHILKMFPSTWYV"  # AlphaFold aatype 0..19
AF2_UNKNOWN = "X"  # aatype 20
AF2_RESTYPES_WITH_X = AF2_RESTYPES + AF2_UNKNOWN  # what a folding pack records as residues.aatype_order
