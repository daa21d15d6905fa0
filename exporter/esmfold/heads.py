"""ESMFold's output heads after the last recycle: pLDDT, pTM/PAE logits and the distogram."""
from __future__ import annotations

import torch
from torch import nn

LDDT_BINS = 50


class HeadsPass(nn.Module):
    """(s_z, states) -> plddt (B, L, 37) in [0, 1], ptm_logits (B, L, L, 64), distogram_logits (B, L, L, 64).

    `states` is the structure module's last single representation. pLDDT is the expectation of
    the lddt head's 50 bins (centres 0.01 ... 0.99), per atom37 slot, as `categorical_lddt`.
    pTM and PAE are reductions of `ptm_logits` done by the app in numpy.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        edges = torch.linspace(0, 1, LDDT_BINS + 1)
        self.register_buffer("lddt_centres", (edges[:-1] + edges[1:]) / 2, persistent=False)

    def forward(self, s_z, states):
        m = self.model
        lddt = m.lddt_head(states).reshape(*states.shape[:2], -1, LDDT_BINS)  # (B, L, 37, 50)
        plddt = lddt.softmax(-1) @ self.lddt_centres
        disto = m.distogram_head(s_z)
        disto = (disto + disto.transpose(1, 2)) / 2
        return plddt, m.ptm_head(s_z), disto
