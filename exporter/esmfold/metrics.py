"""Structure comparison: Kabsch superposition, RMSD, max deviation and TM-score (tmtools) in numpy."""
from __future__ import annotations

import numpy as np


def kabsch(mobile: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotation R (3, 3) and translation t (3,) minimising |mobile @ R.T + t - target|; inputs (N, 3)."""
    a, b = mobile.astype(np.float64), target.astype(np.float64)
    ca, cb = a.mean(0), b.mean(0)
    u, _, vt = np.linalg.svd((a - ca).T @ (b - cb))
    d = np.sign(np.linalg.det(vt.T @ u.T))  # no reflection
    rot = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
    return rot, cb - ca @ rot.T


def superposed_deviation(mobile37: np.ndarray, target37: np.ndarray, mask37: np.ndarray) -> tuple[float, float]:
    """(CA RMSD, max all-atom deviation) in Angstrom after superposing on CA; arrays (L, 37, 3), mask (L, 37)."""
    rot, t = kabsch(mobile37[:, 1], target37[:, 1])
    moved = mobile37.astype(np.float64) @ rot.T + t
    ca = np.sqrt(((moved[:, 1] - target37[:, 1]) ** 2).sum(-1).mean())
    dev = np.sqrt(((moved - target37) ** 2).sum(-1))[mask37 > 0.5]
    return float(ca), float(dev.max()) if dev.size else 0.0


def tm_score(model_ca: np.ndarray, model_seq: str, ref_ca: np.ndarray, ref_seq: str) -> float:
    """TM-score of a model against a reference, normalised by the reference length (tmtools / TM-align)."""
    import tmtools

    res = tmtools.tm_align(np.ascontiguousarray(model_ca, dtype=np.float64),
                           np.ascontiguousarray(ref_ca, dtype=np.float64), model_seq, ref_seq)
    return float(res.tm_norm_chain2)
