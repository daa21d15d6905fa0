"""atom14 -> atom37 coordinates (AlphaFold's `atom14_to_atom37`)."""
from __future__ import annotations

import numpy as np

from .residues import ATOM37_EXISTS, ATOM37_TO_ATOM14


def atom14_to_atom37(positions14: np.ndarray, aatype: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(L, 14, 3) positions and (L,) aatype -> (L, 37, 3) positions (0 where absent), (L, 37) mask."""
    index = ATOM37_TO_ATOM14[aatype]  # (L, 37)
    mask = ATOM37_EXISTS[aatype]
    atom37 = np.take_along_axis(positions14, index[..., None], axis=1) * mask[..., None]
    return atom37.astype(np.float32), mask
