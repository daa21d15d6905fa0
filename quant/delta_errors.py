"""Exceptions of the delta codecs (quant/delta*.py): each names the offending argument and its value."""
from __future__ import annotations

from .errors import QuantError


class DeltaInputError(QuantError):
    """An argument of a delta codec is unusable; carries its name, a short repr of it, and why."""

    def __init__(self, name: str, value: object, reason: str) -> None:
        self.name = name
        self.value = value
        self.reason = reason
        super().__init__(f"{name}={value!r}: {reason}")


class DeltaBudgetError(DeltaInputError):
    """No configuration of the codec fits the requested compression ratio for this matrix shape."""


def check_delta(delta, name: str = "delta"):
    """A finite, non-empty 2-D (out, in) matrix as float32, or DeltaInputError naming it."""
    import numpy as np

    d = np.asarray(delta)
    if d.ndim != 2:
        raise DeltaInputError(name, f"array of shape {d.shape}", "expected a 2-D (out, in) weight delta")
    if d.size == 0:
        raise DeltaInputError(name, f"array of shape {d.shape}", "is empty")
    if not np.issubdtype(d.dtype, np.floating):
        raise DeltaInputError(name, f"array of dtype {d.dtype}", "expected a floating-point delta")
    if not np.all(np.isfinite(d)):
        raise DeltaInputError(name, f"array of shape {d.shape}", f"{int(np.sum(~np.isfinite(d)))} non-finite entries")
    return d.astype(np.float32)


def check_ratio(ratio: float, name: str = "ratio") -> float:
    """A compression ratio (vs 16-bit) > 1, finite, or DeltaInputError."""
    import math

    try:
        r = float(ratio)
    except (TypeError, ValueError):
        raise DeltaInputError(name, ratio, "expected a number (compression vs 16-bit, e.g. 16)") from None
    if not math.isfinite(r) or r <= 1.0:
        raise DeltaInputError(name, ratio, "expected a finite compression ratio > 1 (vs the fp16 delta)")
    return r


def check_calib(calib_inputs, in_features: int, name: str = "calib_inputs"):
    """None, or finite (n, in_features) inputs as float32, or DeltaInputError naming the mismatch."""
    import numpy as np

    if calib_inputs is None:
        return None
    x = np.asarray(calib_inputs)
    if x.ndim != 2 or x.shape[1] != in_features or x.shape[0] == 0:
        raise DeltaInputError(name, f"array of shape {x.shape}",
                              f"expected (n >= 1, {in_features}) inputs matching delta's in-dimension")
    if not np.all(np.isfinite(x)):
        raise DeltaInputError(name, f"array of shape {x.shape}", "has non-finite entries")
    return x.astype(np.float32)
