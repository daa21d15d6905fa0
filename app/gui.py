"""The desktop GUI entry: import the Qt window only when it is asked for."""
from __future__ import annotations

import sys

from app.core.exit_codes import FAILED


def launch_gui(self_test: str | None = None) -> int:
    """Import the Qt window lazily (the headless CLI never loads PySide6) and run it; with
    `self_test` (a folder), run app.ui.self_test and quit."""
    try:
        from app.ui import main_window  # noqa: PLC0415 (lazy on purpose)
    except ImportError as e:
        print(f"error: the desktop app is not available ({e}); "
              f"the headless commands still work: python -m app score|embed --help",
              file=sys.stderr)
        return FAILED
    entry = getattr(main_window, "main", None)
    if entry is None:
        print("error: app.ui.main_window has no main() entry point", file=sys.stderr)
        return FAILED
    return int((entry(self_test) if self_test else entry()) or 0)
