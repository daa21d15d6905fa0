"""Exceptions raised by quant/: each names the offending tensor, node or site."""
from __future__ import annotations


class QuantError(ValueError):
    """Base class of every quant/ error."""


class TensorStatsError(QuantError):
    """A calibration tensor cannot be summarised; carries the tensor name and the reason."""

    def __init__(self, tensor: str, reason: str) -> None:
        self.tensor = tensor
        self.reason = reason
        super().__init__(f"tensor {tensor!r}: {reason}")


class NonFiniteTensorError(TensorStatsError):
    """The tensor holds NaN or +/-Inf values."""


class EmptyTensorError(TensorStatsError):
    """The tensor has no elements, or the observer saw no sample."""


class DegenerateTensorError(TensorStatsError):
    """The tensor is constant (std == 0) or all zeros: no meaningful range."""


class GraphRewriteError(QuantError):
    """A rewrite cannot be applied; carries the node or tensor name."""

    def __init__(self, where: str, reason: str) -> None:
        self.where = where
        self.reason = reason
        super().__init__(f"{where}: {reason}")
