"""PackError: a model pack the app cannot use (raised by app.core.pack and its checks)."""
from __future__ import annotations

from pathlib import Path
from typing import Union


class PackError(Exception):
    """A pack that cannot be used; the message names the pack path and the offending file."""

    def __init__(self, message: str, path: Union[str, Path, None] = None) -> None:
        super().__init__(message)
        self.path = Path(path) if path is not None else None
