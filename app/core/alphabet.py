"""The ESM-2 alphabet every masked-LM pack must carry (a copy of exporter/weights.py's; a test keeps them equal).

fair-esm's `Alphabet.from_architecture("ESM-1b")`: 4 specials, 25 residue letters, '.', '-',
one null token and '<mask>'; ids are positions in this tuple. A pack whose alphabet differs
(two tokens swapped, a different mask id) would score the wrong residues without any error,
so the app refuses it (app.core.pack_checks).
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
