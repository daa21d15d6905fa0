"""The ESMFold structure module (8 IPA blocks in the real model) as one exportable pass.

Wraps `EsmFoldStructureModule` with the trunk's projections in front (`trunk2sm_s`, `trunk2sm_z`)
and keeps only the last block's outputs, which is all that inference, recycling and the heads use.
"""
from __future__ import annotations

from torch import nn


class StructurePass(nn.Module):
    """(s_s, s_z, aatype, mask) -> positions (B, L, 14, 3), frames (B, L, 7), angles, states."""

    def __init__(self, trunk: nn.Module) -> None:
        super().__init__()
        self.trunk = trunk

    def forward(self, s_s, s_z, aatype, mask):
        t = self.trunk
        out = t.structure_module({"single": t.trunk2sm_s(s_s), "pair": t.trunk2sm_z(s_z)}, aatype, mask)
        # (blocks, B, L, ...) -> last block only
        return (out["positions"][-1], out["frames"][-1], out["angles"][-1],
                out["unnormalized_angles"][-1], out["states"][-1])
