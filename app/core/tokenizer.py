"""ESM tokenizer built from a pack manifest's `alphabet` (ids equal fair-esm's)."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

_REQUIRED = ("tokens", "cls_idx", "padding_idx", "eos_idx", "unk_idx", "mask_idx")


class Tokenizer:
    """Maps residues to ids; one character per residue, unknown characters -> `unk_idx`."""

    def __init__(self, alphabet: Mapping) -> None:
        missing = [k for k in _REQUIRED if k not in alphabet]
        if missing:
            raise ValueError(f"alphabet is missing {', '.join(missing)}")
        self.tokens: list[str] = list(alphabet["tokens"])
        self.cls_idx = int(alphabet["cls_idx"])
        self.padding_idx = int(alphabet["padding_idx"])
        self.eos_idx = int(alphabet["eos_idx"])
        self.unk_idx = int(alphabet["unk_idx"])
        self.mask_idx = int(alphabet["mask_idx"])
        self.prepend_bos = bool(alphabet.get("prepend_bos", True))
        self.append_eos = bool(alphabet.get("append_eos", True))
        self._index = {t: i for i, t in enumerate(self.tokens)}
        # Lookup table for single characters (ASCII): residue letter -> id.
        self._lut = np.full(128, self.unk_idx, dtype=np.int64)
        for tok, i in self._index.items():
            if len(tok) == 1 and ord(tok) < 128:
                self._lut[ord(tok)] = i

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def n_special(self) -> int:
        """Tokens added around a sequence (BOS + EOS = 2 for ESM-2)."""
        return int(self.prepend_bos) + int(self.append_eos)

    def index(self, token: str) -> int:
        """Id of one token (e.g. 'A' or '<mask>'); KeyError naming it if absent."""
        try:
            return self._index[token]
        except KeyError:
            raise KeyError(f"token {token!r} is not in the alphabet") from None

    def residue_ids(self, sequence: str) -> np.ndarray:
        """Ids of the residues only, no BOS/EOS: (L,) int64."""
        codes = np.frombuffer(sequence.encode("ascii", errors="replace"), dtype=np.uint8)
        return self._lut[np.minimum(codes, 127)]

    def encode(self, sequence: str) -> np.ndarray:
        """(L + n_special,) int64: [cls] residues [eos]."""
        parts = []
        if self.prepend_bos:
            parts.append(np.array([self.cls_idx], dtype=np.int64))
        parts.append(self.residue_ids(sequence))
        if self.append_eos:
            parts.append(np.array([self.eos_idx], dtype=np.int64))
        return np.concatenate(parts)

    def batch_encode(self, sequences: Sequence[str]) -> np.ndarray:
        """(B, max_len + n_special) int64, right-padded with `padding_idx` like fair-esm."""
        encoded = [self.encode(s) for s in sequences]
        width = max((len(e) for e in encoded), default=self.n_special)
        out = np.full((len(encoded), width), self.padding_idx, dtype=np.int64)
        for row, ids in enumerate(encoded):
            out[row, : len(ids)] = ids
        return out

    def decode(self, ids: Sequence[int]) -> list[str]:
        """Token strings for ids (for debugging and tests)."""
        return [self.tokens[int(i)] for i in ids]
